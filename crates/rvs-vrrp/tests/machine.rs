//! The VRRP state machine with explicit time (ms): elections, timers, preemption, tracks,
//! sync groups, shutdown.

use std::net::IpAddr;

use rvs_vrrp::machine::{Action, Input, Machine, Params, Router, State, TrackWeight};
use rvs_vrrp::packet::{Advert, Auth};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn params(prio: u8, version: u8) -> Params {
    Params {
        name: "VI_1".into(),
        vrid: 51,
        version,
        priority: prio,
        interval_cs: 100,
        auth: Auth::None,
        vips: vec![ip("198.18.0.100")],
        preempt: true,
        preempt_delay: 0,
        primary: ip("198.18.0.2"),
        garp_delay: 5000,
        tracks: vec![],
    }
}

fn advert(prio: u8, version: u8) -> Advert {
    Advert {
        version,
        vrid: 51,
        priority: prio,
        interval_cs: 100,
        auth: Auth::None,
        addrs: vec![ip("198.18.0.100")],
    }
}

fn rx(m: &mut Machine, now: u64, src: &str, a: Advert) -> Vec<Action> {
    m.handle(
        now,
        Input::Advert {
            src: ip(src),
            advert: a,
        },
    )
}

fn sent_prio(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(ad) => Some(ad.priority),
            _ => None,
        })
        .collect()
}

fn started(p: Params) -> Machine {
    let mut m = Machine::new(p);
    let out = m.handle(0, Input::Start);
    assert!(out.contains(&Action::Transition {
        from: State::Init,
        to: State::Backup,
        why: "started"
    }));
    m
}

#[test]
fn timers_follow_the_rfc_formulas() {
    // v2: skew (256-100)/256 s = 609 ms; down = 3 s + skew.
    let m = Machine::new(params(100, 2));
    assert_eq!(m.skew(), 609);
    assert_eq!(m.master_down(), 3609);
    // v3 with 1 s: skew = 156 * 100 cs / 256 = 60.9 cs.
    let m = Machine::new(params(100, 3));
    assert_eq!(m.skew(), 609);
    let m = Machine::new(params(254, 2));
    assert_eq!(m.master_down(), 3007);
}

#[test]
fn backup_becomes_master_when_adverts_stop() {
    let mut m = started(params(100, 2));
    assert_eq!(m.deadline(), Some(3609));
    assert!(m.handle(3608, Input::Timer).is_empty());
    let out = m.handle(3609, Input::Timer);
    assert_eq!(m.state(), State::Master);
    // Advert first, then VIPs, then gratuitous ARP.
    assert_eq!(out[0], Action::Send(advert(100, 2)));
    assert_eq!(out[1], Action::AddVips);
    assert_eq!(out[2], Action::Garp);
    // Adverts every second; the second GARP burst garp_master_delay later.
    assert_eq!(m.deadline(), Some(4609));
    assert_eq!(sent_prio(&m.handle(4609, Input::Timer)), vec![100]);
    let out = m.handle(8609, Input::Timer);
    assert!(out.contains(&Action::Garp));
}

#[test]
fn adverts_of_a_higher_master_hold_the_backup() {
    let mut m = started(params(100, 2));
    for t in (1000..20_000).step_by(1000) {
        assert!(rx(&mut m, t, "198.18.0.3", advert(150, 2)).is_empty());
        m.handle(t, Input::Timer);
        assert_eq!(m.state(), State::Backup);
    }
    assert_eq!(m.master_src(), Some(ip("198.18.0.3")));
    // The master stops: 3 × 1 s + skew after its last advert.
    assert!(m.handle(19_000 + 3608, Input::Timer).is_empty());
    m.handle(19_000 + 3609, Input::Timer);
    assert_eq!(m.state(), State::Master);
}

#[test]
fn priority_zero_means_skew_time() {
    let mut m = started(params(100, 2));
    rx(&mut m, 1000, "198.18.0.3", advert(150, 2));
    rx(&mut m, 1500, "198.18.0.3", advert(0, 2));
    assert_eq!(m.deadline(), Some(1500 + 609));
    m.handle(2109, Input::Timer);
    assert_eq!(m.state(), State::Master);
}

#[test]
fn master_yields_to_higher_priority_and_equal_priority_higher_address() {
    let mut m = started(params(100, 2));
    m.handle(3609, Input::Timer);
    assert_eq!(m.state(), State::Master);
    // Lower priority: answered with an advert at once, stays master.
    let out = rx(&mut m, 4000, "198.18.0.3", advert(50, 2));
    assert_eq!(sent_prio(&out), vec![100]);
    assert_eq!(m.state(), State::Master);
    // Equal priority from a lower address: stays.
    rx(&mut m, 4100, "198.18.0.1", advert(100, 2));
    assert_eq!(m.state(), State::Master);
    // Equal priority from a higher address: yields and drops the VIPs.
    let out = rx(&mut m, 4200, "198.18.0.3", advert(100, 2));
    assert_eq!(m.state(), State::Backup);
    assert!(out.contains(&Action::RemoveVips));
    // Master receiving priority 0 sends an advert at once.
    let mut m = started(params(100, 2));
    m.handle(3609, Input::Timer);
    assert_eq!(
        sent_prio(&rx(&mut m, 4000, "198.18.0.3", advert(0, 2))),
        vec![100]
    );
    // Higher priority.
    let out = rx(&mut m, 4100, "198.18.0.1", advert(101, 2));
    assert_eq!(m.state(), State::Backup);
    assert!(out.contains(&Action::RemoveVips));
}

