//! The sans-IO monitor with paused time: every test is a pure function of time.

use std::net::SocketAddr;

use rvs_config::keepalived::{Config, check_str};
use rvs_core::Time;
use rvs_health::{Action, Monitor, ProbeResult, ProbeSpec, Transition};

fn cfg(text: &str) -> Config {
    let r = check_str("t.conf", text);
    assert!(r.errors.is_empty(), "{}", r.render());
    r.config.unwrap()
}

/// Steps `m` from deadline to deadline up to `end`; every probe answers at once with
/// `oracle(target, now)`. Returns every action with the time it came out.
fn run(
    m: &mut Monitor,
    end: Time,
    oracle: &mut dyn FnMut(&ProbeSpec, Time) -> ProbeResult,
) -> Vec<(Time, Action)> {
    let mut log = Vec::new();
    for _ in 0..1_000_000 {
        let Some(t) = m.next_deadline() else { break };
        if t > end {
            break;
        }
        let now = t;
        for a in m.poll(now) {
            if let Action::Probe { id, spec, .. } = &a {
                let r = oracle(spec, now);
                log.push((now, a.clone()));
                for b in m.on_result(*id, r, now) {
                    log.push((now, b));
                }
            } else {
                log.push((now, a));
            }
        }
    }
    log
}

fn dests(m: &Monitor) -> Vec<(String, i32)> {
    m.desired().services[0]
        .dests
        .iter()
        .map(|d| (SocketAddr::new(d.addr, d.port).to_string(), d.weight))
        .collect()
}

fn probes_at(log: &[(Time, Action)]) -> Vec<u64> {
    log.iter()
        .filter(|(_, a)| matches!(a, Action::Probe { .. }))
        .map(|(t, _)| t.as_millis())
        .collect()
}

fn table_changes(log: &[(Time, Action)]) -> Vec<u64> {
    log.iter()
        .filter(|(_, a)| matches!(a, Action::TableChanged))
        .map(|(t, _)| t.as_millis())
        .collect()
}

fn scripts(log: &[(Time, Action)]) -> Vec<(u64, String)> {
    log.iter()
        .filter_map(|(t, a)| match a {
            Action::Script { command, .. } => Some((t.as_millis(), command.clone())),
            _ => None,
        })
        .collect()
}

const TCP: &str = "
virtual_server 198.18.0.100 80 {
    protocol TCP
    lb_kind NAT
    delay_loop 2
    real_server 198.18.1.1 80 {
        weight 3
        notify_up \"/bin/up 1\"
        notify_down \"/bin/down 1\"
        TCP_CHECK {
            retry 2
            delay_before_retry 1
            warmup 0
            connect_timeout 1
        }
    }
    real_server 198.18.1.2 80 {
        weight 2
        TCP_CHECK {
            warmup 0
        }
    }
}
";

