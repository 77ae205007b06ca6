//! The `wlc` scheduler (kernel `ip_vs_wlc.c`).
//!
//! Minimises overhead / weight without division: the first eligible dest (not OVERLOAD,
//! weight > 0) is the initial candidate, then each later non-OVERLOAD dest replaces it
//! when `loh * w_dest > doh * w_least`. The overhead is the one of reference §2.1 and
//! depends on the compat mode. The comparison is strict, so the earliest dest in list
//! order wins ties, and a weight-0 dest can never win (its left side is 0).

use crate::dest::{Dest, DestId};
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};
use crate::settings::Compat;

/// The `wlc` scheduler.
#[derive(Debug, Default)]
pub struct Wlc {}

/// `overhead * weight` as the kernel's 64-bit product. Weights are 0..=65535 and the
/// overhead stays below 2^41 for any connection count a u32 can hold, so it cannot overflow.
#[inline]
pub(crate) fn weighted(overhead: u64, weight: i32) -> u64 {
    overhead.wrapping_mul(u64::from(weight.max(0).unsigned_abs()))
}

impl Scheduler for Wlc {
    fn name(&self) -> &'static str {
        "wlc"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        _req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        wlc_pick(&view)
    }
}

/// The wlc choice over a whole dest list (also the fallback rule of lblc and lblcr).
pub(crate) fn wlc_pick(view: &SchedView<'_>) -> Option<DestId> {
    // One loop per overhead formula, so the scan over many dests carries no mode test.
    match view.compat {
        Compat::Classic => wlc_scan(view, |d| Dest::overhead(d, Compat::Classic)),
        Compat::Modern => wlc_scan(view, |d| Dest::overhead(d, Compat::Modern)),
    }
}

/// The wlc rule with any overhead measure (wlc's, or sed's `active + 1`).
#[inline(always)]
pub(crate) fn wlc_scan(view: &SchedView<'_>, overhead: impl Fn(&Dest) -> u64) -> Option<DestId> {
    let mut it = view.iter();
    let (mut least, mut lw, mut loh) = loop {
        let (id, d) = it.next()?;
        if d.is_eligible() {
            break (id, d.weight, overhead(d));
        }
    };
    // Branch-free selection: with balanced dests the winner changes unpredictably along
    // the scan, and a mispredicted branch per change costs more than the selects.
    for (id, d) in it {
        let doh = overhead(d);
        let better = !d.overload & (weighted(loh, d.weight) > weighted(doh, lw));
        least = if better { id } else { least };
        lw = if better { d.weight } else { lw };
        loh = if better { doh } else { loh };
    }
    Some(least)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::command::ServiceConfig;
    use crate::sched::testutil::Fixture;
    use crate::settings::{Compat, Settings};

    fn fixture(compat: Compat) -> Fixture {
        Fixture::with_settings(
            "wlc",
            0,
            Settings {
                compat,
                ..Settings::default()
            },
        )
    }

    #[test]
    fn minimises_overhead_per_weight() {
        let mut f = fixture(Compat::Classic);
        f.add(1, 1);
        f.add(2, 4);
        // 1: 300/1 = 300; 2: 1000/4 = 250 -> 2.
        f.set_conns(1, 0, 300);
        f.set_conns(2, 0, 1000);
        assert_eq!(f.pick(), Some(2));
        f.set_conns(2, 0, 1204); // 301 per weight unit -> 1
        assert_eq!(f.pick(), Some(1));
    }

    #[test]
    fn ties_go_to_the_earliest() {
        let mut f = fixture(Compat::Classic);
        f.add(1, 2);
        f.add(2, 1);
        // List 2, 1. 2: 100/1, 1: 200/2 -> equal -> 2 (first).
        f.set_conns(2, 0, 100);
        f.set_conns(1, 0, 200);
        assert_eq!(f.pick(), Some(2));
        // All idle: first eligible.
        let mut g = fixture(Compat::Classic);
        g.add(1, 5);
        g.add(2, 1);
        assert_eq!(g.pick(), Some(2));
    }

    #[test]
    fn weight_zero_never_wins_even_idle() {
        let mut f = fixture(Compat::Classic);
        f.add(1, 1);
        f.add(2, 0);
        f.add(3, 0);
        f.set_conns(1, 50, 50);
        assert_eq!(f.picks(3), vec![Some(1); 3]);
        f.edit(1, 0);
        assert_eq!(f.pick(), None);
    }

    #[test]
    fn overloaded_skipped_and_all_overloaded_is_none() {
        let mut f = fixture(Compat::Classic);
        f.add(1, 1);
        f.add(2, 1);
        f.set_conns(1, 5, 0);
        f.dest_mut(2).overload = true;
        assert_eq!(f.pick(), Some(1));
        f.dest_mut(1).overload = true;
        assert_eq!(f.pick(), None);
    }

    #[test]
    fn classic_and_modern_overhead_pick_differently() {
        // List 2, 1, equal weights. Dest 2: 1 active; dest 1: 256 inactive.
        // Classic: 256 vs 256, a tie -> dest 2 (first); modern: 257 vs 256 -> dest 1.
        for (compat, want) in [(Compat::Classic, 2), (Compat::Modern, 1)] {
            let mut f = fixture(compat);
            f.add(1, 3);
            f.add(2, 3);
            f.set_conns(2, 1, 0);
            f.set_conns(1, 0, 256);
            assert_eq!(f.pick(), Some(want), "{compat:?}");
        }
    }

    #[test]
    fn switching_scheduler_by_edit_service() {
        let mut f = Fixture::new("rr", 0);
        f.add(1, 1);
        f.add(2, 1);
        f.set_conns(2, 3, 0);
        let mut cfg = ServiceConfig::new(f.key);
        cfg.scheduler = "wlc".into();
        f.table.edit_service(&cfg, &f.settings).unwrap();
        assert_eq!(f.picks(2), vec![Some(1), Some(1)]);
    }

    proptest! {
        /// wlc returns the first eligible dest minimising overhead/weight (exact rational
        /// comparison), and None only when nothing is eligible.
        #[test]
        fn matches_the_rule(
            dests in proptest::collection::vec(
                (0i32..=4, any::<bool>(), 0u32..4, 0u32..600), 1..7),
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
            let mut best: Option<(u8, u64, u64)> = None;
            for (i, &(w, ov, a, ina)) in dests.iter().enumerate().rev() {
                if w == 0 || ov {
                    continue;
                }
                let oh = match compat {
                    Compat::Classic => u64::from(a) * 256 + u64::from(ina),
                    Compat::Modern => u64::from(a) * 257 + u64::from(ina),
                };
                let w = w as u64;
                // oh/w < boh/bw  <=>  oh*bw < boh*w
                if best.is_none_or(|(_, boh, bw)| oh * bw < boh * w) {
                    best = Some((i as u8 + 1, oh, w));
                }
            }
            prop_assert_eq!(f.pick(), best.map(|(n, _, _)| n));
        }
    }
}
