//! The `lblcr` scheduler (kernel `ip_vs_lblcr.c`): locality-based least-connection with
//! replication.
//!
//! A cache maps each packet destination address to a *set* of dests (newest member
//! first). With an entry: the candidate is the weighted least-connection member among
//! those that are not OVERLOAD, AVAILABLE and of weight > 0; then, if the set has more
//! than one member and was last modified more than `lblcr_expiration` ago, its most
//! loaded (weighted) member is removed — even if that is the candidate just picked, which
//! is still returned. If there is no candidate or it is lblc-overloaded, the weighted
//! least-connection dest of the whole service is picked and added to the set. Without an
//! entry, that pick starts a new set. Garbage collection is lblc's (see `locality`),
//! including the [2026+] 24576-entry cap on new entries.

use std::net::IpAddr;

use crate::dest::{DestArena, DestId};
use crate::rng::Rng;
use crate::sched::locality::{Cache, Entry, lblc_overloaded};
use crate::sched::wlc::wlc_pick;
use crate::sched::{SchedRequest, SchedView, Scheduler};
use crate::settings::Compat;
use crate::time::Time;

/// A cached dest set (`struct ip_vs_dest_set`).
#[derive(Debug, Clone, Default)]
struct DestSet {
    /// Members, newest first (`list_add_rcu`).
    members: Vec<DestId>,
    /// Last time a member was added or removed.
    lastmod: Time,
}

impl DestSet {
    /// `ip_vs_dest_set_insert` with `check`: add at the head unless already a member.
    fn insert(&mut self, id: DestId, now: Time) {
        if self.members.contains(&id) {
            return;
        }
        self.members.insert(0, id);
        self.lastmod = now;
    }

    /// `ip_vs_dest_set_erase`.
    fn erase(&mut self, id: DestId, now: Time) {
        if let Some(pos) = self.members.iter().position(|&m| m == id) {
            self.members.remove(pos);
            self.lastmod = now;
        }
    }

    /// `ip_vs_dest_set_min`: the weighted least-loaded member that is not OVERLOAD,
    /// AVAILABLE and of weight > 0. Members whose dest was freed are skipped (the kernel
    /// holds a reference, so it never sees one).
    fn min(&self, arena: &DestArena, compat: Compat) -> Option<DestId> {
        let mut it = self
            .members
            .iter()
            .filter_map(|&id| arena.get(id).map(|d| (id, d)));
        let (mut least, mut lw, mut loh) = loop {
            let (id, d) = it.next()?;
            if !d.overload && d.weight > 0 && d.available {
                break (id, d.weight, d.overhead(compat));
            }
        };
        for (id, d) in it {
            if d.overload {
                continue;
            }
            let doh = d.overhead(compat);
            if i128::from(loh) * i128::from(d.weight) > i128::from(doh) * i128::from(lw)
                && d.available
            {
                (least, lw, loh) = (id, d.weight, doh);
            }
        }
        Some(least)
    }

    /// `ip_vs_dest_set_max`: the weighted most-loaded member of weight > 0 (OVERLOAD and
    /// AVAILABLE are not looked at).
    fn max(&self, arena: &DestArena, compat: Compat) -> Option<DestId> {
        let mut it = self
            .members
            .iter()
            .filter_map(|&id| arena.get(id).map(|d| (id, d)));
        let (mut most, mut mw, mut moh) = loop {
            let (id, d) = it.next()?;
            if d.weight > 0 {
                break (id, d.weight, d.overhead(compat));
            }
        };
        for (id, d) in it {
            let doh = d.overhead(compat);
            if i128::from(moh) * i128::from(d.weight) < i128::from(doh) * i128::from(mw)
                && d.weight > 0
            {
                (most, mw, moh) = (id, d.weight, doh);
            }
        }
        Some(most)
    }
}

/// The `lblcr` scheduler.
#[derive(Debug, Default)]
pub struct Lblcr {
    cache: Cache<DestSet>,
}

impl Lblcr {
    /// `ip_vs_lblcr_new` for an address without entry: a new one-member set, unless the
    /// [2026+] cap forbids it.
    fn new_entry(&mut self, daddr: IpAddr, id: DestId, now: Time, compat: Compat) {
        if self.cache.capped(compat) {
            return;
        }
        self.cache.link(Entry {
            addr: daddr,
            lastuse: now,
            val: DestSet {
                members: vec![id],
                lastmod: now,
            },
        });
    }
}