#[test]
fn preempt_nopreempt_and_preempt_delay() {
    // preempt (default): a lower-priority master's adverts are discarded, we take over.
    let mut m = started(params(150, 2));
    let out = rx(&mut m, 1000, "198.18.0.3", advert(100, 2));
    assert!(matches!(out[0], Action::Ignored { .. }));
    m.handle(m.deadline().unwrap(), Input::Timer);
    assert_eq!(m.state(), State::Master);

    // nopreempt: they hold us in backup.
    let mut p = params(150, 2);
    p.preempt = false;
    let mut m = started(p);
    for t in (1000..30_000).step_by(1000) {
        rx(&mut m, t, "198.18.0.3", advert(100, 2));
        m.handle(t, Input::Timer);
    }
    assert_eq!(m.state(), State::Backup);

    // preempt_delay 10 s: held for 10 s after the first lower advert, then preempts.
    let mut p = params(150, 2);
    p.preempt_delay = 10_000;
    let mut m = started(p);
    let mut took = None;
    for t in (1000..30_000).step_by(1000) {
        rx(&mut m, t, "198.18.0.3", advert(100, 2));
        m.handle(t, Input::Timer);
        if let Some(d) = m.deadline()
            && d <= t + 1000
        {
            m.handle(d, Input::Timer);
        }
        if m.state() == State::Master && took.is_none() {
            took = Some(t);
        }
    }
    let took = took.expect("preempted");
    assert!((11_000..=15_000).contains(&took), "took over at {took}");
}

#[test]
fn owner_is_master_at_once() {
    let mut m = Machine::new(params(255, 2));
    let out = m.handle(0, Input::Start);
    assert_eq!(m.state(), State::Master);
    assert_eq!(sent_prio(&out), vec![255]);
}

#[test]
fn v3_learns_the_masters_interval() {
    let mut m = started(params(100, 3));
    let mut a = advert(200, 3);
    a.interval_cs = 50;
    rx(&mut m, 1000, "198.18.0.3", a);
    // 3 × 0.5 s + 156 × 50 / 256 cs (= 30.4 cs → 304 ms).
    assert_eq!(m.master_down(), 1500 + 304);
    assert_eq!(m.deadline(), Some(1000 + 1804));
}

#[test]
fn v2_mismatches_are_ignored_and_reported() {
    let mut p = params(100, 2);
    p.auth = Auth::pass("secret");
    let mut m = started(p);
    let before = m.deadline();
    let mut a = advert(200, 2);
    a.auth = Auth::pass("other");
    let out = rx(&mut m, 1000, "198.18.0.3", a.clone());
    assert!(
        matches!(&out[0], Action::Ignored { why, .. } if why.contains("authentication")),
        "{out:?}"
    );
    assert_eq!(m.deadline(), before, "timer untouched");
    a.auth = Auth::None;
    assert!(matches!(
        &rx(&mut m, 1000, "198.18.0.3", a.clone())[0],
        Action::Ignored { .. }
    ));
    a.auth = Auth::pass("secret");
    assert!(rx(&mut m, 1000, "198.18.0.3", a.clone()).is_empty());
    // Interval mismatch (v2 must match), other version, other VIPs.
    a.interval_cs = 200;
    assert!(
        matches!(&rx(&mut m, 1000, "198.18.0.3", a.clone())[0], Action::Ignored { why, .. } if why.contains("interval"))
    );
    let mut b = advert(200, 3);
    b.auth = Auth::None;
    assert!(
        matches!(&rx(&mut m, 1000, "198.18.0.3", b)[0], Action::Ignored { why, .. } if why.contains("version"))
    );
    let mut c = advert(200, 2);
    c.auth = Auth::pass("secret");
    c.addrs = vec![ip("198.18.0.101")];
    assert!(
        matches!(&rx(&mut m, 1000, "198.18.0.3", c)[0], Action::Ignored { why, .. } if why.contains("addresses"))
    );
}

