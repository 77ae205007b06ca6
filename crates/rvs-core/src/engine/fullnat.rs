//! FULLNAT local addresses (LIP) and ports.
//!
//! As in DPVS, a FULLNAT connection `CIP:cport → VIP:vport` leaves the director as
//! `LIP:lport → RIP:rport`, so the real server answers the director whatever its routes.
//! The reply `RIP:rport → LIP:lport` is found by that exact 5-tuple, which therefore must be
//! unique among live connections: `(proto, LIP, lport, RIP, rport)`. A local port in use
//! towards one real server may be used again towards another.
//!
//! LIPs come from the service's own pool, else from the global pool, and have the family
//! of the real server. Among several LIPs one is chosen by a hash of the client address and
//! port, so load spreads over them; ports come from a rotating cursor per `(proto, LIP)`
//! that probes the reply map, at most once per port of the range.

use std::collections::HashMap as StdHashMap;
use std::hash::BuildHasherDefault;
use std::net::IpAddr;

use crate::conn::ConnId;
use crate::table::KeyHasher;

/// Maps keyed by addresses and ports the director chose itself (LIPs, local ports): a
/// fast non-keyed hash is enough.
type HashMap<K, V> = StdHashMap<K, V, BuildHasherDefault<KeyHasher>>;
use crate::service::ServiceKey;

/// Default first local port.
pub const DEFAULT_PORT_LO: u16 = 1024;
/// Default last local port.
pub const DEFAULT_PORT_HI: u16 = 65535;

/// Why no FULLNAT source could be allocated.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullNatError {
    /// Neither the service's pool nor the global pool has an address of the real
    /// server's family.
    #[error("no local address for FULLNAT")]
    NoLocalAddress,
    /// Every port of every candidate LIP is in use towards this real server.
    #[error("FULLNAT local ports exhausted")]
    PortsExhausted,
}

/// The 5-tuple of a reply, as the real server sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ReplyKey {
    proto: u8,
    raddr: IpAddr,
    rport: u16,
    laddr: IpAddr,
    lport: u16,
}

/// LIP pools, the reply map and the port cursors.
#[derive(Clone, Debug)]
pub struct FullNat {
    lo: u16,
    hi: u16,
    global: Vec<IpAddr>,
    per_svc: HashMap<ServiceKey, Vec<IpAddr>>,
    /// Services with a pool, in the order their pools were created (listing order).
    svc_order: Vec<ServiceKey>,
    replies: HashMap<ReplyKey, ConnId>,
    by_conn: HashMap<ConnId, ReplyKey>,
    /// Next port offset (from `lo`) to try, per `(proto, LIP)`.
    cursors: HashMap<(u8, IpAddr), u32>,
    /// Live allocations per LIP (a removed LIP still answers replies until they end).
    in_use: HashMap<IpAddr, u32>,
    /// Number of pools each LIP is in (for the per-packet [`FullNat::is_local_address`]).
    pool_refs: HashMap<IpAddr, u32>,
    /// Every LIP in a pool or in use, for the per-packet check (a handful: a scan beats
    /// hashing).
    locals: Vec<IpAddr>,
}

impl Default for FullNat {
    fn default() -> Self {
        FullNat::new()
    }
}