#[test]
fn tcp_check_goes_down_exactly_at_the_third_failed_attempt_and_recovers_at_once() {
    let c = cfg(TCP);
    let mut m = Monitor::new(&c, Time::ZERO, 1);
    // First checks: BOOTSTRAP_DELAY (1 s) after start, warmup 0.
    assert_eq!(m.next_deadline(), Some(Time::from_secs(1)));
    let failing = "198.18.1.1:80".parse::<SocketAddr>().unwrap();
    let mut oracle = |s: &ProbeSpec, now: Time| {
        assert_eq!(s.timeout, std::time::Duration::from_secs(1).max(s.timeout));
        if s.target == failing && now >= Time::from_secs(3) && now < Time::from_secs(7) {
            ProbeResult::Down("connection refused".into())
        } else {
            ProbeResult::Up
        }
    };
    let log = run(&mut m, Time::from_secs(6), &mut oracle);
    // 198.18.1.1: 1 s ok, 3 s fail, 4 s fail (retry 1), 5 s fail (retry 2) → down; next
    // check a delay_loop later. 198.18.1.2 every 2 s.
    let on_1: Vec<u64> = log
        .iter()
        .filter(|(_, a)| matches!(a, Action::Probe { spec, .. } if spec.target == failing))
        .map(|(t, _)| t.as_millis())
        .collect();
    assert_eq!(on_1, [1000, 3000, 4000, 5000]);
    assert_eq!(table_changes(&log), [5000]);
    assert_eq!(scripts(&log), [(5000, "/bin/down 1".to_string())]);
    assert_eq!(dests(&m), [("198.18.1.2:80".to_string(), 2)]);
    assert!(log.iter().any(|(t, a)| *t == Time::from_secs(5)
        && matches!(
            a,
            Action::Transition(Transition::RealServer { up: false, .. })
        )));
    let st = m.status();
    assert!(!st[0].up);
    assert_eq!(st[0].checkers[0].failures, 3);
    assert_eq!(st[0].since, Time::from_secs(5));
    assert_eq!(
        st[0].checkers[0].last_failure.as_deref(),
        Some("connection refused")
    );
    // 7 s: the first success brings it back.
    let log = run(&mut m, Time::from_secs(7), &mut oracle);
    assert_eq!(table_changes(&log), [7000]);
    assert_eq!(scripts(&log), [(7000, "/bin/up 1".to_string())]);
    assert_eq!(
        dests(&m),
        [
            ("198.18.1.1:80".to_string(), 3),
            ("198.18.1.2:80".to_string(), 2)
        ]
    );
}

#[test]
fn a_single_failure_within_retries_changes_nothing() {
    let c = cfg(TCP);
    let mut m = Monitor::new(&c, Time::ZERO, 1);
    let mut oracle = |_: &ProbeSpec, now: Time| {
        if now == Time::from_secs(3) || now == Time::from_secs(4) {
            ProbeResult::Down("timeout".into())
        } else {
            ProbeResult::Up
        }
    };
    let log = run(&mut m, Time::from_secs(20), &mut oracle);
    // 198.18.1.2 (retry 1) fails at 3 s, fails its one retry at 4 s → down; up again at
    // its next check (4 + 2 = 6 s). 198.18.1.1 (retry 2) fails twice and recovers on the
    // third attempt at 5 s: never down.
    assert_eq!(table_changes(&log), [4000, 6000]);
    assert!(!log.iter().any(|(_, a)| matches!(a, Action::Script { .. })));
}

#[test]
fn inhibit_on_failure_keeps_the_server_with_weight_zero() {
    let c = cfg(&TCP.replace("weight 2\n", "weight 2\n        inhibit_on_failure\n"));
    let mut m = Monitor::new(&c, Time::ZERO, 1);
    let mut oracle = |s: &ProbeSpec, _: Time| {
        if s.target.port() == 80 && s.target.ip().to_string() == "198.18.1.2" {
            ProbeResult::Down("refused".into())
        } else {
            ProbeResult::Up
        }
    };
    run(&mut m, Time::from_secs(10), &mut oracle);
    assert_eq!(
        dests(&m),
        [
            ("198.18.1.1:80".to_string(), 3),
            ("198.18.1.2:80".to_string(), 0)
        ]
    );
}

