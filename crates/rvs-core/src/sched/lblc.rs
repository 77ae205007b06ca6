//! The `lblc` scheduler (kernel `ip_vs_lblc.c`): locality-based least-connection.
//!
//! A cache maps each packet destination address to one dest. The cached dest is used
//! while it is AVAILABLE, has weight > 0 and is not "lblc-overloaded" (more active conns
//! than its weight while some dest of the service has `active * 2 < weight`); the
//! threshold OVERLOAD flag is **not** checked on this path. Otherwise the weighted
//! least-connection dest is picked and replaces the cache entry. Garbage collection runs
//! from [`Scheduler::tick`] as the kernel's 60 s timer (see `locality`).
//!
//! Kernel-version differences: [2026+] no entry is created while the `entries` counter
//! is at 24576 or more, and replacing an entry decrements the counter. In classic
//! kernels replacing an entry (cached dest → another dest) unlinks the old entry without
//! decrementing `entries`, so the counter drifts above the real size; the GC limit and
//! the full-sweep counter read that drifted value, and rvs reproduces it.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::locality::{Cache, Entry, lblc_overloaded};
use crate::sched::wlc::wlc_pick;
use crate::sched::{SchedRequest, SchedView, Scheduler};
use crate::settings::Compat;
use crate::time::Time;

/// The `lblc` scheduler.
#[derive(Debug, Default)]
pub struct Lblc {
    cache: Cache<DestId>,
}

impl Lblc {
    /// `ip_vs_lblc_new`: create or replace the entry for `daddr`.
    fn new_entry(&mut self, daddr: std::net::IpAddr, id: DestId, now: Time, compat: Compat) {
        if let Some(en) = self.cache.get(&daddr) {
            if en.val == id {
                return;
            }
            self.cache.unlink(&daddr);
            if compat == Compat::Modern {
                self.cache.entries = self.cache.entries.saturating_sub(1);
            }
        }
        if self.cache.capped(compat) {
            return;
        }
        self.cache.link(Entry {
            addr: daddr,
            lastuse: now,
            val: id,
        });
    }
}

