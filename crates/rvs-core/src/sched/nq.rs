//! The `nq` scheduler, never queue (kernel `ip_vs_nq.c`).
//!
//! Scans the eligible dests (not OVERLOAD, weight != 0) in list order; the first one with
//! no active connection is returned at once. Otherwise the sed rule applies: minimise
//! `(activeconns + 1) / weight`, strict comparison, earliest wins ties.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::sed::sed_overhead;
use crate::sched::wlc::weighted;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `nq` scheduler.
#[derive(Debug, Default)]
pub struct Nq {}

impl Scheduler for Nq {
    fn name(&self) -> &'static str {
        "nq"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        _req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let mut least: Option<(DestId, i32, u64)> = None;
        for (id, d) in view.iter() {
            if d.overload || d.weight == 0 {
                continue;
            }
            if d.activeconns == 0 {
                return Some(id);
            }
            let doh = sed_overhead(d);
            if least.is_none_or(|(_, lw, loh)| weighted(loh, d.weight) > weighted(doh, lw)) {
                least = Some((id, d.weight, doh));
            }
        }
        least.map(|(id, _, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::sched::testutil::Fixture;

    #[test]
    fn idle_dest_wins_immediately() {
        let mut f = Fixture::new("nq", 0);
        f.add(1, 1);
        f.add(2, 100);
        f.add(3, 1);
        // List 3, 2, 1. 3 busy, 2 busy (but very light per weight), 1 idle -> 1.
        f.set_conns(3, 1, 0);
        f.set_conns(2, 1, 50);
        assert_eq!(f.pick(), Some(1));
        // Inactive conns do not make a dest busy.
        f.set_conns(3, 0, 99);
        assert_eq!(f.pick(), Some(3));
    }

    #[test]
    fn otherwise_shortest_expected_delay() {
        let mut f = Fixture::new("nq", 0);
        f.add(1, 1);
        f.add(2, 3);
        f.set_conns(1, 1, 0); // 2/1
        f.set_conns(2, 5, 0); // 6/3 = 2: tie -> 2 (first)
        assert_eq!(f.pick(), Some(2));
        f.set_conns(2, 6, 0); // 7/3 > 2 -> 1
        assert_eq!(f.pick(), Some(1));
    }

    #[test]
    fn weight_zero_idle_dest_is_not_taken() {
        let mut f = Fixture::new("nq", 0);
        f.add(1, 1);
        f.add(2, 0);
        f.set_conns(1, 7, 0);
        assert_eq!(f.pick(), Some(1));
        f.dest_mut(1).overload = true;
        assert_eq!(f.pick(), None);
    }

    proptest! {
        /// nq: the first idle eligible dest if any, else the sed minimum; never an
        /// ineligible dest; None only when nothing is eligible.
        #[test]
        fn matches_the_rule(
            dests in proptest::collection::vec(
                (0i32..=4, any::<bool>(), 0u32..4, 0u32..4), 1..7),
        ) {
            let mut f = Fixture::new("nq", 0);
            for (i, &(w, ov, a, ina)) in dests.iter().enumerate() {
                let n = i as u8 + 1;
                f.add(n, w);
                f.dest_mut(n).overload = ov;
                f.set_conns(n, a, ina);
            }
            let eligible: Vec<(u8, u64, u64)> = dests
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, d)| d.0 > 0 && !d.1)
                .map(|(i, &(w, _, a, _))| (i as u8 + 1, u64::from(a) + 1, w as u64))
                .collect();
            let want = match eligible.iter().find(|e| e.1 == 1) {
                Some(e) => Some(e.0),
                None => eligible
                    .iter()
                    .fold(None::<(u8, u64, u64)>, |best, &e| match best {
                        Some(b) if e.1 * b.2 >= b.1 * e.2 => Some(b),
                        _ => Some(e),
                    })
                    .map(|b| b.0),
            };
            prop_assert_eq!(f.pick(), want);
        }
    }
}