#[test]
fn alpha_starts_down_and_comes_up_on_the_first_success() {
    let c = cfg(&TCP.replacen("warmup 0\n", "warmup 0\n            alpha\n", 1));
    let mut m = Monitor::new(&c, Time::ZERO, 1);
    assert_eq!(dests(&m), [("198.18.1.2:80".to_string(), 2)]);
    assert!(!m.status()[0].up);
    // First check fails: a retry (retry 2), nothing else.
    let mut down = |_: &ProbeSpec, _: Time| ProbeResult::Down("refused".into());
    let log = run(&mut m, Time::from_secs(1), &mut down);
    assert!(scripts(&log).is_empty());
    assert!(m.status()[0].checkers[0].failures == 1);
    // Succeeds at the retry (2 s): up.
    let mut up = |_: &ProbeSpec, _: Time| ProbeResult::Up;
    let log = run(&mut m, Time::from_secs(2), &mut up);
    assert_eq!(table_changes(&log), [2000]);
    assert_eq!(scripts(&log), [(2000, "/bin/up 1".to_string())]);
    assert_eq!(dests(&m).len(), 2);
    // With retry 0 the first check decides, and keepalived runs notify_down when an alpha
    // checker's first check fails (update_svr_checker_state, !has_run).
    let c = cfg(&TCP
        .replacen("warmup 0\n", "warmup 0\n            alpha\n", 1)
        .replace("retry 2", "retry 0"));
    let mut m = Monitor::new(&c, Time::ZERO, 1);
    let log = run(&mut m, Time::from_secs(1), &mut down);
    assert_eq!(scripts(&log), [(1000, "/bin/down 1".to_string())]);
    assert!(table_changes(&log).is_empty());
    // Later failures of the down checker run nothing more.
    let log = run(&mut m, Time::from_secs(5), &mut down);
    assert!(scripts(&log).is_empty());
}

const QUORUM: &str = "
virtual_server 198.18.0.100 80 {
    protocol TCP
    lb_kind NAT
    delay_loop 1
    quorum 2
    hysteresis 1
    quorum_up /bin/qup
    quorum_down /bin/qdown
    sorry_server 198.18.2.9 8080
    real_server 198.18.1.1 80 {
        TCP_CHECK {
            retry 0
            warmup 0
        }
    }
    real_server 198.18.1.2 80 {
        TCP_CHECK {
            retry 0
            warmup 0
        }
    }
    real_server 198.18.1.3 80 {
        TCP_CHECK {
            retry 0
            warmup 0
        }
    }
}
";

#[test]
fn quorum_with_hysteresis_and_sorry_server() {
    let c = cfg(QUORUM);
    let mut m = Monitor::new(&c, Time::ZERO, 7);
    assert!(m.status()[0].quorum_up);
    // Servers go down one per second from 2 s (.1 at 2, .2 at 3, .3 at 4), and come back
    // one per second from 10 s.
    let mut oracle = |s: &ProbeSpec, now: Time| {
        let n = match s.target.ip().to_string().as_str() {
            "198.18.1.1" => 0,
            "198.18.1.2" => 1,
            _ => 2,
        };
        let t = now.as_secs();
        if t >= 2 + n && t < 10 + n {
            ProbeResult::Down("refused".into())
        } else {
            ProbeResult::Up
        }
    };
    let log = run(&mut m, Time::from_secs(3), &mut oracle);
    // Live weight 1 ≥ quorum − hysteresis = 1: still up.
    assert!(scripts(&log).is_empty());
    assert_eq!(dests(&m), [("198.18.1.3:80".to_string(), 1)]);
    let log = run(&mut m, Time::from_secs(4), &mut oracle);
    assert_eq!(scripts(&log), [(4000, "/bin/qdown".to_string())]);
    assert_eq!(dests(&m), [("198.18.2.9:8080".to_string(), 1)]);
    assert!(log.iter().any(|(_, a)| matches!(
        a,
        Action::Transition(Transition::Quorum {
            up: false,
            weight_sum: 0,
            threshold: 1,
            sorry: true,
            ..
        })
    )));
    let sorry = m.status().into_iter().find(|s| s.sorry).unwrap();
    assert!(sorry.up && sorry.weight == 1 && !sorry.quorum_up);
    // Back: 1 at 10 s and 2 at 11 s are below quorum + hysteresis = 3: the sorry server
    // keeps serving and the live ones stay out; at 12 s all three: quorum up.
    let log = run(&mut m, Time::from_secs(11), &mut oracle);
    assert!(scripts(&log).is_empty());
    assert_eq!(dests(&m), [("198.18.2.9:8080".to_string(), 1)]);
    let log = run(&mut m, Time::from_secs(12), &mut oracle);
    assert_eq!(scripts(&log), [(12000, "/bin/qup".to_string())]);
    assert_eq!(table_changes(&log), [12000]);
    assert_eq!(dests(&m).len(), 3);
    assert!(dests(&m).iter().all(|(a, _)| !a.starts_with("198.18.2.9")));
}

