//! The connection table: IPVS connections and persistence templates, looked up in both
//! directions, with timers that expire them without ever scanning the whole table.
//!
//! Like the kernel, every entry is hashed once by `(protocol, client address, client
//! port)`: a client→VIP packet and a real-server→client reply both carry the client's
//! address and port, so one index answers both lookups. Timers live in a min-heap with
//! lazy re-arming: refreshing a connection only rewrites its `expires` field; when its heap
//! entry comes due and the connection was refreshed meanwhile, the entry is pushed again.

pub mod index;
pub mod state;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use crate::conn::index::Index;
use crate::dest::DestId;
use crate::slab::{Id, Slab};
use crate::time::Time;

/// Connection flag bits (uapi `IP_VS_CONN_F_*`, plus one rvs-internal bit).
pub mod flags {
    /// Forwarding method mask (codes of [`crate::dest::FwdMethod::code`]).
    pub const FWD_MASK: u32 = 0x0007;
    /// Created by the sync daemon.
    pub const SYNC: u32 = 0x0020;
    /// Hashed in the table.
    pub const HASHED: u32 = 0x0040;
    /// No output packets seen yet (non-NAT methods): input-only state table.
    pub const NOOUTPUT: u32 = 0x0080;
    /// Counted in the dest's inactive connections.
    pub const INACTIVE: u32 = 0x0100;
    /// Client port unknown (templates of FTP and friends).
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling: never hashed, freed after one packet.
    pub const ONE_PACKET: u32 = 0x2000;
    /// rvs: a template invalidated by `check_template` (the kernel rehashes it with port
    /// 0xffff so it never matches again).
    pub const INVALID: u32 = 0x0100_0000;
    /// rvs: the entry has a timer armed (see [`super::ConnTable::insert_unarmed`]).
    pub const ARMED: u32 = 0x0200_0000;
}

/// Template state numbers (`IP_VS_CTPL_S_*`).
pub mod template_state {
    /// Not yet assured.
    pub const NONE: u8 = 0;
    /// A controlled connection reached ESTABLISHED or saw a reply.
    pub const ASSURED: u8 = 1;
}

/// One connection or persistence template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conn {
    /// Client address (masked client network for templates).
    pub caddr: IpAddr,
    /// Virtual address (the fwmark as an IPv4/IPv6 address for fwmark templates).
    pub vaddr: IpAddr,
    /// Client port (0 for templates).
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// IP protocol number (0 for fwmark templates).
    pub proto: u8,
    /// Protocol state (template: `template_state`).
    pub state: u8,
    /// Real server port.
    pub dport: u16,
    /// `flags::*`.
    pub flags: u32,
    /// Real server address.
    pub daddr: IpAddr,
    /// The dest the connection is bound to.
    pub dest: Option<DestId>,
    /// The template controlling this connection.
    pub control: Option<ConnId>,
    /// Connections this template controls.
    pub n_control: u32,
    /// Current timeout in milliseconds (of the state, or the persistence timeout).
    pub timeout: u32,
    /// When the connection expires unless refreshed.
    pub expires: Time,
    /// Firewall mark of the packet that created it.
    pub fwmark: u32,
    /// Input packets seen (for the sync threshold).
    pub in_pkts: u32,
}

impl Conn {
    /// Whether this entry is a persistence template.
    #[inline]
    pub fn is_template(&self) -> bool {
        self.flags & flags::TEMPLATE != 0
    }

    /// Whether the conn is counted as inactive.
    #[inline]
    pub fn is_inactive(&self) -> bool {
        self.flags & flags::INACTIVE != 0
    }
}

/// Handle of a connection (generation-checked).
pub type ConnId = Id<Conn>;

/// The connection table.
#[derive(Debug)]
pub struct ConnTable {
    conns: Slab<Conn>,
    index: Index,
    timers: BinaryHeap<Reverse<(u64, u32, u32)>>,
    seed: u64,
    templates: usize,
}

#[inline]
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
}

/// The index hash of `(protocol, client address, client port)`.
#[inline]
fn key_hash(seed: u64, proto: u8, addr: &IpAddr, port: u16) -> u64 {
    let mut h = mix(seed, (u64::from(proto) << 16) | u64::from(port));
    match addr {
        IpAddr::V4(a) => h = mix(h, u64::from(u32::from(*a))),
        IpAddr::V6(a) => {
            let v = u128::from(*a);
            h = mix(h, v as u64);
            h = mix(h, (v >> 64) as u64);
        }
    }
    h ^ (h >> 32)
}

impl ConnTable {
    /// An empty table whose index hash is keyed with `seed` (pick it at random in a
    /// daemon, so remote clients cannot aim at one hash chain).
    pub fn new(seed: u64) -> Self {
        ConnTable {
            conns: Slab::default(),
            index: Index::default(),
            timers: BinaryHeap::new(),
            seed,
            templates: 0,
        }
    }

    /// Number of entries (connections and templates).
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Number of persistence templates.
    pub fn templates(&self) -> usize {
        self.templates
    }

