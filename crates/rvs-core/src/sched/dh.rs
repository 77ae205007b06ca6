//! The `dh` scheduler (kernel `ip_vs_dh.c`): destination hashing over a 256-bucket
//! table.
//!
//! Bucket `i` holds the dest at list position `i mod n` (weights are ignored); the table
//! is rebuilt on add and delete (the kernel has no edit hook, and an edit cannot change
//! the table). The key is `hash_32(fold(daddr), 8)` of the packet's destination address.
//! A bucket whose dest is not AVAILABLE, has weight ≤ 0 or is OVERLOAD gives no dest;
//! there is no fallback.

use crate::addr::{fold, hash_32};
use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// `CONFIG_IP_VS_DH_TAB_BITS`.
const TAB_BITS: u32 = 8;
/// Number of buckets.
const TAB_SIZE: usize = 1 << TAB_BITS;

/// The `dh` scheduler.
#[derive(Debug, Default)]
pub struct Dh {
    /// The buckets; empty means every bucket is empty.
    buckets: Vec<DestId>,
}

impl Dh {
    /// `ip_vs_dh_reassign`: one bucket per dest, round robin in list order.
    fn reassign(&mut self, view: SchedView<'_>) {
        self.buckets.clear();
        if !view.is_empty() {
            self.buckets
                .extend((0..TAB_SIZE).map(|i| view.ids[i % view.len()]));
        }
    }

    /// `ip_vs_dh_hashkey`.
    fn hashkey(daddr_fold: u32) -> usize {
        hash_32(daddr_fold, TAB_BITS) as usize
    }
}

impl Scheduler for Dh {
    fn name(&self) -> &'static str {
        "dh"
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

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let id = *self.buckets.get(Self::hashkey(fold(&req.daddr)))?;
        let d = view.arena.get(id)?;
        (d.available && d.weight > 0 && !d.overload).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::*;
    use crate::addr::Protocol;
    use crate::sched::testutil::Fixture;
    use crate::time::Time;

    fn to(fx: &mut Fixture, daddr: IpAddr) -> Option<u8> {
        let req = SchedRequest {
            proto: Protocol::Tcp,
            saddr: IpAddr::from([10, 0, 0, 1]),
            sport: 4000,
            daddr,
            dport: 80,
            now: Time::ZERO,
        };
        fx.pick_req(&req)
    }

    #[test]
    fn buckets_round_robin_ignoring_weights() {
        let mut fx = Fixture::new("dh", 0);
        fx.add(1, 1);
        fx.add(2, 100);
        fx.add(3, 5);
        // List [3, 2, 1]; bucket b -> [3,2,1][b % 3], whatever the weights.
        let mut counts = [0usize; 4];
        for x in 0..=255u8 {
            let d = IpAddr::from([192, 0, 2, x]);
            let b = Dh::hashkey(fold(&d));
            let got = to(&mut fx, d).unwrap();
            assert_eq!(got, [3, 2, 1][b % 3], "daddr {d}");
            counts[got as usize] += 1;
        }
        assert!(
            counts[1] > 50 && counts[2] > 50 && counts[3] > 50,
            "{counts:?}"
        );
        // An edit of the weights changes nothing.
        fx.edit(2, 1);
        let d = IpAddr::from([192, 0, 2, 7]);
        assert_eq!(to(&mut fx, d), Some([3, 2, 1][Dh::hashkey(fold(&d)) % 3]));
    }

    #[test]
    fn unavailable_bucket_gives_none_without_fallback() {
        let mut fx = Fixture::new("dh", crate::sched::flags::SCHED1);
        fx.add(1, 1);
        fx.add(2, 1);
        // List [2, 1]: find a daddr in an odd bucket (dest 1).
        let d = (0..=255u8)
            .map(|x| IpAddr::from([192, 0, 2, x]))
            .find(|d| Dh::hashkey(fold(d)) % 2 == 1)
            .unwrap();
        assert_eq!(to(&mut fx, d), Some(1));
        fx.edit(1, 0);
        assert_eq!(to(&mut fx, d), None);
        fx.edit(1, 1);
        fx.dest_mut(1).overload = true;
        assert_eq!(to(&mut fx, d), None);
        fx.dest_mut(1).overload = false;
        fx.del(1);
        // Rebuilt without dest 1: every bucket is dest 2.
        assert_eq!(to(&mut fx, d), Some(2));
    }

    proptest! {
        #[test]
        fn never_returns_weight0_or_overloaded(
            dests in proptest::collection::vec((0i32..3, any::<bool>()), 1..8),
            daddrs in proptest::collection::vec(any::<u32>(), 1..40),
        ) {
            let mut fx = Fixture::new("dh", 0);
            for (i, (w, o)) in dests.iter().enumerate() {
                fx.add(i as u8 + 1, *w);
                fx.dest_mut(i as u8 + 1).overload = *o;
            }
            for a in daddrs {
                if let Some(n) = to(&mut fx, IpAddr::from(a.to_be_bytes())) {
                    let (w, o) = dests[n as usize - 1];
                    prop_assert!(w > 0 && !o);
                }
            }
        }
    }
}
