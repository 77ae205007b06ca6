//! The XDP fast path in `rvs lab` (root): a long TCP download through DR and NAT. Most
//! packets are forwarded in XDP (the classifier's `fastpath` counter, never seen by the
//! worker), and `rvsadm -Ln --stats --exact` still counts every packet: InPkts equals
//! what the client sent, OutPkts (NAT) what the real server sent, give or take the few
//! ARP/ND frames the interface counters also count.

#![allow(dead_code)]

mod labkit;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use labkit::{Lab, require};

const VIP4: &str = "198.18.1.100";

const SERVER: &str = r#"
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001))
s.listen(1)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(30)
for i in range(128):
    c.sendall(b"x" * 65536)
    time.sleep(0.025)
c.close()
"#;

/// Download from VIP:5001 and print the byte count.
const CLIENT: &str = r#"
import socket
s = socket.create_connection(("198.18.1.100", 5001), timeout=30)
n = 0
while True:
    d = s.recv(65536)
    if not d:
        break
    n += len(d)
print("bytes", n, flush=True)
"#;

/// `python3 -c code` in the lab's `node`, stdout and stderr piped.
fn python(lab: &Lab, node: &str, code: &str) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", &lab.ns(node), "python3", "-c", code])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 in {node}: {e}"))
}

/// `(InPkts, OutPkts, InBytes, OutBytes)` of a service in `-Ln --stats --exact`.
fn stats_of(stats: &str, service: &str) -> (u64, u64, u64, u64) {
    let l = stats
        .lines()
        .find(|l| l.contains(service))
        .unwrap_or_else(|| panic!("{service} in\n{stats}"));
    let v: Vec<u64> = l
        .split_whitespace()
        .skip(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v[1], v[2], v[3], v[4])
}

