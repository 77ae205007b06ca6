//! The `wrr` scheduler (kernel `ip_vs_wrr.c`).
//!
//! State (the kernel's `ip_vs_wrr_mark`): a cursor (`cl`, the list head or the dest
//! chosen last), the current weight `cw`, the maximum weight `mw` and the decreasing
//! interval `di` (gcd of the positive weights). A pick walks forward from the cursor and
//! takes the first dest that is not OVERLOAD with `weight >= cw`; each time the walk
//! passes the end of the list `cw` drops by `di`, and when it reaches zero it restarts at
//! `mw`. The walk gives up once every dest was checked at the lowest level.
//!
//! `init` (service creation, or `-E` switching to wrr) sets `cw = mw`. Every add, delete
//! and edit runs the kernel's `dest_changed`: cursor back to the head, `di`/`mw`
//! recomputed, then `cw = mw` when `cw > mw` or `cw == 0`, else `cw` rounded to
//! `(cw / di) * di + 1` when `di > 1`.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `wrr` scheduler.
#[derive(Debug, Default)]
pub struct Wrr {
    /// List position of the dest chosen last; `None` = the list head.
    cursor: Option<usize>,
    /// Current weight.
    cw: i32,
    /// Maximum weight minus `di - 1`.
    mw: i32,
    /// Decreasing interval: gcd of the positive weights (1 when there are none).
    di: i32,
}

fn gcd(mut a: i32, mut b: i32) -> i32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// gcd of the positive weights, 1 if there are none (`ip_vs_wrr_gcd_weight`).
fn gcd_weight(view: &SchedView<'_>) -> i32 {
    let g = view
        .iter()
        .map(|(_, d)| d.weight)
        .filter(|&w| w > 0)
        .fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
    if g > 0 { g } else { 1 }
}

/// The largest weight, 0 if none is positive (`ip_vs_wrr_max_weight`).
fn max_weight(view: &SchedView<'_>) -> i32 {
    view.iter().map(|(_, d)| d.weight).fold(0, i32::max)
}

impl Wrr {
    /// Recompute `di` and `mw` from the current list and reset the cursor to the head.
    fn recompute(&mut self, view: &SchedView<'_>) {
        self.cursor = None;
        self.di = gcd_weight(view);
        self.mw = max_weight(view) - (self.di - 1);
    }

    /// The kernel's `ip_vs_wrr_dest_changed`, run on every add, delete and edit.
    fn dest_changed(&mut self, view: &SchedView<'_>) {
        self.recompute(view);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }
}

impl Scheduler for Wrr {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn init(&mut self, view: SchedView<'_>) {
        self.recompute(&view);
        self.cw = self.mw;
    }

    fn add_dest(&mut self, view: SchedView<'_>, _pos: usize) {
        self.dest_changed(&view);
    }

    fn del_dest(&mut self, view: SchedView<'_>, _pos: usize, _removed: DestId) {
        self.dest_changed(&view);
    }

