//! Keeping the XDP fast path in step with the engine, in batches: the worker calls
//! [`FastSync::sync`] every [`SYNC_MS`], never per packet, and each pass costs in
//! proportion to what changed, not to the size of the connection table.
//!
//! 1. each counter slot's packets and bytes since the last pass are added to the slot's
//!    dest, its service and the totals ([`rvs_core::Director::account_bulk`]), so
//!    `ipvsadm -Ln --stats` stays exact;
//! 2. the connections the engine created, moved to another state or deleted since the
//!    last pass ([`rvs_core::Director::take_conn_changes`]) are reconciled: an
//!    ESTABLISHED TCP connection or a UDP flow gets its entries
//!    ([`crate::fastpath::entries`]), a connection that left ESTABLISHED, expired or lost
//!    its dest loses them;
//! 3. installed connections whose check is due have their entries' `last_seen` read
//!    (one map lookup per entry): traffic in XDP restarts the connection's timer from the
//!    last packet's time ([`rvs_core::Director::touch_conn`]), so an established
//!    connection does not time out in userspace while its packets never reach it. The
//!    next check comes after half the time the connection has left (at least one pass):
//!    a busy connection is read about twice per timeout, an idle one more often as it
//!    nears expiry, so it expires within one pass of when the engine alone would expire
//!    it;
//! 4. a slice of the connection table is visited ([`SCAN_PER_PASS`], or
//!    [`RESCAN_PER_PASS`] after a command, a route change or a change log that
//!    overflowed), so what no change reports (a neighbour's new MAC, a dest edited)
//!    reaches the map too.
//!
//! A counter slot is the dest's slab index: one slot per dest. The sync installs at most
//! 90% of the map's capacity (an LRU map may evict before it is full); connections
//! beyond that stay in userspace and are counted in [`SyncReport::full`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};

use rvs_core::DestId;
use rvs_core::conn::ConnId;
use rvs_core::engine::{Engine, IfaceId, Neighbours};
use rvs_core::time::Time;
use rvs_xdp::{Classifier, FLOW_SLOTS, Flow, FlowKey, FlowStats, XdpError};

use crate::fastpath::{self, FlowEntry, NotFast};

/// How often the worker syncs (ms).
pub const SYNC_MS: u64 = 200;
/// Connection-table slots visited per pass in the background.
pub const SCAN_PER_PASS: u32 = 2048;
/// Slots visited per pass after a command, a route change or lost changes, until the
/// whole table has been seen.
pub const RESCAN_PER_PASS: u32 = 32_768;
/// Due `last_seen` checks done in one pass at most (the rest wait for the next).
pub const CHECKS_PER_PASS: usize = 20_000;
/// Connections waiting for a neighbour's MAC or a FULLNAT allocation, retried each pass.
const MAX_RETRY: usize = 65_536;
/// Next hops to resolve kept between two [`FastSync::take_unresolved`].
const MAX_UNRESOLVED: usize = 256;

/// The map operations the sync needs (the classifier, or a fake in tests).
pub trait FlowTable {
    /// Install or replace an entry. `keep_seen`: the key may be in the map already, keep
    /// its `last_seen` (else one update writes `flow` as given). Returns the `last_seen`
    /// written.
    fn set_flow(&mut self, key: &FlowKey, flow: &Flow, keep_seen: bool) -> Result<u64, XdpError>;
    /// Remove an entry.
    fn remove_flow(&mut self, key: &FlowKey) -> Result<bool, XdpError>;
    /// An entry's `last_seen` (`CLOCK_MONOTONIC` ns, the engine's clock), `None` when it
    /// is not in the map (e.g. evicted).
    fn last_seen(&self, key: &FlowKey) -> Option<u64>;
    /// A slot's counters summed over CPUs.
    fn slot_stats(&self, slot: u32) -> Result<FlowStats, XdpError>;
    /// Every entry in the map (read once, when a restarted data plane adopts them).
    fn all_flows(&self) -> Vec<(FlowKey, Flow)>;
    /// How many entries the map holds.
    fn capacity(&self) -> usize;
}