fn download(method: &str, rip: &str) {
    let Some(_g) = require(&format!("fast path lab {method}")) else {
        return;
    };
    let lab = Lab::up(method, &[]);
    let flag = if method == "nat" { "-m" } else { "-g" };
    lab.ctl(&format!("-A -t {VIP4}:5001 -s rr"));
    lab.ctl(&format!("-a -t {VIP4}:5001 -r {rip}:5001 {flag}"));
    let server = python(&lab, "rs1", SERVER);
    std::thread::sleep(Duration::from_millis(500));
    let fp = |lab: &Lab| lab.status()["dataplane"]["classifier"]["fastpath"].as_u64();
    let fp0 = fp(&lab).expect("fastpath counter");
    let c_tx0 = lab.counter("client", "eth0", "tx_packets");
    let s_tx0 = lab.counter("rs1", "eth0", "tx_packets");
    let client = python(&lab, "client", CLIENT);
    // The worker's frame count when the flow first shows up in the fast path.
    let mut rx_at_install = None;
    for _ in 0..100 {
        let st = lab.status();
        let flows = st["dataplane"]["fastpath_flows"].as_u64().unwrap_or(0);
        if flows > 0 && rx_at_install.is_none() {
            rx_at_install = st["dataplane"]["rx"].as_u64();
        }
        if st["connections"].as_u64() == Some(0) && rx_at_install.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = client.wait_with_output().expect("client");
    let got = String::from_utf8_lossy(&out.stdout).into_owned();
    let srv = server.wait_with_output().expect("server exit");
    // Two sync periods, so the last XDP counters are merged.
    std::thread::sleep(Duration::from_millis(600));
    let c_tx = lab.counter("client", "eth0", "tx_packets") - c_tx0;
    let s_tx = lab.counter("rs1", "eth0", "tx_packets") - s_tx0;
    let fast = fp(&lab).expect("fastpath counter") - fp0;
    let stats = lab.ctl("-Ln --stats --exact");
    let (inp, outp, inb, outb) = stats_of(&stats, &format!("TCP  {VIP4}:5001"));
    let st = lab.status();
    let report = format!(
        "{method}: client {got} {}\nserver {}\nclient tx {c_tx}, server tx {s_tx}, \
         fast path {fast}\n{stats}\n{:#}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&srv.stderr),
        st["dataplane"]
    );
    eprintln!("{report}");
    assert!(got.contains(&format!("bytes {}", 8 << 20)), "{report}");
    // Every client packet counted once (the interface also counts an ARP or two).
    assert!(inp <= c_tx && c_tx <= inp + 6, "InPkts {inp} vs {report}");
    assert!(inb > 0);
    if method == "nat" {
        assert!(
            outp <= s_tx && s_tx <= outp + 6,
            "OutPkts {outp} vs {report}"
        );
        assert!(outb >= 8 << 20, "{report}");
    } else {
        assert_eq!((outp, outb), (0, 0), "DR replies bypass the director");
    }
    // Once installed, the flow never reached the worker again but for its close (FIN
    // each way, the last ACK, a retransmission or two)...
    let rx_at_install = rx_at_install.expect("the flow was installed");
    let rx_end = st["dataplane"]["rx"].as_u64().expect("rx");
    assert!(
        rx_end - rx_at_install <= 8,
        "rx {rx_at_install} at install, {rx_end} at the end {report}"
    );
    // ...and most of the download went through XDP (NAT: both directions; DR: the
    // client's ACKs, many of them front-loaded in slow start, before the first sync).
    let share = if method == "nat" { 8 } else { 3 };
    assert!(
        fast * 10 >= (inp + outp) * share,
        "fast path {fast} of {} {report}",
        inp + outp
    );
}

#[test]
fn dr_download_goes_through_the_fast_path_with_exact_stats() {
    download("dr", "198.18.1.11");
}

#[test]
fn nat_download_goes_through_the_fast_path_with_exact_stats() {
    download("nat", "198.18.2.11");
}

/// `rvs lab up --pin`: rvsd restarts (SIGTERM, then the same command line) in the middle
/// of a DR download; the pinned program keeps forwarding the flow through the gap, the
/// new rvsd takes the links over, adopts the connection, and the download completes.
#[test]
fn dr_download_survives_an_rvsd_restart_with_pinned_maps() {
    restart("dr", "198.18.1.11", "-g");
}

/// The same through FULLNAT: the adopted connection claims its local address and port
/// again, so the real server's replies still find it.
#[test]
fn fullnat_download_survives_an_rvsd_restart_with_pinned_maps() {
    restart("fullnat", "198.18.2.11", "--fullnat");
}

fn restart(method: &str, rip: &str, flag: &str) {
    let Some(_g) = require(&format!("fast path lab restart {method}")) else {
        return;
    };
    let lab = Lab::up(method, &["--pin"]);
    let rules = [
        format!("-A -t {VIP4}:5001 -s rr"),
        format!("-a -t {VIP4}:5001 -r {rip}:5001 {flag} -w 1"),
    ];
    for r in &rules {
        lab.ctl(r);
    }
    // The restarted rvsd loads the lab's rules file: the service must be in it.
    let rules_file = lab.state().join("rules.txt");
    let mut text = std::fs::read_to_string(&rules_file).expect("rules.txt");
    for r in &rules {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&rules_file, text).expect("rules.txt");
    let server = python(&lab, "rs1", SERVER);
    std::thread::sleep(Duration::from_millis(500));
    let client = python(&lab, "client", CLIENT);
    // Wait until the flow is in the fast path.
    let t0 = Instant::now();
    while lab.status()["dataplane"]["fastpath_flows"]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "flow never installed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let fast_before = lab.status()["dataplane"]["classifier"]["fastpath"]
        .as_u64()
        .expect("fastpath");
    let argv = lab.rvsd_argv();
    lab.stop_rvsd();
    assert!(lab.xdp_attached(), "the pinned program stays attached");
    std::thread::sleep(Duration::from_millis(300));
    let mut child = lab.start_rvsd(&argv, "rvsd-restart.log");
    std::thread::sleep(Duration::from_millis(500));
    let st = lab.status();
    eprintln!("CONNS after restart:\n{}", lab.ctl("-Lnc"));
    let out = client.wait_with_output().expect("client");
    let got = String::from_utf8_lossy(&out.stdout).into_owned();
    let srv = server.wait_with_output().expect("server");
    let end = lab.status();
    let report = format!(
        "client {got} {}\nserver {}\nafter restart {:#}\nat the end {:#}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&srv.stderr),
        st["dataplane"],
        end["dataplane"],
        std::fs::read_to_string(lab.state().join("rvsd-restart.log")).unwrap_or_default()
    );
    eprintln!("{report}");
    assert!(got.contains(&format!("bytes {}", 8 << 20)), "{report}");
    // The new rvsd adopted the connection and the pinned counters went on.
    assert!(st["connections"].as_u64().unwrap_or(0) >= 1, "{report}");
    let log = std::fs::read_to_string(lab.state().join("rvsd-restart.log")).unwrap_or_default();
    assert!(
        log.contains("fast-path flows of a previous run") && !log.contains("adopted=0"),
        "{report}"
    );
    let fast_end = end["dataplane"]["classifier"]["fastpath"]
        .as_u64()
        .expect("fastpath");
    assert!(fast_end > fast_before, "{report}");
    let _ = child.kill();
    let _ = child.wait();
}
