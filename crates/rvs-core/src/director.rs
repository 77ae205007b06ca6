//! The director: the service table, the connection table and the rules that join them,
//! one packet (or flow event) at a time. Sans-IO: the caller passes packets and the time,
//! and acts on the [`Verdict`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addr::{Af, Protocol, mask_addr};
use crate::command::{Command, OpError};
use crate::conn::state::{self, Direction, Segment, Timeouts};
use crate::conn::{Conn, ConnId, ConnTable, flags as cf, template_state};
use crate::dest::{DestId, FwdMethod};
use crate::fwmark::Classifier;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};
use crate::service::{ServiceId, ServiceKey};
use crate::settings::{Compat, Settings};
use crate::stats::{EST_PERIOD_MS, Stats};
use crate::table::ServiceTable;
use crate::time::{Dur, Time};

/// The FTP control port (persistence and lookup special cases).
const FTP_PORT: u16 = 21;
/// How long a new connection lives before its first state transition.
const INITIAL_TIMEOUT: Dur = Dur::from_secs(3);
/// How long an expiring template that still controls connections is re-armed for.
const TEMPLATE_REARM: Dur = Dur::from_secs(60);
/// Dest trash check period.
const TRASH_PERIOD_MS: u64 = 60_000;

/// What the director needs to know about one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Source address.
    pub saddr: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination address.
    pub daddr: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// Protocol and the flags/chunk that drive the state machine.
    pub seg: Segment,
    /// IP packet length in bytes (for the byte counters).
    pub len: u32,
    /// A firewall mark given from outside (0 = classify with rvs's fwmark rules).
    pub fwmark: u32,
}

impl Packet {
    /// The packet's protocol.
    pub fn proto(&self) -> Protocol {
        self.seg.protocol()
    }
}

/// Why the director dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The connection's dest was deleted (kept until it times out, like IPVS).
    DestUnavailable,
    /// The connection's dest was deleted and `expire_nodest_conn` expired it.
    DestExpired,
}

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Client → real server: forward with `fwd` to `daddr:dport`.
    Forward {
        /// The connection (None for one-packet scheduling: already freed).
        conn: Option<ConnId>,
        /// The dest.
        dest: DestId,
        /// Forwarding method.
        fwd: FwdMethod,
        /// Real server address.
        daddr: IpAddr,
        /// Real server port.
        dport: u16,
        /// Whether this packet created the connection.
        new: bool,
    },
    /// Real server → client: rewrite the source back to `vaddr:vport`.
    Reply {
        /// The connection.
        conn: ConnId,
        /// Forwarding method.
        fwd: FwdMethod,
        /// Virtual address.
        vaddr: IpAddr,
        /// Virtual port.
        vport: u16,
    },
    /// Not IPVS traffic (or not a connection start): hand to the local stack.
    Pass,
    /// A service matched but no dest is available: answer ICMP port unreachable, drop.
    Unreachable,
    /// Drop silently.
    Drop(DropReason),
}

/// The director's whole state.
pub struct Director {
    /// Tunables.
    pub settings: Settings,
    /// Services and dests.
    pub table: ServiceTable,
    /// Connections and templates.
    pub conns: ConnTable,
    /// rvs's fwmark classifier rules.
    pub classifier: Classifier,
    /// Protocol timeouts.
    pub timeouts: Timeouts,
    /// Director-wide counters (`/proc/net/ip_vs_stats`).
    pub stats: Stats,
    rng: Box<dyn Rng + Send>,
    now: Time,
    next_estimate: Time,
    next_trash_gc: Time,
    next_sched_tick: Time,
    /// FULLNAT connections deleted and not yet reported (see [`Director::take_released`]).
    released: Vec<ConnId>,
    /// Which input packets are logged for a sync master (see `director_sync.rs`).
    sync_filter: Option<sync::SyncFilter>,
    /// Connections that saw an input packet, with their packet count, for the master.
    sync_events: Vec<(ConnId, u32)>,
    /// Events dropped because the log was full.
    sync_events_dropped: u64,
    /// Connections created, changed in state or deleted since the last
    /// [`Director::take_conn_changes`] (`None`: nobody watches; see `director_watch.rs`).
    conn_watch: Option<Vec<ConnId>>,
    /// Changes not logged because the log was full.
    conn_watch_lost: bool,
    /// Bumped by every command applied (see [`Director::config_generation`]).
    config_gen: u64,
}

impl std::fmt::Debug for Director {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Director")
            .field("services", &self.table.len())
            .field("conns", &self.conns.len())
            .field("now", &self.now)
            .finish()
    }
}

