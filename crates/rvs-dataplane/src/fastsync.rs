//! Keeping the XDP fast path in step with the engine, in batches (the worker calls
//! [`FastSync::sync`] every [`SYNC_MS`], never per packet):
//!
//! 1. (every [`REFRESH_MS`]) flows whose `last_seen` moved since the last read had
//!    traffic in XDP: their
//!    connection's timer is restarted ([`rvs_core::Director::touch_conn`]), so an
//!    established connection does not time out in userspace while its packets never
//!    reach it;
//! 2. each counter slot's packets and bytes since the last pass are added to the slot's
//!    dest, its service and the totals ([`rvs_core::Director::account_bulk`]), so
//!    `ipvsadm -Ln --stats` stays exact;
//! 3. the map is made equal to the entries of every eligible connection
//!    ([`crate::fastpath::entries`]): new ESTABLISHED TCP connections and UDP flows are
//!    installed, changed ones (dest edited, route or neighbour changed) rewritten, and
//!    entries of connections that left ESTABLISHED, expired or lost their dest removed.
//!
//! A counter slot is the dest's slab index: one slot per dest.

use std::collections::HashMap;

use rvs_core::DestId;
use rvs_core::conn::ConnId;
use rvs_core::engine::{Engine, IfaceId, Neighbours};
use rvs_core::time::Time;
use rvs_xdp::{Classifier, FLOW_SLOTS, Flow, FlowKey, FlowStats, XdpError};

use crate::fastpath;

/// How often the worker syncs (ms): installs, removals and counters.
pub const SYNC_MS: u64 = 200;
/// How often the installed entries' `last_seen` are read (ms): one map lookup per entry,
/// so not on every pass.
pub const REFRESH_MS: u64 = 1000;

/// The map operations the sync needs (the classifier, or a fake in tests).
pub trait FlowTable {
    /// Install or replace an entry (keeping its `last_seen`).
    fn set_flow(&mut self, key: &FlowKey, flow: &Flow) -> Result<(), XdpError>;
    /// Remove an entry.
    fn remove_flow(&mut self, key: &FlowKey) -> Result<bool, XdpError>;
    /// An entry's `last_seen`, `None` when it is not in the map (e.g. evicted).
    fn last_seen(&self, key: &FlowKey) -> Option<u64>;
    /// A slot's counters summed over CPUs.
    fn slot_stats(&self, slot: u32) -> Result<FlowStats, XdpError>;
    /// Every entry in the map (read once, when a restarted data plane adopts them).
    fn all_flows(&self) -> Vec<(FlowKey, Flow)>;
}

impl FlowTable for Classifier {
    fn set_flow(&mut self, key: &FlowKey, flow: &Flow) -> Result<(), XdpError> {
        Classifier::set_flow(self, key, flow)
    }

    fn remove_flow(&mut self, key: &FlowKey) -> Result<bool, XdpError> {
        Classifier::remove_flow(self, key)
    }

    fn last_seen(&self, key: &FlowKey) -> Option<u64> {
        self.flow(key).map(|f| f.last_seen)
    }

    fn slot_stats(&self, slot: u32) -> Result<FlowStats, XdpError> {
        self.flow_stats(slot)
    }

    fn all_flows(&self) -> Vec<(FlowKey, Flow)> {
        self.flows()
    }
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Entries written (new or changed).
    pub installed: u64,
    /// Entries removed.
    pub removed: u64,
    /// Connections whose timer was restarted.
    pub touched: u64,
    /// Packets merged into the director's counters.
    pub merged_pkts: u64,
    /// Map operations that failed (logged).
    pub errors: u64,
    /// Connections adopted from a previous run's flows.
    pub adopted: u64,
}

#[derive(Clone, Copy, Debug)]
struct Installed {
    flow: Flow,
    conn: ConnId,
    seen: u64,
}

/// The sync's memory of what it installed and counted.
#[derive(Debug, Default)]
pub struct FastSync {
    /// Send frames back out of their ingress interface with XDP_TX (else: a DEVMAP
    /// redirect, [`rvs_xdp::ops::NO_TX`]).
    xdp_tx: bool,
    installed: HashMap<FlowKey, Installed>,
    /// The keys of each connection (forward, and reply for NAT / FULLNAT).
    by_conn: HashMap<ConnId, Vec<FlowKey>>,
    /// Slot → (its dest, the counters already merged).
    slots: HashMap<u32, (DestId, FlowStats)>,
    /// The map has not been looked at yet (a pinned map may hold a previous run's flows).
    adopted: bool,
    /// When `last_seen` was last read.
    last_refresh: Option<Time>,
    /// Entries found in the map at start that no connection claims yet: removed after the
    /// first pass unless one does.
    orphans: Vec<FlowKey>,
}

