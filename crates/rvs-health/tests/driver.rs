//! The driver with real time against loopback TCP servers and a fake sink.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rvs_config::keepalived::{Config, Desired, check_str};
use rvs_core::Time;
use rvs_health::{Change, Handle, Monitor, TableSink};

#[derive(Default)]
struct Sink {
    got: Mutex<Vec<(Desired, Change, Instant)>>,
    cv: Condvar,
}

impl TableSink for Sink {
    fn apply(&self, desired: Desired, change: Change) {
        self.got
            .lock()
            .unwrap()
            .push((desired, change, Instant::now()));
        self.cv.notify_all();
    }
}

impl Sink {
    /// Waits up to `limit` for a table satisfying `f`; returns when it came.
    fn wait(&self, limit: Duration, f: impl Fn(&Desired, Change) -> bool) -> Option<Instant> {
        let end = Instant::now() + limit;
        let mut g = self.got.lock().unwrap();
        loop {
            if let Some((_, _, t)) = g.iter().find(|(d, c, _)| f(d, *c)) {
                return Some(*t);
            }
            let now = Instant::now();
            if now >= end {
                return None;
            }
            g = self.cv.wait_timeout(g, end - now).unwrap().0;
        }
    }

    fn clear(&self) {
        self.got.lock().unwrap().clear();
    }
}

fn rs_list(d: &Desired) -> Vec<SocketAddr> {
    d.services[0]
        .dests
        .iter()
        .map(|x| SocketAddr::new(x.addr, x.port))
        .collect()
}

fn cfg(a: SocketAddr, b: SocketAddr, extra: &str) -> Config {
    let text = format!(
        "
virtual_server 198.18.0.100 80 {{
    protocol TCP
    lb_kind NAT
    delay_loop 1
    real_server {} {} {{
        TCP_CHECK {{
            retry 1
            delay_before_retry 1
            connect_timeout 1
            warmup 0
        }}
    }}
    real_server {} {} {{
        TCP_CHECK {{
            warmup 0
        }}
    }}
{extra}
}}
",
        a.ip(),
        a.port(),
        b.ip(),
        b.port()
    );
    let r = check_str("t.conf", &text);
    assert!(r.errors.is_empty(), "{}", r.render());
    r.config.unwrap()
}

#[test]
fn a_stopped_server_leaves_the_table_and_comes_back() {
    let l1 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let l2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = (l1.local_addr().unwrap(), l2.local_addr().unwrap());
    let c = cfg(a, b, "");
    let m = Monitor::new(&c, Time::ZERO, 9);
    let sink = Arc::new(Sink::default());
    let h = Handle::start(m, sink.clone(), 4).unwrap();
    // Both up: first checks pass, nothing to apply.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(sink.got.lock().unwrap().is_empty());
    assert!(h.status().iter().all(|s| s.up));

    // Stop a: gone within delay_loop × (retry + 1) + connect_timeout = 3 s.
    let stopped = Instant::now();
    drop(l1);
    let t = sink
        .wait(Duration::from_secs(6), |d, c| {
            c == Change::Health && rs_list(d) == [b]
        })
        .expect("a never left the table");
    assert!(
        t - stopped <= Duration::from_millis(3500),
        "{:?}",
        t - stopped
    );
    let st = h.status();
    let sa = st.iter().find(|s| s.port == a.port()).unwrap();
    assert!(!sa.up && sa.checkers[0].failures >= 2);
    assert!(
        sa.checkers[0]
            .last_failure
            .as_deref()
            .unwrap()
            .contains("refused")
    );

    // Restart it: back at the next check (≤ delay_loop) after the listener is up.
    sink.clear();
    let l1 = std::net::TcpListener::bind(a).unwrap();
    let restarted = Instant::now();
    let t = sink
        .wait(Duration::from_secs(4), |d, c| {
            c == Change::Health && rs_list(d) == [a, b]
        })
        .expect("a never came back");
    assert!(
        t - restarted <= Duration::from_millis(2500),
        "{:?}",
        t - restarted
    );

    // Reload with a sorry server and quorum 2: applied at once as a Reload, both real
    // servers kept (their state is kept too: no new bootstrap). Then a stops again: the
    // live weight (1) is below the quorum, the sorry server takes over.
    sink.clear();
    h.reload(cfg(a, b, "    quorum 2\n    sorry_server 127.0.0.9 8080\n"));
    sink.wait(Duration::from_secs(2), |d, c| {
        c == Change::Reload && rs_list(d) == [a, b]
    })
    .expect("no reload table");
    drop(l1);
    let sorry: SocketAddr = "127.0.0.9:8080".parse().unwrap();
    sink.wait(Duration::from_secs(6), |d, c| {
        c == Change::Health && rs_list(d) == [sorry]
    })
    .expect("the sorry server never took over");
    assert!(h.status().iter().any(|s| s.sorry && s.up && !s.quorum_up));
    h.shutdown();
    drop(l2);
}