impl Scheduler for Lblc {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        self.cache.arm(req.now);
        if let Some(en) = self.cache.get_mut(&req.daddr) {
            en.lastuse = req.now;
            let id = en.val;
            // A freed dest (stale handle) counts as not AVAILABLE.
            if let Some(d) = view.arena.get(id)
                && d.available
                && d.weight > 0
                && !lblc_overloaded(&view, d)
            {
                return Some(id);
            }
        }
        let id = wlc_pick(&view)?;
        self.new_entry(req.daddr, id, req.now, view.compat);
        Some(id)
    }

    fn tick(&mut self, view: SchedView<'_>, now: Time) {
        self.cache.tick(now, view.settings.lblc_expiration);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::*;
    use crate::addr::Protocol;
    use crate::sched::locality::{CREATE_CAP, MAX_SIZE};
    use crate::sched::testutil::Fixture;
    use crate::settings::Settings;
    use crate::time::Dur;

    fn req(daddr: IpAddr, now: Time) -> SchedRequest {
        SchedRequest {
            proto: Protocol::Tcp,
            saddr: IpAddr::from([10, 0, 0, 1]),
            sport: 4000,
            daddr,
            dport: 80,
            now,
        }
    }

    fn vip() -> IpAddr {
        IpAddr::from([198, 18, 0, 100])
    }

    /// Schedule with a scheduler kept outside the fixture, so tests can read its cache.
    fn run(fx: &mut Fixture, s: &mut Lblc, daddr: IpAddr, now: Time) -> Option<u8> {
        let svc = fx.table.service(fx.sid).unwrap();
        let view = fx.table.view(svc, &fx.settings);
        let id = s.schedule(view, &req(daddr, now), &mut fx.rng)?;
        match fx.table.dest(id).unwrap().addr {
            IpAddr::V4(a) => Some(a.octets()[3]),
            IpAddr::V6(a) => Some(a.octets()[15]),
        }
    }

    fn tick(fx: &mut Fixture, s: &mut Lblc, now: Time) {
        let svc = fx.table.service(fx.sid).unwrap();
        s.tick(fx.table.view(svc, &fx.settings), now);
    }

    #[test]
    fn cached_dest_sticks_even_when_wlc_would_differ() {
        let mut fx = Fixture::new("lblc", 0);
        fx.add(1, 10);
        fx.add(2, 10);
        // List [2, 1]; equal load: wlc picks the first, 2.
        assert_eq!(fx.pick(), Some(2));
        fx.set_conns(2, 5, 100);
        fx.set_conns(1, 0, 0);
        // 5 active <= weight 10: not lblc-overloaded, cache wins over wlc.
        assert_eq!(fx.pick(), Some(2));
        // The cached path ignores the threshold OVERLOAD flag.
        fx.dest_mut(2).overload = true;
        assert_eq!(fx.pick(), Some(2));
    }

    #[test]
    fn lblc_overloaded_dest_is_replaced() {
        let mut fx = Fixture::new("lblc", 0);
        fx.add(1, 4);
        fx.add(2, 4);
        assert_eq!(fx.pick(), Some(2));
        // 2 has 5 active > weight 4, but no dest has active*2 < weight: still cached.
        fx.set_conns(2, 5, 0);
        fx.set_conns(1, 2, 0);
        assert_eq!(fx.pick(), Some(2));
        // Now dest 1 has 1*2 < 4: dest 2 is lblc-overloaded; wlc picks 1 and the entry
        // is replaced, so 1 stays even after 2 recovers.
        fx.set_conns(1, 1, 0);
        assert_eq!(fx.pick(), Some(1));
        fx.set_conns(2, 0, 0);
        fx.set_conns(1, 3, 0);
        assert_eq!(fx.pick(), Some(1));
    }

    #[test]
    fn weight_zero_or_deleted_cached_dest_is_rescheduled() {
        let mut fx = Fixture::new("lblc", 0);
        fx.add(1, 1);
        fx.add(2, 1);
        assert_eq!(fx.pick(), Some(2));
        fx.edit(2, 0);
        assert_eq!(fx.pick(), Some(1));
        fx.edit(2, 1);
        // Cached is now 1 (replaced).
        assert_eq!(fx.pick(), Some(1));
        fx.del(1);
        assert_eq!(fx.pick(), Some(2));
        fx.del(2);
        assert_eq!(fx.pick(), None);
    }

    #[test]
    fn wlc_pick_skips_overloaded_and_weight_zero() {
        let mut fx = Fixture::new("lblc", 0);
        fx.add(1, 1);
        fx.add(2, 0);
        fx.add(3, 5);
        fx.dest_mut(3).overload = true;
        // List [3, 2, 1]: 3 OVERLOAD, 2 weight 0 -> 1.
        assert_eq!(fx.pick(), Some(1));
        let mut fx = Fixture::new("lblc", 0);
        fx.add(1, 3);
        fx.add(2, 1);
        fx.set_conns(2, 1, 0);
        fx.set_conns(1, 2, 0);
        // overheads (classic) 256 and 512: 256*3 > 512*1, so 1 (512/3 < 256/1) wins.
        assert_eq!(fx.pick(), Some(1));
    }

    #[test]
    fn full_expiration_removes_idle_entries_on_the_30th_timer_run() {
        let settings = Settings {
            lblc_expiration: Dur::from_secs(600),
            ..Settings::default()
        };
        let mut fx = Fixture::with_settings("lblc", 0, settings);
        fx.add(1, 1);
        let mut s = Lblc::default();
        run(&mut fx, &mut s, vip(), Time::ZERO);
        assert_eq!(s.cache.len(), 1);
        // Timer armed at 0 + 60 s; runs every 60 s; the 30th run (1800 s) is the first
        // full check.
        for t in 1..1800 {
            tick(&mut fx, &mut s, Time::from_secs(t));
        }
        assert_eq!(s.cache.len(), 1);
        tick(&mut fx, &mut s, Time::from_secs(1800));
        assert_eq!(s.cache.len(), 0);
        assert_eq!(s.cache.entries, 0);
    }

    #[test]
    fn use_refreshes_lastuse() {
        let settings = Settings {
            lblc_expiration: Dur::from_secs(600),
            ..Settings::default()
        };
        let mut fx = Fixture::with_settings("lblc", 0, settings);
        fx.add(1, 1);
        let mut s = Lblc::default();
        run(&mut fx, &mut s, vip(), Time::ZERO);
        run(&mut fx, &mut s, vip(), Time::from_secs(1500));
        tick(&mut fx, &mut s, Time::from_secs(1800));
        assert_eq!(s.cache.len(), 1, "idle 300 s < 600 s");
    }

    #[test]
    fn classic_replacement_leaks_the_entry_counter_modern_does_not() {
        for compat in [Compat::Classic, Compat::Modern] {
            let settings = Settings {
                compat,
                ..Settings::default()
            };
            let mut fx = Fixture::with_settings("lblc", 0, settings);
            fx.add(1, 1);
            fx.add(2, 1);
            let mut s = Lblc::default();
            assert_eq!(run(&mut fx, &mut s, vip(), Time::ZERO), Some(2));
            fx.edit(2, 0);
            assert_eq!(run(&mut fx, &mut s, vip(), Time::ZERO), Some(1));
            assert_eq!(s.cache.len(), 1);
            let want = if compat == Compat::Classic { 2 } else { 1 };
            assert_eq!(s.cache.entries, want, "{compat:?}");
        }
    }

    #[test]
    fn modern_caps_entry_creation() {
        for compat in [Compat::Classic, Compat::Modern] {
            let settings = Settings {
                compat,
                ..Settings::default()
            };
            let mut fx = Fixture::with_settings("lblc", 0, settings);
            fx.add(1, 1);
            let mut s = Lblc::default();
            let n = CREATE_CAP + 10;
            for i in 0..n as u32 {
                let d = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
                // The dest is returned whether or not it gets cached.
                assert_eq!(run(&mut fx, &mut s, d, Time::ZERO), Some(1));
            }
            let want = if compat == Compat::Modern {
                CREATE_CAP
            } else {
                n
            };
            assert_eq!(s.cache.len(), want, "{compat:?}");
            assert!(want > MAX_SIZE);
        }
    }

    proptest! {
        #[test]
        fn only_the_cached_path_returns_overloaded_and_never_weight0(
            dests in proptest::collection::vec((0i32..3, any::<bool>(), 0u32..4), 1..6),
            ops in proptest::collection::vec((0u8..4, 0usize..6, any::<bool>()), 1..30),
        ) {
            let mut fx = Fixture::new("lblc", 0);
            for (i, (w, o, a)) in dests.iter().enumerate() {
                fx.add(i as u8 + 1, *w);
                fx.dest_mut(i as u8 + 1).overload = *o;
                fx.set_conns(i as u8 + 1, *a, 0);
            }
            let mut cached: std::collections::HashMap<u8, u8> = Default::default();
            for (d, k, flip) in ops {
                if flip {
                    let n = (k % dests.len()) as u8 + 1;
                    let o = fx.dest_mut(n).overload;
                    fx.dest_mut(n).overload = !o;
                }
                let daddr = IpAddr::from([192, 0, 2, d]);
                let got = fx.pick_req(&req(daddr, Time::ZERO));
                if let Some(n) = got {
                    let dest = fx.dest_mut(n).clone();
                    prop_assert!(dest.weight > 0);
                    if dest.overload {
                        prop_assert_eq!(cached.get(&d), Some(&n));
                    }
                    cached.insert(d, n);
                }
            }
        }
    }
}