fn minus(a: &FlowStats, b: &FlowStats) -> FlowStats {
    FlowStats {
        pkts_in: a.pkts_in.wrapping_sub(b.pkts_in),
        bytes_in: a.bytes_in.wrapping_sub(b.bytes_in),
        pkts_out: a.pkts_out.wrapping_sub(b.pkts_out),
        bytes_out: a.bytes_out.wrapping_sub(b.bytes_out),
    }
}

impl FastSync {
    /// Nothing installed yet. `xdp_tx`: frames leaving by their ingress interface use
    /// XDP_TX (right for NICs); `false`: a DEVMAP redirect (needed on veth, whose peer
    /// would need an XDP program for XDP_TX frames to arrive).
    pub fn new(xdp_tx: bool) -> Self {
        FastSync {
            xdp_tx,
            ..FastSync::default()
        }
    }

    /// Entries currently installed.
    pub fn len(&self) -> usize {
        self.installed.len()
    }

    /// Whether nothing is installed.
    pub fn is_empty(&self) -> bool {
        self.installed.is_empty()
    }

    /// One pass at `now` (see the module docs).
    pub fn sync(
        &mut self,
        engine: &mut Engine,
        table: &mut dyn FlowTable,
        neigh: &dyn Neighbours,
        ifindex: &dyn Fn(IfaceId) -> Option<u32>,
        now: Time,
    ) -> SyncReport {
        let mut r = SyncReport::default();
        // 0. Flows a previous run left in a pinned map: their connections join the engine.
        if !self.adopted {
            self.adopted = true;
            r.adopted = self.adopt(engine, table, now);
        }
        // 1. Traffic in XDP keeps connections alive (read once every REFRESH_MS).
        let due = self
            .last_refresh
            .is_none_or(|t| now.millis_since(t) >= REFRESH_MS);
        if due {
            self.last_refresh = Some(now);
            let mut evicted = Vec::new();
            for (key, inst) in self.installed.iter_mut() {
                match table.last_seen(key) {
                    Some(ls) => {
                        if ls != inst.seen {
                            inst.seen = ls;
                            engine.director.touch_conn(inst.conn, now);
                            r.touched += 1;
                        }
                    }
                    None => evicted.push((*key, inst.conn)),
                }
            }
            // Evicted by the LRU map: installed again below.
            for (key, conn) in evicted {
                self.installed.remove(&key);
                self.unindex(conn, &key);
            }
        }
        // 2. Counters.
        self.merge_counters(engine, table, &mut r);
        // 3. The map follows the connections.
        let mut want: HashMap<FlowKey, (Flow, ConnId)> = HashMap::new();
        let mut new_slots: Vec<(u32, DestId)> = Vec::new();
        for (id, c) in engine.director.conns.iter() {
            let Some(dest) = c.dest else { continue };
            if c.is_template() || !fastpath::eligible(c.proto, c.state) {
                continue;
            }
            let slot = dest.index();
            if slot >= FLOW_SLOTS {
                continue;
            }
            let Ok(entries) = fastpath::entries(engine, id, neigh, ifindex, slot) else {
                continue;
            };
            if self.slots.get(&slot).map(|s| s.0) != Some(dest) {
                new_slots.push((slot, dest));
            }
            for mut e in entries {
                if !self.xdp_tx {
                    e.flow.ops |= rvs_xdp::ops::NO_TX;
                }
                want.insert(e.key, (e.flow, id));
            }
        }
        for (slot, dest) in new_slots {
            // A slot changing hands: its earlier packets were merged above.
            match table.slot_stats(slot) {
                Ok(now_stats) => {
                    self.slots.insert(slot, (dest, now_stats));
                }
                Err(e) => {
                    tracing::warn!(slot, error = %e, "reading fast-path counters");
                    r.errors += 1;
                }
            }
        }
        let gone: Vec<FlowKey> = self
            .installed
            .keys()
            .filter(|k| !want.contains_key(k))
            .copied()
            .collect();
        for k in gone {
            if let Some(old) = self.installed.remove(&k) {
                self.unindex(old.conn, &k);
            }
            match table.remove_flow(&k) {
                Ok(_) => r.removed += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "removing a fast-path flow");
                    r.errors += 1;
                }
            }
        }
        for k in std::mem::take(&mut self.orphans) {
            if !want.contains_key(&k) {
                match table.remove_flow(&k) {
                    Ok(_) => r.removed += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "removing an orphan fast-path flow");
                        r.errors += 1;
                    }
                }
            }
        }
        for (k, (flow, conn)) in want {
            if !self.slots.contains_key(&flow.slot) {
                continue; // its counters could not be read: stay in userspace
            }
            let same = self
                .installed
                .get(&k)
                .is_some_and(|i| i.flow == flow && i.conn == conn);
            if same {
                continue;
            }
            match table.set_flow(&k, &flow) {
                Ok(()) => {
                    let seen = table.last_seen(&k).unwrap_or(0);
                    if let Some(old) = self.installed.insert(k, Installed { flow, conn, seen })
                        && old.conn != conn
                    {
                        self.unindex(old.conn, &k);
                    }
                    let keys = self.by_conn.entry(conn).or_default();
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                    r.installed += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "installing a fast-path flow");
                    r.errors += 1;
                }
            }
        }
        r
    }

    /// Create engine connections for the client → server flows found in the map (NAT, DR,
    /// TUN; FULLNAT's local ports cannot be re-reserved and its flows are dropped): the
    /// service by (proto, VIP, port) or (proto, VIP, 0), the dest from the entry. Every
    /// entry found becomes an orphan until a connection's entries claim it.
    fn adopt(&mut self, engine: &mut Engine, table: &dyn FlowTable, now: Time) -> u64 {
        use rvs_core::conn::state;
        use rvs_xdp::{DIR_IN, ops};
        let flows = table.all_flows();
        let mut n = 0;
        for (k, f) in &flows {
            self.orphans.push(*k);
            if f.dir != DIR_IN || f.ops & ops::SET_SRC != 0 {
                continue;
            }
            let addr = |b: &[u8; 16]| -> std::net::IpAddr {
                if k.family == 4 {
                    std::net::IpAddr::from([b[0], b[1], b[2], b[3]])
                } else {
                    std::net::IpAddr::from(*b)
                }
            };
            let (caddr, vaddr, daddr) = (addr(&k.src), addr(&k.dst), addr(&f.new_dst));
            let (cport, vport, dport) = (
                u16::from_be(k.sport_be),
                u16::from_be(k.dport_be),
                u16::from_be(f.new_dport_be),
            );
            let st = if k.proto == 6 {
                state::tcp::ESTABLISHED
            } else {
                state::udp::NORMAL
            };
            let Some(proto) = rvs_core::Protocol::from_number(k.proto) else {
                continue;
            };
            for port in [vport, 0] {
                let key = rvs_core::ServiceKey::Addr {
                    proto,
                    addr: vaddr,
                    port,
                };
                if engine
                    .director
                    .adopt_conn(
                        &key,
                        k.proto,
                        (caddr, cport),
                        (vaddr, vport),
                        (daddr, dport),
                        st,
                        now,
                    )
                    .is_some()
                {
                    n += 1;
                    break;
                }
            }
        }
        if !flows.is_empty() {
            tracing::info!(
                flows = flows.len(),
                adopted = n,
                "fast-path flows of a previous run"
            );
        }
        n
    }

    fn merge_counters(&mut self, engine: &mut Engine, table: &dyn FlowTable, r: &mut SyncReport) {
        for (slot, (dest, last)) in self.slots.iter_mut() {
            let cur = match table.slot_stats(*slot) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(slot, error = %e, "reading fast-path counters");
                    r.errors += 1;
                    continue;
                }
            };
            let d = minus(&cur, last);
            if d != FlowStats::default() {
                engine
                    .director
                    .account_bulk(*dest, d.pkts_in, d.bytes_in, d.pkts_out, d.bytes_out);
                r.merged_pkts += d.pkts_in + d.pkts_out;
                *last = cur;
            }
        }
    }

    fn unindex(&mut self, conn: ConnId, key: &FlowKey) {
        if let Some(keys) = self.by_conn.get_mut(&conn) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
    }

    /// A frame of the flow `key` closes its connection (TCP FIN or RST, seen by the
    /// worker): every entry of that connection leaves the map now, so the packets after
    /// it reach the engine's state machine. Returns the entries removed.
    pub fn closing(&mut self, table: &mut dyn FlowTable, key: &FlowKey) -> usize {
        let Some(conn) = self.installed.get(key).map(|i| i.conn) else {
            return 0;
        };
        let keys = self.by_conn.remove(&conn).unwrap_or_default();
        for k in &keys {
            self.installed.remove(k);
            if let Err(e) = table.remove_flow(k) {
                tracing::warn!(error = %e, "removing a closing fast-path flow");
            }
        }
        keys.len()
    }

    /// Remove every installed entry (the data plane stops serving the fast path).
    pub fn clear(&mut self, table: &mut dyn FlowTable) {
        self.by_conn.clear();
        for k in std::mem::take(&mut self.installed).into_keys() {
            let _ = table.remove_flow(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::command::Command;
    use rvs_core::engine::lab::{self, LabNeighbours};
    use rvs_core::engine::{Frame, HEADROOM};
    use std::collections::BTreeMap;

    /// A map in memory; `hit` plays XDP forwarding a packet.
    #[derive(Default)]
    struct Fake {
        flows: BTreeMap<FlowKey, Flow>,
        stats: BTreeMap<u32, FlowStats>,
        clock: u64,
    }

    impl Fake {
        fn hit(&mut self, key: &FlowKey, len: u64) -> bool {
            let Some(f) = self.flows.get_mut(key) else {
                return false;
            };
            self.clock += 1;
            f.last_seen = self.clock;
            let s = self.stats.entry(f.slot).or_default();
            if f.dir == rvs_xdp::DIR_OUT {
                s.pkts_out += 1;
                s.bytes_out += len;
            } else {
                s.pkts_in += 1;
                s.bytes_in += len;
            }
            true
        }
    }

    impl FlowTable for Fake {
        fn set_flow(&mut self, key: &FlowKey, flow: &Flow) -> Result<(), XdpError> {
            let seen = self.flows.get(key).map_or(0, |f| f.last_seen);
            self.flows.insert(
                *key,
                Flow {
                    last_seen: seen,
                    ..*flow
                },
            );
            Ok(())
        }
        fn remove_flow(&mut self, key: &FlowKey) -> Result<bool, XdpError> {
            Ok(self.flows.remove(key).is_some())
        }
        fn last_seen(&self, key: &FlowKey) -> Option<u64> {
            self.flows.get(key).map(|f| f.last_seen)
        }
        fn slot_stats(&self, slot: u32) -> Result<FlowStats, XdpError> {
            Ok(self.stats.get(&slot).copied().unwrap_or_default())
        }
        fn all_flows(&self) -> Vec<(FlowKey, Flow)> {
            self.flows.iter().map(|(k, f)| (*k, *f)).collect()
        }
    }

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    fn cmd(e: &mut Engine, line: &str) {
        let c = match line {
            "svc" => Command::AddService(rvs_core::ServiceConfig::new(key())),
            "dest" => {
                let mut d = rvs_core::DestConfig::new(ip("198.18.1.11"), 8080);
                d.fwd = rvs_core::FwdMethod::Masq;
                Command::AddDest(key(), d)
            }
            "deldest" => Command::DelDest(key(), ip("198.18.1.11"), 8080),
            _ => unreachable!(),
        };
        e.director.apply(&c, Time::ZERO).unwrap();
    }

    fn key() -> rvs_core::ServiceKey {
        rvs_core::ServiceKey::Addr {
            proto: rvs_core::Protocol::Udp,
            addr: ip("198.18.0.100"),
            port: 53,
        }
    }

    fn udp(e: &mut Engine, t: u64) {
        let mut pkt = Vec::new();
        etherparse::PacketBuilder::ethernet2(lab::CLIENT_MAC, lab::EXT_MAC)
            .ipv4([198, 18, 0, 10], [198, 18, 0, 100], 64)
            .udp(5000, 53)
            .write(&mut pkt, b"q")
            .unwrap();
        let mut buf = vec![0u8; HEADROOM + pkt.len() + 256];
        buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(&pkt);
        let mut f = Frame::new(&mut buf, HEADROOM, pkt.len()).unwrap();
        e.process(&mut f, lab::EXT, Time(t), &LabNeighbours);
    }

    fn idx(i: IfaceId) -> Option<u32> {
        Some(10 + u32::from(i.0 as u16))
    }

    #[test]
    fn installs_refreshes_counts_and_removes() {
        let mut e = lab::engine();
        cmd(&mut e, "svc");
        cmd(&mut e, "dest");
        let mut fake = Fake::default();
        let mut s = FastSync::new(true);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(0));
        assert_eq!(r.installed, 0, "no connection yet");
        udp(&mut e, 1000);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1000));
        assert_eq!(
            (r.installed, s.len()),
            (2, 2),
            "both directions of the UDP flow"
        );
        let fwd = FlowKey::new(17, ip("198.18.0.10"), 5000, ip("198.18.0.100"), 53).unwrap();
        let rep = FlowKey::new(17, ip("198.18.1.11"), 8080, ip("198.18.0.10"), 5000).unwrap();
        assert!(fake.flows.contains_key(&fwd) && fake.flows.contains_key(&rep));
        let before = e.director.stats.counters();

        // XDP forwards 3 packets in, 2 out; a pass later the counters match and the
        // connection lives on past its 300 s UDP timeout.
        for _ in 0..3 {
            assert!(fake.hit(&fwd, 29));
        }
        for _ in 0..2 {
            assert!(fake.hit(&rep, 100));
        }
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(250_000));
        assert_eq!((r.touched, r.merged_pkts, r.installed), (2, 5, 0));
        let after = e.director.stats.counters();
        assert_eq!(after.inpkts - before.inpkts, 3);
        assert_eq!(after.inbytes - before.inbytes, 87);
        assert_eq!(after.outpkts - before.outpkts, 2);
        assert_eq!(after.outbytes - before.outbytes, 200);
        e.advance(Time(301_000));
        assert_eq!(
            e.director.conns.len(),
            1,
            "touched at 250 s: alive at 301 s"
        );
        // Nothing new: nothing merged twice.
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(301_000));
        assert_eq!(r, SyncReport::default());
        assert_eq!(e.director.stats.counters(), after);

        // Idle: the connection expires in the engine and its entries go.
        e.advance(Time(551_000));
        assert_eq!(e.director.conns.len(), 0);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(551_000));
        assert_eq!((r.removed, s.len()), (2, 0));
        assert!(fake.flows.is_empty());
    }

    #[test]
    fn a_restarted_sync_adopts_the_flows_it_finds() {
        let mut e = lab::engine();
        cmd(&mut e, "svc");
        cmd(&mut e, "dest");
        let mut fake = Fake::default();
        let mut s = FastSync::new(true);
        udp(&mut e, 1000);
        s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1000));
        let installed = fake.flows.clone();
        // An entry nobody will claim.
        let stray = FlowKey::new(17, ip("198.18.0.99"), 1, ip("198.18.0.100"), 53).unwrap();
        fake.flows.insert(stray, Flow::default());
        // rvsd restarts: a new engine with the same rules, a new sync, the same map.
        let mut e2 = lab::engine();
        cmd(&mut e2, "svc");
        cmd(&mut e2, "dest");
        let mut s2 = FastSync::new(true);
        let r = s2.sync(&mut e2, &mut fake, &LabNeighbours, &idx, Time(5000));
        assert_eq!((r.adopted, r.removed), (1, 1), "{r:?}");
        assert_eq!(e2.director.conns.len(), 1);
        assert_eq!(
            fake.flows, installed,
            "the same entries, the stray one gone"
        );
        assert_eq!(s2.len(), 2);
    }

    #[test]
    fn a_closing_frame_takes_both_directions_out_at_once() {
        let mut e = lab::engine();
        cmd(&mut e, "svc");
        cmd(&mut e, "dest");
        let mut fake = Fake::default();
        let mut s = FastSync::new(true);
        udp(&mut e, 1000);
        s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1000));
        let rep = FlowKey::new(17, ip("198.18.1.11"), 8080, ip("198.18.0.10"), 5000).unwrap();
        let other = FlowKey::new(17, ip("198.18.1.12"), 1, ip("198.18.0.10"), 2).unwrap();
        assert_eq!(s.closing(&mut fake, &other), 0);
        assert_eq!(s.closing(&mut fake, &rep), 2);
        assert!(fake.flows.is_empty() && s.is_empty());
        assert_eq!(s.closing(&mut fake, &rep), 0);
    }

    #[test]
    fn a_deleted_dest_takes_its_flows_out_and_evictions_come_back() {
        let mut e = lab::engine();
        cmd(&mut e, "svc");
        cmd(&mut e, "dest");
        let mut fake = Fake::default();
        let mut s = FastSync::new(true);
        udp(&mut e, 1000);
        s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1000));
        assert_eq!(fake.flows.len(), 2);
        // The LRU map evicted one: noticed at the next last_seen read (REFRESH_MS on),
        // then installed again.
        let k = *fake.flows.keys().next().unwrap();
        fake.flows.remove(&k);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1200));
        assert_eq!(r.installed, 0, "not read yet");
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(2000));
        assert_eq!(r.installed, 1);
        assert_eq!(fake.flows.len(), 2);
        cmd(&mut e, "deldest");
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(2200));
        assert_eq!(
            r.removed, 2,
            "a connection without its dest stays in userspace"
        );
        assert!(fake.flows.is_empty());
    }
}