    fn upd_dest(&mut self, view: SchedView<'_>, _pos: usize) {
        self.dest_changed(&view);
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        _req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        if self.mw == 0 {
            // "no destination available"
            return None;
        }
        let n = view.len();
        let last = self.cursor.filter(|&c| c < n);
        // `stop` is set to `last` for the final pass that covers the dests up to it.
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        // Position the walk continues after (`None` = the head).
        let mut pos = last;
        loop {
            let from = pos.map_or(0, |p| p + 1);
            for i in from..n {
                let (id, d) = view.at(i);
                if !d.overload && d.weight >= self.cw {
                    self.cursor = Some(i);
                    return Some(id);
                }
                if stop == Some(i) {
                    // "all destinations are overloaded"; the cursor stays on `last`.
                    self.cursor = Some(i);
                    return None;
                }
            }
            // Passed the end of the list: back at the head.
            pos = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cursor = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::gcd;
    use crate::command::ServiceConfig;
    use crate::sched::testutil::Fixture;

    fn seq(s: &str) -> Vec<Option<u8>> {
        s.bytes()
            .map(|c| {
                Some(match c {
                    b'A' => 1,
                    b'B' => 2,
                    b'C' => 3,
                    b'D' => 4,
                    _ => panic!("bad letter"),
                })
            })
            .collect()
    }

    /// A (1) = 4, B (2) = 3, C (3) = 2 added as C, B, A: list order A, B, C.
    fn abc() -> Fixture {
        let mut f = Fixture::new("wrr", 0);
        f.add(3, 2);
        f.add(2, 3);
        f.add(1, 4);
        f
    }

    fn switch_to(f: &mut Fixture, sched: &str) {
        let mut cfg = ServiceConfig::new(f.key);
        cfg.scheduler = sched.into();
        f.table.edit_service(&cfg, &f.settings).unwrap();
    }

    #[test]
    fn init_with_current_dests_gives_the_classic_cycle() {
        let mut f = Fixture::new("rr", 0);
        f.add(3, 2);
        f.add(2, 3);
        f.add(1, 4);
        switch_to(&mut f, "wrr");
        assert_eq!(f.picks(18), seq("AABABCABCAABABCABC"));
    }

    #[test]
    fn built_by_adds_starts_with_one_round_at_weight_one() {
        let mut f = abc();
        assert_eq!(f.picks(3 + 18), seq("ABCAABABCABCAABABCABC"));
    }

    #[test]
    fn edit_service_with_same_scheduler_keeps_state() {
        let mut f = abc();
        assert_eq!(f.picks(4), seq("ABCA"));
        switch_to(&mut f, "wrr");
        assert_eq!(f.picks(5), seq("ABABC"));
    }

    #[test]
    fn noop_edit_resets_the_cursor_but_keeps_cw() {
        let mut f = Fixture::new("wlc", 0);
        f.add(3, 2);
        f.add(2, 3);
        f.add(1, 4);
        switch_to(&mut f, "wrr");
        // A A B (cw 3, cursor on B).
        assert_eq!(f.picks(3), seq("AAB"));
        f.edit(3, 2); // no change, but the hook runs: cursor back to the head, cw 3 kept
        assert_eq!(f.picks(4), seq("ABAB"));
    }

    #[test]
    fn edit_lowering_max_weight_clamps_cw() {
        let mut f = Fixture::new("wlc", 0);
        f.add(3, 2);
        f.add(2, 3);
        f.add(1, 4);
        switch_to(&mut f, "wrr");
        assert_eq!(f.picks(1), seq("A")); // cw 4
        f.edit(1, 1); // weights A1 B3 C2: mw 3 < cw 4 -> cw = 3
        // cw 3: B; cw 2: B C; cw 1: A B C; cw 3: B ...
        assert_eq!(f.picks(7), seq("BBCABCB"));
    }

    #[test]
    fn gcd_greater_than_one() {
        // Weights 4, 2 (gcd 2): mw = 4 - 1 = 3; cw steps 3, 1.
        let mut f = Fixture::new("rr", 0);
        f.add(2, 2);
        f.add(1, 4);
        switch_to(&mut f, "wrr");
        assert_eq!(f.picks(9), seq("AABAABAAB"));
    }

    #[test]
    fn first_add_with_gcd_sets_cw_to_one() {
        // C(2) alone: di 2, mw 1, cw 1.
        let mut f = Fixture::new("wrr", 0);
        f.add(3, 2);
        assert_eq!(f.picks(3), seq("CCC"));
        // Add A(4): di 2, mw 3; cw 1 kept and rounded to (1/2)*2+1 = 1.
        f.add(1, 4);
        // cw 1: A C; wrap to cw 3: A; cw 1: A C; ...
        assert_eq!(f.picks(7), seq("ACAACAA"));
    }

    #[test]
    fn kept_cw_is_rounded_when_di_grows() {
        // Start with A4 B3 C2 via init: cw 4. Pick A (cw 4), then A (cw 3)...
        let mut f = Fixture::new("rr", 0);
        f.add(3, 2);
        f.add(2, 3);
        f.add(1, 4);
        switch_to(&mut f, "wrr");
        assert_eq!(f.picks(2), seq("AA")); // cw now 3
        // B -> 6: weights 4, 6, 2: di 2, mw 5; cw 3 kept -> (3/2)*2+1 = 3.
        f.edit(2, 6);
        // cw 3: A B; cw 1: A B C; cw 5: B; cw 3: A B; ...
        assert_eq!(f.picks(8), seq("ABABCBAB"));
    }

    #[test]
    fn weight_zero_never_chosen_and_all_zero_is_none() {
        let mut f = Fixture::new("wrr", 0);
        f.add(1, 0);
        assert_eq!(f.pick(), None);
        f.add(2, 2);
        f.add(3, 0);
        assert_eq!(f.picks(5), vec![Some(2); 5]);
        f.edit(2, 0);
        assert_eq!(f.pick(), None);
    }

    #[test]
    fn all_overloaded_gives_none_and_recovers() {
        let mut f = abc();
        assert_eq!(f.picks(2), seq("AB"));
        for n in 1..=3 {
            f.dest_mut(n).overload = true;
        }
        assert_eq!(f.pick(), None);
        assert_eq!(f.pick(), None);
        f.dest_mut(3).overload = false;
        assert_eq!(f.picks(3), seq("CCC"));
    }

    #[test]
    fn overloaded_dest_is_skipped() {
        let mut f = Fixture::new("rr", 0);
        f.add(3, 2);
        f.add(2, 3);
        f.add(1, 4);
        switch_to(&mut f, "wrr");
        f.dest_mut(1).overload = true;
        // cw 4: nothing; cw 3: B; cw 2: B C; cw 1: B C; cw 4: nothing; cw 3: B...
        assert_eq!(f.picks(6), seq("BBCBCB"));
    }

    #[test]
    fn delete_resets_cursor_and_recomputes() {
        let mut f = abc();
        assert_eq!(f.picks(5), seq("ABCAA")); // cw 4 then 3
        f.del(1);
        // B3 C2: mw 3, cw 3 kept; cursor at head: B; cw 2: B C; cw 1: B C; cw 3: B
        assert_eq!(f.picks(6), seq("BBCBCB"));
    }

    #[test]
    fn gcd_works() {
        assert_eq!(gcd(4, 6), 2);
        assert_eq!(gcd(7, 3), 1);
        assert_eq!(gcd(5, 0), 5);
    }

    fn count_picks(f: &mut Fixture, n: usize, ids: &[u8]) -> Vec<usize> {
        let picks = f.picks(n);
        ids.iter()
            .map(|&id| picks.iter().filter(|&&p| p == Some(id)).count())
            .collect()
    }

    proptest! {
        /// Over a full kernel cycle (cw walks mw, mw-di, ..., down to <= di, one pick per
        /// (dest, level) with weight >= level), each dest gets exactly weight/di picks.
        #[test]
        fn full_cycle_gives_each_dest_its_weight_share(
            weights in proptest::collection::vec(0i32..=12, 1..6),
            via_init in any::<bool>(),
            skip in 0usize..64,
        ) {
            let mut f = Fixture::new(if via_init { "rr" } else { "wrr" }, 0);
            let ids: Vec<u8> = (1..=weights.len() as u8).collect();
            for (&id, &w) in ids.iter().zip(&weights) {
                f.add(id, w);
            }
            if via_init {
                switch_to(&mut f, "wrr");
            }
            let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
            let total: i32 = weights.iter().sum();
            if total == 0 {
                prop_assert_eq!(f.pick(), None);
                return Ok(());
            }
            // The pick sequence is periodic from the first pick on (every round starts
            // at the head at a level cw = 1 mod di), so any window of whole cycles has
            // the exact shares, whatever prefix was consumed first.
            let cycle = (total / g) as usize;
            let _ = f.picks(skip % cycle);
            let counts = count_picks(&mut f, 3 * cycle, &ids);
            for (c, &w) in counts.iter().zip(&weights) {
                prop_assert_eq!(*c as i32, 3 * w / g);
            }
        }

        /// wrr never returns a weight-0 or OVERLOAD dest, and returns Some when some
        /// dest is eligible.
        #[test]
        fn never_ineligible_and_some_when_eligible(
            dests in proptest::collection::vec((0i32..=5, any::<bool>()), 1..6),
            ops in proptest::collection::vec((0usize..6, 0i32..=5, any::<bool>()), 0..20),
        ) {
            let mut f = Fixture::new("wrr", 0);
            for (i, &(w, ov)) in dests.iter().enumerate() {
                f.add(i as u8 + 1, w);
                f.dest_mut(i as u8 + 1).overload = ov;
            }
            let n = dests.len();
            for (idx, w, ov) in ops {
                let id = (idx % n) as u8 + 1;
                if ov {
                    let o = f.dest_mut(id).overload;
                    f.dest_mut(id).overload = !o;
                } else {
                    f.edit(id, w);
                }
                let any_eligible = (1..=n as u8).any(|d| {
                    let d = f.dest_mut(d);
                    d.is_eligible()
                });
                for _ in 0..3 {
                    match f.pick() {
                        Some(p) => {
                            let d = f.dest_mut(p);
                            prop_assert!(d.is_eligible());
                        }
                        None => prop_assert!(!any_eligible),
                    }
                }
            }
        }
    }
}