impl Scheduler for Lblcr {
    fn name(&self) -> &'static str {
        "lblcr"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        req: &SchedRequest,
        _rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let now = req.now;
        self.cache.arm(now);
        let expiration = view.settings.lblcr_expiration;
        if let Some(en) = self.cache.get_mut(&req.daddr) {
            en.lastuse = now;
            let set = &mut en.val;
            let cand = set.min(view.arena, view.compat);
            // `time_after(now, lastmod + expiration)`: strictly later.
            if set.members.len() > 1
                && now > set.lastmod + expiration
                && let Some(m) = set.max(view.arena, view.compat)
            {
                set.erase(m, now);
            }
            if let Some(c) = cand
                && let Some(d) = view.arena.get(c)
                && !lblc_overloaded(&view, d)
            {
                return Some(c);
            }
            let id = wlc_pick(&view)?;
            set.insert(id, now);
            return Some(id);
        }
        let id = wlc_pick(&view)?;
        self.new_entry(req.daddr, id, now, view.compat);
        Some(id)
    }

    fn tick(&mut self, view: SchedView<'_>, now: Time) {
        self.cache.tick(now, view.settings.lblcr_expiration);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::addr::Protocol;
    use crate::sched::locality::CREATE_CAP;
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

    fn octet(fx: &Fixture, id: DestId) -> u8 {
        match fx.table.dest(id).unwrap().addr {
            IpAddr::V4(a) => a.octets()[3],
            IpAddr::V6(a) => a.octets()[15],
        }
    }

    fn run(fx: &mut Fixture, s: &mut Lblcr, daddr: IpAddr, now: Time) -> Option<u8> {
        let svc = fx.table.service(fx.sid).unwrap();
        let view = fx.table.view(svc, &fx.settings);
        let id = s.schedule(view, &req(daddr, now), &mut fx.rng)?;
        Some(octet(fx, id))
    }

    fn members(fx: &Fixture, s: &Lblcr, daddr: IpAddr) -> Vec<u8> {
        s.cache
            .get(&daddr)
            .map(|e| e.val.members.iter().map(|&id| octet(fx, id)).collect())
            .unwrap_or_default()
    }

    fn with_expiration(secs: u64) -> Fixture {
        let settings = Settings {
            lblcr_expiration: Dur::from_secs(secs),
            ..Settings::default()
        };
        Fixture::with_settings("lblcr", 0, settings)
    }

    #[test]
    fn set_grows_when_members_are_lblc_overloaded() {
        let mut fx = with_expiration(3600);
        fx.add(1, 2);
        fx.add(2, 2);
        fx.add(3, 2);
        let mut s = Lblcr::default();
        let t0 = Time::ZERO;
        // List [3, 2, 1]: first pick 3, set {3}.
        assert_eq!(run(&mut fx, &mut s, vip(), t0), Some(3));
        assert_eq!(members(&fx, &s, vip()), vec![3]);
        // 3 gets 3 active > weight 2 while 1 has 0*2 < 2: lblc-overloaded -> wlc over the
        // service picks 2 (first of the idle ones) and adds it at the head.
        fx.set_conns(3, 3, 0);
        assert_eq!(run(&mut fx, &mut s, vip(), Time::from_secs(10)), Some(2));
        assert_eq!(members(&fx, &s, vip()), vec![2, 3]);
        // The set-min now finds 2 (least loaded member).
        assert_eq!(run(&mut fx, &mut s, vip(), Time::from_secs(20)), Some(2));
        // Both members overloaded -> 1 joins.
        fx.set_conns(2, 3, 0);
        assert_eq!(run(&mut fx, &mut s, vip(), Time::from_secs(30)), Some(1));
        assert_eq!(members(&fx, &s, vip()), vec![1, 2, 3]);
        // Members that are OVERLOAD or weight 0 are skipped by the set-min.
        fx.set_conns(2, 0, 0);
        fx.set_conns(3, 0, 0);
        fx.set_conns(1, 1, 0);
        fx.dest_mut(2).overload = true;
        fx.edit(3, 0);
        assert_eq!(run(&mut fx, &mut s, vip(), Time::from_secs(40)), Some(1));
    }

    #[test]
    fn expiry_removes_the_most_loaded_member_even_if_picked() {
        let mut fx = with_expiration(100);
        fx.add(1, 1);
        fx.add(2, 1);
        let mut s = Lblcr::default();
        assert_eq!(run(&mut fx, &mut s, vip(), Time::ZERO), Some(2));
        fx.set_conns(2, 2, 0);
        // 2 lblc-overloaded (2 > 1 and 1 has 0*2 < 1): 1 joins at t = 5 (lastmod = 5).
        assert_eq!(run(&mut fx, &mut s, vip(), Time::from_secs(5)), Some(1));
        assert_eq!(members(&fx, &s, vip()), vec![1, 2]);
        // Loads: 2 has 2 active, 1 has 1 active, none overloaded any more (no dest has
        // active*2 < weight).
        fx.set_conns(1, 1, 0);
        // At exactly lastmod + expiration nothing is removed (strictly after).
        assert_eq!(run(&mut fx, &mut s, vip(), Time::from_secs(105)), Some(1));
        assert_eq!(members(&fx, &s, vip()), vec![1, 2]);
        // One ms later the most loaded (2) goes; 1 is returned.
        assert_eq!(
            run(&mut fx, &mut s, vip(), Time::from_millis(105_001)),
            Some(1)
        );
        assert_eq!(members(&fx, &s, vip()), vec![1]);
        // A one-member set is never shrunk.
        assert_eq!(run(&mut fx, &mut s, vip(), Time::from_secs(1000)), Some(1));
        assert_eq!(members(&fx, &s, vip()), vec![1]);
    }

    #[test]
    fn removal_can_hit_the_candidate() {
        let mut fx = with_expiration(100);
        fx.add(1, 1);
        fx.add(2, 10);
        let mut s = Lblcr::default();
        assert_eq!(run(&mut fx, &mut s, vip(), Time::ZERO), Some(2));
        fx.set_conns(2, 11, 0);
        // 2: 11 > 10 and 1 has 0 < 1: overloaded -> 1 added.
        assert_eq!(run(&mut fx, &mut s, vip(), Time::from_secs(1)), Some(1));
        // Make 1 the candidate (least: 1/1... ) yet the most loaded by weight:
        // loads 2: 5 active / w10 -> 1280/10; 1: 3 active / w1 -> 768/1. Candidate (min)
        // is 2; make 2 OVERLOAD so the candidate is 1, which is also the max.
        fx.set_conns(2, 5, 0);
        fx.set_conns(1, 3, 0);
        fx.dest_mut(2).overload = true;
        // Not lblc-overloaded? 1: 3 > 1, and 2 has 5*2 < 10? No (10 < 10 false): fine.
        assert_eq!(run(&mut fx, &mut s, vip(), Time::from_secs(200)), Some(1));
        assert_eq!(
            members(&fx, &s, vip()),
            vec![2],
            "1 removed though returned"
        );
    }

    #[test]
    fn gc_full_check_drops_idle_sets() {
        let settings = Settings {
            lblcr_expiration: Dur::from_secs(60),
            ..Settings::default()
        };
        let mut fx = Fixture::with_settings("lblcr", 0, settings);
        fx.add(1, 1);
        let mut s = Lblcr::default();
        run(&mut fx, &mut s, vip(), Time::ZERO);
        let svc = fx.table.service(fx.sid).unwrap();
        s.tick(fx.table.view(svc, &fx.settings), Time::from_secs(1799));
        assert_eq!(s.cache.len(), 1);
        s.tick(fx.table.view(svc, &fx.settings), Time::from_secs(1800));
        assert_eq!(s.cache.len(), 0);
    }

    #[test]
    fn modern_cap_applies_to_new_sets() {
        let settings = Settings {
            compat: Compat::Modern,
            ..Settings::default()
        };
        let mut fx = Fixture::with_settings("lblcr", 0, settings);
        fx.add(1, 1);
        let mut s = Lblcr::default();
        for i in 0..(CREATE_CAP + 5) as u32 {
            let d = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            assert_eq!(run(&mut fx, &mut s, d, Time::ZERO), Some(1));
        }
        assert_eq!(s.cache.len(), CREATE_CAP);
    }

    proptest! {
        #[test]
        fn never_returns_weight0_or_overloaded(
            dests in proptest::collection::vec((0i32..3, any::<bool>(), 0u32..4), 1..6),
            ops in proptest::collection::vec((0u8..4, 0usize..6, any::<bool>(), 0u64..200), 1..30),
        ) {
            let mut fx = with_expiration(50);
            for (i, (w, o, a)) in dests.iter().enumerate() {
                fx.add(i as u8 + 1, *w);
                fx.dest_mut(i as u8 + 1).overload = *o;
                fx.set_conns(i as u8 + 1, *a, 0);
            }
            let mut now = 0;
            for (d, k, flip, dt) in ops {
                now += dt;
                fx.now = Time::from_secs(now);
                if flip {
                    let n = (k % dests.len()) as u8 + 1;
                    let o = fx.dest_mut(n).overload;
                    fx.dest_mut(n).overload = !o;
                }
                let got = fx.pick_req(&req(IpAddr::from([192, 0, 2, d]), fx.now));
                if let Some(n) = got {
                    let dest = fx.dest_mut(n).clone();
                    prop_assert!(dest.weight > 0 && !dest.overload);
                }
            }
        }
    }
}
