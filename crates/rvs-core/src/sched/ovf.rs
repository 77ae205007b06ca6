//! The `ovf` scheduler, overflow-connection (kernel `ip_vs_ovf.c`).
//!
//! Among dests that are not OVERLOAD, have weight > 0 and no more active connections than
//! their weight, picks the one with the highest weight; the first wins ties. Only active
//! connections count (UDP conns are never active, so UDP never overflows).

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `ovf` scheduler.
#[derive(Debug, Default)]
pub struct Ovf {}

impl Scheduler for Ovf {
    fn name(&self) -> &'static str {
        "ovf"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        _req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let mut best: Option<(DestId, i32)> = None;
        for (id, d) in view.iter() {
            let w = d.weight;
            // Weights are 0..=65535, so a negative weight (never seen) is skipped too.
            let over = u32::try_from(w).map_or(true, |w| d.activeconns > w);
            if d.overload || over || w == 0 {
                continue;
            }
            if best.is_none_or(|(_, hw)| w > hw) {
                best = Some((id, w));
            }
        }
        best.map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::sched::testutil::Fixture;

    #[test]
    fn fills_the_heaviest_then_overflows() {
        let mut f = Fixture::new("ovf", 0);
        f.add(1, 1);
        f.add(2, 3);
        // List 2, 1. 2 takes connections while active <= 3.
        for active in 0..=3 {
            f.set_conns(2, active, 0);
            assert_eq!(f.pick(), Some(2), "active {active}");
        }
        f.set_conns(2, 4, 0);
        assert_eq!(f.pick(), Some(1));
        f.set_conns(1, 1, 0);
        assert_eq!(f.pick(), Some(1));
        f.set_conns(1, 2, 0);
        assert_eq!(f.pick(), None);
    }

    #[test]
    fn inactive_conns_do_not_count() {
        let mut f = Fixture::new("ovf", 0);
        f.add(1, 1);
        f.set_conns(1, 0, 500);
        assert_eq!(f.pick(), Some(1));
    }

    #[test]
    fn ties_overload_and_weight_zero() {
        let mut f = Fixture::new("ovf", 0);
        f.add(1, 2);
        f.add(2, 2);
        f.add(3, 0);
        // List 3, 2, 1.
        assert_eq!(f.pick(), Some(2));
        f.dest_mut(2).overload = true;
        assert_eq!(f.pick(), Some(1));
        f.dest_mut(1).overload = true;
        assert_eq!(f.pick(), None);
    }

    proptest! {
        /// ovf returns the first of the highest-weight dests among those eligible with
        /// active <= weight, never anything else.
        #[test]
        fn matches_the_rule(
            dests in proptest::collection::vec((0i32..=4, any::<bool>(), 0u32..6), 1..7),
        ) {
            let mut f = Fixture::new("ovf", 0);
            for (i, &(w, ov, a)) in dests.iter().enumerate() {
                let n = i as u8 + 1;
                f.add(n, w);
                f.dest_mut(n).overload = ov;
                f.set_conns(n, a, 0);
            }
            let mut best: Option<(u8, i32)> = None;
            for (i, &(w, ov, a)) in dests.iter().enumerate().rev() {
                let ok = w > 0 && !ov && a as i32 <= w;
                if ok && best.is_none_or(|(_, bw)| w > bw) {
                    best = Some((i as u8 + 1, w));
                }
            }
            prop_assert_eq!(f.pick(), best.map(|b| b.0));
        }
    }
}