impl Director {
    /// A director with no services. `seed` keys the connection hash; `rng` feeds `twos`.
    pub fn new(settings: Settings, seed: u64, rng: Box<dyn Rng + Send>) -> Self {
        Director {
            settings,
            table: ServiceTable::default(),
            conns: ConnTable::new(seed),
            classifier: Classifier::default(),
            timeouts: Timeouts::default(),
            stats: Stats::default(),
            rng,
            now: Time::ZERO,
            next_estimate: Time(EST_PERIOD_MS),
            next_trash_gc: Time(TRASH_PERIOD_MS),
            next_sched_tick: Time(1000),
            released: Vec::new(),
            sync_filter: None,
            sync_events: Vec::new(),
            sync_events_dropped: 0,
            conn_watch: None,
            conn_watch_lost: false,
            config_gen: 0,
        }
    }

    /// The latest time the director has seen.
    pub fn now(&self) -> Time {
        self.now
    }

    // ------------------------------------------------------------------ commands

    /// Apply one command (ipvsadm semantics) at time `now`.
    pub fn apply(&mut self, cmd: &Command, now: Time) -> Result<(), OpError> {
        self.advance(now);
        self.config_gen += 1;
        let s = &self.settings;
        match cmd {
            Command::AddService(cfg) => self.table.add_service(cfg, s).map(drop),
            Command::EditService(cfg) => self.table.edit_service(cfg, s).map(drop),
            Command::DelService(key) => {
                self.table.del_service(key, now)?;
                self.flush_nodest();
                Ok(())
            }
            Command::Flush => {
                for key in self.table.keys() {
                    self.table.del_service(&key, now)?;
                }
                self.classifier.clear();
                self.flush_nodest();
                Ok(())
            }
            Command::AddDest(key, cfg) => self.table.add_dest(key, cfg, s).map(drop),
            Command::EditDest(key, cfg) => self.table.edit_dest(key, cfg, s).map(drop),
            Command::DelDest(key, addr, port) => {
                self.table.del_dest(key, addr, *port, s, now)?;
                self.flush_nodest();
                Ok(())
            }
            Command::Zero(None) => {
                for (_, svc) in self.table.services_mut() {
                    svc.stats.zero();
                }
                for id in self.linked_dests() {
                    if let Some(d) = self.table.dest_mut(id) {
                        d.stats.zero();
                    }
                }
                self.stats.zero();
                Ok(())
            }
            Command::Zero(Some(key)) => {
                let sid = self.table.find(key).ok_or(OpError::NoSuchService)?;
                let dests = self
                    .table
                    .service(sid)
                    .map(|s| s.dests.clone())
                    .unwrap_or_default();
                if let Some(svc) = self.table.service_mut(sid) {
                    svc.stats.zero();
                }
                for id in dests {
                    if let Some(d) = self.table.dest_mut(id) {
                        d.stats.zero();
                    }
                }
                Ok(())
            }
            Command::SetTimeouts { tcp, tcpfin, udp } => {
                self.timeouts.set(*tcp, *tcpfin, *udp);
                Ok(())
            }
            Command::AddFwmarkRule(r) => {
                if self.classifier.add(r.clone()) {
                    Ok(())
                } else {
                    Err(OpError::FwmarkRuleExists)
                }
            }
            Command::DelFwmarkRule(r) => {
                if self.classifier.remove(r) {
                    Ok(())
                } else {
                    Err(OpError::NoSuchFwmarkRule)
                }
            }
        }
    }

    fn linked_dests(&self) -> Vec<DestId> {
        self.table
            .services()
            .flat_map(|(_, s)| s.dests.iter().copied())
            .collect()
    }

