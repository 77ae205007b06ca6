//! The sending side (`ip_vs_sync_conn`, `ip_vs_sync_conn_needed`, the sync buffers).
//!
//! The director logs `(connection, input packet count)` for every input packet while a
//! master runs ([`rvs_core::Director::take_sync_events`]); the driver hands that log to
//! [`Master::on_events`] under the same lock, then sends what [`Master::poll_transmit`]
//! returns. Entries are batched into messages of at most `maxlen` bytes; a message is
//! sent when full or at the latest [`FLUSH_TIME`] after its first entry.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use rvs_core::FwdMethod;
use rvs_core::conn::state::{sctp, tcp};
use rvs_core::conn::{Conn, ConnId, ConnTable, flags as cf};
use rvs_core::director::{SYNC_REARM, SYNC_REFRESH};
use rvs_core::time::{Dur, Time};

use crate::wire::{MessageBuilder, SyncConn};

/// A partly filled message is sent at the latest this long after its first entry
/// (`IPVS_SYNC_FLUSH_TIME`, 2 s).
pub const FLUSH_TIME: Dur = Dur::from_secs(2);

/// Flag bits that never go on the wire: HASHED and rvs's internal bits.
const NOT_SENT: u32 = cf::HASHED | 0xff00_0000;

/// The master's tunables (the kernel's sysctls of the same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterConfig {
    /// `--syncid` written in every message.
    pub syncid: u8,
    /// Largest message (`--sync-maxlen`, UDP payload bytes).
    pub maxlen: usize,
    /// `sync_threshold` first value: sync at this packet count (default 3).
    pub threshold: u32,
    /// `sync_threshold` second value, `sync_period`: and every this many packets after
    /// (default 50; 0 = once).
    pub period: u32,
    /// `sync_refresh_period` in ms (default 0: off).
    pub refresh_period_ms: u64,
    /// `sync_retries` (0..=3, default 0).
    pub retries: u32,
    /// `sync_persist_mode`: sync only the templates of persistent services' connections.
    pub persist_mode: bool,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            syncid: 0,
            maxlen: 1472,
            threshold: 3,
            period: 50,
            refresh_period_ms: 0,
            retries: 0,
            persist_mode: false,
        }
    }
}

/// Per-connection sync memory (the kernel keeps it in `struct ip_vs_conn`).
#[derive(Clone, Copy, Debug, Default)]
struct Meta {
    old_state: u8,
    /// `(now + timeout) & !3` of the last sync (ms), with the retry count in the low bits.
    sync_endtime: u64,
}

/// Counters of the master.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MasterStats {
    /// Entries put into messages.
    pub entries: u64,
    /// Messages produced.
    pub messages: u64,
}

/// The sending side of the sync protocol.
#[derive(Debug)]
pub struct Master {
    cfg: MasterConfig,
    meta: HashMap<ConnId, Meta>,
    current: Option<(MessageBuilder, Time)>,
    queue: VecDeque<Vec<u8>>,
    /// Counters.
    pub stats: MasterStats,
}

/// The wire form of a connection.
pub fn to_wire(c: &Conn) -> SyncConn {
    SyncConn {
        protocol: c.proto,
        flags: c.flags & !NOT_SENT,
        state: u16::from(c.state),
        cport: c.cport,
        vport: c.vport,
        dport: c.dport,
        fwmark: c.fwmark,
        timeout: c.timeout / 1000,
        caddr: c.caddr,
        vaddr: c.vaddr,
        daddr: c.daddr,
        seq: None,
        pe_data: None,
        pe_name: None,
        fullnat: None,
    }
}

impl Master {
    /// A master with these tunables.
    pub fn new(cfg: MasterConfig) -> Self {
        Master {
            cfg,
            meta: HashMap::new(),
            current: None,
            queue: VecDeque::new(),
            stats: MasterStats::default(),
        }
    }

    /// The tunables.
    pub fn config(&self) -> &MasterConfig {
        &self.cfg
    }

    /// Handle the director's event log (see [`rvs_core::Director::take_sync_events`]).
    /// A count of [`SYNC_REARM`] means "template re-armed": synced with the threshold
    /// count; [`SYNC_REFRESH`] "traffic in the fast path": see `refresh_needed`.
    ///
    /// The log is read after the packets (up to one drain period later), so every entry
    /// is written from the connection as it is now; a connection the rules select twice
    /// within one log goes out once, since both entries would be the same.
    pub fn on_events(&mut self, conns: &mut ConnTable, events: &[(ConnId, u32)], now: Time) {
        self.on_events_with(conns, events, now, &|_| None);
    }

