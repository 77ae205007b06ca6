//! The director's classifier: `bpf/rvs_xdp.c`, its maps, attach and detach.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::RawFd;

use std::path::{Path, PathBuf};

use aya::maps::{Array, DevMapHash, HashMap, MapData, PerCpuArray, XskMap};
use aya::programs::Xdp;
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::xdp::XdpLink;
use aya::programs::xdp::XdpLinkId;
use aya::{Ebpf, EbpfLoader};

use crate::classes::Classes;
use crate::error::XdpError;
use crate::maps::{
    FW_MAX, Flow, FlowKey, FlowStats, FwClassEntry, RangeValue, RvsKey, XskKey, counter,
};
use crate::mode::XdpMode;
use crate::sys;

const PROG: &str = "rvs_xdp";
/// Maps pinned for a hitless restart.
const PINNED_MAPS: [&str; 4] = [
    "rvs_flows",
    "rvs_flow_stats",
    "rvs_tx_ports",
    "rvs_counters",
];
const XSK_SLOTS: u32 = 1024;

/// The classifier's per-CPU counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassifierCounters {
    /// Frames the program saw.
    pub seen: u64,
    /// Frames passed to the kernel because no rule matched (ARP, ND, ping, SSH, ...).
    pub not_ours: u64,
    /// Frames passed because they were truncated or malformed.
    pub malformed: u64,
    /// Non-first IP fragments (no ports to classify), passed.
    pub fragments: u64,
    /// Hits on a service (VIP, proto, port or port 0).
    pub hit_service: u64,
    /// Hits on a NAT reply (RIP, proto, rport).
    pub hit_reply: u64,
    /// Hits on a FULLNAT local address.
    pub hit_local: u64,
    /// Hits on a fwmark class.
    pub hit_fwmark: u64,
    /// ICMP errors about a flow rvs handles.
    pub hit_icmp: u64,
    /// Hits passed because no AF_XDP socket is registered for the receiving queue.
    pub no_xsk: u64,
    /// Frames redirected to an AF_XDP socket.
    pub redirected: u64,
    /// Hits whose redirect failed (slot without a socket): passed.
    pub redirect_failed: u64,
    /// Packets of established flows forwarded by the fast path (never reach userspace).
    pub fastpath: u64,
}

impl ClassifierCounters {
    /// Frames that matched a rule.
    pub fn hits(&self) -> u64 {
        self.hit_service + self.hit_reply + self.hit_local + self.hit_fwmark + self.hit_icmp
    }

    /// Frames given to the kernel (XDP_PASS), for whatever reason.
    pub fn passed(&self) -> u64 {
        self.not_ours + self.malformed + self.fragments + self.no_xsk + self.redirect_failed
    }
}

/// The loaded `rvs_xdp` program and its maps.
pub struct Classifier {
    ebpf: Ebpf,
    services: HashMap<MapData, RvsKey, u8>,
    replies: HashMap<MapData, RvsKey, u8>,
    hosts: HashMap<MapData, RvsKey, u8>,
    locals: HashMap<MapData, RvsKey, RangeValue>,
    fwmark: Array<MapData, FwClassEntry>,
    fw_len: u32,
    xsk_slots: HashMap<MapData, XskKey, u32>,
    xsks: XskMap<MapData>,
    slots: BTreeMap<XskKey, u32>,
    counters: PerCpuArray<MapData, u64>,
    pub(crate) flows: HashMap<MapData, FlowKey, Flow>,
    pub(crate) flow_stats: PerCpuArray<MapData, FlowStats>,
    pub(crate) tx_ports: DevMapHash<MapData>,
    links: Vec<(String, XdpLinkId)>,
    /// The bpffs directory of the pinned maps and links (hitless restart), if any.
    pin: Option<PathBuf>,
    /// Links pinned in `pin`, by interface: they stay attached when this process exits.
    pinned: Vec<(String, PinnedLink)>,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field(
                "attached",
                &self.links.iter().map(|l| &l.0).collect::<Vec<_>>(),
            )
            .field("xsk_slots", &self.slots)
            .finish_non_exhaustive()
    }
}

fn take<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T, XdpError>
where
    T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.take_map(name).ok_or(XdpError::Missing(name))?;
    T::try_from(map).map_err(|source| XdpError::Map { map: name, source })
}

pub(crate) fn map_err(map: &'static str) -> impl Fn(aya::maps::MapError) -> XdpError {
    move |source| XdpError::Map { map, source }
}

impl Classifier {
    /// Load `rvs_xdp` into the kernel (verifier included) with empty maps.
    pub fn load() -> Result<Self, XdpError> {
        Self::finish_load(Ebpf::load(crate::RVS_XDP_OBJ)?, None)
    }

