//! The IPVS schedulers, one file each behind the [`Scheduler`] trait.
//!
//! Each follows the kernel's `net/netfilter/ipvs/ip_vs_<name>.c` rules exactly as written
//! down in the compatibility reference §2.3, including tie-breaks, which always favour the
//! earliest dest in list order (newest first).

pub mod dh;
pub mod fo;
pub mod lblc;
pub mod lblcr;
pub mod lc;
mod locality;
pub mod mh;
pub mod nq;
pub mod ovf;
pub mod rr;
pub mod sed;
pub mod sh;
pub mod siphash;
pub mod twos;
pub mod wlc;
pub mod wrr;

use std::fmt;
use std::net::IpAddr;

use crate::addr::{Af, Protocol};
use crate::dest::{Dest, DestArena, DestId};
use crate::rng::Rng;
use crate::settings::{Compat, Settings};
use crate::time::Time;

/// Service flag bits the schedulers read (uapi `IP_VS_SVC_F_SCHED*`).
pub mod flags {
    /// `flag-1`: `sh-fallback` / `mh-fallback`.
    pub const SCHED1: u32 = 0x08;
    /// `flag-2`: `sh-port` / `mh-port`.
    pub const SCHED2: u32 = 0x10;
    /// `flag-3`: unused by mainline schedulers.
    pub const SCHED3: u32 = 0x20;
    /// All scheduler flag bits.
    pub const MASK: u32 = SCHED1 | SCHED2 | SCHED3;
}

/// Names of every scheduler rvs implements, as accepted by `-s`.
pub const NAMES: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "sh", "dh", "lblc", "lblcr", "mh",
];

/// A read-only view of one service's dest list, in kernel order (newest first), as the
/// schedulers see it.
#[derive(Clone, Copy)]
pub struct SchedView<'a> {
    /// Dest handles in list order.
    pub ids: &'a [DestId],
    /// Where the dests live.
    pub arena: &'a DestArena,
    /// Service flags (`flags::SCHED*` bits among others).
    pub svc_flags: u32,
    /// Service address family.
    pub af: Af,
    /// Kernel behaviour mode (overhead formula).
    pub compat: Compat,
    /// Tunables (lblc/lblcr expiration and others).
    pub settings: &'a Settings,
}

impl<'a> SchedView<'a> {
    /// Number of dests in the list.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The dest at list position `i`.
    #[inline]
    pub fn at(&self, i: usize) -> (DestId, &'a Dest) {
        let id = self.ids[i];
        (id, self.dest(id))
    }

    /// The dest behind a handle of this list. Panics if the handle is stale, which the
    /// table guarantees never happens for handles in `ids`.
    #[inline]
    pub fn dest(&self, id: DestId) -> &'a Dest {
        match self.arena.get(id) {
            Some(d) => d,
            None => panic!("dest list holds a stale handle {id:?}"),
        }
    }

    /// Dests in list order with their handles.
    ///
    /// The table keeps every handle of a dest list live, so the scan reads the dests by
    /// slot without re-checking generations: one cache line per dest.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = (DestId, &'a Dest)> + '_ {
        let arena = self.arena;
        self.ids
            .iter()
            .filter_map(move |&id| arena.value_at(id.idx).map(|d| (id, d)))
    }

    /// The connection overhead of a dest under this view's compat mode.
    #[inline]
    pub fn overhead(&self, d: &Dest) -> u64 {
        d.overhead(self.compat)
    }

    /// Whether a scheduler flag bit is set.
    pub fn has_flag(&self, bit: u32) -> bool {
        self.svc_flags & bit != 0
    }
}

/// What a scheduler may look at in the packet that asks for a new connection.
#[derive(Clone, Copy, Debug)]
pub struct SchedRequest {
    /// Transport protocol.
    pub proto: Protocol,
    /// Client (source) address.
    pub saddr: IpAddr,
    /// Client (source) port.
    pub sport: u16,
    /// Destination address of the packet (the VIP).
    pub daddr: IpAddr,
    /// Destination port of the packet.
    pub dport: u16,
    /// Current time.
    pub now: Time,
}

/// One IPVS scheduler bound to one service.
///
/// The table calls the update hooks after it changed the dest list, exactly where the
/// kernel calls `add_dest`, `del_dest` and `upd_dest`; `init` runs when the scheduler is
/// bound to a service (at creation or when `-E` switches to it).
pub trait Scheduler: fmt::Debug + Send {
    /// The scheduler name (`rr`, `wrr`, ...).
    fn name(&self) -> &'static str;

    /// Bind to a service whose list is `view` (`init_service`).
    fn init(&mut self, view: SchedView<'_>) {
        let _ = view;
    }

    /// A dest was inserted at list position `pos` (always 0: the head).
    fn add_dest(&mut self, view: SchedView<'_>, pos: usize) {
        let _ = (view, pos);
    }

    /// The dest formerly at list position `pos` was unlinked; `view` no longer holds it.
    fn del_dest(&mut self, view: SchedView<'_>, pos: usize, removed: DestId) {
        let _ = (view, pos, removed);
    }

    /// The dest at list position `pos` was edited (`-e`), even if nothing changed.
    fn upd_dest(&mut self, view: SchedView<'_>, pos: usize) {
        let _ = (view, pos);
    }

    /// Pick a dest for a new connection, or `None` when none is available.
    fn schedule(
        &mut self,
        view: SchedView<'_>,
        req: &SchedRequest,
        rng: &mut dyn Rng,
    ) -> Option<DestId>;

    /// Periodic housekeeping (lblc/lblcr cache garbage collection), called by the
    /// director at least once a second of simulated time.
    fn tick(&mut self, view: SchedView<'_>, now: Time) {
        let _ = (view, now);
    }
}

/// Create the scheduler called `name`, or `None` if rvs has no such scheduler.
pub fn new(name: &str) -> Option<Box<dyn Scheduler>> {
    Some(match name {
        "rr" => Box::new(rr::Rr::default()),
        "wrr" => Box::new(wrr::Wrr::default()),
        "lc" => Box::new(lc::Lc::default()),
        "wlc" => Box::new(wlc::Wlc::default()),
        "sed" => Box::new(sed::Sed::default()),
        "nq" => Box::new(nq::Nq::default()),
        "fo" => Box::new(fo::Fo::default()),
        "ovf" => Box::new(ovf::Ovf::default()),
        "twos" => Box::new(twos::Twos::default()),
        "sh" => Box::new(sh::Sh::default()),
        "dh" => Box::new(dh::Dh::default()),
        "lblc" => Box::new(lblc::Lblc::default()),
        "lblcr" => Box::new(lblcr::Lblcr::default()),
        "mh" => Box::new(mh::Mh::default()),
        _ => return None,
    })
}

#[cfg(test)]
#[allow(dead_code)]
pub(crate) mod testutil;