    /// [`Master::on_events`], with `fullnat` telling the FULLNAT source `(LIP, lport)` of
    /// a connection (rvs's FULLNAT parameter, see [`crate::wire`]).
    pub fn on_events_with(
        &mut self,
        conns: &mut ConnTable,
        events: &[(ConnId, u32)],
        now: Time,
        fullnat: &dyn Fn(ConnId) -> Option<(IpAddr, u16)>,
    ) {
        let mut sent = HashSet::new();
        for &(id, pkts) in events {
            let pkts = match pkts {
                SYNC_REARM => self.cfg.threshold,
                p => p,
            };
            self.sync_chain(conns, id, pkts, now, &mut sent, fullnat);
        }
    }

    /// One input packet of `id`, its `pkts`-th (`ip_vs_sync_conn`): sync it if needed,
    /// then its controlling template.
    pub fn on_packet(&mut self, conns: &mut ConnTable, id: ConnId, pkts: u32, now: Time) {
        self.sync_chain(conns, id, pkts, now, &mut HashSet::new(), &|_| None);
    }

    fn sync_chain(
        &mut self,
        conns: &mut ConnTable,
        id: ConnId,
        pkts: u32,
        now: Time,
        sent: &mut HashSet<ConnId>,
        fullnat: &dyn Fn(ConnId) -> Option<(IpAddr, u16)>,
    ) {
        let mut cur = Some((id, pkts));
        // Bounded: a control chain is one template deep in rvs (and the kernel).
        for _ in 0..4 {
            let Some((id, pkts)) = cur.take() else { break };
            let Some(c) = conns.get(id) else { break };
            let control = c.control;
            let needed = if pkts == SYNC_REFRESH {
                self.refresh_needed(conns, id, now)
            } else {
                self.needed(conns, id, pkts, now)
            };
            if c.flags & cf::ONE_PACKET == 0
                && needed
                && let Some(c) = conns.get(id)
                && sent.insert(id)
            {
                let mut w = to_wire(c);
                if c.flags & cf::FWD_MASK == FwdMethod::FullNat.code() {
                    w.fullnat = fullnat(id);
                }
                self.push(&w, now);
            }
            let Some(ct) = control else { break };
            if pkts == SYNC_REFRESH {
                cur = Some((ct, SYNC_REFRESH));
                continue;
            }
            let Some(t) = conns.get_mut(ct) else { break };
            let pkts = if t.flags & cf::TEMPLATE != 0 {
                t.in_pkts = t.in_pkts.wrapping_add(1);
                t.in_pkts
            } else {
                self.cfg.threshold
            };
            cur = Some((ct, pkts));
        }
    }

    /// A fast-path touch ([`SYNC_REFRESH`], rvs's own rule: the kernel has no fast path):
    /// sync a connection in a synced state that was never sent, or whose last sync is half
    /// its timeout old, so a backup never lets a connection expire that the master's fast
    /// path keeps alive.
    fn refresh_needed(&mut self, conns: &ConnTable, id: ConnId, now: Time) -> bool {
        let Some(c) = conns.get(id) else { return false };
        let template = c.flags & cf::TEMPLATE != 0;
        let synced_state = template
            || match c.proto {
                6 => [
                    tcp::ESTABLISHED,
                    tcp::FIN_WAIT,
                    tcp::CLOSE,
                    tcp::CLOSE_WAIT,
                    tcp::TIME_WAIT,
                ]
                .contains(&c.state),
                132 => [sctp::ESTABLISHED, 9, 10, 11, sctp::CLOSED].contains(&c.state),
                _ => true,
            };
        if !synced_state || (self.cfg.persist_mode && !template && c.control.is_some()) {
            return false;
        }
        let timeout = u64::from(c.timeout);
        let n = (now.0 + timeout) & !3;
        let meta = self.meta.entry(id).or_default();
        if meta.sync_endtime != 0 && n < (meta.sync_endtime & !3) + timeout / 2 {
            return false;
        }
        meta.old_state = c.state;
        meta.sync_endtime = n;
        true
    }

