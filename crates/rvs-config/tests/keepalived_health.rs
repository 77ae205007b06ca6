//! `Desired::with_health`: the table under a given health state, as keepalived's ipwrapper.c
//! would have it (perform_svr_state, update_quorum_state, perform_quorum_state).

use std::collections::HashMap;

use rvs_config::keepalived::table::{HealthView, StartupHealth};
use rvs_config::keepalived::{Config, Desired, check_str};

fn cfg(text: &str) -> Config {
    let r = check_str("t.conf", text);
    assert!(r.errors.is_empty(), "{}", r.render());
    r.config.unwrap()
}

#[derive(Default)]
struct View {
    down: Vec<(usize, usize)>,
    weights: HashMap<(usize, usize), i32>,
    quorum_down: Vec<usize>,
    cfg: Option<Config>,
}

impl HealthView for View {
    fn weight(&self, vs: usize, rs: usize) -> Option<i32> {
        if self.down.contains(&(vs, rs)) {
            return None;
        }
        if let Some(w) = self.weights.get(&(vs, rs)) {
            return Some(*w);
        }
        Some(self.cfg.as_ref().unwrap().virtual_servers[vs].real_servers[rs].weight)
    }
    fn quorum_up(&self, vs: usize) -> bool {
        !self.quorum_down.contains(&vs)
    }
}

fn dests(d: &Desired, svc: usize) -> Vec<(String, i32)> {
    d.services[svc]
        .dests
        .iter()
        .map(|x| (format!("{}:{}", x.addr, x.port), x.weight))
        .collect()
}

const TWO: &str = "
virtual_server 198.18.0.100 80 {
    protocol TCP
    lb_kind NAT
    real_server 198.18.1.1 80 {
        weight 3
        TCP_CHECK {
        }
    }
    real_server 198.18.1.2 80 {
        weight 2
        inhibit_on_failure
        TCP_CHECK {
        }
    }
}
";

#[test]
fn down_real_server_is_removed_or_inhibited() {
    let c = cfg(TWO);
    let mut v = View {
        cfg: Some(c.clone()),
        ..Default::default()
    };
    let all = Desired::with_health(&c, &v);
    assert_eq!(all, Desired::from_config(&c));
    assert_eq!(
        dests(&all, 0),
        [("198.18.1.1:80".into(), 3), ("198.18.1.2:80".into(), 2)]
    );
    v.down = vec![(0, 0), (0, 1)];
    let d = Desired::with_health(&c, &v);
    // The first is removed; the second (inhibit_on_failure) stays with weight 0.
    assert_eq!(dests(&d, 0), [("198.18.1.2:80".into(), 0)]);
}

#[test]
fn dynamic_weight_is_used() {
    let c = cfg(TWO);
    let mut v = View {
        cfg: Some(c.clone()),
        ..Default::default()
    };
    v.weights.insert((0, 0), 17);
    let d = Desired::with_health(&c, &v);
    assert_eq!(
        dests(&d, 0),
        [("198.18.1.1:80".into(), 17), ("198.18.1.2:80".into(), 2)]
    );
}

const SORRY: &str = "
virtual_server 198.18.0.100 80 {
    protocol TCP
    lb_kind NAT
    quorum 4
    sorry_server 198.18.2.9 8080
    real_server 198.18.1.1 80 {
        weight 3
        TCP_CHECK {
        }
    }
    real_server 198.18.1.2 80 {
        weight 2
        inhibit_on_failure
        TCP_CHECK {
        }
    }
}
";

#[test]
fn quorum_lost_with_sorry_server_takes_live_servers_out() {
    let c = cfg(SORRY);
    let mut v = View {
        cfg: Some(c.clone()),
        ..Default::default()
    };
    let d = Desired::with_health(&c, &v);
    assert_eq!(
        dests(&d, 0),
        [("198.18.1.1:80".into(), 3), ("198.18.1.2:80".into(), 2)]
    );
    // Quorum lost: the live real servers leave (inhibit ones stay at weight 0), the sorry
    // server serves with weight 1.
    v.down = vec![(0, 1)];
    v.quorum_down = vec![0];
    let d = Desired::with_health(&c, &v);
    assert_eq!(
        dests(&d, 0),
        [("198.18.1.2:80".into(), 0), ("198.18.2.9:8080".into(), 1)]
    );
}

#[test]
fn quorum_lost_without_sorry_server_changes_nothing_else() {
    let c = cfg(TWO);
    let v = View {
        cfg: Some(c.clone()),
        quorum_down: vec![0],
        ..Default::default()
    };
    let d = Desired::with_health(&c, &v);
    assert_eq!(
        dests(&d, 0),
        [("198.18.1.1:80".into(), 3), ("198.18.1.2:80".into(), 2)]
    );
}

#[test]
fn sorry_server_inhibit_stays_at_weight_zero_while_quorum_is_up() {
    let c = cfg(&SORRY.replace(
        "sorry_server 198.18.2.9 8080",
        "sorry_server 198.18.2.9 8080\n    sorry_server_inhibit",
    ));
    let mut v = View {
        cfg: Some(c.clone()),
        ..Default::default()
    };
    let d = Desired::with_health(&c, &v);
    assert_eq!(
        dests(&d, 0),
        [
            ("198.18.1.1:80".into(), 3),
            ("198.18.1.2:80".into(), 2),
            ("198.18.2.9:8080".into(), 0)
        ]
    );
    v.quorum_down = vec![0];
    let d = Desired::with_health(&c, &v);
    assert_eq!(
        dests(&d, 0),
        [("198.18.1.2:80".into(), 0), ("198.18.2.9:8080".into(), 1)]
    );
}

#[test]
fn startup_view_matches_from_config_with_alpha() {
    let c = cfg(&SORRY.replacen("TCP_CHECK {\n", "TCP_CHECK {\n            alpha\n", 1));
    let s = StartupHealth { cfg: &c };
    assert_eq!(s.weight(0, 0), None);
    assert!(!s.quorum_up(0));
    let d = Desired::with_health(&c, &s);
    assert_eq!(d, Desired::from_config(&c));
    assert_eq!(
        dests(&d, 0),
        [("198.18.1.2:80".into(), 0), ("198.18.2.9:8080".into(), 1)]
    );
}