impl FlowTable for Classifier {
    fn set_flow(&mut self, key: &FlowKey, flow: &Flow, keep_seen: bool) -> Result<u64, XdpError> {
        self.put_flow(key, flow, keep_seen)
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

    fn capacity(&self) -> usize {
        rvs_xdp::FLOWS_MAX as usize
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
    /// Installed connections whose `last_seen` was read.
    pub checked: u64,
    /// Connections left in userspace because the map is full.
    pub full: u64,
}

/// One installed connection.
#[derive(Clone, Copy, Debug)]
struct Installed {
    /// Its keys (`n` of them: the forward one, and the reply for NAT / FULLNAT).
    keys: [FlowKey; 2],
    n: u8,
    /// A hash of its entries: unchanged entries are not written again.
    sig: u64,
    /// Each key's `last_seen` at the last read.
    seen: [u64; 2],
    /// When its next `last_seen` check is due (ms; the heap may hold older times too).
    check_at: u64,
}

impl Installed {
    fn keys(&self) -> &[FlowKey] {
        &self.keys[..usize::from(self.n)]
    }
}

/// The sync's memory of what it installed and counted.
#[derive(Debug, Default)]
pub struct FastSync {
    /// Send frames back out of their ingress interface with XDP_TX (else: a DEVMAP
    /// redirect, [`rvs_xdp::ops::NO_TX`]).
    xdp_tx: bool,
    conns: HashMap<ConnId, Installed>,
    by_key: HashMap<FlowKey, ConnId>,
    /// `(due ms, connection)`: the `last_seen` checks.
    checks: BinaryHeap<Reverse<(u64, ConnId)>>,
    /// Slot → (its dest, the counters already merged).
    slots: HashMap<u32, (DestId, FlowStats)>,
    /// The first pass has run (the watch is on, a pinned map's flows adopted).
    started: bool,
    /// In the first pass: keys may be in the map already (a previous run's).
    adopting: bool,
    /// Entries found in the map at start that no connection claims yet: removed after the
    /// first pass unless one does.
    orphans: Vec<FlowKey>,
    /// The change log, reused between passes.
    changes: Vec<ConnId>,
    /// Connections to reconcile again next pass (next hop unresolved, no FULLNAT port).
    retry: Vec<ConnId>,
    /// The background scan's next slot.
    cursor: u32,
    /// Slots still to visit at [`RESCAN_PER_PASS`].
    rescan_left: u64,
    /// The (command, routes) generations seen last.
    gens: (u64, u64),
    /// Entries the sync may install (90% of the map).
    limit: usize,
    /// A full map was logged (once until it has room again).
    full_logged: bool,
    /// Next hops whose MAC an entry waits for (see [`FastSync::take_unresolved`]).
    unresolved: Vec<(IfaceId, std::net::IpAddr)>,
}

fn minus(a: &FlowStats, b: &FlowStats) -> FlowStats {
    FlowStats {
        pkts_in: a.pkts_in.wrapping_sub(b.pkts_in),
        bytes_in: a.bytes_in.wrapping_sub(b.bytes_in),
        pkts_out: a.pkts_out.wrapping_sub(b.pkts_out),
        bytes_out: a.bytes_out.wrapping_sub(b.bytes_out),
    }
}

/// When to read an installed connection's `last_seen` next: after half the time it has
/// left, at least one pass from now.
fn next_check(now: Time, expires: Time) -> u64 {
    let left = expires.0.saturating_sub(now.0);
    now.0 + (left / 2).max(SYNC_MS)
}

/// A signature of a connection's entries.
fn signature(entries: &[FlowEntry]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for e in entries {
        e.key.hash(&mut h);
        e.flow.hash(&mut h);
    }
    h.finish()
}

/// The engine's time of a `last_seen` (ns → ms, never after `now`).
fn seen_time(ns: u64, now: Time) -> Time {
    Time(ns / 1_000_000).min(now)
}

/// The rest of a pass's context.
struct Cx<'a> {
    table: &'a mut dyn FlowTable,
    neigh: &'a dyn Neighbours,
    ifindex: &'a dyn Fn(IfaceId) -> Option<u32>,
    now: Time,
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
        self.by_key.len()
    }