#[test]
fn quorum_down_at_start_runs_the_script_with_a_sorry_server() {
    let c = cfg(&QUORUM.replace("warmup 0\n", "warmup 0\n            alpha\n"));
    let mut m = Monitor::new(&c, Time::ZERO, 7);
    assert_eq!(dests(&m), [("198.18.2.9:8080".to_string(), 1)]);
    assert_eq!(m.next_deadline(), Some(Time::ZERO));
    let acts = m.poll(Time::ZERO);
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Script { command, .. } if command == "/bin/qdown"))
    );
    assert_eq!(m.next_deadline(), Some(Time::from_secs(1)));
}

#[test]
fn misc_dynamic_sets_the_weight() {
    let c = cfg("
virtual_server 198.18.0.100 80 {
    protocol TCP
    lb_kind DR
    real_server 198.18.1.1 80 {
        weight 4
        MISC_CHECK {
            misc_path \"/bin/check 198.18.1.1\"
            misc_dynamic
            misc_timeout 3
            warmup 0
            delay_loop 5
        }
    }
}
");
    let mut m = Monitor::new(&c, Time::ZERO, 3);
    let mut results = vec![
        ProbeResult::Up,
        ProbeResult::Weight(9),
        ProbeResult::Weight(9),
        ProbeResult::Up,
    ]
    .into_iter();
    let mut oracle = |s: &ProbeSpec, _: Time| {
        assert_eq!(s.timeout, std::time::Duration::from_secs(3));
        results.next().unwrap()
    };
    let log = run(&mut m, Time::from_secs(6), &mut oracle);
    assert_eq!(probes_at(&log), [1000, 6000]);
    assert_eq!(dests(&m), [("198.18.1.1:80".to_string(), 9)]);
    assert_eq!(table_changes(&log), [6000]);
    let log = run(&mut m, Time::from_secs(11), &mut oracle);
    assert!(table_changes(&log).is_empty());
    let log = run(&mut m, Time::from_secs(16), &mut oracle);
    assert_eq!(table_changes(&log), [16000]);
    assert_eq!(dests(&m), [("198.18.1.1:80".to_string(), 4)]);
}

#[test]
fn reload_keeps_state_of_unchanged_real_servers() {
    let c = cfg(TCP);
    let mut m = Monitor::new(&c, Time::ZERO, 1);
    let mut oracle = |s: &ProbeSpec, _: Time| {
        if s.target.ip().to_string() == "198.18.1.2" {
            ProbeResult::Down("refused".into())
        } else {
            ProbeResult::Up
        }
    };
    run(&mut m, Time::from_secs(3), &mut oracle);
    assert_eq!(dests(&m), [("198.18.1.1:80".to_string(), 3)]);
    let deadline = m.next_deadline();
    // Reload: weight of .1 changes (state kept), .2 unchanged (stays down), .3 new (alive).
    let text = TCP.replace("weight 3", "weight 5").replace(
        "    real_server 198.18.1.2 80 {",
        "    real_server 198.18.1.3 80 {\n        TCP_CHECK {\n            warmup 0\n        }\n    }\n    real_server 198.18.1.2 80 {",
    );
    let c2 = cfg(&text);
    m.reload(&c2, Time::from_millis(3500));
    assert_eq!(
        dests(&m),
        [
            ("198.18.1.1:80".to_string(), 5),
            ("198.18.1.3:80".to_string(), 1)
        ]
    );
    let st = m.status();
    let two = st
        .iter()
        .find(|s| s.addr.to_string() == "198.18.1.2")
        .unwrap();
    assert!(!two.up && two.checkers[0].failures == 2);
    // The kept schedule is unchanged; the new server's first check comes after the
    // bootstrap delay.
    assert!(m.next_deadline() <= deadline);
    let log = run(&mut m, Time::from_millis(4500), &mut oracle);
    assert!(log.iter().any(|(t, a)| *t == Time::from_millis(4500)
        && matches!(a, Action::Probe { spec, .. } if spec.target.ip().to_string() == "198.18.1.3")));
    // Changing the checkers of a server restarts it.
    let c3 = cfg(&text.replace(
        "    real_server 198.18.1.2 80 {\n        weight 2\n        TCP_CHECK {\n            warmup 0\n",
        "    real_server 198.18.1.2 80 {\n        weight 2\n        TCP_CHECK {\n            warmup 0\n            connect_port 81\n",
    ));
    m.reload(&c3, Time::from_secs(5));
    assert!(m.status().iter().all(|s| s.up));
}

#[test]
fn first_checks_of_a_thousand_servers_are_spread_over_delay_loop() {
    let mut text = String::from(
        "virtual_server 198.18.0.100 80 {\n protocol TCP\n lb_kind DR\n delay_loop 10\n",
    );
    for i in 0..1000 {
        text.push_str(&format!(
            " real_server 198.18.{}.{} 80 {{\n  TCP_CHECK {{\n  }}\n }}\n",
            4 + i / 250,
            1 + i % 250
        ));
    }
    text.push_str("}\n");
    let c = cfg(&text);
    let mut m = Monitor::new(&c, Time::ZERO, 42);
    let mut up = |_: &ProbeSpec, _: Time| ProbeResult::Up;
    let log = run(&mut m, Time::from_millis(11_000), &mut up);
    let firsts = probes_at(&log);
    assert_eq!(firsts.len(), 1000);
    // Default warmup = delay_loop: first checks uniformly in [1 s, 11 s]: each 1 s bucket
    // gets about 100, none more than 160 nor fewer than 50.
    let mut buckets = [0u32; 10];
    for t in firsts {
        assert!((1000..=11_000).contains(&t));
        buckets[((t - 1000) / 1000).min(9) as usize] += 1;
    }
    assert!(
        buckets.iter().all(|b| (50..=160).contains(b)),
        "{buckets:?}"
    );
}

#[test]
fn omega_runs_down_notifiers_at_shutdown() {
    let c = cfg(&TCP.replace("delay_loop 2\n", "delay_loop 2\n    omega\n"));
    let mut m = Monitor::new(&c, Time::ZERO, 1);
    let s = m.shutdown();
    assert!(matches!(&s[..], [Action::Script { command, .. }] if command == "/bin/down 1"));
    let c = cfg(TCP);
    let mut m = Monitor::new(&c, Time::ZERO, 1);
    assert!(m.shutdown().is_empty());
}

#[test]
fn results_of_unknown_or_stale_probes_are_ignored() {
    let c = cfg(TCP);
    let mut m = Monitor::new(&c, Time::ZERO, 1);
    let acts = m.poll(Time::from_secs(1));
    let ids: Vec<_> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Probe { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(m.next_deadline().is_none());
    assert!(
        !m.on_result(ids[1], ProbeResult::Up, Time::from_secs(1))
            .iter()
            .any(|a| matches!(a, Action::TableChanged))
    );
    // Same id twice: the second is ignored.
    assert!(
        m.on_result(ids[1], ProbeResult::Down("x".into()), Time::from_secs(1))
            .is_empty()
    );
}

#[test]
fn a_real_server_with_two_checkers_needs_both() {
    let c = cfg("
virtual_server 198.18.0.100 80 {
    protocol TCP
    lb_kind NAT
    delay_loop 1
    real_server 198.18.1.1 80 {
        TCP_CHECK {
            retry 0
            warmup 0
        }
        TCP_CHECK {
            connect_port 81
            retry 0
            warmup 0
        }
    }
}
");
    let mut m = Monitor::new(&c, Time::ZERO, 5);
    // Port 80 fails during [2 s, 6 s), port 81 during [4 s, 8 s).
    let mut oracle = |s: &ProbeSpec, now: Time| {
        let t = now.as_secs();
        let bad = match s.target.port() {
            80 => (2..6).contains(&t),
            _ => (4..8).contains(&t),
        };
        if bad {
            ProbeResult::Down("refused".into())
        } else {
            ProbeResult::Up
        }
    };
    let log = run(&mut m, Time::from_secs(10), &mut oracle);
    // Down at 2 s (first failure); still down at 6 s when port 80 recovers (81 failed at
    // 4 s); up at 8 s when both pass.
    assert_eq!(table_changes(&log), [2000, 8000]);
    let rs: Vec<(u64, bool)> = log
        .iter()
        .filter_map(|(t, a)| match a {
            Action::Transition(Transition::RealServer { up, .. }) => Some((t.as_millis(), *up)),
            _ => None,
        })
        .collect();
    assert_eq!(rs, [(2000, false), (8000, true)]);
    let checkers: Vec<(u64, bool)> = log
        .iter()
        .filter_map(|(t, a)| match a {
            Action::Transition(Transition::Checker { up, .. }) => Some((t.as_millis(), *up)),
            _ => None,
        })
        .collect();
    assert_eq!(
        checkers,
        [(2000, false), (4000, false), (6000, true), (8000, true)]
    );
}

#[test]
fn reload_reevaluates_quorum_and_its_scripts_come_out_of_poll() {
    let c = cfg(QUORUM);
    let mut m = Monitor::new(&c, Time::ZERO, 7);
    let mut up = |_: &ProbeSpec, _: Time| ProbeResult::Up;
    run(&mut m, Time::from_secs(2), &mut up);
    assert_eq!(dests(&m).len(), 3);
    // quorum 5 is reduced to the total weight 3 by the parser (as keepalived does); with
    // hysteresis 1 the threshold from up is 2 and the live weight is 3: still up, no script.
    let c2 = cfg(&QUORUM.replace("quorum 2", "quorum 5"));
    m.reload(&c2, Time::from_millis(2500));
    assert!(
        m.poll(Time::from_millis(2500))
            .iter()
            .all(|a| !matches!(a, Action::Script { .. }))
    );
    // Now all servers of the reloaded configuration are new (their checkers changed):
    // alpha → down at once → quorum lost at reload, quorum_down comes out of poll.
    let c3 = cfg(&QUORUM.replace("warmup 0\n", "warmup 0\n            alpha\n"));
    m.reload(&c3, Time::from_secs(3));
    assert_eq!(dests(&m), [("198.18.2.9:8080".to_string(), 1)]);
    let acts = m.poll(Time::from_secs(3));
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Script { command, .. } if command == "/bin/qdown"))
    );
}

#[test]
fn at_start_the_monitor_asks_for_the_start_up_table() {
    for text in [
        TCP.to_string(),
        QUORUM.to_string(),
        QUORUM.replace("warmup 0\n", "warmup 0\n            alpha\n"),
        QUORUM.replacen("warmup 0\n", "warmup 0\n            alpha\n", 2),
        TCP.replace("weight 2\n", "weight 2\n        inhibit_on_failure\n")
            .replace("warmup 0\n", "warmup 0\n            alpha\n"),
    ] {
        let c = cfg(&text);
        let m = Monitor::new(&c, Time::ZERO, 1);
        assert_eq!(
            m.desired(),
            rvs_config::keepalived::Desired::from_config(&c),
            "{text}"
        );
    }
}