    /// With `expire_nodest_conn`, delete every connection whose dest is gone
    /// (`ip_vs_expire_nodest_conn_flush`), and the templates left idle.
    fn flush_nodest(&mut self) {
        if !self.settings.expire_nodest_conn {
            return;
        }
        let dead: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                !c.is_template()
                    && c.dest
                        .is_none_or(|d| self.table.dest(d).is_none_or(|d| !d.available))
            })
            .map(|(id, _)| id)
            .collect();
        for id in dead {
            self.delete_conn(id, true);
        }
    }

    // ------------------------------------------------------------------ time

    /// Move time forward to `now`: expire connections, run the estimator every 2 s, the
    /// scheduler housekeeping every second and the dest trash collector every 60 s.
    /// Time never goes backwards; an earlier `now` is treated as the latest time seen.
    #[inline]
    pub fn advance(&mut self, now: Time) {
        // Within one millisecond nothing new can be due: every deadline is at least a
        // second after the packet that set it, and everything due at `self.now` is done.
        if now > self.now {
            self.advance_to(now);
        }
    }

    fn advance_to(&mut self, now: Time) {
        self.now = now;
        while let Some(id) = self.conns.next_expired(now) {
            self.expire(id);
        }
        if now >= self.next_estimate {
            let periods = (now.0 - self.next_estimate.0) / EST_PERIOD_MS + 1;
            // After ~256 idle periods every average has decayed to zero.
            for _ in 0..periods.min(256) {
                self.estimate();
            }
            self.next_estimate = Time(self.next_estimate.0 + periods * EST_PERIOD_MS);
        }
        if now >= self.next_sched_tick {
            self.sched_tick(now);
            self.next_sched_tick = Time((now.0 / 1000 + 1) * 1000);
        }
        if now >= self.next_trash_gc {
            self.table.gc_trash(now);
            self.next_trash_gc = Time((now.0 / TRASH_PERIOD_MS + 1) * TRASH_PERIOD_MS);
        }
    }

    fn estimate(&mut self) {
        if !self.settings.run_estimation {
            return;
        }
        for (_, svc) in self.table.services_mut() {
            svc.stats.estimate();
        }
        for id in self.linked_dests() {
            if let Some(d) = self.table.dest_mut(id) {
                d.stats.estimate();
            }
        }
        self.stats.estimate();
    }

    fn sched_tick(&mut self, now: Time) {
        let ids: Vec<ServiceId> = self.table.services().map(|(id, _)| id).collect();
        for sid in ids {
            self.with_scheduler(sid, |s, view, _| s.tick(view, now));
        }
    }

    /// Run `f` on a service's scheduler with a view of its dests. The scheduler is taken
    /// out of the service for the call, so it can be borrowed mutably beside the view.
    fn with_scheduler<R>(
        &mut self,
        sid: ServiceId,
        f: impl FnOnce(&mut dyn Scheduler, SchedView<'_>, &mut dyn Rng) -> R,
    ) -> Option<R> {
        let mut s = self.table.service_mut(sid)?.scheduler.take()?;
        let got = self.table.service(sid).map(|svc| {
            f(
                s.as_mut(),
                self.table.view(svc, &self.settings),
                self.rng.as_mut(),
            )
        });
        if let Some(svc) = self.table.service_mut(sid) {
            svc.scheduler = Some(s);
        }
        got
    }

    /// A connection's timer fired (`ip_vs_conn_expire`).
    fn expire(&mut self, id: ConnId) {
        let Some(c) = self.conns.get(id) else { return };
        if c.is_template() && c.n_control > 0 {
            // Still controls connections: re-arm for 60 s, which also becomes its timeout.
            let at = c.expires + TEMPLATE_REARM;
            if let Some(c) = self.conns.get_mut(id) {
                c.timeout = TEMPLATE_REARM.as_millis() as u32;
            }
            self.conns.rearm(id, at);
            self.log_sync(id, sync::SYNC_REARM, true);
            return;
        }
        self.delete_conn(id, false);
    }

    /// Unlink and free a connection: release its template and dest. With `outright`
    /// (the delete path of the nodest flush), an idle template goes with its last conn.
    fn delete_conn(&mut self, id: ConnId, outright: bool) {
        let Some(c) = self.conns.remove(id) else {
            return;
        };
        if !c.is_template() {
            self.note_conn(id);
            if fwd_of(c.flags) == FwdMethod::FullNat {
                self.released.push(id);
            }
        }
        if let Some(ct) = c.control {
            let mut drop_ct = false;
            if let Some(t) = self.conns.get_mut(ct) {
                t.n_control = t.n_control.saturating_sub(1);
                drop_ct = outright && t.n_control == 0;
            }
            if drop_ct {
                self.delete_conn(ct, false);
            }
        }
        if let Some(d) = c.dest {
            self.unbind_dest(d, &c);
        }
    }

    // ------------------------------------------------------------------ dests

    /// `ip_vs_bind_dest`: count the connection on its dest and apply the upper threshold.
    fn bind_dest(&mut self, d: DestId, template: bool, inactive: bool) {
        let compat = self.settings.compat;
        let Some(dest) = self.table.dest_mut(d) else {
            return;
        };
        dest.refcnt += 1;
        if template {
            dest.persistconns += 1;
        } else if inactive {
            dest.inactconns += 1;
        } else {
            dest.activeconns += 1;
        }
        let u = dest.u_threshold;
        if u != 0 {
            let conns = dest.conns();
            match compat {
                Compat::Classic if conns >= u => dest.overload = true,
                Compat::Modern if !template && conns == u => dest.overload = true,
                _ => {}
            }
        }
    }

    /// `ip_vs_unbind_dest`: uncount the connection and apply the lower threshold.
    fn unbind_dest(&mut self, d: DestId, c: &Conn) {
        let compat = self.settings.compat;
        let now = self.now;
        let Some(dest) = self.table.dest_mut(d) else {
            return;
        };
        let template = c.is_template();
        if template {
            dest.persistconns = dest.persistconns.saturating_sub(1);
        } else if c.is_inactive() {
            dest.inactconns = dest.inactconns.saturating_sub(1);
        } else {
            dest.activeconns = dest.activeconns.saturating_sub(1);
        }
        let conns = dest.conns();
        let (u, l) = (dest.u_threshold, dest.l_threshold);
        match compat {
            Compat::Classic => {
                if l != 0 {
                    if conns < l {
                        dest.overload = false;
                    }
                } else if u != 0 {
                    if u64::from(conns) * 4 < u64::from(u) * 3 {
                        dest.overload = false;
                    }
                } else {
                    dest.overload = false;
                }
            }
            Compat::Modern => {
                if !template {
                    let low = if l != 0 { l } else { u - u / 4 };
                    if u == 0 || conns + 1 == low {
                        dest.overload = false;
                    }
                }
            }
        }
        dest.refcnt = dest.refcnt.saturating_sub(1);
        if dest.refcnt == 0 && !dest.available {
            self.table.dest_unreferenced(d, now);
        }
    }

    // ------------------------------------------------------------------ packets

    /// Decide what to do with one packet at time `now`.
    pub fn process(&mut self, pkt: &Packet, now: Time) -> Verdict {
        self.advance(now);
        let proto = pkt.proto().number();
        if let Some(id) = self
            .conns
            .lookup_in(proto, &pkt.saddr, pkt.sport, &pkt.daddr, pkt.dport)
        {
            // `None`: the old conn was expired, schedule anew.
            if let Some(v) = self.existing_in(id, pkt) {
                return v;
            }
        } else if let Some(id) = self
            .conns
            .lookup_out(proto, &pkt.saddr, pkt.sport, &pkt.daddr, pkt.dport)
        {
            // Only NAT replies are IPVS's business; anything else that happens to match a
            // conn in reverse is routed as usual (`ip_vs_out`: `goto ignore_cp`).
            let masq = self
                .conns
                .get(id)
                .is_some_and(|c| fwd_of(c.flags) == FwdMethod::Masq);
            return if masq {
                self.existing_out(id, pkt)
            } else {
                Verdict::Pass
            };
        }
        self.new_conn(pkt)
    }

    /// A reply of a known connection found by the caller (FULLNAT replies, which the
    /// connection table cannot find by itself): count it, drive the state machine and say
    /// how to rewrite it.
    pub fn process_reply(&mut self, id: ConnId, pkt: &Packet, now: Time) -> Verdict {
        self.advance(now);
        if self.conns.get(id).is_none() {
            return Verdict::Pass;
        }
        self.existing_out(id, pkt)
    }

    /// Count a packet of a connection without touching its state (ICMP errors about it,
    /// as `ip_vs_in_stats` / `ip_vs_out_stats` do). `inbound`: client → real server.
    pub fn account(&mut self, id: ConnId, inbound: bool, len: u32) {
        if inbound {
            self.account_in(id, len);
        } else {
            self.account_out(id, len);
        }
    }

    /// Count packets of a dest's connections that were forwarded outside the engine (the
    /// XDP fast path): the dest's, its service's and the total counters, as the engine
    /// would have counted them one by one. An unknown dest counts in the totals only.
    pub fn account_bulk(
        &mut self,
        dest: DestId,
        inpkts: u64,
        inbytes: u64,
        outpkts: u64,
        outbytes: u64,
    ) {
        self.stats.add_bulk(inpkts, inbytes, outpkts, outbytes);
        let Some(d) = self.table.dest_mut(dest) else {
            return;
        };
        d.stats.add_bulk(inpkts, inbytes, outpkts, outbytes);
        let sid = d.svc;
        if let Some(svc) = self.table.service_mut(sid) {
            svc.stats.add_bulk(inpkts, inbytes, outpkts, outbytes);
        }
    }

    /// A connection saw traffic outside the engine (the XDP fast path) by `now`: restart
    /// its timer with its current state's timeout, as a packet in that state would.
    pub fn touch_conn(&mut self, id: ConnId, now: Time) {
        if let Some(c) = self.conns.get(id) {
            let at = now + Dur(u64::from(c.timeout));
            if at > c.expires {
                self.conns.set_expires(id, at);
            }
            // Packets the fast path forwards never reach the sync master's count rule:
            // let it refresh the backups instead.
            self.log_sync(id, sync::SYNC_REFRESH, true);
        }
    }

    /// Take in a connection that exists outside the engine — a flow the XDP fast path kept
    /// forwarding while rvsd restarted, as IPVS's sync backup learns connections: create
    /// `proto caddr:cport → vaddr:vport` bound to dest `daddr:dport` of the service `key`,
    /// in `state`, its timer started at `now` with that state's timeout. Not counted as a
    /// new connection in the stats (it was counted when it began). `None` when the
    /// service, the dest (or its availability) is gone, the protocol is unknown, or the
    /// connection exists already.
    #[allow(clippy::too_many_arguments)]
    pub fn adopt_conn(
        &mut self,
        key: &ServiceKey,
        proto: u8,
        (caddr, cport): (IpAddr, u16),
        (vaddr, vport): (IpAddr, u16),
        (daddr, dport): (IpAddr, u16),
        state_: u8,
        now: Time,
    ) -> Option<ConnId> {
        let p = Protocol::from_number(proto)?;
        let sid = self.table.find(key)?;
        let dest = self.table.find_dest(sid, &daddr, dport)?;
        let d = self.table.dest(dest)?;
        if !d.available
            || self
                .conns
                .lookup_in(proto, &caddr, cport, &vaddr, vport)
                .is_some()
        {
            return None;
        }
        let active = state::is_active(p, state_);
        let mut flags = conn_flags_of(d.fwd);
        if !active {
            flags |= cf::INACTIVE;
        }
        let timeout = self.timeouts.get(p, state_).saturating_mul(1000);
        let c = Conn {
            caddr,
            vaddr,
            daddr,
            cport,
            vport,
            dport,
            proto,
            state: state_,
            flags,
            dest: Some(dest),
            control: None,
            n_control: 0,
            timeout,
            expires: now,
            fwmark: match key {
                ServiceKey::Fwmark { mark, .. } => *mark,
                ServiceKey::Addr { .. } => 0,
            },
            in_pkts: 0,
        };
        let id = self.conns.insert_unarmed(c);
        self.bind_dest(dest, false, !active);
        self.conns.set_expires(id, now + Dur(u64::from(timeout)));
        self.note_conn(id);
        Some(id)
    }

    /// Delete a connection at once (a caller could not complete it, e.g. no FULLNAT port).
    pub fn remove_conn(&mut self, id: ConnId) {
        self.delete_conn(id, false);
    }

    /// The FULLNAT connections deleted since the last call: their local ports are free.
    pub fn take_released(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.released)
    }

    /// Whether a FULLNAT connection was released since the last [`Self::take_released`].
    pub fn has_released(&self) -> bool {
        !self.released.is_empty()
    }

    fn is_new_conn(seg: Segment) -> bool {
        match seg {
            Segment::Tcp(f) => f.is_pure_syn(),
            Segment::Sctp(ev) => ev == state::SctpEvent::Init,
            Segment::Udp => false,
        }
    }

    /// A packet of an existing connection in the input direction. `None` when the old
    /// connection was expired so that the packet schedules a new one.
    #[inline(always)]
    fn existing_in(&mut self, id: ConnId, pkt: &Packet) -> Option<Verdict> {
        let c = self.conns.get(id)?;
        let dest = c.dest.and_then(|d| self.table.dest(d));
        let available = dest.is_some_and(|d| d.available);
        let weight0 = dest.is_some_and(|d| d.weight == 0);
        if Self::is_new_conn(pkt.seg) {
            if self.settings.expire_nodest_conn && (!available || weight0) {
                self.delete_conn(id, true);
                return None;
            }
            let reuse = self.settings.conn_reuse_mode;
            let reusable = c.control.is_none()
                && reuse & 1 != 0
                && match pkt.seg {
                    Segment::Tcp(_) => {
                        matches!(c.state, state::tcp::TIME_WAIT | state::tcp::CLOSE)
                            || (reuse & 2 != 0
                                && c.flags & cf::NOOUTPUT != 0
                                && c.state == state::tcp::FIN_WAIT)
                    }
                    Segment::Sctp(_) => c.state == state::sctp::CLOSED,
                    Segment::Udp => false,
                };
            if reusable {
                self.delete_conn(id, false);
                return None;
            }
        }
        if !available {
            if self.settings.expire_nodest_conn {
                self.delete_conn(id, true);
                return Some(Verdict::Drop(DropReason::DestExpired));
            }
            return Some(Verdict::Drop(DropReason::DestUnavailable));
        }
        Some(self.forward(id, pkt, false))
    }

    fn existing_out(&mut self, id: ConnId, pkt: &Packet) -> Verdict {
        self.account_out(id, pkt.len);
        self.transition(id, pkt.seg, Direction::Output);
        let Some(c) = self.conns.get(id) else {
            return Verdict::Pass;
        };
        let fwd = fwd_of(c.flags);
        Verdict::Reply {
            conn: id,
            fwd,
            vaddr: c.vaddr,
            vport: c.vport,
        }
    }

    /// Count, transition and refresh an input packet, and say where it goes.
    #[inline(always)]
    fn forward(&mut self, id: ConnId, pkt: &Packet, new: bool) -> Verdict {
        // The state before the packet, for the sync log (only read while a master runs).
        let old_state = match self.sync_filter {
            Some(_) => self.conns.get(id).map(|c| c.state),
            None => None,
        };
        self.account_in(id, pkt.len);
        self.transition(id, pkt.seg, Direction::Input);
        let Some(c) = self.conns.get(id) else {
            return Verdict::Pass;
        };
        let Some(dest) = c.dest else {
            return Verdict::Pass;
        };
        let one_packet = c.flags & cf::ONE_PACKET != 0;
        let (pkts, changed) = (c.in_pkts, old_state.is_some_and(|s| s != c.state));
        let v = Verdict::Forward {
            // A one-packet connection is freed right after its packet.
            conn: (!one_packet).then_some(id),
            dest,
            fwd: fwd_of(c.flags),
            daddr: c.daddr,
            dport: c.dport,
            new,
        };
        if one_packet {
            self.delete_conn(id, false);
        } else {
            self.log_sync(id, pkts, changed);
        }
        v
    }

    #[inline(always)]
    fn account_in(&mut self, id: ConnId, len: u32) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        c.in_pkts = c.in_pkts.wrapping_add(1);
        let Some(d) = c.dest else { return };
        self.stats.add_in(len);
        let Some(dest) = self.table.dest_mut(d) else {
            return;
        };
        dest.stats.add_in(len);
        let sid = dest.svc;
        if let Some(svc) = self.table.service_mut(sid) {
            svc.stats.add_in(len);
        }
    }

    fn account_out(&mut self, id: ConnId, len: u32) {
        let Some(d) = self.conns.get(id).and_then(|c| c.dest) else {
            return;
        };
        self.stats.add_out(len);
        let Some(dest) = self.table.dest_mut(d) else {
            return;
        };
        dest.stats.add_out(len);
        let sid = dest.svc;
        if let Some(svc) = self.table.service_mut(sid) {
            svc.stats.add_out(len);
        }
    }

    /// Run the protocol state machine for one packet, move the active/inactive counts,
    /// assure the template, and refresh the timer with the new state's timeout.
    #[inline(always)]
    fn transition(&mut self, id: ConnId, seg: Segment, dir: Direction) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let Some(proto) = Protocol::from_number(c.proto) else {
            return;
        };
        let input_only = c.flags & cf::NOOUTPUT != 0;
        let (next, still_io) = state::next_state(seg, dir, c.state, input_only);
        if !still_io {
            c.flags &= !cf::NOOUTPUT;
        }
        let old_state = c.state;
        c.state = next;
        let was_inactive = c.is_inactive();
        let active = state::is_active(proto, next);
        let mut moved = None;
        if next != old_state || proto == Protocol::Udp {
            if !was_inactive && !active {
                c.flags |= cf::INACTIVE;
                moved = Some(false);
            } else if was_inactive && active {
                c.flags &= !cf::INACTIVE;
                moved = Some(true);
            }
        }
        let assure = match proto {
            Protocol::Tcp => next == state::tcp::ESTABLISHED,
            Protocol::Udp => dir == Direction::Output,
            Protocol::Sctp => next == state::sctp::ESTABLISHED,
        };
        let timeout = self.timeouts.get(proto, next).saturating_mul(1000);
        c.timeout = timeout;
        let (dest, control) = (c.dest, c.control);
        self.conns.set_expires(id, now + Dur(u64::from(timeout)));
        if next != old_state {
            self.note_conn(id);
        }
        if let (Some(d), Some(to_active)) = (dest, moved)
            && let Some(dest) = self.table.dest_mut(d)
        {
            if to_active {
                dest.inactconns = dest.inactconns.saturating_sub(1);
                dest.activeconns += 1;
            } else {
                dest.activeconns = dest.activeconns.saturating_sub(1);
                dest.inactconns += 1;
            }
        }
        if assure
            && let Some(ct) = control
            && let Some(t) = self.conns.get_mut(ct)
        {
            t.state = template_state::ASSURED;
        }
    }

    /// Whether a packet without a connection matches a service (by rvs's fwmark rules, the
    /// address and port, FTP data or a port-0 service), whether or not it may start one.
    pub fn matches_service(&self, pkt: &Packet) -> bool {
        let mark = if pkt.fwmark != 0 {
            pkt.fwmark
        } else {
            self.classifier.classify(pkt.proto(), &pkt.daddr, pkt.dport)
        };
        self.lookup_service(pkt, mark).is_some()
    }

    /// Service lookup for a packet without a connection (reference §2.1, last bullet).
    fn lookup_service(&self, pkt: &Packet, mark: u32) -> Option<ServiceId> {
        let af = Af::of(&pkt.daddr);
        if mark != 0
            && let Some(s) = self.table.find(&ServiceKey::Fwmark { af, mark })
        {
            return Some(s);
        }
        let proto = pkt.proto();
        let key = |port| ServiceKey::Addr {
            proto,
            addr: pkt.daddr,
            port,
        };
        if let Some(s) = self.table.find(&key(pkt.dport)) {
            return Some(s);
        }
        if proto == Protocol::Tcp
            && self.table.has_port21()
            && (pkt.dport == 20 || pkt.dport >= self.settings.unprivileged_port_start)
            && let Some(s) = self.table.find(&key(FTP_PORT))
        {
            return Some(s);
        }
        if self.table.has_port0() {
            return self.table.find(&key(0));
        }
        None
    }

    fn may_schedule(&self, seg: Segment) -> bool {
        match seg {
            Segment::Tcp(f) => {
                if self.settings.sloppy_tcp {
                    !f.rst
                } else {
                    f.starts_conn()
                }
            }
            Segment::Udp => true,
            Segment::Sctp(ev) => {
                ev == state::SctpEvent::Init
                    || (self.settings.sloppy_sctp && ev != state::SctpEvent::Abort)
            }
        }
    }

    fn new_conn(&mut self, pkt: &Packet) -> Verdict {
        let mark = if pkt.fwmark != 0 {
            pkt.fwmark
        } else {
            self.classifier.classify(pkt.proto(), &pkt.daddr, pkt.dport)
        };
        let Some(sid) = self.lookup_service(pkt, mark) else {
            return Verdict::Pass;
        };
        if !self.may_schedule(pkt.seg) {
            return Verdict::Pass;
        }
        // FTP data from client port 20 is never scheduled.
        if pkt.proto() == Protocol::Tcp && pkt.sport == 20 {
            return Verdict::Pass;
        }
        match self.schedule(sid, pkt, mark) {
            Some(id) => self.forward(id, pkt, true),
            None => Verdict::Unreachable,
        }
    }

    /// Ask the service's scheduler for a dest.
    fn pick(&mut self, sid: ServiceId, pkt: &Packet) -> Option<DestId> {
        let req = SchedRequest {
            proto: pkt.proto(),
            saddr: pkt.saddr,
            sport: pkt.sport,
            daddr: pkt.daddr,
            dport: pkt.dport,
            now: self.now,
        };
        self.with_scheduler(sid, |s, view, rng| s.schedule(view, &req, rng))?
    }

    /// `ip_vs_schedule` / `ip_vs_sched_persist`: pick a dest (through a template for
    /// persistent services) and create the connection.
    fn schedule(&mut self, sid: ServiceId, pkt: &Packet, mark: u32) -> Option<ConnId> {
        let svc = self.table.service(sid)?;
        let (svc_port, svc_mark, persistent, onepacket, netmask, svc_timeout, af) = (
            svc.key.port(),
            svc.key.fwmark(),
            svc.is_persistent(),
            svc.is_onepacket(),
            svc.netmask,
            svc.timeout,
            svc.af(),
        );
        let one = onepacket && pkt.proto() == Protocol::Udp;
        let mut flags = if one { cf::ONE_PACKET } else { 0 };
        let on_svc_port = pkt.dport == svc_port;
        let (dest, template) = if persistent {
            // Template key: <proto, client net, 0, vaddr, vport> per §2.5.
            let cnet = mask_addr(&pkt.saddr, netmask);
            let (tproto, tvaddr, tvport) = if on_svc_port {
                let vport = if svc_port != FTP_PORT { pkt.dport } else { 0 };
                (pkt.proto().number(), pkt.daddr, vport)
            } else if svc_mark != 0 {
                (0, mark_addr(af, svc_mark), 0)
            } else {
                (pkt.proto().number(), pkt.daddr, 0)
            };
            let found = self.conns.lookup_template(tproto, &cnet, &tvaddr, tvport);
            let valid = found.filter(|&ct| self.check_template(ct));
            let (d, ct) = match valid {
                Some(ct) => (self.conns.get(ct)?.dest?, ct),
                None => {
                    let d = self.pick(sid, pkt)?;
                    let dest = self.table.dest(d)?;
                    let tdport = if on_svc_port && svc_port != FTP_PORT {
                        dest.port
                    } else {
                        0
                    };
                    let fl = cf::TEMPLATE | conn_flags_of(dest.fwd);
                    let t = Conn {
                        caddr: cnet,
                        vaddr: tvaddr,
                        daddr: dest.addr,
                        cport: 0,
                        vport: tvport,
                        dport: tdport,
                        proto: tproto,
                        state: template_state::NONE,
                        flags: fl,
                        dest: Some(d),
                        control: None,
                        n_control: 0,
                        timeout: svc_timeout.saturating_mul(1000),
                        expires: self.now + Dur::from_secs(u64::from(svc_timeout)),
                        fwmark: mark,
                        in_pkts: 0,
                    };
                    let ct = self.conns.insert(t);
                    self.bind_dest(d, true, false);
                    (d, ct)
                }
            };
            (d, Some(ct))
        } else {
            if svc_mark == 0 && !on_svc_port {
                return None;
            }
            (self.pick(sid, pkt)?, None)
        };
        let d = self.table.dest(dest)?;
        let dport = if persistent {
            if on_svc_port && d.port != 0 {
                d.port
            } else {
                pkt.dport
            }
        } else if d.port != 0 {
            d.port
        } else {
            pkt.dport
        };
        flags |= conn_flags_of(d.fwd) | cf::INACTIVE;
        let c = Conn {
            caddr: pkt.saddr,
            vaddr: pkt.daddr,
            daddr: d.addr,
            cport: pkt.sport,
            vport: pkt.dport,
            dport,
            proto: pkt.proto().number(),
            state: 0,
            flags,
            dest: Some(dest),
            control: template,
            n_control: 0,
            timeout: INITIAL_TIMEOUT.as_millis() as u32,
            expires: self.now + INITIAL_TIMEOUT,
            fwmark: mark,
            in_pkts: 0,
        };
        // Armed by the state transition that follows at once.
        let id = self.conns.insert_unarmed(c);
        self.note_conn(id);
        self.bind_dest(dest, false, true);
        if let Some(ct) = template {
            // The template is used: it controls one more conn and its timer restarts.
            let at = self.conns.get_mut(ct).map(|t| {
                t.n_control += 1;
                self.now + Dur(u64::from(t.timeout))
            });
            if let Some(at) = at {
                self.conns.set_expires(ct, at);
            }
        }
        // Connection counters.
        self.stats.add_conn();
        if let Some(dd) = self.table.dest_mut(dest) {
            dd.stats.add_conn();
        }
        if let Some(svc) = self.table.service_mut(sid) {
            svc.stats.add_conn();
        }
        Some(id)
    }

    /// `ip_vs_check_template`: a template is usable only while its dest is available (and,
    /// with `expire_quiescent_template`, has a weight). An unusable one is invalidated.
    fn check_template(&mut self, ct: ConnId) -> bool {
        let Some(t) = self.conns.get(ct) else {
            return false;
        };
        let ok = t.dest.and_then(|d| self.table.dest(d)).is_some_and(|d| {
            d.available && !(self.settings.expire_quiescent_template && d.weight == 0)
        });
        if !ok && let Some(t) = self.conns.get_mut(ct) {
            t.flags |= cf::INVALID;
        }
        ok
    }
}

