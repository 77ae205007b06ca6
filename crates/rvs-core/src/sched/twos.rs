//! The `twos` scheduler, power of two choices (kernel `ip_vs_twos.c`).
//!
//! `T` = the sum of the weights of the eligible dests (not OVERLOAD, weight > 0). Two
//! numbers are drawn from the injected generator, `r1` then `r2`, each uniform in
//! `0..=T` (`below(T + 1)`). Walking the eligible dests in list order and subtracting each
//! weight from both, choice k is the first dest after whose subtraction `r_k <= 0`.
//! The second choice wins when `w2 * oh1 > w1 * oh2` with the kernel's plain 32-bit int
//! products (wrapping); otherwise the first. `oh` is the overhead of reference §2.1.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `twos` scheduler.
#[derive(Debug, Default)]
pub struct Twos {}

/// One of the two weighted random choices: dest, weight and overhead (kernel `int`s).
#[derive(Clone, Copy)]
struct Choice {
    id: DestId,
    weight: i32,
    overhead: i32,
}

impl Scheduler for Twos {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        _req: &SchedRequest,
        rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let mut total: i32 = 0;
        let mut any = false;
        for (_, d) in view.iter() {
            if d.is_eligible() {
                total = total.wrapping_add(d.weight);
                any = true;
            }
        }
        if !any {
            return None;
        }
        // The kernel passes `int total + 1` to get_random_u32_below(); the bound is
        // never 0 for real weights (at most 65535 each), guard anyway.
        let bound = (total.wrapping_add(1) as u32).max(1);
        let mut r1 = rng.below(bound) as i32;
        let mut r2 = rng.below(bound) as i32;
        let mut c1: Option<Choice> = None;
        let mut c2: Option<Choice> = None;
        for (id, d) in view.iter() {
            if !d.is_eligible() {
                continue;
            }
            r1 = r1.wrapping_sub(d.weight);
            r2 = r2.wrapping_sub(d.weight);
            let here = Choice {
                id,
                weight: d.weight,
                // The kernel's overhead is an `int` built from `int` counters.
                overhead: view.overhead(d) as i32,
            };
            if r1 <= 0 && c1.is_none() {
                c1 = Some(here);
            }
            if r2 <= 0 && c2.is_none() {
                c2 = Some(here);
            }
            if c1.is_some() && c2.is_some() {
                break;
            }
        }
        // Both draws are <= T, so the walk always sets both choices; the kernel would
        // otherwise keep the last eligible dest as choice 1.
        let (Some(a), Some(b)) = (c1, c2) else {
            return view
                .iter()
                .filter(|(_, d)| d.is_eligible())
                .last()
                .map(|(id, _)| id);
        };
        if b.weight.wrapping_mul(a.overhead) > a.weight.wrapping_mul(b.overhead) {
            Some(b.id)
        } else {
            Some(a.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use crate::rng::Rng;
    use crate::sched::testutil::Fixture;
    use crate::settings::{Compat, Settings};

    /// A generator that returns scripted values and records the bounds it was asked for.
    #[derive(Default)]
    struct Script {
        values: VecDeque<u32>,
        bounds: Vec<u32>,
    }

    impl Rng for Script {
        fn below(&mut self, n: u32) -> u32 {
            self.bounds.push(n);
            let v = self.values.pop_front().expect("scripted value");
            assert!(v < n, "scripted {v} out of range {n}");
            v
        }
    }

    /// Schedule with scripted draws; returns the chosen octet and the bounds asked.
    fn pick_with(f: &mut Fixture, draws: &[u32]) -> (Option<u8>, Vec<u32>) {
        let mut rng = Script {
            values: draws.iter().copied().collect(),
            bounds: Vec::new(),
        };
        let svc = f.table.service(f.sid).unwrap();
        let view = f.table.view(svc, &f.settings);
        let req = crate::sched::SchedRequest {
            proto: crate::addr::Protocol::Tcp,
            saddr: std::net::IpAddr::from([198, 18, 2, 1]),
            sport: 40000,
            daddr: std::net::IpAddr::from([198, 18, 0, 100]),
            dport: 80,
            now: f.now,
        };
        let mut s = super::Twos::default();
        let got = crate::sched::Scheduler::schedule(&mut s, view, &req, &mut rng);
        let octet = got.map(|id| match f.table.dest(id).unwrap().addr {
            std::net::IpAddr::V4(a) => a.octets()[3],
            std::net::IpAddr::V6(a) => a.octets()[15],
        });
        (octet, rng.bounds)
    }

    /// List order 3 (w 2), 2 (w 3), 1 (w 5): T = 10.
    fn three(compat: Compat) -> Fixture {
        let mut f = Fixture::with_settings(
            "twos",
            0,
            Settings {
                compat,
                ..Settings::default()
            },
        );
        f.add(1, 5);
        f.add(2, 3);
        f.add(3, 2);
        f
    }

    #[test]
    fn draws_twice_below_total_plus_one() {
        let mut f = three(Compat::Classic);
        let (_, bounds) = pick_with(&mut f, &[0, 0]);
        assert_eq!(bounds, vec![11, 11]);
    }

    #[test]
    fn draw_to_dest_mapping() {
        let mut f = three(Compat::Classic);
        // All idle: overheads 0, so choice 1 always wins; map draws to dests.
        // 3 takes 0..=2 (w+1 values), 2 takes 3..=5, 1 takes 6..=10.
        for (r, want) in [(0, 3), (2, 3), (3, 2), (5, 2), (6, 1), (10, 1)] {
            assert_eq!(pick_with(&mut f, &[r, 0]).0, Some(want), "r1 = {r}");
        }
    }

    #[test]
    fn second_choice_wins_only_when_strictly_less_loaded_per_weight() {
        let mut f = three(Compat::Classic);
        // c1 = 3 (w 2), c2 = 1 (w 5).
        f.set_conns(3, 0, 10); // oh1 = 10
        f.set_conns(1, 0, 25); // oh2 = 25: 5*10 = 50 > 2*25 = 50? no -> c1
        assert_eq!(pick_with(&mut f, &[0, 10]).0, Some(3));
        f.set_conns(1, 0, 24); // 50 > 48 -> c2
        assert_eq!(pick_with(&mut f, &[0, 10]).0, Some(1));
    }

    #[test]
    fn skips_ineligible_dests_in_total_and_walk() {
        let mut f = three(Compat::Classic);
        f.dest_mut(2).overload = true;
        f.add(4, 0);
        // Eligible in list order: 3 (w 2), 1 (w 5): T = 7.
        let (got, bounds) = pick_with(&mut f, &[3, 3]);
        assert_eq!(bounds, vec![8, 8]);
        assert_eq!(got, Some(1));
        f.dest_mut(1).overload = true;
        f.dest_mut(3).overload = true;
        assert_eq!(pick_with(&mut f, &[]), (None, vec![]));
    }

    #[test]
    fn classic_and_modern_overhead_differ() {
        // c1 = 3 (w 2, 1 active), c2 = 2 (w 3, 0 active + 385 inactive).
        // Classic: oh1 = 256, oh2 = 385: 3*256 = 768 > 2*385 = 770? no -> 3.
        // Modern:  oh1 = 257, oh2 = 385: 771 > 770 -> 2.
        for (compat, want) in [(Compat::Classic, 3), (Compat::Modern, 2)] {
            let mut f = three(compat);
            f.set_conns(3, 1, 0);
            f.set_conns(2, 0, 385);
            assert_eq!(pick_with(&mut f, &[0, 3]).0, Some(want), "{compat:?}");
        }
    }

    #[test]
    fn products_are_32_bit_wrapping() {
        // w2 * oh1 = 2 * 2^30 wraps to i32::MIN (negative), so c2 does not win even
        // though it is far less loaded.
        let mut f = Fixture::new("twos", 0);
        f.add(2, 2);
        f.add(1, 1);
        // List 1 (w 1), 2 (w 2). c1 = 1 with oh 2^30 (4_194_304 active * 256).
        f.set_conns(1, 4_194_304, 0);
        assert_eq!(pick_with(&mut f, &[0, 3]).0, Some(1));
        // Without wrapping (smaller load) c2 wins.
        f.set_conns(1, 1, 0);
        assert_eq!(pick_with(&mut f, &[0, 3]).0, Some(2));
    }

    #[test]
    fn uses_the_fixture_rng_deterministically() {
        let mut a = three(Compat::Classic);
        let mut b = three(Compat::Classic);
        let pa = a.picks(50);
        assert_eq!(pa, b.picks(50));
        for n in [1, 2, 3] {
            assert!(pa.contains(&Some(n)), "dest {n} never picked");
        }
    }

    proptest! {
        /// twos never returns an ineligible dest and returns Some iff one is eligible.
        #[test]
        fn only_eligible_dests(
            dests in proptest::collection::vec(
                (0i32..=4, any::<bool>(), 0u32..4, 0u32..4), 1..7),
            seed in any::<u64>(),
        ) {
            let mut f = Fixture::new("twos", 0);
            f.rng = crate::rng::SplitMix64(seed);
            for (i, &(w, ov, a, ina)) in dests.iter().enumerate() {
                let n = i as u8 + 1;
                f.add(n, w);
                f.dest_mut(n).overload = ov;
                f.set_conns(n, a, ina);
            }
            let any = dests.iter().any(|&(w, ov, _, _)| w > 0 && !ov);
            for _ in 0..5 {
                match f.pick() {
                    Some(n) => {
                        let (w, ov, _, _) = dests[usize::from(n) - 1];
                        prop_assert!(w > 0 && !ov);
                    }
                    None => prop_assert!(!any),
                }
            }
        }
    }
}