/// Spread a client over `n` candidates.
fn client_hash(caddr: &IpAddr, cport: u16) -> u64 {
    let a = match caddr {
        IpAddr::V4(a) => u64::from(u32::from(*a)),
        IpAddr::V6(a) => {
            let v = u128::from(*a);
            (v as u64) ^ ((v >> 64) as u64).rotate_left(17)
        }
    };
    let h = (a ^ (u64::from(cport) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

impl FullNat {
    /// Empty pools, port range 1024..=65535.
    pub fn new() -> Self {
        FullNat {
            lo: DEFAULT_PORT_LO,
            hi: DEFAULT_PORT_HI,
            global: Vec::new(),
            per_svc: HashMap::default(),
            svc_order: Vec::new(),
            replies: HashMap::default(),
            by_conn: HashMap::default(),
            cursors: HashMap::default(),
            in_use: HashMap::default(),
            pool_refs: HashMap::default(),
            locals: Vec::new(),
        }
    }

    /// Set the local port range `lo..=hi`. Bounds given the wrong way round are swapped
    /// and a `lo` of 0 becomes 1. Live allocations outside the new range stay until
    /// released.
    pub fn set_port_range(&mut self, lo: u16, hi: u16) {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        self.lo = lo.max(1);
        self.hi = hi.max(1);
    }

    /// The local port range `(lo, hi)`.
    pub fn port_range(&self) -> (u16, u16) {
        (self.lo, self.hi)
    }

    /// Add `addr` to the pool of `svc`; `svc = None` adds to the global pool. Returns false
    /// if already present in that pool.
    pub fn add_local_address(&mut self, svc: Option<ServiceKey>, addr: IpAddr) -> bool {
        let pool = match svc {
            None => &mut self.global,
            Some(k) => {
                if !self.per_svc.contains_key(&k) {
                    self.svc_order.push(k);
                }
                self.per_svc.entry(k).or_default()
            }
        };
        if pool.contains(&addr) {
            return false;
        }
        pool.push(addr);
        *self.pool_refs.entry(addr).or_insert(0) += 1;
        self.refresh_locals();
        true
    }

    /// Remove `addr` from that pool. Connections already using it keep it until
    /// released. Returns whether it was there.
    pub fn remove_local_address(&mut self, svc: Option<ServiceKey>, addr: &IpAddr) -> bool {
        let Some(pool) = (match svc {
            None => Some(&mut self.global),
            Some(k) => self.per_svc.get_mut(&k),
        }) else {
            return false;
        };
        let Some(i) = pool.iter().position(|a| a == addr) else {
            return false;
        };
        pool.remove(i);
        if let Some(k) = svc
            && pool.is_empty()
        {
            self.per_svc.remove(&k);
            self.svc_order.retain(|s| *s != k);
        }
        Self::decrement(&mut self.pool_refs, addr);
        self.forget_cursors(addr);
        self.refresh_locals();
        true
    }

    /// Every pool's addresses: the global pool first (`None`), then each service's in the
    /// order the pools were created.
    pub fn local_addresses(&self) -> impl Iterator<Item = (Option<&ServiceKey>, &IpAddr)> {
        let global = self.global.iter().map(|a| (None, a));
        let svcs = self.svc_order.iter().flat_map(move |k| {
            self.per_svc
                .get(k)
                .into_iter()
                .flatten()
                .map(move |a| (Some(k), a))
        });
        global.chain(svcs)
    }

    /// Whether `addr` is a LIP in any pool, or still used by a live connection (a cheap
    /// pre-check for reply lookups).
    pub fn is_local_address(&self, addr: &IpAddr) -> bool {
        if self.locals.len() <= 16 {
            self.locals.contains(addr)
        } else {
            self.pool_refs.contains_key(addr) || self.in_use.contains_key(addr)
        }
    }

    /// Candidates of the family of `raddr`: the service's pool if it has any of that
    /// family, else the global pool's.
    fn candidates(&self, svc: &ServiceKey, raddr: &IpAddr) -> &[IpAddr] {
        let v4 = raddr.is_ipv4();
        match self.per_svc.get(svc) {
            Some(p) if p.iter().any(|a| a.is_ipv4() == v4) => p,
            _ => &self.global,
        }
    }

    /// Pick a LIP (same family as `raddr`; among several, chosen by a hash of caddr/cport so
    /// load spreads; if that one has no free port towards `raddr:rport`, the next ones are
    /// tried) and a free lport; record the allocation for `conn`. A previous allocation of
    /// `conn` is released first.
    #[allow(clippy::too_many_arguments)]
    pub fn allocate(
        &mut self,
        conn: ConnId,
        svc: &ServiceKey,
        proto: u8,
        caddr: &IpAddr,
        cport: u16,
        raddr: &IpAddr,
        rport: u16,
    ) -> Result<(IpAddr, u16), FullNatError> {
        self.release(conn);
        let v4 = raddr.is_ipv4();
        let n = self
            .candidates(svc, raddr)
            .iter()
            .filter(|a| a.is_ipv4() == v4)
            .count();
        if n == 0 {
            return Err(FullNatError::NoLocalAddress);
        }
        let first = (client_hash(caddr, cport) % n as u64) as usize;
        let size = u32::from(self.hi) - u32::from(self.lo) + 1;
        for k in 0..n {
            let Some(laddr) = self
                .candidates(svc, raddr)
                .iter()
                .filter(|a| a.is_ipv4() == v4)
                .nth((first + k) % n)
                .copied()
            else {
                break;
            };
            let cursor = self.cursors.get(&(proto, laddr)).copied().unwrap_or(0);
            for probe in 0..size {
                let off = (cursor.wrapping_add(probe)) % size;
                let lport = (u32::from(self.lo) + off) as u16;
                let key = ReplyKey {
                    proto,
                    raddr: *raddr,
                    rport,
                    laddr,
                    lport,
                };
                if self.replies.contains_key(&key) {
                    continue;
                }
                self.replies.insert(key, conn);
                self.by_conn.insert(conn, key);
                self.cursors.insert((proto, laddr), (off + 1) % size);
                let n = self.in_use.entry(laddr).or_insert(0);
                *n += 1;
                if *n == 1 {
                    self.refresh_locals();
                }
                return Ok((laddr, lport));
            }
        }
        Err(FullNatError::PortsExhausted)
    }

    /// Record a given `(LIP, lport)` for `conn` (a connection a sync master sent with its
    /// FULLNAT source): replies to it find `conn`, and the port is not handed out again.
    /// A previous allocation of `conn` is released first. `false` when another connection
    /// holds that reply tuple.
    pub fn claim(
        &mut self,
        conn: ConnId,
        proto: u8,
        raddr: &IpAddr,
        rport: u16,
        laddr: IpAddr,
        lport: u16,
    ) -> bool {
        let key = ReplyKey {
            proto,
            raddr: *raddr,
            rport,
            laddr,
            lport,
        };
        if self.by_conn.get(&conn) == Some(&key) {
            return true;
        }
        if self.replies.contains_key(&key) {
            return false;
        }
        self.release(conn);
        self.replies.insert(key, conn);
        self.by_conn.insert(conn, key);
        let n = self.in_use.entry(laddr).or_insert(0);
        *n += 1;
        if *n == 1 {
            self.refresh_locals();
        }
        true
    }

    /// The connection of a reply `RIP:rport -> LIP:lport`.
    pub fn lookup_reply(
        &self,
        proto: u8,
        raddr: &IpAddr,
        rport: u16,
        laddr: &IpAddr,
        lport: u16,
    ) -> Option<ConnId> {
        self.replies
            .get(&ReplyKey {
                proto,
                raddr: *raddr,
                rport,
                laddr: *laddr,
                lport,
            })
            .copied()
    }

    /// The `(LIP, lport)` of a connection.
    pub fn get(&self, conn: ConnId) -> Option<(IpAddr, u16)> {
        self.by_conn.get(&conn).map(|k| (k.laddr, k.lport))
    }

    /// Free a connection's port (on expiry). Unknown ids are ignored.
    pub fn release(&mut self, conn: ConnId) {
        let Some(key) = self.by_conn.remove(&conn) else {
            return;
        };
        self.replies.remove(&key);
        Self::decrement(&mut self.in_use, &key.laddr);
        self.forget_cursors(&key.laddr);
        if !self.in_use.contains_key(&key.laddr) {
            self.refresh_locals();
        }
    }

    /// Rebuild the list of local addresses (pooled or in use).
    fn refresh_locals(&mut self) {
        self.locals.clear();
        self.locals.extend(self.pool_refs.keys().copied());
        for a in self.in_use.keys() {
            if !self.pool_refs.contains_key(a) {
                self.locals.push(*a);
            }
        }
    }

    /// Drop the port cursors of a LIP that is in no pool and used by no connection.
    fn forget_cursors(&mut self, addr: &IpAddr) {
        if !self.pool_refs.contains_key(addr) && !self.in_use.contains_key(addr) {
            self.cursors.retain(|(_, l), _| l != addr);
        }
    }

    /// Count one use of `addr` less, dropping the entry at zero.
    fn decrement(counts: &mut HashMap<IpAddr, u32>, addr: &IpAddr) {
        if let Some(c) = counts.get_mut(addr) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                counts.remove(addr);
            }
        }
    }

    /// Number of live allocations.
    pub fn len(&self) -> usize {
        self.by_conn.len()
    }

    /// Whether there are no live allocations.
    pub fn is_empty(&self) -> bool {
        self.by_conn.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Af, Protocol};
    use crate::slab::Id;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const TCP: u8 = 6;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn id(n: u32) -> ConnId {
        Id::from_raw(n, 1).unwrap()
    }

    fn svc() -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: ip("198.18.0.100"),
            port: 80,
        }
    }

    fn svc2() -> ServiceKey {
        ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 7,
        }
    }

    #[test]
    fn ids_from_a_real_conn_table_work() {
        use crate::conn::{Conn, ConnTable};
        let mut t = ConnTable::new(1);
        let c = Conn {
            caddr: ip("1.1.1.1"),
            vaddr: ip("198.18.0.100"),
            cport: 1000,
            vport: 80,
            proto: TCP,
            state: 0,
            dport: 80,
            flags: 0,
            daddr: ip("10.0.0.2"),
            dest: None,
            control: None,
            n_control: 0,
            timeout: 1000,
            expires: crate::time::Time(1000),
            fwmark: 0,
            in_pkts: 0,
        };
        let a = t.insert(c.clone());
        let b = t.insert(c);
        let mut f = FullNat::new();
        f.add_local_address(None, ip("10.0.0.1"));
        let la = f
            .allocate(a, &svc(), TCP, &ip("1.1.1.1"), 1000, &ip("10.0.0.2"), 80)
            .unwrap();
        let lb = f
            .allocate(b, &svc(), TCP, &ip("1.1.1.1"), 1000, &ip("10.0.0.2"), 80)
            .unwrap();
        assert_ne!(la, lb);
        assert_eq!(
            f.lookup_reply(TCP, &ip("10.0.0.2"), 80, &la.0, la.1),
            Some(a)
        );
        assert_eq!(
            f.lookup_reply(TCP, &ip("10.0.0.2"), 80, &lb.0, lb.1),
            Some(b)
        );
    }

    #[test]
    fn claim_records_a_given_source() {
        let mut f = FullNat::new();
        let (l, rs) = (ip("10.0.0.1"), ip("10.0.0.2"));
        assert!(f.claim(id(1), TCP, &rs, 80, l, 40000));
        assert!(f.claim(id(1), TCP, &rs, 80, l, 40000), "idempotent");
        assert_eq!(f.lookup_reply(TCP, &rs, 80, &l, 40000), Some(id(1)));
        assert_eq!(f.get(id(1)), Some((l, 40000)));
        assert!(f.is_local_address(&l), "a claimed LIP answers replies");
        assert!(!f.claim(id(2), TCP, &rs, 80, l, 40000), "taken by conn 1");
        // Moving conn 1 frees its old tuple.
        assert!(f.claim(id(1), TCP, &rs, 80, l, 40001));
        assert_eq!(f.lookup_reply(TCP, &rs, 80, &l, 40000), None);
        f.release(id(1));
        assert!(f.is_empty());
        assert!(!f.is_local_address(&l));
    }

    #[test]
    fn allocate_lookup_get_release() {
        let mut f = FullNat::default();
        assert!(f.is_empty());
        assert!(f.add_local_address(None, ip("10.0.0.1")));
        let (l, p) = f
            .allocate(
                id(1),
                &svc(),
                TCP,
                &ip("1.2.3.4"),
                5555,
                &ip("10.0.0.2"),
                80,
            )
            .unwrap();
        assert_eq!((l, p), (ip("10.0.0.1"), 1024));
        assert_eq!(f.len(), 1);
        assert_eq!(f.get(id(1)), Some((l, p)));
        assert_eq!(f.lookup_reply(TCP, &ip("10.0.0.2"), 80, &l, p), Some(id(1)));
        // Exact match only.
        assert_eq!(f.lookup_reply(17, &ip("10.0.0.2"), 80, &l, p), None);
        assert_eq!(f.lookup_reply(TCP, &ip("10.0.0.3"), 80, &l, p), None);
        assert_eq!(f.lookup_reply(TCP, &ip("10.0.0.2"), 81, &l, p), None);
        assert_eq!(f.lookup_reply(TCP, &ip("10.0.0.2"), 80, &l, p + 1), None);
        f.release(id(1));
        f.release(id(1));
        f.release(id(99));
        assert!(f.is_empty());
        assert_eq!(f.get(id(1)), None);
        assert_eq!(f.lookup_reply(TCP, &ip("10.0.0.2"), 80, &l, p), None);
    }

    #[test]
    fn no_local_address() {
        let mut f = FullNat::new();
        let r = f.allocate(id(1), &svc(), TCP, &ip("1.2.3.4"), 1, &ip("10.0.0.2"), 80);
        assert_eq!(r, Err(FullNatError::NoLocalAddress));
        // Only a v6 LIP: a v4 real server still has none.
        f.add_local_address(None, ip("2001:db8::1"));
        let r = f.allocate(id(1), &svc(), TCP, &ip("1.2.3.4"), 1, &ip("10.0.0.2"), 80);
        assert_eq!(r, Err(FullNatError::NoLocalAddress));
        assert!(f.is_empty());
    }

    #[test]
    fn family_selection() {
        let mut f = FullNat::new();
        f.add_local_address(None, ip("2001:db8::1"));
        f.add_local_address(None, ip("10.0.0.1"));
        let (l4, _) = f
            .allocate(id(1), &svc(), TCP, &ip("1.2.3.4"), 1, &ip("10.0.0.2"), 80)
            .unwrap();
        let (l6, _) = f
            .allocate(
                id(2),
                &svc(),
                TCP,
                &ip("1.2.3.4"),
                1,
                &ip("2001:db8::2"),
                80,
            )
            .unwrap();
        assert_eq!(l4, ip("10.0.0.1"));
        assert_eq!(l6, ip("2001:db8::1"));
    }

    #[test]
    fn per_service_pool_beats_global() {
        let mut f = FullNat::new();
        f.add_local_address(None, ip("10.0.0.1"));
        f.add_local_address(Some(svc()), ip("10.0.0.50"));
        f.add_local_address(Some(svc()), ip("2001:db8::50"));
        for i in 0..20 {
            let (l, _) = f
                .allocate(
                    id(i),
                    &svc(),
                    TCP,
                    &ip("1.2.3.4"),
                    i as u16,
                    &ip("10.0.0.2"),
                    80,
                )
                .unwrap();
            assert_eq!(l, ip("10.0.0.50"));
        }
        // Another service uses the global pool.
        let (l, _) = f
            .allocate(
                id(100),
                &svc2(),
                TCP,
                &ip("1.2.3.4"),
                1,
                &ip("10.0.0.2"),
                80,
            )
            .unwrap();
        assert_eq!(l, ip("10.0.0.1"));
        // The service pool lacks nothing for v6 either.
        let (l, _) = f
            .allocate(
                id(101),
                &svc(),
                TCP,
                &ip("1.2.3.4"),
                1,
                &ip("2001:db8::2"),
                80,
            )
            .unwrap();
        assert_eq!(l, ip("2001:db8::50"));
        // With no v6 LIP in either pool: none.
        f.remove_local_address(Some(svc()), &ip("2001:db8::50"));
        assert_eq!(
            f.allocate(
                id(102),
                &svc(),
                TCP,
                &ip("1.2.3.4"),
                1,
                &ip("2001:db8::2"),
                80
            ),
            Err(FullNatError::NoLocalAddress)
        );
        // A service pool without the family falls back to the global pool.
        f.add_local_address(None, ip("2001:db8::1"));
        let (l, _) = f
            .allocate(
                id(102),
                &svc(),
                TCP,
                &ip("1.2.3.4"),
                1,
                &ip("2001:db8::2"),
                80,
            )
            .unwrap();
        assert_eq!(l, ip("2001:db8::1"));
    }

    #[test]
    fn several_lips_spread_by_client() {
        let mut f = FullNat::new();
        for i in 1..=4 {
            f.add_local_address(None, IpAddr::from([10, 0, 0, i]));
        }
        let mut used = HashSet::new();
        for i in 0..200u32 {
            let c = IpAddr::from([192, 0, 2, (i % 250) as u8]);
            let (l, _) = f
                .allocate(
                    id(i),
                    &svc(),
                    TCP,
                    &c,
                    40000 + i as u16,
                    &ip("10.0.1.2"),
                    80,
                )
                .unwrap();
            used.insert(l);
        }
        assert_eq!(used.len(), 4);
        // Same client, same LIP (deterministic).
        let mut g = f.clone();
        let a = f
            .allocate(
                id(500),
                &svc(),
                TCP,
                &ip("192.0.2.9"),
                7,
                &ip("10.0.1.3"),
                80,
            )
            .unwrap();
        let b = g
            .allocate(
                id(500),
                &svc(),
                TCP,
                &ip("192.0.2.9"),
                7,
                &ip("10.0.1.3"),
                80,
            )
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn exhaustion_and_reuse() {
        let mut f = FullNat::new();
        f.set_port_range(5000, 5002);
        assert_eq!(f.port_range(), (5000, 5002));
        f.add_local_address(None, ip("10.0.0.1"));
        let rs = ip("10.0.0.2");
        let mut ports = Vec::new();
        for i in 0..3 {
            ports.push(
                f.allocate(id(i), &svc(), TCP, &ip("1.1.1.1"), i as u16, &rs, 80)
                    .unwrap()
                    .1,
            );
        }
        ports.sort();
        assert_eq!(ports, vec![5000, 5001, 5002]);
        assert_eq!(
            f.allocate(id(3), &svc(), TCP, &ip("1.1.1.1"), 3, &rs, 80),
            Err(FullNatError::PortsExhausted)
        );
        assert_eq!(f.get(id(3)), None);
        // Another protocol, real server or real port: the same lports are free.
        assert_eq!(
            f.allocate(id(10), &svc(), 17, &ip("1.1.1.1"), 3, &rs, 80)
                .unwrap()
                .1,
            5000
        );
        let (_, p) = f
            .allocate(id(11), &svc(), TCP, &ip("1.1.1.1"), 3, &ip("10.0.0.3"), 80)
            .unwrap();
        assert!((5000..=5002).contains(&p));
        f.allocate(id(12), &svc(), TCP, &ip("1.1.1.1"), 3, &rs, 81)
            .unwrap();
        // Release makes the port reusable.
        let freed = f.get(id(1)).unwrap().1;
        f.release(id(1));
        let (_, p) = f
            .allocate(id(4), &svc(), TCP, &ip("1.1.1.1"), 4, &rs, 80)
            .unwrap();
        assert_eq!(p, freed);
        assert_eq!(
            f.lookup_reply(TCP, &rs, 80, &ip("10.0.0.1"), p),
            Some(id(4))
        );
    }

    #[test]
    fn exhausted_lip_falls_over_to_the_next() {
        let mut f = FullNat::new();
        f.set_port_range(7000, 7000);
        f.add_local_address(None, ip("10.0.0.1"));
        f.add_local_address(None, ip("10.0.0.9"));
        let rs = ip("10.0.0.2");
        let a = f
            .allocate(id(1), &svc(), TCP, &ip("1.1.1.1"), 1, &rs, 80)
            .unwrap();
        let b = f
            .allocate(id(2), &svc(), TCP, &ip("1.1.1.1"), 1, &rs, 80)
            .unwrap();
        assert_ne!(a.0, b.0);
        assert_eq!((a.1, b.1), (7000, 7000));
        assert_eq!(
            f.allocate(id(3), &svc(), TCP, &ip("1.1.1.1"), 1, &rs, 80),
            Err(FullNatError::PortsExhausted)
        );
    }

    #[test]
    fn same_lport_towards_a_different_rip() {
        let mut f = FullNat::new();
        f.set_port_range(3000, 3000);
        f.add_local_address(None, ip("10.0.0.1"));
        let a = f
            .allocate(id(1), &svc(), TCP, &ip("1.1.1.1"), 1, &ip("10.0.0.2"), 80)
            .unwrap();
        let b = f
            .allocate(id(2), &svc(), TCP, &ip("1.1.1.1"), 1, &ip("10.0.0.3"), 80)
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            f.lookup_reply(TCP, &ip("10.0.0.2"), 80, &a.0, a.1),
            Some(id(1))
        );
        assert_eq!(
            f.lookup_reply(TCP, &ip("10.0.0.3"), 80, &b.0, b.1),
            Some(id(2))
        );
    }

    #[test]
    fn reallocating_a_conn_releases_its_old_port() {
        let mut f = FullNat::new();
        f.set_port_range(3000, 3001);
        f.add_local_address(None, ip("10.0.0.1"));
        let rs = ip("10.0.0.2");
        let a = f
            .allocate(id(1), &svc(), TCP, &ip("1.1.1.1"), 1, &rs, 80)
            .unwrap();
        let b = f
            .allocate(id(1), &svc(), TCP, &ip("1.1.1.1"), 1, &rs, 80)
            .unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f.lookup_reply(TCP, &rs, 80, &a.0, a.1), None);
        assert_eq!(f.lookup_reply(TCP, &rs, 80, &b.0, b.1), Some(id(1)));
    }

    #[test]
    fn port_range_normalised() {
        let mut f = FullNat::new();
        assert_eq!(f.port_range(), (1024, 65535));
        f.set_port_range(10, 5);
        assert_eq!(f.port_range(), (5, 10));
        f.set_port_range(0, 0);
        assert_eq!(f.port_range(), (1, 1));
        f.set_port_range(65535, 65535);
        f.add_local_address(None, ip("10.0.0.1"));
        assert_eq!(
            f.allocate(id(1), &svc(), TCP, &ip("1.1.1.1"), 1, &ip("10.0.0.2"), 80)
                .unwrap()
                .1,
            65535
        );
        f.set_port_range(0, 65535);
        assert_eq!(f.port_range(), (1, 65535));
        let (_, p) = f
            .allocate(id(2), &svc(), TCP, &ip("1.1.1.1"), 1, &ip("10.0.0.2"), 80)
            .unwrap();
        assert!(p >= 1 && p != 65535);
    }

    #[test]
    fn pools_add_remove_list() {
        let mut f = FullNat::new();
        assert!(f.add_local_address(None, ip("10.0.0.1")));
        assert!(!f.add_local_address(None, ip("10.0.0.1")));
        assert!(f.add_local_address(Some(svc()), ip("10.0.0.1")));
        assert!(f.add_local_address(Some(svc2()), ip("10.0.0.2")));
        assert!(f.add_local_address(Some(svc()), ip("10.0.0.3")));
        assert!(!f.add_local_address(Some(svc()), ip("10.0.0.3")));
        let s = svc();
        let s2 = svc2();
        let all: Vec<_> = f.local_addresses().map(|(k, a)| (k.copied(), *a)).collect();
        assert_eq!(
            all,
            vec![
                (None, ip("10.0.0.1")),
                (Some(s), ip("10.0.0.1")),
                (Some(s), ip("10.0.0.3")),
                (Some(s2), ip("10.0.0.2")),
            ]
        );
        assert!(f.is_local_address(&ip("10.0.0.2")));
        assert!(f.is_local_address(&ip("10.0.0.3")));
        assert!(!f.is_local_address(&ip("10.0.0.4")));
        assert!(!f.remove_local_address(Some(svc2()), &ip("10.0.0.1")));
        assert!(!f.remove_local_address(None, &ip("10.0.0.9")));
        assert!(!f.remove_local_address(
            Some(ServiceKey::Fwmark {
                af: Af::Inet6,
                mark: 1
            }),
            &ip("10.0.0.1")
        ));
        assert!(f.remove_local_address(Some(svc2()), &ip("10.0.0.2")));
        assert!(!f.is_local_address(&ip("10.0.0.2")));
        assert!(f.remove_local_address(None, &ip("10.0.0.1")));
        // Still in svc's pool.
        assert!(f.is_local_address(&ip("10.0.0.1")));
        let all: Vec<_> = f.local_addresses().map(|(k, a)| (k.copied(), *a)).collect();
        assert_eq!(
            all,
            vec![(Some(s), ip("10.0.0.1")), (Some(s), ip("10.0.0.3"))]
        );
        // Re-creating a removed service pool lists it last.
        f.add_local_address(Some(svc2()), ip("10.0.0.2"));
        assert_eq!(
            f.local_addresses().last().map(|(k, _)| k.copied()),
            Some(Some(s2))
        );
    }

    #[test]
    fn removed_lip_keeps_answering_its_live_conns() {
        let mut f = FullNat::new();
        f.add_local_address(None, ip("10.0.0.1"));
        let (l, p) = f
            .allocate(id(1), &svc(), TCP, &ip("1.1.1.1"), 1, &ip("10.0.0.2"), 80)
            .unwrap();
        f.remove_local_address(None, &l);
        assert!(f.is_local_address(&l));
        assert_eq!(f.lookup_reply(TCP, &ip("10.0.0.2"), 80, &l, p), Some(id(1)));
        assert_eq!(
            f.allocate(id(2), &svc(), TCP, &ip("1.1.1.1"), 1, &ip("10.0.0.2"), 80),
            Err(FullNatError::NoLocalAddress)
        );
        f.release(id(1));
        assert!(!f.is_local_address(&l));
        assert!(f.cursors.is_empty());
        // Back in a pool, the LIP starts again from the bottom of the range.
        f.add_local_address(None, l);
        let (_, p2) = f
            .allocate(id(3), &svc(), TCP, &ip("1.1.1.1"), 1, &ip("10.0.0.2"), 80)
            .unwrap();
        assert_eq!((p, p2), (1024, 1024));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc {
            conn: u32,
            rs: u8,
            rport: u16,
            cport: u16,
            udp: bool,
        },
        Release(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u32..60, 0u8..3, 80u16..82, any::<u16>(), any::<bool>())
                .prop_map(|(conn, rs, rport, cport, udp)| Op::Alloc { conn, rs, rport, cport, udp }),
            1 => (0u32..60).prop_map(Op::Release),
        ]
    }

    proptest! {
        /// Under any sequence of allocations and releases with a tiny port range and two
        /// LIPs, live 5-tuples stay unique, every live conn is found by its reply, and
        /// allocation fails only when the candidates really are exhausted.
        #[test]
        fn allocations_stay_unique(range in 1u16..6, ops in proptest::collection::vec(op(), 0..200)) {
            let mut f = FullNat::new();
            f.set_port_range(2000, 2000 + range - 1);
            f.add_local_address(None, ip("10.0.0.1"));
            f.add_local_address(None, ip("10.0.0.5"));
            let mut model: HashMap<u32, (u8, IpAddr, u16, IpAddr, u16)> = HashMap::default();
            for o in ops {
                match o {
                    Op::Alloc { conn, rs, rport, cport, udp } => {
                        let proto = if udp { 17 } else { TCP };
                        let raddr = IpAddr::from([10, 0, 1, rs]);
                        model.remove(&conn);
                        let r = f.allocate(id(conn), &svc(), proto, &ip("192.0.2.1"), cport, &raddr, rport);
                        let used = model
                            .values()
                            .filter(|t| t.0 == proto && t.1 == raddr && t.2 == rport)
                            .count();
                        match r {
                            Ok((l, p)) => {
                                prop_assert!((2000..2000 + range).contains(&p));
                                model.insert(conn, (proto, raddr, rport, l, p));
                            }
                            Err(e) => {
                                prop_assert_eq!(e, FullNatError::PortsExhausted);
                                prop_assert_eq!(used, 2 * usize::from(range));
                            }
                        }
                    }
                    Op::Release(c) => {
                        f.release(id(c));
                        model.remove(&c);
                    }
                }
                let set: HashSet<_> = model.values().collect();
                prop_assert_eq!(set.len(), model.len());
                prop_assert_eq!(f.len(), model.len());
                for (c, t) in &model {
                    prop_assert_eq!(f.lookup_reply(t.0, &t.1, t.2, &t.3, t.4), Some(id(*c)));
                    prop_assert_eq!(f.get(id(*c)), Some((t.3, t.4)));
                }
            }
        }

        /// Many allocations towards one real server over the full default range: all
        /// distinct.
        #[test]
        fn many_distinct(n in 1usize..3000, seed in any::<u16>()) {
            let mut f = FullNat::new();
            f.add_local_address(None, ip("10.0.0.1"));
            let mut seen = HashSet::new();
            for i in 0..n {
                let r = f.allocate(id(i as u32), &svc(), TCP, &ip("192.0.2.1"),
                    seed.wrapping_add(i as u16), &ip("10.0.1.1"), 80).unwrap();
                prop_assert!(seen.insert(r));
            }
        }
    }
}
