//! End to end, as root: `rvs lab` with rvsd on XDP + AF_XDP in network namespaces, real
//! kernel TCP/UDP stacks on both sides, every forwarding method over IPv4 and IPv6.
//!
//! Without root the tests print `SKIP (needs root)` and pass, unless `RVS_REQUIRE_PRIV=1`
//! (CI), where a skip fails. The tests of this file run one at a time (each builds a lab
//! of six namespaces and runs rvsd; the machine has two cores).

mod labkit;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use labkit::{Lab, kill_and_wait, ok, require};

const VIP4: &str = "198.18.1.100";
const VIP6: &str = "fd00:1::100";

/// Every request answered, and rr over three servers: equal within one.
fn assert_spread(t: &BTreeMap<String, u64>, count: u64, what: &str) {
    assert_eq!(t.get("failed"), Some(&0), "{what}: {t:?}");
    let per: Vec<u64> = ["rs1", "rs2", "rs3"]
        .iter()
        .map(|k| t.get(*k).copied().unwrap_or(0))
        .collect();
    assert_eq!(per.iter().sum::<u64>(), count, "{what}: {t:?}");
    let (lo, hi) = (
        per.iter().min().copied().unwrap_or(0),
        per.iter().max().copied().unwrap_or(0),
    );
    assert!(hi - lo <= 1, "{what}: rr must spread evenly: {t:?}");
}

/// The `Conns` column of each service line of `-Ln --stats`.
fn service_conns(stats: &str) -> BTreeMap<String, u64> {
    stats
        .lines()
        .filter(|l| l.starts_with("TCP ") || l.starts_with("UDP "))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some((
                format!("{} {}", w.first()?, w.get(1)?),
                w.get(2)?.parse().ok()?,
            ))
        })
        .collect()
}

/// HTTP through curl from the client: the response headers (the server's view of the
/// connection: X-Peer, X-Local).
fn curl_headers(lab: &Lab, url: &str) -> String {
    let out = lab.exec(
        "client",
        &[
            "curl",
            "-s",
            "-g",
            "-m",
            "5",
            "-D",
            "-",
            "-o",
            "/dev/null",
            url,
        ],
    );
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn header<'a>(headers: &'a str, name: &str) -> &'a str {
    headers
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in {headers}"))
}

/// The traffic every method must carry: HTTP and UDP echo, IPv4 and IPv6, 30 each.
fn traffic(lab: &Lab) {
    let targets = [
        ("http", VIP4.to_string()),
        ("udp", format!("{VIP4}:9000")),
        ("http", format!("[{VIP6}]")),
        ("udp", format!("[{VIP6}]:9000")),
    ];
    for (kind, target) in &targets {
        let t = lab.tally(kind, target, 30);
        assert_spread(&t, 30, &format!("{kind} {target}"));
    }
    let stats = lab.ctl("-Ln --stats");
    let conns = service_conns(&stats);
    for svc in [
        format!("TCP {VIP4}:80"),
        format!("UDP {VIP4}:9000"),
        format!("TCP [{VIP6}]:80"),
        format!("UDP [{VIP6}]:9000"),
    ] {
        assert_eq!(conns.get(&svc), Some(&30), "{svc} in\n{stats}");
    }
    // The connection table holds them (TCP in TIME_WAIT for 2 min, UDP for 5).
    let table = lab.ctl("-Lnc");
    let v4 = table.lines().filter(|l| l.contains("198.18.0.2:")).count();
    assert!((60..=66).contains(&v4), "{v4} IPv4 connections in\n{table}");
    let st = lab.status();
    assert_eq!(st["dataplane"]["unresolved_dropped"], 0, "{st:#}");
    assert_eq!(st["dataplane"]["tx_failed"], 0, "{st:#}");
    // The kernel dropped nothing before the worker saw it, and every frame the classifier
    // redirected reached the worker.
    assert_eq!(st["dataplane"]["kernel"]["rx_ring_full"], 0, "{st:#}");
    assert_eq!(st["dataplane"]["kernel"]["rx_dropped"], 0, "{st:#}");
    assert_eq!(
        st["dataplane"]["classifier"]["redirected"], st["dataplane"]["rx"],
        "{st:#}"
    );
}