    /// Bytes of memory the table holds (entries, index and timers), for accounting.
    pub fn allocated_bytes(&self) -> usize {
        self.conns.allocated_bytes()
            + self.index.capacity() * std::mem::size_of::<u64>()
            + self.timers.capacity() * std::mem::size_of::<Reverse<(u64, u32, u32)>>()
    }

    /// Insert an entry and arm its timer at `conn.expires`. One-packet connections are
    /// stored but not hashed.
    pub fn insert(&mut self, conn: Conn) -> ConnId {
        let expires = conn.expires;
        let id = self.insert_unarmed(conn);
        self.set_expires(id, expires);
        id
    }

    /// Insert an entry without arming its timer: the first [`ConnTable::set_expires`] arms
    /// it. The director uses this for new connections, whose first state transition
    /// follows at once, to save a timer entry per connection.
    pub fn insert_unarmed(&mut self, mut conn: Conn) -> ConnId {
        conn.flags &= !flags::ARMED;
        let hashed = conn.flags & flags::ONE_PACKET == 0;
        let h = key_hash(self.seed, conn.proto, &conn.caddr, conn.cport);
        if conn.is_template() {
            self.templates += 1;
        }
        let id = self.conns.insert(conn);
        if hashed {
            self.index.insert(h, id.idx);
            if let Some(c) = self.conns.get_mut(id) {
                c.flags |= flags::HASHED;
            }
        }
        id
    }