    /// `ip_vs_sync_conn_needed`.
    fn needed(&mut self, conns: &ConnTable, id: ConnId, pkts: u32, now: Time) -> bool {
        let Some(c) = conns.get(id) else { return false };
        let meta = self.meta.entry(id).or_default();
        let orig = meta.sync_endtime;
        let timeout = u64::from(c.timeout);
        let mut n = (now.0 + timeout) & !3;
        let template = c.flags & cf::TEMPLATE != 0;
        let force;
        if template {
            force = false;
        } else if self.cfg.persist_mode && c.control.is_some() {
            return false;
        } else if c.proto == 6 || c.proto == 132 {
            let (synced, est) = if c.proto == 6 {
                (
                    [
                        tcp::ESTABLISHED,
                        tcp::FIN_WAIT,
                        tcp::CLOSE,
                        tcp::CLOSE_WAIT,
                        tcp::TIME_WAIT,
                    ]
                    .contains(&c.state),
                    tcp::ESTABLISHED,
                )
            } else {
                (
                    [sctp::ESTABLISHED, 9, 10, 11, sctp::CLOSED].contains(&c.state),
                    sctp::ESTABLISHED,
                )
            };
            if !synced {
                return false;
            }
            force = c.state != meta.old_state;
            if force && c.state != est {
                meta.old_state = c.state;
                meta.sync_endtime = n;
                return true;
            }
        } else {
            force = false;
        }
        let refresh = self.cfg.refresh_period_ms;
        if refresh > 0 {
            let diff = n.abs_diff(orig);
            let min_diff = (timeout / 2).max(10_000);
            if diff < refresh.min(min_diff) {
                let retries = orig & 3;
                if retries >= u64::from(self.cfg.retries) {
                    return false;
                }
                if now.0 < (orig.saturating_sub(timeout)) + (refresh >> 3) {
                    return false;
                }
                n |= retries + 1;
            }
        }
        let period = self.cfg.period;
        if period > 0 {
            if !template && pkts % period != self.cfg.threshold {
                return false;
            }
        } else if refresh == 0 && pkts != self.cfg.threshold {
            return false;
        }
        // The kernel's cmpxchg only fails under a race with another CPU: always sync here.
        let _ = force;
        meta.old_state = c.state;
        meta.sync_endtime = n;
        true
    }

    /// Put one entry into the current message, sending that first when it is full.
    pub fn push(&mut self, c: &SyncConn, now: Time) {
        let (syncid, maxlen) = (self.cfg.syncid, self.cfg.maxlen);
        let (b, _) = self
            .current
            .get_or_insert_with(|| (MessageBuilder::new(syncid, maxlen), now));
        match b.push(c) {
            Ok(true) => self.stats.entries += 1,
            Ok(false) => {
                if let Some((full, _)) = self.current.take() {
                    self.queue.push_back(full.finish());
                    self.stats.messages += 1;
                }
                let mut b = MessageBuilder::new(syncid, maxlen);
                if matches!(b.push(c), Ok(true)) {
                    self.stats.entries += 1;
                }
                self.current = Some((b, now));
            }
            // Unencodable entries (none come from a Conn) are left out.
            Err(_) => {}
        }
    }

    /// The next datagram to send now, if any: full messages first, then the current one
    /// once it is [`FLUSH_TIME`] old.
    pub fn poll_transmit(&mut self, now: Time) -> Option<Vec<u8>> {
        if let Some(m) = self.queue.pop_front() {
            return Some(m);
        }
        match &self.current {
            Some((b, first)) if !b.is_empty() && now >= *first + FLUSH_TIME => {
                self.stats.messages += 1;
                self.current.take().map(|(b, _)| b.finish())
            }
            _ => None,
        }
    }

    /// Send everything now (the daemon stops, or a failover test wants no delay).
    pub fn flush(&mut self) -> Vec<Vec<u8>> {
        if let Some((b, _)) = self.current.take()
            && !b.is_empty()
        {
            self.queue.push_back(b.finish());
            self.stats.messages += 1;
        }
        self.queue.drain(..).collect()
    }

    /// When [`Master::poll_transmit`] will next have something, if ever.
    pub fn next_deadline(&self) -> Option<Time> {
        if !self.queue.is_empty() {
            return Some(Time::ZERO);
        }
        self.current
            .as_ref()
            .filter(|(b, _)| !b.is_empty())
            .map(|(_, first)| *first + FLUSH_TIME)
    }

    /// Forget the sync memory of connections that no longer exist.
    pub fn gc(&mut self, conns: &ConnTable) {
        self.meta.retain(|id, _| conns.get(*id).is_some());
    }

    /// Connections the master remembers (for tests and stats).
    pub fn tracked(&self) -> usize {
        self.meta.len()
    }
}