    /// Whether nothing is installed.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Connections currently installed.
    pub fn conns(&self) -> usize {
        self.conns.len()
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
        let mut cx = Cx {
            table,
            neigh,
            ifindex,
            now,
        };
        // 0. The first pass: watch the table, adopt what a previous run left in a pinned
        // map, and look at every connection the engine already has.
        if !self.started {
            self.started = true;
            self.adopting = true;
            engine.director.watch_conns(true);
            self.limit = cx.table.capacity() / 10 * 9;
            self.gens = Self::generations(engine);
            r.adopted = self.adopt(engine, &*cx.table, now);
            self.rescan_left = u64::from(engine.director.conns.slots());
        }
        // 1. Counters (before any slot changes hands below).
        self.merge_counters(engine, &*cx.table, &mut r);
        // 2. What changed.
        let gens = Self::generations(engine);
        let mut changes = std::mem::take(&mut self.changes);
        let lost = engine.director.take_conn_changes(&mut changes);
        if lost || gens != self.gens {
            self.gens = gens;
            self.rescan_left = u64::from(engine.director.conns.slots()).max(1);
            self.cursor = 0;
        }
        changes.append(&mut self.retry);
        changes.sort_unstable();
        changes.dedup();
        for &id in &changes {
            self.reconcile(engine, &mut cx, id, &mut r);
        }
        changes.clear();
        // A burst of new connections leaves no large buffer behind.
        changes.shrink_to(4096);
        self.changes = changes;
        if self.adopting {
            // In a single pass, the whole table is seen before orphans go.
            self.scan(engine, &mut cx, u32::MAX, &mut r);
            for k in std::mem::take(&mut self.orphans) {
                if !self.by_key.contains_key(&k) {
                    Self::remove_key(&mut *cx.table, &k, &mut r);
                }
            }
            self.adopting = false;
        }
        // 3. Due checks.
        let mut done = 0;
        while done < CHECKS_PER_PASS {
            let Some(&Reverse((at, id))) = self.checks.peek() else {
                break;
            };
            if at > now.0 {
                break;
            }
            self.checks.pop();
            if self.conns.get(&id).is_some_and(|i| i.check_at == at) {
                self.check(engine, &mut cx, id, &mut r);
                done += 1;
            }
        }
        // 4. A slice of the table.
        let budget = if self.rescan_left > 0 {
            RESCAN_PER_PASS
        } else {
            SCAN_PER_PASS
        };
        self.scan(engine, &mut cx, budget, &mut r);
        r
    }

    fn generations(engine: &Engine) -> (u64, u64) {
        (
            engine.director.config_generation(),
            engine.routes.generation(),
        )
    }

    /// Reconcile the next `budget` slots of the connection table (all of it at most).
    fn scan(&mut self, engine: &mut Engine, cx: &mut Cx<'_>, budget: u32, r: &mut SyncReport) {
        let slots = engine.director.conns.slots();
        for _ in 0..budget.min(slots) {
            if self.cursor >= slots {
                self.cursor = 0;
            }
            let idx = self.cursor;
            self.cursor += 1;
            self.rescan_left = self.rescan_left.saturating_sub(1);
            if let Some((id, c)) = engine.director.conns.at_slot(idx) {
                if c.is_template() && !self.conns.contains_key(&id) {
                    continue;
                }
                self.reconcile(engine, cx, id, r);
            }
        }
    }

    /// The entries connection `id` should have, with its dest.
    fn wanted(
        &self,
        engine: &Engine,
        cx: &Cx<'_>,
        id: ConnId,
    ) -> Result<(Vec<FlowEntry>, DestId), NotFast> {
        let c = engine.director.conns.get(id).ok_or(NotFast::NoConn)?;
        let dest = c.dest.ok_or(NotFast::NotForwarding)?;
        if c.is_template() {
            return Err(NotFast::NotForwarding);
        }
        if !fastpath::eligible(c.proto, c.state) {
            return Err(NotFast::NotEstablished);
        }
        let slot = dest.index();
        if slot >= FLOW_SLOTS {
            return Err(NotFast::NotForwarding);
        }
        let mut entries = fastpath::entries(engine, id, cx.neigh, cx.ifindex, slot)?;
        if !self.xdp_tx {
            for e in &mut entries {
                e.flow.ops |= rvs_xdp::ops::NO_TX;
            }
        }
        Ok((entries, dest))
    }