/// The connection flags a dest's method gives (`dest->conn_flags`).
fn conn_flags_of(fwd: FwdMethod) -> u32 {
    let mut f = fwd.code() & cf::FWD_MASK;
    if !fwd.sees_replies() {
        f |= cf::NOOUTPUT;
    }
    f
}

/// The method encoded in connection flags.
pub fn fwd_of(flags: u32) -> FwdMethod {
    match flags & cf::FWD_MASK {
        0 => FwdMethod::Masq,
        1 => FwdMethod::Local,
        2 => FwdMethod::Tunnel,
        5 => FwdMethod::FullNat,
        _ => FwdMethod::Route,
    }
}

/// A fwmark as the kernel stores it in a template's address field (network order in
/// the first word): mark 100 → `0.0.0.100`.
pub fn mark_addr(af: Af, mark: u32) -> IpAddr {
    match af {
        Af::Inet => IpAddr::V4(Ipv4Addr::from(mark)),
        Af::Inet6 => IpAddr::V6(Ipv6Addr::from(u128::from(mark) << 96)),
    }
}

pub use sync::{MAX_SYNC_EVENTS, SYNC_REARM, SYNC_REFRESH, SyncFilter, SyncOutcome, SyncedConn};

#[path = "director_sync.rs"]
mod sync;

pub use watch::MAX_CONN_CHANGES;

#[path = "director_watch.rs"]
mod watch;

#[cfg(test)]
#[path = "director_tests.rs"]
mod tests;
