//! The `sed` scheduler, shortest expected delay (kernel `ip_vs_sed.c`).
//!
//! As `wlc` but with overhead `activeconns + 1` (inactive conns ignored): the first
//! eligible dest (not OVERLOAD, weight > 0) is the initial candidate, then each later
//! non-OVERLOAD dest replaces it when `loh * w_dest > doh * w_least`. Strict comparison:
//! the earliest dest wins ties; weight-0 dests never win.

use crate::dest::{Dest, DestId};
use crate::rng::Rng;
use crate::sched::wlc::wlc_scan;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `sed` scheduler.
#[derive(Debug, Default)]
pub struct Sed {}

/// The expected-delay overhead of sed and nq: active conns plus one.
pub(crate) fn sed_overhead(d: &Dest) -> u64 {
    u64::from(d.activeconns) + 1
}

impl Scheduler for Sed {
    fn name(&self) -> &'static str {
        "sed"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        _req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        // The wlc rule with sed's overhead.
        wlc_scan(&view, sed_overhead)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::sched::testutil::Fixture;

    #[test]
    fn uses_active_plus_one_over_weight() {
        let mut f = Fixture::new("sed", 0);
        f.add(1, 1);
        f.add(2, 3);
        // List 2, 1. Idle: 2 -> 1/3, 1 -> 1/1: 2.
        assert_eq!(f.pick(), Some(2));
        // 2: (2+1)/3 = 1, 1: 1/1 = 1: tie -> 2 (first).
        f.set_conns(2, 2, 0);
        assert_eq!(f.pick(), Some(2));
        // 2: 4/3 > 1: 1.
        f.set_conns(2, 3, 0);
        assert_eq!(f.pick(), Some(1));
    }

    #[test]
    fn inactive_conns_are_ignored() {
        let mut f = Fixture::new("sed", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.set_conns(2, 0, 10_000);
        f.set_conns(1, 1, 0);
        assert_eq!(f.pick(), Some(2));
    }

    #[test]
    fn weight_zero_and_overload() {
        let mut f = Fixture::new("sed", 0);
        f.add(1, 1);
        f.add(2, 0);
        f.set_conns(1, 100, 0);
        assert_eq!(f.pick(), Some(1));
        f.dest_mut(1).overload = true;
        assert_eq!(f.pick(), None);
    }

    proptest! {
        /// sed returns the first eligible dest minimising (active+1)/weight.
        #[test]
        fn matches_the_rule(
            dests in proptest::collection::vec(
                (0i32..=4, any::<bool>(), 0u32..6, 0u32..6), 1..7),
        ) {
            let mut f = Fixture::new("sed", 0);
            for (i, &(w, ov, a, ina)) in dests.iter().enumerate() {
                let n = i as u8 + 1;
                f.add(n, w);
                f.dest_mut(n).overload = ov;
                f.set_conns(n, a, ina);
            }
            let mut best: Option<(u8, u64, u64)> = None;
            for (i, &(w, ov, a, _)) in dests.iter().enumerate().rev() {
                if w == 0 || ov {
                    continue;
                }
                let (oh, w) = (u64::from(a) + 1, w as u64);
                if best.is_none_or(|(_, boh, bw)| oh * bw < boh * w) {
                    best = Some((i as u8 + 1, oh, w));
                }
            }
            prop_assert_eq!(f.pick(), best.map(|(n, _, _)| n));
        }
    }
}