    /// Make the map hold exactly the entries connection `id` should have.
    fn reconcile(&mut self, engine: &mut Engine, cx: &mut Cx<'_>, id: ConnId, r: &mut SyncReport) {
        let (entries, dest) = match self.wanted(engine, cx, id) {
            Ok(w) => w,
            Err(e) => {
                self.uninstall(&mut *cx.table, id, r);
                if let NotFast::Unresolved(iface, addr) = e
                    && !self.unresolved.contains(&(iface, addr))
                    && self.unresolved.len() < MAX_UNRESOLVED
                {
                    // A one-way flow (no reply ever sent through the worker) would never
                    // get its reverse hop resolved otherwise.
                    self.unresolved.push((iface, addr));
                }
                if matches!(e, NotFast::Unresolved(..) | NotFast::NoAllocation)
                    && self.retry.len() < MAX_RETRY
                {
                    self.retry.push(id);
                }
                return;
            }
        };
        if entries.is_empty() || entries.len() > 2 {
            self.uninstall(&mut *cx.table, id, r);
            return;
        }
        let slot = entries[0].flow.slot;
        if self.slots.get(&slot).map(|s| s.0) != Some(dest) {
            // A slot changing hands: its earlier packets were merged at the pass's start.
            match cx.table.slot_stats(slot) {
                Ok(base) => {
                    self.slots.insert(slot, (dest, base));
                }
                Err(e) => {
                    tracing::warn!(slot, error = %e, "reading fast-path counters");
                    r.errors += 1;
                    self.uninstall(&mut *cx.table, id, r);
                    return;
                }
            }
        }
        let sig = signature(&entries);
        let old = self.conns.get(&id).copied();
        if old.is_some_and(|o| o.sig == sig) {
            return;
        }
        let had = old.map_or(0, |o| usize::from(o.n));
        if self.by_key.len() - had + entries.len() > self.limit {
            if !self.full_logged {
                self.full_logged = true;
                tracing::warn!(
                    entries = self.by_key.len(),
                    "fast-path map full: new connections stay in userspace"
                );
            }
            r.full += 1;
            self.uninstall(&mut *cx.table, id, r);
            return;
        }
        if let Some(o) = &old {
            for k in o.keys() {
                if !entries.iter().any(|e| e.key == *k) {
                    self.by_key.remove(k);
                    Self::remove_key(&mut *cx.table, k, r);
                }
            }
        }
        let mut inst = Installed {
            keys: [FlowKey::default(); 2],
            n: 0,
            sig,
            seen: [0; 2],
            check_at: 0,
        };
        let mut moved = None;
        for (i, e) in entries.iter().enumerate() {
            if let Some(&other) = self.by_key.get(&e.key)
                && other != id
            {
                // A key belongs to one connection: the other one is gone or replaced.
                self.uninstall(&mut *cx.table, other, r);
            }
            let known = self.by_key.contains_key(&e.key);
            match cx.table.set_flow(&e.key, &e.flow, known || self.adopting) {
                Ok(seen) => {
                    let before = old
                        .and_then(|o| o.keys().iter().position(|k| *k == e.key).map(|p| o.seen[p]));
                    if before.is_some_and(|b| b != seen) || (before.is_none() && seen != 0) {
                        moved = moved.max(Some(seen));
                    }
                    inst.keys[i] = e.key;
                    inst.seen[i] = seen;
                    inst.n += 1;
                    self.by_key.insert(e.key, id);
                    r.installed += 1;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "installing a fast-path flow");
                    r.errors += 1;
                    self.conns.insert(id, inst);
                    self.uninstall(&mut *cx.table, id, r);
                    return;
                }
            }
        }
        if let Some(ns) = moved {
            engine.director.touch_conn(id, seen_time(ns, cx.now));
            r.touched += 1;
        }
        match old {
            Some(o) => inst.check_at = o.check_at,
            None => {
                let expires = engine.director.conns.get(id).map_or(cx.now, |c| c.expires);
                inst.check_at = next_check(cx.now, expires);
                self.checks.push(Reverse((inst.check_at, id)));
            }
        }
        self.conns.insert(id, inst);
        if self.full_logged && self.by_key.len() < self.limit / 2 {
            self.full_logged = false;
        }
    }

    /// Read an installed connection's `last_seen`s: traffic restarts its timer; a missing
    /// entry (evicted) is installed again; a connection gone loses its entries.
    fn check(&mut self, engine: &mut Engine, cx: &mut Cx<'_>, id: ConnId, r: &mut SyncReport) {
        let Some(mut inst) = self.conns.get(&id).copied() else {
            return;
        };
        if engine.director.conns.get(id).is_none() {
            self.uninstall(&mut *cx.table, id, r);
            return;
        }
        r.checked += 1;
        let mut latest = None;
        let mut evicted = false;
        for i in 0..usize::from(inst.n) {
            match cx.table.last_seen(&inst.keys[i]) {
                Some(ls) if ls != inst.seen[i] => {
                    inst.seen[i] = ls;
                    latest = latest.max(Some(ls));
                }
                Some(_) => {}
                None => evicted = true,
            }
        }
        if let Some(ns) = latest {
            engine.director.touch_conn(id, seen_time(ns, cx.now));
            r.touched += 1;
        }
        if evicted {
            self.uninstall(&mut *cx.table, id, r);
            self.reconcile(engine, cx, id, r);
            return;
        }
        let expires = engine.director.conns.get(id).map_or(cx.now, |c| c.expires);
        inst.check_at = next_check(cx.now, expires);
        self.checks.push(Reverse((inst.check_at, id)));
        self.conns.insert(id, inst);
    }

    fn remove_key(table: &mut dyn FlowTable, k: &FlowKey, r: &mut SyncReport) {
        match table.remove_flow(k) {
            Ok(_) => r.removed += 1,
            Err(e) => {
                tracing::warn!(error = %e, "removing a fast-path flow");
                r.errors += 1;
            }
        }
    }

    /// Take every entry of connection `id` out of the map.
    fn uninstall(&mut self, table: &mut dyn FlowTable, id: ConnId, r: &mut SyncReport) {
        let Some(inst) = self.conns.remove(&id) else {
            return;
        };
        for k in inst.keys() {
            if self.by_key.get(k) == Some(&id) {
                self.by_key.remove(k);
                Self::remove_key(table, k, r);
            }
        }
    }

    /// Create engine connections for the client → server flows found in the map: the
    /// service by (proto, VIP, port), (proto, VIP, 0) or the fwmark rvs's classifier
    /// gives the VIP, the dest from the entry; FULLNAT connections claim their local
    /// address and port again. Every entry found becomes an orphan until a connection's
    /// entries claim it.
    fn adopt(&mut self, engine: &mut Engine, table: &dyn FlowTable, now: Time) -> u64 {
        use rvs_core::conn::state;
        use rvs_xdp::{DIR_IN, ops};
        let flows = table.all_flows();
        let mut n = 0;
        for (k, f) in &flows {
            self.orphans.push(*k);
            if f.dir != DIR_IN {
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
            let mut keys = vec![
                rvs_core::ServiceKey::Addr {
                    proto,
                    addr: vaddr,
                    port: vport,
                },
                rvs_core::ServiceKey::Addr {
                    proto,
                    addr: vaddr,
                    port: 0,
                },
            ];
            let mark = engine.director.classifier.classify(proto, &vaddr, vport);
            if mark != 0 {
                keys.insert(
                    0,
                    rvs_core::ServiceKey::Fwmark {
                        af: rvs_core::Af::of(&vaddr),
                        mark,
                    },
                );
            }
            for key in &keys {
                let Some(id) = engine.director.adopt_conn(
                    key,
                    k.proto,
                    (caddr, cport),
                    (vaddr, vport),
                    (daddr, dport),
                    st,
                    now,
                ) else {
                    continue;
                };
                if f.ops & ops::SET_SRC != 0 {
                    // FULLNAT: the local address and port it was given.
                    let laddr = addr(&f.new_src);
                    let lport = u16::from_be(f.new_sport_be);
                    if !engine
                        .fullnat
                        .claim(id, k.proto, &daddr, dport, laddr, lport)
                    {
                        engine.director.remove_conn(id);
                        break;
                    }
                }
                n += 1;
                break;
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

    /// A frame of the flow `key` closes its connection (TCP FIN or RST, seen by the
    /// worker): every entry of that connection leaves the map now, so the packets after
    /// it reach the engine's state machine. Returns the entries removed.
    pub fn closing(&mut self, table: &mut dyn FlowTable, key: &FlowKey) -> usize {
        let Some(&id) = self.by_key.get(key) else {
            return 0;
        };
        let mut r = SyncReport::default();
        self.uninstall(table, id, &mut r);
        r.removed as usize + r.errors as usize
    }

    /// The next hops whose MAC entries waited for in the last passes: the caller starts
    /// resolving them (the sync itself never sends).
    pub fn take_unresolved(&mut self) -> Vec<(IfaceId, std::net::IpAddr)> {
        std::mem::take(&mut self.unresolved)
    }

    /// Remove every installed entry (the data plane stops serving the fast path).
    pub fn clear(&mut self, table: &mut dyn FlowTable) {
        self.conns.clear();
        self.checks.clear();
        for k in std::mem::take(&mut self.by_key).into_keys() {
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
    use std::cell::Cell;
    use std::collections::BTreeMap;

    /// A map in memory; `hit` plays XDP forwarding a packet. Counts the map operations.
    struct Fake {
        flows: BTreeMap<FlowKey, Flow>,
        stats: BTreeMap<u32, FlowStats>,
        capacity: usize,
        lookups: Cell<u64>,
        writes: u64,
    }

    impl Default for Fake {
        fn default() -> Self {
            Fake {
                flows: BTreeMap::new(),
                stats: BTreeMap::new(),
                capacity: 1 << 20,
                lookups: Cell::new(0),
                writes: 0,
            }
        }
    }

    impl Fake {
        /// A packet at `ms` (the engine's clock).
        fn hit(&mut self, key: &FlowKey, len: u64, ms: u64) -> bool {
            let Some(f) = self.flows.get_mut(key) else {
                return false;
            };
            f.last_seen = ms * 1_000_000 + 1;
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
        fn set_flow(
            &mut self,
            key: &FlowKey,
            flow: &Flow,
            keep_seen: bool,
        ) -> Result<u64, XdpError> {
            self.writes += 1;
            let seen = match self.flows.get(key) {
                Some(f) if keep_seen => f.last_seen,
                _ => flow.last_seen,
            };
            self.flows.insert(
                *key,
                Flow {
                    last_seen: seen,
                    ..*flow
                },
            );
            Ok(seen)
        }
        fn remove_flow(&mut self, key: &FlowKey) -> Result<bool, XdpError> {
            self.writes += 1;
            Ok(self.flows.remove(key).is_some())
        }
        fn last_seen(&self, key: &FlowKey) -> Option<u64> {
            self.lookups.set(self.lookups.get() + 1);
            self.flows.get(key).map(|f| f.last_seen)
        }
        fn slot_stats(&self, slot: u32) -> Result<FlowStats, XdpError> {
            Ok(self.stats.get(&slot).copied().unwrap_or_default())
        }
        fn all_flows(&self) -> Vec<(FlowKey, Flow)> {
            self.flows.iter().map(|(k, f)| (*k, *f)).collect()
        }
        fn capacity(&self) -> usize {
            self.capacity
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

    /// The lab engine with a UDP NAT service VIP:53 → 198.18.1.11:8080.
    fn engine() -> Engine {
        let mut e = lab::engine();
        cmd(&mut e, "svc");
        cmd(&mut e, "dest");
        e
    }

    /// [`engine`] with one UDP flow from 198.18.0.10:5000 at 1 s, installed by a pass.
    fn one_flow() -> (Engine, Fake, FastSync) {
        let mut e = engine();
        let mut fake = Fake::default();
        let mut s = FastSync::new(true);
        udp(&mut e, 1000);
        s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1000));
        (e, fake, s)
    }

    fn key() -> rvs_core::ServiceKey {
        rvs_core::ServiceKey::Addr {
            proto: rvs_core::Protocol::Udp,
            addr: ip("198.18.0.100"),
            port: 53,
        }
    }

    /// Client `n`'s UDP datagram to the VIP at `t` ms, from
    /// `198.18.(2 + n / 60000).(1 + n % 250)` port `5000 + n % 60000` (distinct per `n`).
    fn udp_from(e: &mut Engine, n: u32, t: u64) {
        let src = [198, 18, 2 + (n / 60_000) as u8, (n % 250) as u8 + 1];
        datagram(e, src, 5000 + (n % 60_000) as u16, t);
    }

    fn udp(e: &mut Engine, t: u64) {
        datagram(e, [198, 18, 0, 10], 5000, t);
    }

    /// A UDP datagram from `src:sport` to VIP:53 through the engine at `t` ms.
    fn datagram(e: &mut Engine, src: [u8; 4], sport: u16, t: u64) {
        let mut pkt = Vec::new();
        etherparse::PacketBuilder::ethernet2(lab::CLIENT_MAC, lab::EXT_MAC)
            .ipv4(src, [198, 18, 0, 100], 64)
            .udp(sport, 53)
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

    fn fwd_key() -> FlowKey {
        FlowKey::new(17, ip("198.18.0.10"), 5000, ip("198.18.0.100"), 53).unwrap()
    }

    fn rep_key() -> FlowKey {
        FlowKey::new(17, ip("198.18.1.11"), 8080, ip("198.18.0.10"), 5000).unwrap()
    }

    #[test]
    fn installs_refreshes_counts_and_removes() {
        let mut e = engine();
        let mut fake = Fake::default();
        let mut s = FastSync::new(true);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(0));
        assert_eq!(r.installed, 0, "no connection yet");
        udp(&mut e, 1000);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1000));
        assert_eq!(
            (r.installed, s.len(), s.conns()),
            (2, 2, 1),
            "both directions of the UDP flow"
        );
        let (fwd, rep) = (fwd_key(), rep_key());
        assert!(fake.flows.contains_key(&fwd) && fake.flows.contains_key(&rep));
        let before = e.director.stats.counters();

        // XDP forwards 3 packets in, 2 out, the last at 200 s. The connection (300 s
        // timeout from 1 s) is checked at 151 s, then after half its remaining time.
        for _ in 0..3 {
            assert!(fake.hit(&fwd, 29, 120_000));
        }
        for _ in 0..2 {
            assert!(fake.hit(&rep, 100, 120_000));
        }
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(150_000));
        assert_eq!(
            (r.checked, r.merged_pkts),
            (0, 5),
            "counters every pass, no check due yet"
        );
        let after = e.director.stats.counters();
        assert_eq!(after.inpkts - before.inpkts, 3);
        assert_eq!(after.inbytes - before.inbytes, 87);
        assert_eq!(after.outpkts - before.outpkts, 2);
        assert_eq!(after.outbytes - before.outbytes, 200);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(151_000));
        assert_eq!((r.checked, r.touched, r.installed), (1, 1, 0));
        let c = e.director.conns.iter().next().unwrap().1;
        assert_eq!(
            c.expires,
            Time(420_000),
            "the timer restarts from the last packet's time"
        );
        e.advance(Time(301_000));
        assert_eq!(e.director.conns.len(), 1, "alive past its first 300 s");
        // Nothing new: nothing merged twice, nothing written.
        let w = fake.writes;
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(301_000));
        assert_eq!(
            r,
            SyncReport {
                checked: 1,
                ..SyncReport::default()
            },
            "checked (due at 285.5 s), nothing moved"
        );
        assert_eq!(e.director.stats.counters(), after);
        assert_eq!(fake.writes, w);

        // Idle: checked ever more often as it nears 420 s; then it expires in the
        // engine and its entries go within a pass.
        let mut t = 301_000;
        while t < 419_800 {
            t += SYNC_MS;
            let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(t));
            assert_eq!((r.touched, r.removed), (0, 0), "at {t}");
        }
        e.advance(Time(420_000));
        assert_eq!(e.director.conns.len(), 0);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(420_000));
        assert_eq!((r.removed, s.len()), (2, 0));
        assert!(fake.flows.is_empty());
    }

    #[test]
    fn traffic_just_before_expiry_keeps_the_connection() {
        let (mut e, mut fake, mut s) = one_flow();
        // Passes every 200 ms (the worker advances the engine in between); one packet in
        // XDP 300 ms before the 301 s expiry.
        let mut t = 1000;
        while t < 700_000 {
            t += SYNC_MS;
            if t == 300_600 {
                assert!(fake.hit(&fwd_key(), 29, t));
            }
            e.advance(Time(t));
            s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(t));
            if t < 600_600 {
                assert_eq!(e.director.conns.len(), 1, "at {t}");
                assert_eq!(s.len(), 2, "at {t}");
            }
        }
        assert_eq!(
            e.director.conns.len(),
            0,
            "expired 300 s after its last packet"
        );
        assert!(s.is_empty() && fake.flows.is_empty());
    }

    #[test]
    fn a_pass_costs_what_changed_not_the_table_size() {
        let mut e = engine();
        let mut fake = Fake::default();
        let mut s = FastSync::new(true);
        s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(0));
        const N: u32 = 100_000;
        for n in 0..N {
            udp_from(&mut e, n, 1000);
        }
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1000));
        assert_eq!(r.installed, 2 * u64::from(N));
        assert_eq!(s.conns(), N as usize);
        // A hundred passes later (20 s): no last_seen read (the first checks are due at
        // 151 s), no map write, whatever the table's size.
        let (l, w) = (fake.lookups.get(), fake.writes);
        for p in 1..=100 {
            let r = s.sync(
                &mut e,
                &mut fake,
                &LabNeighbours,
                &idx,
                Time(1000 + p * 200),
            );
            assert_eq!((r.installed, r.removed, r.checked), (0, 0, 0));
        }
        assert_eq!((fake.lookups.get(), fake.writes), (l, w));
        // One new flow: installed by the next pass.
        udp_from(&mut e, N, 30_000);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(30_000));
        assert_eq!(r.installed, 2);
        // The checks come in bounded slices: at most CHECKS_PER_PASS per pass.
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(160_000));
        assert_eq!(r.checked, CHECKS_PER_PASS as u64);
        let mut checked = r.checked;
        for p in 1..=10 {
            checked += s
                .sync(
                    &mut e,
                    &mut fake,
                    &LabNeighbours,
                    &idx,
                    Time(160_000 + p * 200),
                )
                .checked;
        }
        assert_eq!(checked, u64::from(N), "each connection checked once");
    }

    #[test]
    fn a_full_map_leaves_connections_in_userspace() {
        let mut e = engine();
        let mut fake = Fake {
            capacity: 20,
            ..Fake::default()
        };
        let mut s = FastSync::new(true);
        for n in 0..15 {
            udp_from(&mut e, n, 1000);
        }
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1000));
        assert_eq!(
            (s.len(), s.conns()),
            (18, 9),
            "90% of 20 entries, 2 per flow"
        );
        assert!(r.full >= 6, "{r:?}");
        assert_eq!(fake.flows.len(), 18);
    }

    #[test]
    fn a_restarted_sync_adopts_the_flows_it_finds() {
        let (_e, mut fake, _s) = one_flow();
        assert!(fake.hit(&fwd_key(), 29, 2000));
        let installed = fake.flows.clone();
        // An entry nobody will claim.
        let stray = FlowKey::new(17, ip("198.18.0.99"), 1, ip("198.18.0.100"), 53).unwrap();
        fake.flows.insert(stray, Flow::default());
        // rvsd restarts: a new engine with the same rules, a new sync, the same map.
        let mut e2 = engine();
        let mut s2 = FastSync::new(true);
        let r = s2.sync(&mut e2, &mut fake, &LabNeighbours, &idx, Time(5000));
        assert_eq!((r.adopted, r.removed), (1, 1), "{r:?}");
        assert_eq!(e2.director.conns.len(), 1);
        assert_eq!(
            fake.flows, installed,
            "the same entries with their last_seen, the stray one gone"
        );
        assert_eq!(s2.len(), 2);
    }

    #[test]
    fn adoption_finds_fwmark_services() {
        let mark_key = rvs_core::ServiceKey::Fwmark {
            af: rvs_core::Af::Inet,
            mark: 7,
        };
        let rules = |e: &mut Engine| {
            let rule: rvs_core::fwmark::FwmarkRule = "7 udp 198.18.0.100 53".parse().unwrap();
            e.director
                .apply(&Command::AddFwmarkRule(rule), Time::ZERO)
                .unwrap();
            e.director
                .apply(
                    &Command::AddService(rvs_core::ServiceConfig::new(mark_key)),
                    Time::ZERO,
                )
                .unwrap();
            let mut d = rvs_core::DestConfig::new(ip("198.18.1.11"), 8080);
            d.fwd = rvs_core::FwdMethod::Masq;
            e.director
                .apply(&Command::AddDest(mark_key, d), Time::ZERO)
                .unwrap();
        };
        let mut e = lab::engine();
        rules(&mut e);
        let mut fake = Fake::default();
        let mut s = FastSync::new(true);
        udp(&mut e, 1000);
        s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1000));
        assert_eq!(fake.flows.len(), 2);
        let mut e2 = lab::engine();
        rules(&mut e2);
        let mut s2 = FastSync::new(true);
        let r = s2.sync(&mut e2, &mut fake, &LabNeighbours, &idx, Time(5000));
        assert_eq!((r.adopted, r.removed), (1, 0), "{r:?}");
        let c = e2.director.conns.iter().next().unwrap().1;
        assert_eq!(c.fwmark, 7);
        assert_eq!(s2.len(), 2);
    }

    #[test]
    fn an_unresolved_hop_is_reported_and_the_flow_installed_once_it_resolves() {
        let mut e = engine();
        udp(&mut e, 1000);
        let mut fake = Fake::default();
        let mut s = FastSync::new(true);
        // No MAC known: a one-way flow whose reverse hop nobody resolves.
        let none = rvs_core::engine::StaticNeighbours::default();
        s.sync(&mut e, &mut fake, &none, &idx, Time(1000));
        assert!(s.is_empty());
        let hops = s.take_unresolved();
        assert!(!hops.is_empty(), "the hop is reported for resolution");
        assert!(s.take_unresolved().is_empty());
        // Resolved: the retry installs it at the next pass.
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1200));
        assert_eq!((r.installed, s.len()), (2, 2));
    }

    #[test]
    fn a_closing_frame_takes_both_directions_out_at_once() {
        let (_e, mut fake, mut s) = one_flow();
        let rep = rep_key();
        let other = FlowKey::new(17, ip("198.18.1.12"), 1, ip("198.18.0.10"), 2).unwrap();
        assert_eq!(s.closing(&mut fake, &other), 0);
        assert_eq!(s.closing(&mut fake, &rep), 2);
        assert!(fake.flows.is_empty() && s.is_empty());
        assert_eq!(s.closing(&mut fake, &rep), 0);
    }

    #[test]
    fn a_deleted_dest_takes_its_flows_out_and_evictions_come_back() {
        let (mut e, mut fake, mut s) = one_flow();
        assert_eq!(fake.flows.len(), 2);
        // The LRU map evicted one: noticed at the connection's next check, then
        // installed again.
        let k = *fake.flows.keys().next().unwrap();
        fake.flows.remove(&k);
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(1200));
        assert_eq!(r.installed, 0, "not read yet");
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(151_000));
        assert_eq!((r.checked, r.installed), (1, 2));
        assert_eq!(fake.flows.len(), 2);
        cmd(&mut e, "deldest");
        let r = s.sync(&mut e, &mut fake, &LabNeighbours, &idx, Time(151_200));
        assert_eq!(
            r.removed, 2,
            "a connection without its dest stays in userspace"
        );
        assert!(fake.flows.is_empty());
    }
}
