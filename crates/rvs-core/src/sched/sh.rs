//! The `sh` scheduler (kernel `ip_vs_sh.c`): source hashing over a 256-bucket table.
//!
//! The table is filled by walking the dest list cyclically in list order and giving each
//! dest `weight` consecutive buckets (a weight-0 dest still gets one), and is rebuilt on
//! every add, delete and edit. The key is `hash_32(sport + fold(saddr), 8)`, with the
//! source port only when `sh-port` (flag-2) is set. A bucket whose dest has weight ≤ 0 or
//! is OVERLOAD gives no dest unless `sh-fallback` (flag-1) is set, in which case buckets
//! `(2·ihash + k) mod 256` are tried in turn (the kernel adds the probe offset to the
//! hash again) until an available dest or an empty bucket.

use crate::addr::{fold, hash_32};
use crate::dest::{Dest, DestId};
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler, flags};

/// `CONFIG_IP_VS_SH_TAB_BITS`.
const TAB_BITS: u32 = 8;
/// Number of buckets.
const TAB_SIZE: usize = 1 << TAB_BITS;
/// Bucket index mask.
const TAB_MASK: u32 = (TAB_SIZE as u32) - 1;

/// The `sh` scheduler.
#[derive(Debug, Default)]
pub struct Sh {
    /// The buckets; empty until the first rebuild (all buckets empty).
    buckets: Vec<Option<DestId>>,
}

/// The kernel's `is_unavailable`: weight ≤ 0 or OVERLOAD.
fn unavailable(d: &Dest) -> bool {
    d.weight <= 0 || d.overload
}

impl Sh {
    /// `ip_vs_sh_reassign`: refill every bucket from the current dest list.
    fn reassign(&mut self, view: SchedView<'_>) {
        self.buckets.clear();
        if view.is_empty() {
            self.buckets.resize(TAB_SIZE, None);
            return;
        }
        let mut p = 0usize;
        let mut d_count = 0i32;
        for _ in 0..TAB_SIZE {
            let (id, d) = view.at(p);
            self.buckets.push(Some(id));
            d_count += 1;
            // A dest moves on once it has `weight` buckets; weight 0 still got one.
            if d_count >= d.weight {
                p = (p + 1) % view.len();
                d_count = 0;
            }
        }
    }

    /// `ip_vs_sh_hashkey`: `(offset + hash_32(port + fold(addr), 8)) & mask`.
    fn hashkey(addr_fold: u32, port: u16, offset: u32) -> usize {
        let h = hash_32(u32::from(port).wrapping_add(addr_fold), TAB_BITS);
        (offset.wrapping_add(h) & TAB_MASK) as usize
    }

    /// The dest in a bucket, if the bucket is filled and the dest still exists.
    fn bucket<'a>(&self, view: &SchedView<'a>, i: usize) -> Option<(DestId, &'a Dest)> {
        let id = (*self.buckets.get(i)?)?;
        view.arena.get(id).map(|d| (id, d))
    }
}

impl Scheduler for Sh {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn init(&mut self, view: SchedView<'_>) {
        self.reassign(view);
    }

    fn add_dest(&mut self, view: SchedView<'_>, _pos: usize) {
        self.reassign(view);
    }

    fn del_dest(&mut self, view: SchedView<'_>, _pos: usize, _removed: DestId) {
        self.reassign(view);
    }