    /// Load `rvs_xdp` with the fast path's maps (`rvs_flows`, `rvs_flow_stats`,
    /// `rvs_tx_ports`) and the counters (`rvs_counters`) pinned in the bpffs directory
    /// `dir` (created if missing): maps already pinned there by an earlier run are reused,
    /// so established flows, their counters and the egress ports survive a restart.
    /// [`Classifier::attach`] then pins its links there too. Pins that no longer fit the
    /// program (an upgrade changed a map) are removed, with a warning, and made afresh.
    pub fn load_pinned(dir: &Path) -> Result<Self, XdpError> {
        std::fs::create_dir_all(dir).map_err(|source| XdpError::Sys {
            what: "creating the bpffs pin directory",
            source,
        })?;
        let load = || {
            let mut l = EbpfLoader::new();
            for m in PINNED_MAPS {
                l.map_pin_path(m, dir.join(m));
            }
            l.load(crate::RVS_XDP_OBJ)
        };
        let ebpf = match load() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "pinned maps unusable; removing them");
                for m in PINNED_MAPS {
                    let _ = std::fs::remove_file(dir.join(m));
                }
                load()?
            }
        };
        Self::finish_load(ebpf, Some(dir.to_path_buf()))
    }

    fn finish_load(mut ebpf: Ebpf, pin: Option<PathBuf>) -> Result<Self, XdpError> {
        prog_mut(&mut ebpf)?
            .load()
            .map_err(|source| XdpError::Program {
                what: "loading rvs_xdp".into(),
                source,
            })?;
        Ok(Classifier {
            services: take(&mut ebpf, "rvs_services")?,
            replies: take(&mut ebpf, "rvs_replies")?,
            hosts: take(&mut ebpf, "rvs_hosts")?,
            locals: take(&mut ebpf, "rvs_locals")?,
            fwmark: take(&mut ebpf, "rvs_fwmark")?,
            fw_len: FW_MAX,
            xsk_slots: take(&mut ebpf, "rvs_xsk_slots")?,
            xsks: take(&mut ebpf, "rvs_xsks")?,
            counters: take(&mut ebpf, "rvs_counters")?,
            flows: take(&mut ebpf, "rvs_flows")?,
            flow_stats: take(&mut ebpf, "rvs_flow_stats")?,
            tx_ports: take(&mut ebpf, "rvs_tx_ports")?,
            slots: BTreeMap::new(),
            links: Vec::new(),
            pin,
            pinned: Vec::new(),
            ebpf,
        })
    }

    /// The pinned link of `ifname` in the pin directory.
    fn link_pin(&self, ifname: &str) -> Option<PathBuf> {
        self.pin.as_ref().map(|d| d.join(format!("link_{ifname}")))
    }

    /// With pinning: take over the link a previous run pinned for `ifname`, replacing its
    /// program atomically with this one (`BPF_LINK_UPDATE`: no moment without a program).
    /// `Ok(false)` when there is none.
    fn take_over(&mut self, ifname: &str) -> Result<bool, XdpError> {
        let Some(path) = self.link_pin(ifname) else {
            return Ok(false);
        };
        if !path.exists() {
            return Ok(false);
        }
        let pinned = match PinnedLink::from_pin(&path) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "stale link pin removed");
                let _ = std::fs::remove_file(&path);
                return Ok(false);
            }
        };
        let link = XdpLink::try_from(FdLink::from(pinned)).map_err(|e| XdpError::Sys {
            what: "a pinned link that is not an XDP link",
            source: std::io::Error::other(format!("{}: {e}", path.display())),
        })?;
        let prog = prog_mut(&mut self.ebpf)?;
        let id = prog
            .attach_to_link(link)
            .map_err(|source| XdpError::Program {
                what: format!("replacing the program of {}", path.display()),
                source,
            })?;
        // The pin keeps the link; this process only needs a handle to unpin it.
        let _ = prog.take_link(id);
        let pinned = PinnedLink::from_pin(&path).map_err(|e| XdpError::Sys {
            what: "reopening a pinned link",
            source: std::io::Error::other(e.to_string()),
        })?;
        self.pinned.push((ifname.to_string(), pinned));
        tracing::info!(ifname, path = %path.display(), "took over the pinned rvs_xdp link");
        Ok(true)
    }

    /// Pin the link just attached to `ifname` (with pinning on).
    fn pin_link(&mut self, ifname: &str, id: XdpLinkId) -> Result<(), XdpError> {
        let Some(path) = self.link_pin(ifname) else {
            return Ok(());
        };
        let prog = prog_mut(&mut self.ebpf)?;
        let link = prog.take_link(id).map_err(|source| XdpError::Program {
            what: "taking the XDP link".into(),
            source,
        })?;
        let fd: FdLink = link.try_into().map_err(|e| XdpError::Sys {
            what: "the XDP link is not a bpf_link",
            source: std::io::Error::other(format!("{e}")),
        })?;
        let pinned = fd.pin(&path).map_err(|e| XdpError::Sys {
            what: "pinning the XDP link",
            source: std::io::Error::other(e.to_string()),
        })?;
        self.pinned.push((ifname.to_string(), pinned));
        Ok(())
    }

    /// Remove the pins (links, then maps, then the directory): the links detach, the
    /// maps go with the program. For a real stop, not a restart.
    pub fn unpin_all(&mut self) {
        for (ifname, p) in std::mem::take(&mut self.pinned) {
            match p.unpin() {
                Ok(fd) => drop(fd),
                Err(e) => tracing::warn!(ifname, error = %e, "unpinning the XDP link"),
            }
        }
        if let Some(dir) = &self.pin {
            for m in PINNED_MAPS {
                let _ = std::fs::remove_file(dir.join(m));
            }
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// Attach to `ifname`. Any XDP program already there (a crashed rvsd's, one attached
    /// with `ip link set ... xdp`, another Classifier's link) is removed first, with a
    /// warning. Returns the mode in effect (`Auto` tries native, then generic).
    pub fn attach(&mut self, ifname: &str, mode: XdpMode) -> Result<XdpMode, XdpError> {
        if self.take_over(ifname)? {
            return Ok(sys::xdp_mode(sys::ifindex(ifname)?).unwrap_or(mode));
        }
        let ifindex = sys::ifindex(ifname)?;
        let old = sys::clear_xdp(ifindex)?;
        if !old.is_empty() {
            tracing::warn!(
                ifname,
                programs = ?old,
                "removed XDP program(s) already attached (left over?) before attaching rvs_xdp"
            );
        }
        let prog = prog_mut(&mut self.ebpf)?;
        let mut last = String::new();
        for &m in mode.candidates() {
            match prog.attach_to_if_index(ifindex, m.aya()) {
                Ok(id) => {
                    tracing::info!(ifname, mode = %m, "rvs_xdp attached");
                    if self.pin.is_some() {
                        self.pin_link(ifname, id)?;
                    } else {
                        self.links.push((ifname.to_string(), id));
                    }
                    return Ok(m);
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(XdpError::Attach {
            ifname: ifname.to_string(),
            mode,
            reason: last,
        })
    }

    /// Detach from every interface this classifier is attached to (Drop does it too).
    /// Pinned links stay attached (a restart takes them over); [`Classifier::unpin_all`]
    /// removes them.
    pub fn detach_all(&mut self) {
        let links = std::mem::take(&mut self.links);
        if let Ok(prog) = prog_mut(&mut self.ebpf) {
            for (ifname, id) in links {
                if let Err(e) = prog.detach(id) {
                    tracing::warn!(ifname, error = %e, "detaching rvs_xdp");
                }
            }
        }
    }

    /// The interfaces this classifier is attached to.
    pub fn attached(&self) -> Vec<String> {
        self.links
            .iter()
            .map(|l| l.0.clone())
            .chain(self.pinned.iter().map(|l| l.0.clone()))
            .collect()
    }

    /// Put an AF_XDP socket in the XSKMAP for (ifindex, rx queue); a socket registered
    /// before for the same queue is replaced.
    pub fn register_xsk(&mut self, ifindex: u32, queue: u32, fd: RawFd) -> Result<(), XdpError> {
        let key = XskKey { ifindex, queue };
        let slot = match self.slots.get(&key) {
            Some(&s) => s,
            None => {
                let used: BTreeSet<u32> = self.slots.values().copied().collect();
                (0..XSK_SLOTS)
                    .find(|s| !used.contains(s))
                    .ok_or(XdpError::NoXskSlot(XSK_SLOTS))?
            }
        };
        self.xsks.set(slot, fd, 0).map_err(map_err("rvs_xsks"))?;
        self.xsk_slots
            .insert(key, slot, 0)
            .map_err(map_err("rvs_xsk_slots"))?;
        self.slots.insert(key, slot);
        Ok(())
    }

    /// Forget the socket of (ifindex, rx queue); its frames go to the kernel again.
    pub fn unregister_xsk(&mut self, ifindex: u32, queue: u32) -> Result<bool, XdpError> {
        let key = XskKey { ifindex, queue };
        let Some(slot) = self.slots.remove(&key) else {
            return Ok(false);
        };
        self.xsk_slots
            .remove(&key)
            .map_err(map_err("rvs_xsk_slots"))?;
        self.xsks.unset(slot).map_err(map_err("rvs_xsks"))?;
        Ok(true)
    }

    /// Map (ifindex, queue) to an XSKMAP slot without a socket in it: hits on that queue
    /// are then counted as `redirect_failed` and passed. For tests through
    /// `BPF_PROG_TEST_RUN`, which cannot deliver to a socket anyway.
    #[doc(hidden)]
    pub fn register_empty_slot(&mut self, ifindex: u32, queue: u32) -> Result<(), XdpError> {
        let key = XskKey { ifindex, queue };
        let slot = XSK_SLOTS - 1;
        self.xsk_slots
            .insert(key, slot, 0)
            .map_err(map_err("rvs_xsk_slots"))
    }

    /// Make the maps equal to `classes` (insert new keys, delete gone ones).
    pub fn set_classes(&mut self, classes: &Classes) -> Result<(), XdpError> {
        let fw = classes.fwmark_entries()?;
        sync_set(&mut self.services, &classes.service_keys(), "rvs_services")?;
        sync_set(&mut self.replies, &classes.reply_keys(), "rvs_replies")?;
        sync_set(&mut self.hosts, &classes.host_keys(), "rvs_hosts")?;
        let want = classes.local_entries();
        let have: Vec<RvsKey> = self.locals.keys().flatten().collect();
        for k in have {
            if !want.contains_key(&k) {
                self.locals.remove(&k).map_err(map_err("rvs_locals"))?;
            }
        }
        for (k, v) in &want {
            if self.locals.get(k, 0).ok() != Some(*v) {
                self.locals.insert(k, v, 0).map_err(map_err("rvs_locals"))?;
            }
        }
        // Entries first, then the terminator, so a reader never runs past the table.
        for (i, e) in fw.iter().enumerate() {
            self.fwmark
                .set(i as u32, e, 0)
                .map_err(map_err("rvs_fwmark"))?;
        }
        let len = fw.len() as u32;
        for i in len..self.fw_len.max(len + 1).min(FW_MAX) {
            self.fwmark
                .set(i, FwClassEntry::default(), 0)
                .map_err(map_err("rvs_fwmark"))?;
        }
        self.fw_len = len;
        Ok(())
    }

    /// Per-CPU counters summed.
    pub fn counters(&self) -> Result<ClassifierCounters, XdpError> {
        let mut v = [0u64; counter::MAX as usize];
        for (i, slot) in v.iter_mut().enumerate() {
            let per_cpu = self
                .counters
                .get(&(i as u32), 0)
                .map_err(map_err("rvs_counters"))?;
            *slot = per_cpu.iter().copied().fold(0u64, u64::wrapping_add);
        }
        let c = |i: u32| v[i as usize];
        Ok(ClassifierCounters {
            seen: c(counter::SEEN),
            not_ours: c(counter::NOT_OURS),
            malformed: c(counter::MALFORMED),
            fragments: c(counter::FRAGMENT),
            hit_service: c(counter::HIT_SERVICE),
            hit_reply: c(counter::HIT_REPLY),
            hit_local: c(counter::HIT_LOCAL),
            hit_fwmark: c(counter::HIT_FWMARK),
            hit_icmp: c(counter::HIT_ICMP),
            no_xsk: c(counter::NO_XSK),
            redirected: c(counter::REDIRECTED),
            redirect_failed: c(counter::REDIRECT_FAILED),
            fastpath: c(counter::FASTPATH),
        })
    }

    /// The loaded program, e.g. for `BPF_PROG_TEST_RUN`.
    pub fn program(&mut self) -> Result<&mut Xdp, XdpError> {
        prog_mut(&mut self.ebpf)
    }
}

impl Drop for Classifier {
    fn drop(&mut self) {
        self.detach_all();
    }
}

fn prog_mut(ebpf: &mut Ebpf) -> Result<&mut Xdp, XdpError> {
    ebpf.program_mut(PROG)
        .ok_or(XdpError::Missing("program rvs_xdp"))?
        .try_into()
        .map_err(|source| XdpError::Program {
            what: "rvs_xdp is not an XDP program".into(),
            source,
        })
}

fn sync_set(
    map: &mut HashMap<MapData, RvsKey, u8>,
    want: &BTreeSet<RvsKey>,
    name: &'static str,
) -> Result<(), XdpError> {
    let have: BTreeSet<RvsKey> = map.keys().flatten().collect();
    for k in have.difference(want) {
        map.remove(k).map_err(map_err(name))?;
    }
    for k in want.difference(&have) {
        map.insert(k, 1u8, 0).map_err(map_err(name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_can_move_to_a_worker_thread() {
        fn send<T: Send>() {}
        send::<Classifier>();
    }

    #[test]
    fn passed_and_hits_sum_their_parts() {
        let c = ClassifierCounters {
            not_ours: 1,
            malformed: 2,
            fragments: 4,
            no_xsk: 8,
            redirect_failed: 16,
            hit_service: 32,
            hit_icmp: 64,
            ..ClassifierCounters::default()
        };
        assert_eq!(c.passed(), 31);
        assert_eq!(c.hits(), 96);
    }
}