/// DR and TUN: replies go from the real servers to the router, not through the director.
/// Frames towards the director are counted by its bridge port on the router (`dir1`).
fn replies_bypass_director(lab: &Lab) {
    // Frames forwarded by rvsd: by the engine, or by the XDP fast path once a connection is
    // installed there (then they never reach the engine).
    let forwarded = || {
        let st = lab.status();
        st["engine"]["rx"].as_u64().expect("rx")
            + st["dataplane"]["classifier"]["fastpath"]
                .as_u64()
                .unwrap_or(0)
    };
    let before = lab.counter("router", "dir1", "tx_packets");
    let fwd_before = forwarded();
    let t = lab.tally("http", VIP4, 30);
    assert_eq!(t.get("failed"), Some(&0));
    let to_director = lab.counter("router", "dir1", "tx_packets") - before;
    let fwd = forwarded() - fwd_before;
    // Every frame the director received was a client frame rvsd forwarded (plus a little
    // ARP/ND); the replies (about as many again) never reached it.
    assert!(fwd >= 30 * 4, "rvsd forwarded {fwd} frames");
    assert!(
        to_director <= fwd + 10,
        "{to_director} frames reached the director for {fwd} client frames: replies pass through it"
    );
}

#[test]
fn dr_all_families_and_protocols_then_crash_restart_and_clean_exit() {
    let Some(_g) = require("e2e DR") else { return };
    let lab = Lab::up("dr", &[]);
    traffic(&lab);
    replies_bypass_director(&lab);

    // SIGKILL rvsd: the kernel drops its XDP link; a new rvsd with the same command line
    // takes the interface (and the stale control socket) over and serves again.
    let pid = lab.rvsd_pid();
    let argv = lab.rvsd_argv();
    kill_and_wait(pid, "KILL", Duration::from_secs(5));
    let mut child = lab.start_rvsd(&argv, "rvsd-restart.log");
    assert!(lab.xdp_attached());
    let t = lab.tally("http", VIP4, 30);
    assert_spread(&t, 30, "after restart");
    let t = lab.tally("udp", &format!("[{VIP6}]:9000"), 30);
    assert_spread(&t, 30, "after restart, udp6");

    // A clean exit (SIGTERM) detaches: no XDP program is left on the interface, and the
    // VIPs it added are gone.
    ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let t0 = Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "rvsd ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(st.code(), Some(0));
    assert!(
        !lab.xdp_attached(),
        "XDP program left attached after a clean exit"
    );
    let addrs = ok(Command::new("ip").args(["-n", &lab.ns("dir"), "addr", "show", "eth1"]));
    assert!(
        !addrs.contains(VIP4) && !addrs.contains(VIP6),
        "VIPs left behind:\n{addrs}"
    );
}

#[test]
fn dr_with_nginx_real_servers() {
    let Some(_g) = require("e2e DR with nginx") else {
        return;
    };
    assert!(
        std::path::Path::new("/usr/sbin/nginx").is_file(),
        "nginx is not installed (scripts/deps installs it)"
    );
    let lab = Lab::up("dr", &["--nginx"]);
    for target in [VIP4.to_string(), format!("[{VIP6}]")] {
        let t = lab.tally("http", &target, 30);
        assert_spread(&t, 30, &format!("nginx {target}"));
    }
    let h = curl_headers(&lab, &format!("http://{VIP4}/"));
    assert!(header(&h, "Server").starts_with("nginx"), "{h}");
}