    /// Remove an entry (unhash it and free its slot).
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let c = self.conns.get(id)?;
        if c.flags & flags::HASHED != 0 {
            let h = key_hash(self.seed, c.proto, &c.caddr, c.cport);
            self.index.remove(h, id.idx);
        }
        let c = self.conns.remove(id)?;
        if c.is_template() {
            self.templates -= 1;
        }
        Some(c)
    }

    /// An entry by handle.
    #[inline]
    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(id)
    }

    /// An entry by handle, mutably. Use [`ConnTable::set_expires`] to change `expires`.
    #[inline]
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id)
    }

    /// One past the highest slot index in use: [`ConnTable::at_slot`] covers `0..slots()`.
    pub fn slots(&self) -> u32 {
        self.conns.slot_count()
    }

    /// The connection in slot `idx`, with its current handle (for scans in slices).
    pub fn at_slot(&self, idx: u32) -> Option<(ConnId, &Conn)> {
        self.conns.get_by_index(idx)
    }

    /// Every entry with its handle, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, &Conn)> {
        self.conns.iter()
    }

    #[inline(always)]
    fn find(
        &self,
        proto: u8,
        caddr: &IpAddr,
        cport: u16,
        pred: impl Fn(&Conn) -> bool,
    ) -> Option<ConnId> {
        let h = key_hash(self.seed, proto, caddr, cport);
        let conns = &self.conns;
        let idx = self.index.find(h, |i| {
            conns.get_by_index(i).is_some_and(|(_, c)| {
                c.proto == proto && c.cport == cport && c.caddr == *caddr && pred(c)
            })
        })?;
        conns.get_by_index(idx).map(|(id, _)| id)
    }

    /// The connection of a client→VIP packet (`ip_vs_conn_in_get`); never a template.
    #[inline]
    pub fn lookup_in(
        &self,
        proto: u8,
        caddr: &IpAddr,
        cport: u16,
        vaddr: &IpAddr,
        vport: u16,
    ) -> Option<ConnId> {
        self.find(proto, caddr, cport, |c| {
            c.vport == vport && c.vaddr == *vaddr && c.flags & flags::TEMPLATE == 0
        })
    }

    /// The connection of a real-server→client reply (`ip_vs_conn_out_get`): the packet's
    /// source is the dest, its destination the client.
    #[inline]
    pub fn lookup_out(
        &self,
        proto: u8,
        saddr: &IpAddr,
        sport: u16,
        daddr: &IpAddr,
        dport: u16,
    ) -> Option<ConnId> {
        self.find(proto, daddr, dport, |c| {
            c.dport == sport && c.daddr == *saddr && c.flags & flags::TEMPLATE == 0
        })
    }

    /// A valid persistence template (`ip_vs_ct_in_get`): client network, port 0.
    pub fn lookup_template(
        &self,
        proto: u8,
        cnet: &IpAddr,
        vaddr: &IpAddr,
        vport: u16,
    ) -> Option<ConnId> {
        self.find(proto, cnet, 0, |c| {
            c.vport == vport
                && c.vaddr == *vaddr
                && c.flags & (flags::TEMPLATE | flags::INVALID) == flags::TEMPLATE
        })
    }

    /// Set when an entry expires. An earlier time (or the first call after
    /// [`ConnTable::insert_unarmed`]) arms a new timer entry; a later one is picked up
    /// lazily when the current entry comes due.
    #[inline]
    pub fn set_expires(&mut self, id: ConnId, at: Time) {
        if let Some(c) = self.conns.get_mut(id) {
            // One-packet connections are freed right after their packet: no timer.
            let push =
                (at < c.expires || c.flags & flags::ARMED == 0) && c.flags & flags::ONE_PACKET == 0;
            c.expires = at;
            c.flags |= flags::ARMED;
            if push {
                self.timers.push(Reverse((at.0, id.idx, id.gen_.get())));
            }
        }
    }

    /// Re-arm an entry that [`ConnTable::next_expired`] just returned: its old timer
    /// entry is gone, so a new one is always pushed.
    pub fn rearm(&mut self, id: ConnId, at: Time) {
        if let Some(c) = self.conns.get_mut(id) {
            c.expires = at;
            c.flags |= flags::ARMED;
            self.timers.push(Reverse((at.0, id.idx, id.gen_.get())));
        }
    }

    /// The next entry whose time has come (`expires <= now`), or `None`. The caller decides
    /// what expiry means (remove, or re-arm a template that still controls connections).
    pub fn next_expired(&mut self, now: Time) -> Option<ConnId> {
        while let Some(&Reverse((t, idx, gen_))) = self.timers.peek() {
            if t > now.0 {
                return None;
            }
            self.timers.pop();
            let Some(c) = Id::from_raw(idx, gen_).and_then(|id| self.conns.get(id)) else {
                continue; // freed already: a stale entry
            };
            if c.expires.0 <= now.0 {
                return Id::from_raw(idx, gen_);
            }
            if c.expires.0 != t {
                // Refreshed since this entry was armed: re-arm at the new time. If a
                // duplicate entry for the same time already exists it will find the conn
                // gone or refreshed and be dropped then.
                self.timers.push(Reverse((c.expires.0, idx, gen_)));
            }
        }
        None
    }

    /// The earliest armed timer, if any (possibly stale).
    pub fn next_deadline(&self) -> Option<Time> {
        self.timers.peek().map(|Reverse((t, _, _))| Time(*t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(c: &str, cport: u16, expires: u64) -> Conn {
        Conn {
            caddr: c.parse().unwrap(),
            vaddr: "198.18.0.100".parse().unwrap(),
            daddr: "198.18.1.11".parse().unwrap(),
            cport,
            vport: 80,
            dport: 8080,
            proto: 6,
            state: 0,
            flags: 0,
            dest: None,
            control: None,
            n_control: 0,
            timeout: 0,
            expires: Time(expires),
            fwmark: 0,
            in_pkts: 0,
        }
    }

    #[test]
    fn entries_stay_compact() {
        // The 1M-connection memory budget (bench/RESULTS.md) depends on these sizes.
        assert_eq!(std::mem::size_of::<Option<ConnId>>(), 8);
        assert_eq!(std::mem::size_of::<Option<DestId>>(), 8);
        assert!(std::mem::size_of::<Conn>() <= 104);
    }

    #[test]
    fn lookups_both_directions() {
        let mut t = ConnTable::new(1);
        let id = t.insert(conn("198.18.2.1", 40000, 1000));
        let v: IpAddr = "198.18.0.100".parse().unwrap();
        let c: IpAddr = "198.18.2.1".parse().unwrap();
        let r: IpAddr = "198.18.1.11".parse().unwrap();
        assert_eq!(t.lookup_in(6, &c, 40000, &v, 80), Some(id));
        assert_eq!(t.lookup_in(6, &c, 40001, &v, 80), None);
        assert_eq!(t.lookup_in(17, &c, 40000, &v, 80), None);
        assert_eq!(t.lookup_out(6, &r, 8080, &c, 40000), Some(id));
        assert_eq!(t.lookup_out(6, &r, 80, &c, 40000), None);
        assert!(t.remove(id).is_some());
        assert_eq!(t.lookup_in(6, &c, 40000, &v, 80), None);
        assert!(t.is_empty());
    }

    #[test]
    fn timers_fire_in_order_and_lazily_rearm() {
        let mut t = ConnTable::new(1);
        let a = t.insert(conn("198.18.2.1", 1, 1000));
        let b = t.insert(conn("198.18.2.2", 2, 2000));
        // Refresh a past b; shorten b.
        t.set_expires(a, Time(5000));
        t.set_expires(b, Time(1500));
        assert_eq!(t.next_expired(Time(999)), None);
        assert_eq!(t.next_expired(Time(1600)), Some(b));
        t.remove(b);
        assert_eq!(t.next_expired(Time(4999)), None);
        assert_eq!(t.next_expired(Time(5000)), Some(a));
        t.remove(a);
        assert_eq!(t.next_expired(Time(10_000)), None);
    }

    #[test]
    fn many_conns_same_client_distinguished() {
        let mut t = ConnTable::new(9);
        let mut ids = Vec::new();
        for vp in 0..50u16 {
            let mut c = conn("198.18.2.1", 40000, 1000);
            c.vport = vp;
            ids.push(t.insert(c));
        }
        let v: IpAddr = "198.18.0.100".parse().unwrap();
        let c: IpAddr = "198.18.2.1".parse().unwrap();
        for (vp, id) in ids.iter().enumerate() {
            assert_eq!(t.lookup_in(6, &c, 40000, &v, vp as u16), Some(*id));
        }
    }
}
