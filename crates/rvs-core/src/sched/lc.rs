//! The `lc` scheduler (kernel `ip_vs_lc.c`).
//!
//! Picks the dest with the smallest connection overhead (reference §2.1; the formula
//! depends on the compat mode) among dests that are not OVERLOAD and have a non-zero
//! weight. Weights are otherwise ignored. Strict `<`: the first minimum in list order wins.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `lc` scheduler.
#[derive(Debug, Default)]
pub struct Lc {}

impl Scheduler for Lc {
    fn name(&self) -> &'static str {
        "lc"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        _req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let mut least: Option<(DestId, u64)> = None;
        for (id, d) in view.iter() {
            if d.overload || d.weight == 0 {
                continue;
            }
            let doh = view.overhead(d);
            if least.is_none_or(|(_, loh)| doh < loh) {
                least = Some((id, doh));
            }
        }
        least.map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::command::ServiceConfig;
    use crate::sched::testutil::Fixture;
    use crate::settings::{Compat, Settings};

    fn fixture(compat: Compat) -> Fixture {
        Fixture::with_settings(
            "lc",
            0,
            Settings {
                compat,
                ..Settings::default()
            },
        )
    }

    #[test]
    fn picks_least_overhead_and_ignores_weights() {
        let mut f = fixture(Compat::Classic);
        f.add(1, 1);
        f.add(2, 100);
        f.add(3, 5);
        f.set_conns(1, 0, 5);
        f.set_conns(2, 0, 6);
        f.set_conns(3, 1, 0);
        assert_eq!(f.pick(), Some(1));
    }

    #[test]
    fn ties_go_to_the_first_in_list_order() {
        let mut f = fixture(Compat::Classic);
        f.add(1, 1);
        f.add(2, 1);
        f.add(3, 1);
        // List 3, 2, 1, all idle.
        assert_eq!(f.pick(), Some(3));
        f.set_conns(3, 0, 1);
        assert_eq!(f.pick(), Some(2));
    }

    #[test]
    fn weight_zero_and_overloaded_are_skipped() {
        let mut f = fixture(Compat::Classic);
        f.add(1, 1);
        f.add(2, 0);
        f.add(3, 1);
        f.set_conns(1, 10, 0);
        f.dest_mut(3).overload = true;
        assert_eq!(f.pick(), Some(1));
        f.dest_mut(1).overload = true;
        assert_eq!(f.pick(), None);
        f.edit(2, 3);
        assert_eq!(f.pick(), Some(2));
    }

    #[test]
    fn classic_and_modern_overhead_pick_differently() {
        // List 2, 1. Dest 1: 2 active; dest 2: 513 inactive.
        // Classic: 1 -> 2*256 = 512, 2 -> 513: dest 1.
        // Modern:  1 -> 2*257 = 514, 2 -> 513: dest 2.
        for (compat, want) in [(Compat::Classic, 1), (Compat::Modern, 2)] {
            let mut f = fixture(compat);
            f.add(1, 1);
            f.add(2, 1);
            f.set_conns(1, 2, 0);
            f.set_conns(2, 0, 513);
            assert_eq!(f.pick(), Some(want), "{compat:?}");
        }
    }

    #[test]
    fn switching_scheduler_by_edit_service() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.set_conns(2, 3, 0);
        assert_eq!(f.pick(), Some(2));
        let mut cfg = ServiceConfig::new(f.key);
        cfg.scheduler = "lc".into();
        f.table.edit_service(&cfg, &f.settings).unwrap();
        assert_eq!(f.picks(2), vec![Some(1), Some(1)]);
    }

    proptest! {
        /// lc returns an eligible dest (weight != 0, not OVERLOAD) of minimal overhead,
        /// the first such in list order, and None only when nothing is eligible.
        #[test]
        fn matches_the_rule(
            dests in proptest::collection::vec(
                (0i32..=3, any::<bool>(), 0u32..4, 0u32..600), 1..7),
            modern in any::<bool>(),
        ) {
            let compat = if modern { Compat::Modern } else { Compat::Classic };
            let mut f = fixture(compat);
            for (i, &(w, ov, a, ina)) in dests.iter().enumerate() {
                let n = i as u8 + 1;
                f.add(n, w);
                f.dest_mut(n).overload = ov;
                f.set_conns(n, a, ina);
            }
            // List order is newest first.
            let mut best: Option<(u8, u64)> = None;
            for (i, &(w, ov, a, ina)) in dests.iter().enumerate().rev() {
                if w == 0 || ov {
                    continue;
                }
                let oh = match compat {
                    Compat::Classic => u64::from(a) * 256 + u64::from(ina),
                    Compat::Modern => u64::from(a) * 257 + u64::from(ina),
                };
                if best.is_none_or(|(_, b)| oh < b) {
                    best = Some((i as u8 + 1, oh));
                }
            }
            prop_assert_eq!(f.pick(), best.map(|(n, _)| n));
        }
    }
}
