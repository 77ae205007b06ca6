//! The `fo` scheduler, weighted fail-over (kernel `ip_vs_fo.c`).
//!
//! Picks the non-OVERLOAD dest with the highest weight (which must be above 0). Strict
//! `>`: the first of the highest-weight dests in list order wins.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `fo` scheduler.
#[derive(Debug, Default)]
pub struct Fo {}

impl Scheduler for Fo {
    fn name(&self) -> &'static str {
        "fo"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        _req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let mut best = None;
        let mut hw = 0;
        for (id, d) in view.iter() {
            if !d.overload && d.weight > hw {
                best = Some(id);
                hw = d.weight;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::command::ServiceConfig;
    use crate::sched::testutil::Fixture;

    #[test]
    fn highest_weight_wins_regardless_of_load() {
        let mut f = Fixture::new("fo", 0);
        f.add(1, 5);
        f.add(2, 10);
        f.add(3, 1);
        f.set_conns(2, 1000, 1000);
        assert_eq!(f.picks(3), vec![Some(2); 3]);
    }

    #[test]
    fn ties_go_to_the_first_in_list_order() {
        let mut f = Fixture::new("fo", 0);
        f.add(1, 7);
        f.add(2, 7);
        // List 2, 1.
        assert_eq!(f.pick(), Some(2));
    }

    #[test]
    fn fails_over_on_overload_weight_zero_and_delete() {
        let mut f = Fixture::new("fo", 0);
        f.add(1, 1);
        f.add(2, 2);
        f.add(3, 3);
        assert_eq!(f.pick(), Some(3));
        f.dest_mut(3).overload = true;
        assert_eq!(f.pick(), Some(2));
        f.edit(2, 0);
        assert_eq!(f.pick(), Some(1));
        f.del(1);
        assert_eq!(f.pick(), None);
        f.dest_mut(3).overload = false;
        assert_eq!(f.pick(), Some(3));
    }

    #[test]
    fn switching_scheduler_by_edit_service() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 9);
        f.add(2, 1);
        assert_eq!(f.pick(), Some(2));
        let mut cfg = ServiceConfig::new(f.key);
        cfg.scheduler = "fo".into();
        f.table.edit_service(&cfg, &f.settings).unwrap();
        assert_eq!(f.picks(2), vec![Some(1), Some(1)]);
    }

    proptest! {
        /// fo returns the first non-OVERLOAD dest of the highest positive weight, and
        /// None only when nothing is eligible.
        #[test]
        fn matches_the_rule(
            dests in proptest::collection::vec((0i32..=4, any::<bool>()), 1..7),
        ) {
            let mut f = Fixture::new("fo", 0);
            for (i, &(w, ov)) in dests.iter().enumerate() {
                f.add(i as u8 + 1, w);
                f.dest_mut(i as u8 + 1).overload = ov;
            }
            let mut best: Option<(u8, i32)> = None;
            for (i, &(w, ov)) in dests.iter().enumerate().rev() {
                if w > 0 && !ov && best.is_none_or(|(_, bw)| w > bw) {
                    best = Some((i as u8 + 1, w));
                }
            }
            prop_assert_eq!(f.pick(), best.map(|b| b.0));
        }
    }
}
