//! Health checks in a lab, as root: rvsd runs a keepalived.conf whose virtual servers use
//! every checker type (HTTP_GET with and without digest, SSL_GET against a self-signed TLS
//! server, TCP_CHECK, SMTP_CHECK, DNS_CHECK, UDP_CHECK, MISC_CHECK with misc_dynamic,
//! PING_CHECK) against real servers in network namespaces. One real server fails in every
//! way at once and must leave every service within
//! delay_loop × (retry + 1) + connect_timeout (a refused connection, a failing script), or
//! delay_loop + (retry + 1) × connect_timeout + retry × delay_before_retry (an echo that
//! never comes back), clients must keep being served by the
//! others, it must come back when it recovers, and when every real server is down the
//! sorry server must answer.

mod labkit;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use labkit::{Lab, RVS, ok, require};

/// delay_loop 1, retry 1, delay_before_retry 1, connect_timeout 1.
const BOUND_DOWN: Duration = Duration::from_millis(3000);
/// A checker whose failure is a timeout (PING_CHECK: no echo reply) needs
/// delay_loop + (retry + 1) × connect_timeout + retry × delay_before_retry.
const BOUND_DOWN_TIMEOUT: Duration = Duration::from_millis(4000);
/// Polling and scheduling slack on a busy 2-core machine.
const SLACK: Duration = Duration::from_millis(700);

const SERVERS_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/health/servers.py");

fn conf(state: &Path, digest: &str) -> String {
    let st = state.display();
    let timing = "connect_timeout 1\n            retry 1\n            delay_before_retry 1";
    format!(
        "\
global_defs {{
    router_id rvs_health
}}
virtual_server 198.18.1.100 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    sorry_server 198.18.1.14 80
    real_server 198.18.1.11 80 {{
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            {timing}
        }}
    }}
    real_server 198.18.1.12 80 {{
        HTTP_GET {{
            url {{
                path /
            }}
            {timing}
        }}
    }}
    real_server 198.18.1.13 80 {{
        HTTP_GET {{
            url {{
                path /
            }}
            {timing}
        }}
    }}
}}
virtual_server 198.18.1.100 8080 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.11 8080 {{
        HTTP_GET {{
            url {{
                path /
                digest {digest}
            }}
            {timing}
        }}
    }}
    real_server 198.18.1.12 8080 {{
        HTTP_GET {{
            url {{
                path /
                digest 00000000000000000000000000000000
            }}
            {timing}
        }}
    }}
}}
virtual_server 198.18.1.100 443 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.11 443 {{
        SSL_GET {{
            url {{
                path /
            }}
            {timing}
        }}
    }}
    real_server 198.18.1.12 443 {{
        SSL_GET {{
            url {{
                path /
            }}
            {timing}
        }}
    }}
}}
virtual_server 198.18.1.100 25 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.11 25 {{
        SMTP_CHECK {{
            helo_name rvs.test
            {timing}
        }}
    }}
}}
virtual_server 198.18.1.100 53 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol UDP
    real_server 198.18.1.11 53 {{
        DNS_CHECK {{
            type A
            name example.test
            {timing}
        }}
    }}
}}
virtual_server 198.18.1.100 9000 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol UDP
    real_server 198.18.1.11 9000 {{
        UDP_CHECK {{
            payload 70696e67
            require_reply
            {timing}
        }}
    }}
}}
virtual_server 198.18.1.100 8081 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.11 8081 {{
        MISC_CHECK {{
            misc_path \"test -e {st}/misc-ok-rs1\"
            misc_timeout 1
            retry 1
            delay_before_retry 1
        }}
    }}
    real_server 198.18.1.12 8081 {{
        MISC_CHECK {{
            misc_path \"/bin/sh -c 'exit 7'\"
            misc_timeout 1
            misc_dynamic
        }}
    }}
}}
virtual_server 198.18.1.100 8082 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.11 8082 {{
        PING_CHECK {{
            {timing}
        }}
    }}
}}
virtual_server 198.18.1.100 8083 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.11 8083 {{
        TCP_CHECK {{
            connect_port 80
            {timing}
        }}
    }}
}}
"
    )
}