#[test]
fn nat_port_mapping_and_icmp_port_unreachable() {
    let Some(_g) = require("e2e NAT") else { return };
    let lab = Lab::up("nat", &[]);
    traffic(&lab);
    // VIP:80 → RIP:8080, and the server sees the client's own address.
    let listing = lab.ctl("-Ln");
    assert!(
        listing.contains("-> 198.18.2.11:8080             Masq"),
        "{listing}"
    );
    let h = curl_headers(&lab, &format!("http://{VIP4}/"));
    assert!(header(&h, "X-Local").ends_with(":8080"), "{h}");
    assert!(header(&h, "X-Peer").starts_with("198.18.0.2:"), "{h}");
    let h = curl_headers(&lab, &format!("http://[{VIP6}]/"));
    assert!(header(&h, "X-Local").ends_with(":8080"), "{h}");
    assert!(header(&h, "X-Peer").starts_with("[fd00::2]:"), "{h}");

    // A service without dests: the director answers ICMP port unreachable, which the
    // client's stack reports as "connection refused" (a timeout would mean silence).
    lab.ctl(&format!("-A -u {VIP4}:9001 -s rr"));
    lab.ctl(&format!("-A -t {VIP4}:81 -s rr"));
    lab.ctl(&format!("-A -u [{VIP6}]:9001 -s rr"));
    let probe = r#"
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
kind = socket.SOCK_DGRAM if sys.argv[3] == 'udp' else socket.SOCK_STREAM
s = socket.socket(fam, kind); s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    if kind == socket.SOCK_DGRAM:
        s.send(b'x'); s.recv(100)
    print('answered')
except ConnectionRefusedError: print('refused')
except socket.timeout: print('timeout')
"#;
    for (addr, port, proto) in [
        (VIP4, "9001", "udp"),
        (VIP4, "81", "tcp"),
        (VIP6, "9001", "udp"),
    ] {
        let out = lab.exec("client", &["python3", "-c", probe, addr, port, proto]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "refused",
            "{proto} {addr}:{port}"
        );
    }

    // A clean exit detaches from both interfaces.
    assert!(lab.xdp_on("eth1") && lab.xdp_on("eth2"));
    lab.stop_rvsd();
    assert!(
        !lab.xdp_on("eth1") && !lab.xdp_on("eth2"),
        "XDP left attached after SIGTERM"
    );
}

#[test]
fn fullnat_real_servers_see_the_local_address() {
    let Some(_g) = require("e2e FULLNAT") else {
        return;
    };
    let lab = Lab::up("fullnat", &[]);
    traffic(&lab);
    let h = curl_headers(&lab, &format!("http://{VIP4}/"));
    assert!(header(&h, "X-Peer").starts_with("198.18.2.2:"), "{h}");
    let h = curl_headers(&lab, &format!("http://[{VIP6}]/"));
    assert!(header(&h, "X-Peer").starts_with("[fd00:2::2]:"), "{h}");
}

#[test]
fn tun_ipip_gue_and_gre() {
    let Some(_g) = require("e2e TUN") else { return };
    for tun in ["ipip", "gue", "gre"] {
        let lab = Lab::up("tun", &["--tun-type", tun]);
        traffic(&lab);
        replies_bypass_director(&lab);
        let listing = lab.ctl("-Ln");
        assert!(listing.contains("Tunnel"), "{listing}");
    }
}

/// The keep-alive client of the reload test: one TCP connection, a request, then (after a
/// line on stdin) a second request on the same connection; prints the answering server.
const KEEPALIVE_CLIENT: &str = r#"
import socket, sys
s = socket.create_connection(("198.18.1.100", 80), timeout=5)
def req():
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length, server = 0, "?"
    for line in head.split(b"\r\n"):
        k, _, v = line.partition(b":")
        if k.lower() == b"content-length":
            length = int(v)
        if k.lower() == b"x-server":
            server = v.strip().decode()
    while len(body) < length:
        body += s.recv(4096)
    return server
print("first", s.getsockname()[1], req(), flush=True)
sys.stdin.readline()
print("second", req(), flush=True)
"#;

const KEEPALIVED_CONF: &str = "\
global_defs {
    router_id rvs_e2e
    rvs_drain_timeout 30
}
virtual_server 198.18.1.100 80 {
    delay_loop 6
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.11 80 {
        weight 1
    }
    real_server 198.18.1.12 80 {
        weight 1
    }
    real_server 198.18.1.13 80 {
        weight 1
    }
}
";

/// `(Conns, InPkts)` of one service in `-Ln --stats`.
fn stats_of(stats: &str, service: &str) -> (u64, u64) {
    let line = stats
        .lines()
        .find(|l| l.starts_with(service))
        .unwrap_or_else(|| panic!("{service} not in\n{stats}"));
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(2)
        .take(2)
        .map(|v| v.parse().expect("plain number"))
        .collect();
    (f[0], f[1])
}