    fn upd_dest(&mut self, view: SchedView<'_>, _pos: usize) {
        self.reassign(view);
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let port = if view.has_flag(flags::SCHED2) {
            req.sport
        } else {
            0
        };
        let addr = fold(&req.saddr);
        let ihash = Self::hashkey(addr, port, 0);
        let (id, d) = self.bucket(&view, ihash)?;
        if !unavailable(d) {
            return Some(id);
        }
        if !view.has_flag(flags::SCHED1) {
            return None;
        }
        for offset in 0..TAB_SIZE {
            let roffset = ((offset + ihash) % TAB_SIZE) as u32;
            let (id, d) = self.bucket(&view, Self::hashkey(addr, port, roffset))?;
            if !unavailable(d) {
                return Some(id);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::*;
    use crate::sched::testutil::Fixture;

    /// A separate `Sh` built from the fixture's current list (the table the service's own
    /// scheduler holds, since every hook rebuilds it completely).
    fn table(fx: &Fixture) -> Vec<Option<DestId>> {
        let svc = fx.table.service(fx.sid).unwrap();
        let mut s = Sh::default();
        s.init(fx.table.view(svc, &fx.settings));
        s.buckets
    }

    fn octet(fx: &Fixture, id: DestId) -> u8 {
        match fx.table.dest(id).unwrap().addr {
            IpAddr::V4(a) => a.octets()[3],
            IpAddr::V6(a) => a.octets()[15],
        }
    }

    /// A client 198.18.2.x whose bucket (port 0) satisfies `want`.
    fn client_where(want: impl Fn(usize) -> bool) -> (IpAddr, usize) {
        for x in 0..=255u8 {
            for y in 1..=255u8 {
                let ip = IpAddr::from([198, 18, x, y]);
                let b = Sh::hashkey(fold(&ip), 0, 0);
                if want(b) {
                    return (ip, b);
                }
            }
        }
        panic!("no client found");
    }

    #[test]
    fn weight_zero_dest_gets_exactly_one_bucket_per_lap() {
        let mut fx = Fixture::new("sh", 0);
        fx.add(1, 0);
        fx.add(2, 2);
        // List order [2, 1]: buckets 2,2,1,2,2,1,...
        let t = table(&fx);
        let owners: Vec<u8> = t.iter().map(|b| octet(&fx, b.unwrap())).collect();
        assert_eq!(&owners[..6], &[2, 2, 1, 2, 2, 1]);
        assert_eq!(owners.iter().filter(|&&o| o == 1).count(), 85);
        // A client hashing to a weight-0 bucket gets nothing (no fallback)...
        let (c, _) = client_where(|b| b % 3 == 2);
        assert_eq!(fx.pick_from(c, 1234), None);
        // ...and a client of dest 2 gets dest 2.
        let (c2, _) = client_where(|b| b % 3 != 2);
        assert_eq!(fx.pick_from(c2, 1234), Some(2));
    }

    #[test]
    fn key_is_hash32_of_folded_source() {
        let mut fx = Fixture::new("sh", 0);
        for n in 1..=5 {
            fx.add(n, 1);
        }
        let t = table(&fx);
        let c = IpAddr::from([203, 0, 113, 77]);
        let b = (hash_32(0xcb00_714d, 8)) as usize;
        let want = octet(&fx, t[b].unwrap());
        assert_eq!(fx.pick_from(c, 999), Some(want));
        // IPv6 sources are folded by XOR of their four words.
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            Sh::hashkey(fold(&v6), 0, 0),
            hash_32(0x2001_0db9, 8) as usize
        );
    }

    #[test]
    fn fallback_probes_two_ihash_plus_k() {
        let mut fx = Fixture::new("sh", flags::SCHED1);
        fx.add(1, 1);
        fx.add(2, 1);
        fx.add(3, 1);
        // List [3, 2, 1]: bucket b -> [3,2,1][b % 3].
        fx.dest_mut(2).overload = true;
        fx.edit(1, 0); // weight 0; the rebuild keeps one bucket per lap for it.
        let t = table(&fx);
        let (c, ihash) = client_where(|b| b % 3 == 1); // dest 2's bucket
        assert_eq!(octet(&fx, t[ihash].unwrap()), 2);
        // Expected: first k with bucket (2*ihash + k) mod 256 held by dest 3.
        let k = (0..256).find(|k| (2 * ihash + k) % 256 % 3 == 0).unwrap();
        assert!(k <= 2);
        assert_eq!(fx.pick_from(c, 5), Some(3));
        // Without the flag the same client gets nothing.
        let mut fx2 = Fixture::new("sh", 0);
        fx2.add(1, 1);
        fx2.add(2, 1);
        fx2.add(3, 1);
        fx2.dest_mut(2).overload = true;
        assert_eq!(fx2.pick_from(c, 5), None);
        // With every dest unavailable the fallback gives up.
        fx.dest_mut(3).overload = true;
        assert_eq!(fx.pick_from(c, 5), None);
    }

    #[test]
    fn fallback_order_is_the_kernel_double_hash() {
        // Bucket layout with weights makes the probe order observable: dests 1 (w=1) and
        // 2 (w=255): list [2, 1], buckets 0..254 -> 2, bucket 255 -> 1.
        let mut fx = Fixture::new("sh", flags::SCHED1);
        fx.add(1, 1);
        fx.add(2, 255);
        let t = table(&fx);
        assert_eq!(octet(&fx, t[255].unwrap()), 1);
        assert_eq!(octet(&fx, t[254].unwrap()), 2);
        fx.dest_mut(2).overload = true;
        // A client in any bucket of dest 2 probes 2*ihash+k: dest 1 is only found at
        // bucket 255, i.e. k = (255 - 2*ihash) mod 256 — always reached, so dest 1.
        let (c, _) = client_where(|b| b == 10);
        assert_eq!(fx.pick_from(c, 1), Some(1));
    }

    #[test]
    fn fallback_starts_at_twice_ihash() {
        // Four dests of weight 64, list [1, 2, 3, 4]: buckets 0..64 -> 1, 64..128 -> 2,
        // 128..192 -> 3, 192..256 -> 4. Dest 2 OVERLOAD.
        let mut fx = Fixture::new("sh", flags::SCHED1);
        for n in (1..=4).rev() {
            fx.add(n, 64);
        }
        fx.dest_mut(2).overload = true;
        // ihash 100 (dest 2): the kernel probes 200, 201, ... -> dest 4 (a walk from
        // ihash itself would have found dest 3 at 128).
        let (c, _) = client_where(|b| b == 100);
        assert_eq!(fx.pick_from(c, 0), Some(4));
        // ihash 70: probes from 140 -> dest 3.
        let (c, _) = client_where(|b| b == 70);
        assert_eq!(fx.pick_from(c, 0), Some(3));
    }

    #[test]
    fn sh_port_hashes_the_source_port() {
        let mut fx = Fixture::new("sh", flags::SCHED2);
        for n in 1..=4 {
            fx.add(n, 1);
        }
        let c = IpAddr::from([198, 18, 9, 9]);
        let picks: Vec<_> = (1000..1016u16).map(|p| fx.pick_from(c, p)).collect();
        let t = table(&fx);
        for (i, p) in (1000..1016u16).enumerate() {
            let b = Sh::hashkey(fold(&c), p, 0);
            assert_eq!(picks[i], Some(octet(&fx, t[b].unwrap())));
        }
        assert!(
            picks.iter().any(|p| *p != picks[0]),
            "ports spread: {picks:?}"
        );
        // Without sh-port every port of one client maps to the same dest.
        let mut fx0 = Fixture::new("sh", 0);
        for n in 1..=4 {
            fx0.add(n, 1);
        }
        let first = fx0.pick_from(c, 1000);
        assert!((1000..1016u16).all(|p| fx0.pick_from(c, p) == first));
    }

    #[test]
    fn edit_rebuilds_the_table() {
        let mut fx = Fixture::new("sh", 0);
        fx.add(1, 1);
        fx.add(2, 1);
        let before = table(&fx);
        fx.edit(2, 3);
        let after = table(&fx);
        assert_ne!(before, after);
        // The service's own scheduler saw the edit: a client of bucket 1 (now dest 2,
        // layout 2,2,2,1) is served by 2.
        let (c, _) = client_where(|b| b % 4 == 1);
        assert_eq!(fx.pick_from(c, 0), Some(2));
        let (c, _) = client_where(|b| b % 4 == 3);
        assert_eq!(fx.pick_from(c, 0), Some(1));
    }

    #[test]
    fn empty_service_gives_none() {
        let mut fx = Fixture::new("sh", flags::SCHED1);
        assert_eq!(fx.pick(), None);
        fx.add(1, 1);
        fx.del(1);
        assert_eq!(fx.pick(), None);
    }

    proptest! {
        #[test]
        fn same_client_same_dest_while_set_unchanged(
            weights in proptest::collection::vec(0i32..5, 1..8),
            clients in proptest::collection::vec((any::<u32>(), any::<u16>()), 1..40),
            port_flag in any::<bool>(),
        ) {
            let fl = if port_flag { flags::SCHED2 } else { 0 };
            let mut fx = Fixture::new("sh", fl);
            for (i, w) in weights.iter().enumerate() {
                fx.add(i as u8 + 1, *w);
            }
            let first: Vec<_> = clients
                .iter()
                .map(|&(a, p)| fx.pick_from(IpAddr::from(a.to_be_bytes()), p))
                .collect();
            // A no-op edit rebuilds the same table.
            fx.edit(1, weights[0]);
            for (i, &(a, p)) in clients.iter().enumerate().rev() {
                prop_assert_eq!(fx.pick_from(IpAddr::from(a.to_be_bytes()), p), first[i]);
            }
        }

        #[test]
        fn never_returns_weight0_or_overloaded(
            dests in proptest::collection::vec((0i32..3, any::<bool>()), 1..8),
            clients in proptest::collection::vec(any::<u32>(), 1..40),
            fallback in any::<bool>(),
        ) {
            let fl = if fallback { flags::SCHED1 } else { 0 };
            let mut fx = Fixture::new("sh", fl);
            for (i, (w, o)) in dests.iter().enumerate() {
                fx.add(i as u8 + 1, *w);
                fx.dest_mut(i as u8 + 1).overload = *o;
            }
            let any_ok = dests.iter().any(|(w, o)| *w > 0 && !*o);
            for a in clients {
                if let Some(n) = fx.pick_from(IpAddr::from(a.to_be_bytes()), 80) {
                    let (w, o) = dests[n as usize - 1];
                    prop_assert!(w > 0 && !o);
                } else if fallback && any_ok {
                    // With fallback, a filled table and an available dest, some probe
                    // reaches it: every dest holds at least one bucket, and the 256
                    // probes (2*ihash + k) cover every bucket.
                    prop_assert!(false, "fallback found nothing");
                }
            }
        }
    }
}