#[test]
fn tracks_weights_clamp_and_fault() {
    let mut p = params(100, 2);
    p.tracks = vec![
        TrackWeight {
            weight: 20,
            reverse: false,
        },
        TrackWeight {
            weight: -30,
            reverse: false,
        },
        TrackWeight {
            weight: 0,
            reverse: false,
        },
        TrackWeight {
            weight: 10,
            reverse: true,
        },
    ];
    let mut m = started(p);
    // +20 (ok), -30 (ok: nothing), 0, reverse +10 while ok → -10.
    assert_eq!(m.priority(), 110);
    m.handle(10, Input::Track(1, false));
    assert_eq!(m.priority(), 80);
    m.handle(10, Input::Track(0, false));
    assert_eq!(m.priority(), 60);
    // Master, then the weight-0 track fails → FAULT with a priority-0 advert.
    m.handle(m.deadline().unwrap(), Input::Timer);
    assert_eq!(m.state(), State::Master);
    let out = m.handle(5000, Input::Track(2, false));
    assert_eq!(m.state(), State::Fault);
    assert_eq!(sent_prio(&out), vec![0]);
    assert!(out.contains(&Action::RemoveVips));
    // Adverts are not looked at in FAULT; recovery → BACKUP.
    assert!(rx(&mut m, 5100, "198.18.0.3", advert(50, 2)).is_empty());
    m.handle(6000, Input::Track(2, true));
    assert_eq!(m.state(), State::Backup);

    // Clamping: 250 + 20 → 254; 5 - 30 → 1; 255 untouched.
    let mut p = params(250, 2);
    p.tracks = vec![TrackWeight {
        weight: 20,
        reverse: false,
    }];
    assert_eq!(Machine::new(p).priority(), 254);
    let mut p = params(5, 2);
    p.tracks = vec![TrackWeight {
        weight: -30,
        reverse: false,
    }];
    let mut m = Machine::new(p);
    m.handle(0, Input::Track(0, false));
    assert_eq!(m.priority(), 1);
    let mut p = params(255, 2);
    p.tracks = vec![TrackWeight {
        weight: -30,
        reverse: false,
    }];
    let mut m = Machine::new(p);
    m.handle(0, Input::Track(0, false));
    assert_eq!(m.priority(), 255);
}

#[test]
fn link_down_is_fault_and_up_is_backup() {
    let mut m = started(params(100, 2));
    m.handle(3609, Input::Timer);
    let out = m.handle(4000, Input::Link(false));
    assert_eq!(m.state(), State::Fault);
    // No advert on a dead link, but the VIPs go.
    assert!(sent_prio(&out).is_empty());
    assert!(out.contains(&Action::RemoveVips));
    assert_eq!(m.deadline(), None);
    m.handle(5000, Input::Link(true));
    assert_eq!(m.state(), State::Backup);
    assert_eq!(m.deadline(), Some(5000 + 3609));
}

#[test]
fn shutdown_resigns_with_priority_zero() {
    let mut m = started(params(100, 2));
    m.handle(3609, Input::Timer);
    let out = m.handle(4000, Input::Shutdown);
    assert_eq!(sent_prio(&out), vec![0]);
    assert!(out.contains(&Action::RemoveVips));
    assert!(out.contains(&Action::Stopped));
    assert_eq!(m.state(), State::Init);
    assert_eq!(m.deadline(), None);
    // A backup only stops.
    let mut m = started(params(100, 2));
    let out = m.handle(10, Input::Shutdown);
    assert_eq!(out, vec![Action::Stopped]);
}

#[test]
fn sync_group_members_switch_together() {
    let mut a = params(100, 2);
    a.name = "A".into();
    let mut b = params(100, 2);
    b.name = "B".into();
    b.vrid = 52;
    b.tracks = vec![TrackWeight {
        weight: 0,
        reverse: false,
    }];
    let mut r = Router {
        machines: vec![Machine::new(a), Machine::new(b)],
        groups: vec![vec![0, 1]],
    };
    r.handle(0, 0, Input::Start);
    r.handle(1, 0, Input::Start);
    // A times out first → B follows to MASTER.
    let out = r.handle(0, 3609, Input::Timer);
    assert!(out.iter().any(|(i, a)| *i == 1 && *a == Action::AddVips));
    assert_eq!(r.machines[1].state(), State::Master);
    // B's track fails → B FAULT → A FAULT too.
    r.handle(1, 5000, Input::Track(0, false));
    assert_eq!(r.machines[0].state(), State::Fault);
    assert_eq!(r.machines[1].state(), State::Fault);
    // B recovers → both BACKUP.
    r.handle(1, 6000, Input::Track(0, true));
    assert_eq!(r.machines[0].state(), State::Backup);
    assert_eq!(r.machines[1].state(), State::Backup);
    // A higher master for A → A BACKUP → B (master by then) BACKUP.
    let (d, i) = r.deadline().unwrap();
    r.handle(i, d, Input::Timer);
    assert_eq!(r.machines[0].state(), State::Master);
    assert_eq!(r.machines[1].state(), State::Master);
    r.handle(
        0,
        d + 100,
        Input::Advert {
            src: ip("198.18.0.9"),
            advert: advert(200, 2),
        },
    );
    assert_eq!(r.machines[0].state(), State::Backup);
    assert_eq!(r.machines[1].state(), State::Backup);
}