#[test]
fn keepalived_conf_reload_keeps_connections_and_counters() {
    let Some(_g) = require("e2e keepalived.conf reload") else {
        return;
    };
    let lab = Lab::up("dr", &[]);
    // Restart the lab's rvsd on a keepalived.conf instead of its rules file.
    let (mut rvsd, conf) = lab.restart_with_conf(KEEPALIVED_CONF, "rvsd-kconf.log");
    let log_path = lab.state().join("rvsd-kconf.log");
    let rvsadm = |args: &str| lab.rvsadm(args);
    assert!(rvsadm("-Ln").contains("TCP  198.18.1.100:80 rr\n"));
    // Some traffic, then one long-lived connection.
    let t = lab.tally("http", VIP4, 30);
    assert_spread(&t, 30, "keepalived.conf");
    let mut client = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("client"),
            "python3",
            "-c",
            KEEPALIVE_CLIENT,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("keep-alive client");
    let mut out = std::io::BufReader::new(client.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).expect("first answer");
    let words: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"first"), "{first}");
    let (cport, server) = (words[1].to_string(), words[2].to_string());
    let before = rvsadm("-Ln --stats");
    let (conns, inpkts) = stats_of(&before, "TCP  198.18.1.100:80");
    assert_eq!(conns, 31, "{before}");

    // A bad file changes nothing.
    std::fs::write(
        &conf,
        "virtual_server 198.18.1.100 80 {\n  lb_algo nosuch\n}\n",
    )
    .expect("write bad conf");
    ok(Command::new("kill").args(["-HUP", &rvsd.id().to_string()]));
    let t0 = Instant::now();
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("reload refused")
    {
        assert!(t0.elapsed() < Duration::from_secs(5), "no refusal logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("keepalived.conf:2:11: invalid lb_algo 'nosuch'")
    );
    assert_eq!(
        rvsadm("-Sn"),
        "-A -t 198.18.1.100:80 -s rr\n-a -t 198.18.1.100:80 -r 198.18.1.11:80 -g -w 1\n-a -t 198.18.1.100:80 -r 198.18.1.12:80 -g -w 1\n-a -t 198.18.1.100:80 -r 198.18.1.13:80 -g -w 1\n"
    );

    // A good file that adds an unrelated service and removes the real server of our
    // connection: with rvs_drain_timeout it drains (weight 0) instead of vanishing.
    let n: u8 = server.trim_start_matches("rs").parse().expect("rsN");
    let rip = format!("198.18.1.{}", 10 + n);
    let block = format!("    real_server {rip} 80 {{\n        weight 1\n    }}\n");
    assert!(KEEPALIVED_CONF.contains(&block));
    let next = KEEPALIVED_CONF.replace(&block, "")
        + "virtual_server 198.18.1.100 9000 {\n    lb_algo wlc\n    lb_kind DR\n    protocol UDP\n    real_server 198.18.1.11 9000 {\n    }\n}\n";
    std::fs::write(&conf, next).expect("write conf");
    ok(Command::new("kill").args(["-HUP", &rvsd.id().to_string()]));
    let t0 = Instant::now();
    while !rvsadm("-Ln").contains("UDP  198.18.1.100:9000 wlc") {
        assert!(t0.elapsed() < Duration::from_secs(5), "reload not applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    let listing = rvsadm("-Ln");
    let draining = format!(
        "  -> {:<28} Route   0      1          ",
        format!("{rip}:80")
    );
    assert!(listing.contains(&draining), "{listing}");
    // The connection is still in the table, and it still works, on the same server.
    let conns_list = rvsadm("-Lnc");
    assert!(
        conns_list
            .lines()
            .any(|l| l.contains("ESTABLISHED") && l.contains(&format!(":{cport} "))),
        "{conns_list}"
    );
    let mut stdin = client.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"go\n").expect("go");
    let mut second = String::new();
    std::io::BufRead::read_line(&mut out, &mut second).expect("second answer");
    assert_eq!(second.trim(), format!("second {server}"));
    assert!(client.wait().expect("client").success());
    // Once its last connection has closed, the drained real server goes.
    let t0 = Instant::now();
    while rvsadm("-Ln").contains(&format!("{rip}:80 ")) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "drained real server not deleted:\n{}",
            rvsadm("-Ln")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Counters went on from where they were: no new connection, more packets.
    let after = rvsadm("-Ln --stats");
    let (conns2, inpkts2) = stats_of(&after, "TCP  198.18.1.100:80");
    assert_eq!(conns2, conns, "{after}");
    assert!(inpkts2 > inpkts, "{before}\n{after}");
    ok(Command::new("kill").args(["-TERM", &rvsd.id().to_string()]));
    let _ = rvsd.wait();
}