/// Services and the checker each one exercises on rs1 (198.18.1.11).
const RS1_SERVICES: [(&str, &str); 9] = [
    ("TCP  198.18.1.100:80", "HTTP_GET"),
    ("TCP  198.18.1.100:8080", "HTTP_GET digest"),
    ("TCP  198.18.1.100:443", "SSL_GET"),
    ("TCP  198.18.1.100:25", "SMTP_CHECK"),
    ("UDP  198.18.1.100:53", "DNS_CHECK"),
    ("UDP  198.18.1.100:9000", "UDP_CHECK"),
    ("TCP  198.18.1.100:8081", "MISC_CHECK"),
    ("TCP  198.18.1.100:8082", "PING_CHECK"),
    ("TCP  198.18.1.100:8083", "TCP_CHECK"),
];

/// Real servers of every service in an `-Ln` listing: service line → (RIP:PORT → weight).
fn table(listing: &str) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for l in listing.lines() {
        if l.starts_with("TCP ") || l.starts_with("UDP ") {
            let w: Vec<&str> = l.split_whitespace().collect();
            let key = format!("{}  {}", w[0], w[1]);
            out.entry(key.clone()).or_default();
            cur = Some(key);
        } else if let (Some(k), Some(rest)) = (&cur, l.strip_prefix("  -> ")) {
            let w: Vec<&str> = rest.split_whitespace().collect();
            if w.len() >= 3 && w[0] != "RemoteAddress:Port" {
                let weight = w[2].parse().expect("weight");
                out.entry(k.clone())
                    .or_default()
                    .insert(w[0].to_string(), weight);
            }
        }
    }
    out
}

fn has(t: &BTreeMap<String, BTreeMap<String, i64>>, svc: &str, rs: &str) -> bool {
    t.get(svc).is_some_and(|d| d.contains_key(rs))
}

/// `rs1:PORT` of a service line.
fn rs1_of(svc: &str) -> String {
    let port = svc.rsplit(':').next().expect("port");
    format!("198.18.1.11:{port}")
}

/// The extra servers of rs1 (TLS 443, SMTP 25, DNS 53).
struct Extras {
    children: Vec<Child>,
}

impl Extras {
    fn start(lab: &Lab) -> Extras {
        let dir = lab.state();
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        let mut children = Vec::new();
        for args in [
            vec![
                "tls".to_string(),
                "443".into(),
                cert.display().to_string(),
                key.display().to_string(),
            ],
            vec!["smtp".into(), "25".into()],
            vec!["dns".into(), "53".into()],
        ] {
            children.push(
                Command::new("ip")
                    .args(["netns", "exec", &lab.ns("rs1"), "python3", SERVERS_PY])
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("python server"),
            );
        }
        Extras { children }
    }