#[test]
fn probes_are_bounded_and_shutdown_is_prompt() {
    // A MISC_CHECK that sleeps: with max_probes 1 only one runs at a time; shutdown does
    // not wait for it.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let text = format!(
        "
virtual_server 198.18.0.100 80 {{
    protocol TCP
    lb_kind DR
    delay_loop 30
    real_server 198.18.1.1 80 {{
        MISC_CHECK {{
            misc_path \"echo start >> {l}; sleep 5; echo end >> {l}\"
            misc_timeout 10
            warmup 0
        }}
    }}
    real_server 198.18.1.2 80 {{
        MISC_CHECK {{
            misc_path \"echo start >> {l}; sleep 5; echo end >> {l}\"
            misc_timeout 10
            warmup 0
        }}
    }}
}}
",
        l = log.display()
    );
    let r = check_str("t.conf", &text);
    assert!(r.errors.is_empty(), "{}", r.render());
    let c = r.config.unwrap();
    let sink = Arc::new(Sink::default());
    let h = Handle::start(Monitor::new(&c, Time::ZERO, 1), sink, 1).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let started = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        started.lines().filter(|l| *l == "start").count(),
        1,
        "{started}"
    );
    let t = Instant::now();
    h.shutdown();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn misc_check_and_notify_scripts_run_for_real() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("healthy");
    let log = dir.path().join("log");
    std::fs::write(&flag, "").unwrap();
    let text = format!(
        "
virtual_server 198.18.0.100 80 {{
    protocol TCP
    lb_kind DR
    delay_loop 1
    quorum_down \"echo quorum_down >> {l}\"
    quorum_up \"echo quorum_up >> {l}\"
    real_server 198.18.1.1 80 {{
        notify_down \"echo rs_down >> {l}\"
        notify_up \"echo rs_up >> {l}\"
        MISC_CHECK {{
            misc_path \"test -e {f}\"
            misc_timeout 2
            warmup 0
        }}
    }}
}}
",
        l = log.display(),
        f = flag.display()
    );
    let r = check_str("t.conf", &text);
    assert!(r.errors.is_empty(), "{}", r.render());
    let c = r.config.unwrap();
    let sink = Arc::new(Sink::default());
    let h = Handle::start(Monitor::new(&c, Time::ZERO, 1), sink.clone(), 2).unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    std::fs::remove_file(&flag).unwrap();
    sink.wait(Duration::from_secs(4), |d, c| {
        c == Change::Health && d.services[0].dests.is_empty()
    })
    .expect("never went down");
    std::fs::write(&flag, "").unwrap();
    sink.wait(Duration::from_secs(4), |d, c| {
        c == Change::Health && d.services[0].dests.len() == 1
    })
    .expect("never came back");
    // Scripts are not waited for by the loop: give them a moment.
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["quorum_down", "quorum_up", "rs_down", "rs_up"],
        "{text}"
    );
    h.shutdown();
}