    fn stop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Extras {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The lab's `rvs lab serve` of real server `id` (rsN): kill it.
fn kill_serve(lab: &Lab, id: &str) {
    let text = std::fs::read_to_string(lab.state().join(format!("pids/serve-{id}.pid")))
        .expect("serve pid");
    let pid = text.split_whitespace().next().expect("pid");
    let _ = Command::new("kill").args(["-KILL", pid]).output();
}

/// Start `rvs lab serve --id ID` again in its namespace (recorded as the lab's server).
fn start_serve(lab: &Lab, id: &str) -> Child {
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns(id),
            RVS,
            "lab",
            "serve",
            "--id",
            id,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rvs lab serve");
    std::fs::write(
        lab.state().join(format!("pids/serve-{id}.pid")),
        format!("{} 0\n", child.id()),
    )
    .expect("pid file");
    child
}

fn ping_ignore(lab: &Lab, on: bool) {
    ok(Command::new("ip").args([
        "netns",
        "exec",
        &lab.ns("rs1"),
        "sysctl",
        "-qw",
        &format!("net.ipv4.icmp_echo_ignore_all={}", u8::from(on)),
    ]));
}

/// Poll `-Ln` until `done(table)`, at most `limit`; the time it took.
fn wait_until(
    lab: &Lab,
    limit: Duration,
    what: &str,
    done: impl Fn(&BTreeMap<String, BTreeMap<String, i64>>) -> bool,
) -> Duration {
    let t0 = Instant::now();
    loop {
        let listing = lab.rvsadm("-Ln");
        if done(&table(&listing)) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < limit,
            "{what}: not within {limit:?}:\n{listing}\n{}",
            lab.rvsadm("-Ln --health")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_checker_type_takes_a_failed_real_server_out_and_brings_it_back() {
    let Some(_g) = require("health checks in a lab") else {
        return;
    };
    let lab = Lab::up("dr", &["--servers", "4"]);
    let state = lab.state();
    ok(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=rs1.rvs.test",
        "-keyout",
        &state.join("tls.key").display().to_string(),
        "-out",
        &state.join("tls.crt").display().to_string(),
    ]));
    let mut extras = Extras::start(&lab);
    std::fs::write(state.join("misc-ok-rs1"), "").expect("misc file");
    // keepalived's digest: MD5 of the body, lower-case hex; rs1's body is "rs1\n".
    let digest = ok(Command::new("sh").args(["-c", "printf 'rs1\\n' | md5sum"]));
    let digest = digest.split_whitespace().next().expect("md5").to_string();
    let (mut rvsd, _) = lab.restart_with_conf(&conf(&state, &digest), "rvsd-health.log");
    let log = state.join("rvsd-health.log");

    // Converged: rs1 up everywhere, rs2 down where its check cannot pass (wrong digest, no
    // TLS server), misc_dynamic gave rs2 weight 7 - 2 = 5, the sorry server is not in use.
    let steady = |t: &BTreeMap<String, BTreeMap<String, i64>>| {
        RS1_SERVICES.iter().all(|(s, _)| has(t, s, &rs1_of(s)))
            && !has(t, "TCP  198.18.1.100:8080", "198.18.1.12:8080")
            && !has(t, "TCP  198.18.1.100:443", "198.18.1.12:443")
            && t.get("TCP  198.18.1.100:8081")
                .and_then(|d| d.get("198.18.1.12:8081"))
                == Some(&5)
            && ["198.18.1.11:80", "198.18.1.12:80", "198.18.1.13:80"]
                .iter()
                .all(|r| has(t, "TCP  198.18.1.100:80", r))
            && !has(t, "TCP  198.18.1.100:80", "198.18.1.14:80")
    };
    wait_until(&lab, Duration::from_secs(15), "initial state", steady);
    let health = lab.rvsadm("-Ln --health");
    assert!(health.contains("198.18.1.12:8080"), "{health}");

    // rs1 fails in every way at once.
    kill_serve(&lab, "rs1");
    extras.stop();
    std::fs::remove_file(state.join("misc-ok-rs1")).expect("rm misc file");
    ping_ignore(&lab, true);
    let t0 = Instant::now();
    let mut gone: BTreeMap<&str, Duration> = BTreeMap::new();
    while gone.len() < RS1_SERVICES.len() {
        let t = table(&lab.rvsadm("-Ln"));
        for (svc, kind) in RS1_SERVICES {
            if !gone.contains_key(kind) && !has(&t, svc, &rs1_of(svc)) {
                gone.insert(kind, t0.elapsed());
            }
        }
        assert!(
            t0.elapsed() < BOUND_DOWN_TIMEOUT + SLACK + Duration::from_secs(2),
            "rs1 still in: {:?} gone only from {gone:?}\n{}",
            RS1_SERVICES,
            lab.rvsadm("-Ln --health")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("rs1 down, detected after: {gone:?}");
    for (kind, took) in &gone {
        let bound = if *kind == "PING_CHECK" {
            BOUND_DOWN_TIMEOUT
        } else {
            BOUND_DOWN
        };
        assert!(
            *took <= bound + SLACK,
            "{kind}: rs1 left after {took:?}, more than {bound:?} + slack"
        );
    }
    // Clients are served by the others only, without a failure.
    let tally = lab.tally("http", "198.18.1.100", 30);
    assert_eq!(tally.get("failed"), Some(&0), "{tally:?}");
    assert_eq!(tally.get("rs1"), None, "{tally:?}");
    assert_eq!(
        tally.get("rs2").copied().unwrap_or(0) + tally.get("rs3").copied().unwrap_or(0),
        30,
        "{tally:?}"
    );

    // A reload (same file) keeps what the checker knows: rs1 stays out.
    ok(Command::new("kill").args(["-HUP", &rvsd.id().to_string()]));
    let t0 = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("configuration re-read")
    {
        assert!(t0.elapsed() < Duration::from_secs(5), "no reload logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let t = table(&lab.rvsadm("-Ln"));
    assert!(
        RS1_SERVICES.iter().all(|(s, _)| !has(&t, s, &rs1_of(s))),
        "{t:?}"
    );

    // rs1 recovers.
    let mut serve1 = start_serve(&lab, "rs1");
    let mut extras = Extras::start(&lab);
    std::fs::write(state.join("misc-ok-rs1"), "").expect("misc file");
    ping_ignore(&lab, false);
    let back = wait_until(&lab, Duration::from_secs(8), "rs1 back", |t| {
        RS1_SERVICES.iter().all(|(s, _)| has(t, s, &rs1_of(s)))
    });
    eprintln!("rs1 back everywhere after {back:?}");

    // Every real server of :80 down: the sorry server answers.
    kill_serve(&lab, "rs1");
    kill_serve(&lab, "rs2");
    kill_serve(&lab, "rs3");
    let _ = serve1.kill();
    let _ = serve1.wait();
    wait_until(
        &lab,
        BOUND_DOWN + SLACK + Duration::from_secs(2),
        "sorry server",
        |t| {
            t.get("TCP  198.18.1.100:80")
                .is_some_and(|d| d.len() == 1 && d.contains_key("198.18.1.14:80"))
        },
    );
    let tally = lab.tally("http", "198.18.1.100", 10);
    assert_eq!(tally.get("rs4"), Some(&10), "{tally:?}");
    // One comes back: the sorry server goes.
    let mut serve2 = start_serve(&lab, "rs2");
    wait_until(&lab, Duration::from_secs(8), "sorry server out", |t| {
        t.get("TCP  198.18.1.100:80")
            .is_some_and(|d| d.len() == 1 && d.contains_key("198.18.1.12:80"))
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("198.18.1.11"),
        "transitions are logged:\n{text}"
    );
    extras.stop();
    let _ = serve2.kill();
    let _ = serve2.wait();
    ok(Command::new("kill").args(["-TERM", &rvsd.id().to_string()]));
    let _ = rvsd.wait();
}

const NAT_CONF: &str = "\
virtual_server 198.18.1.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 198.18.2.11 8080 {
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 198.18.2.12 8080 {
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 198.18.2.13 8080 {
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server fd00:1::100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server fd00:2::b 8080 {
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server fd00:2::c 8080 {
        PING_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
";

/// NAT: the real servers answer the director's checks through the interface the XDP
/// classifier watches for NAT replies; those answers must reach the director's own stack
/// (IPv4 and IPv6, TCP and ICMPv6 echo), and a failed server must still be found.
#[test]
fn nat_real_servers_answer_the_checker_through_xdp() {
    let Some(_g) = require("health checks through NAT") else {
        return;
    };
    let lab = Lab::up("nat", &[]);
    let (mut rvsd, _) = lab.restart_with_conf(NAT_CONF, "rvsd-health-nat.log");
    let all = |t: &BTreeMap<String, BTreeMap<String, i64>>| {
        ["198.18.2.11:8080", "198.18.2.12:8080", "198.18.2.13:8080"]
            .iter()
            .all(|r| has(t, "TCP  198.18.1.100:80", r))
            && ["[fd00:2::b]:8080", "[fd00:2::c]:8080"]
                .iter()
                .all(|r| has(t, "TCP  [fd00:1::100]:80", r))
    };
    // Checks run every second and two failures in a row (each up to 1 s) take a server
    // out: after 5 s of checks every server must still be in (each check has passed).
    std::thread::sleep(Duration::from_secs(5));
    let health = lab.rvsadm("-Ln --health");
    assert!(all(&table(&lab.rvsadm("-Ln"))), "{health}");
    assert!(!health.contains("failed"), "{health}");
    assert_eq!(health.matches(" ok").count(), 5, "{health}");

    kill_serve(&lab, "rs2");
    let took = wait_until(&lab, BOUND_DOWN + SLACK, "rs2 out", |t| {
        !has(t, "TCP  198.18.1.100:80", "198.18.2.12:8080")
    });
    eprintln!("NAT rs2 out after {took:?}");
    let tally = lab.tally("http", "198.18.1.100", 20);
    assert_eq!(tally.get("failed"), Some(&0), "{tally:?}");
    assert_eq!(tally.get("rs2"), None, "{tally:?}");
    let mut serve = start_serve(&lab, "rs2");
    wait_until(&lab, Duration::from_secs(8), "rs2 back", all);
    let _ = serve.kill();
    let _ = serve.wait();
    ok(Command::new("kill").args(["-TERM", &rvsd.id().to_string()]));
    let _ = rvsd.wait();
}
