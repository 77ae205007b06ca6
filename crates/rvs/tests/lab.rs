//! Privileged tests of `rvs lab` (with `--balancer none` and `--balancer nftables`, which
//! need no rvsd) and `rvs rs-setup` in a fresh network namespace. As non-root they print
//! `SKIP (needs root): ...` and pass, unless RVS_REQUIRE_PRIV=1.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const RVS: &str = env!("CARGO_BIN_EXE_rvs");

fn privileged(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("RVS_REQUIRE_PRIV").as_deref() == Ok("1") {
        panic!("RVS_REQUIRE_PRIV=1 but not root: {what}");
    }
    eprintln!("SKIP (needs root): {what}");
    false
}

/// `rvst` + 8 hex digits: unique per test and run.
fn unique_name() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut x = (t as u64) ^ (u64::from(std::process::id()) << 32);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    format!("rvst{:08x}", x as u32)
}

fn rvs(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(RVS).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn netns_of(name: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{name}-")))
        .map(str::to_string)
        .collect()
}

/// Calls `rvs lab down` when dropped (also on panic).
struct Lab {
    name: String,
}

impl Lab {
    fn up(extra: &[&str]) -> Lab {
        let name = unique_name();
        let lab = Lab { name: name.clone() };
        let mut args = vec!["lab", "up", "--name", &name];
        args.extend_from_slice(extra);
        let (ok, out, err) = rvs(&args);
        assert!(ok, "lab up failed:\n{out}\n{err}");
        assert!(out.contains("try:"), "{out}");
        lab
    }

    /// `rvs lab client KIND TARGET --count N` from the client node.
    fn client(&self, kind: &str, target: &str, count: u32) -> (bool, String) {
        self.client_t(kind, target, count, 3000)
    }

    fn client_t(&self, kind: &str, target: &str, count: u32, timeout_ms: u32) -> (bool, String) {
        let n = count.to_string();
        let t = timeout_ms.to_string();
        let (ok, out, err) = rvs(&[
            "lab",
            "exec",
            &self.name,
            "client",
            "--",
            RVS,
            "lab",
            "client",
            kind,
            target,
            "--count",
            &n,
            "--timeout-ms",
            &t,
        ]);
        (ok, format!("{out}{err}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let (ok, out, err) = rvs(&["lab", "down", "--name", &self.name]);
        if !ok {
            eprintln!("lab down {} failed: {out}{err}", self.name);
        }
    }
}

#[test]
fn plain_routing_reaches_every_real_server_and_down_cleans_up() {
    if !privileged("lab up --balancer none") {
        return;
    }
    for mode in ["dr", "nat"] {
        let lab = Lab::up(&["--mode", mode, "--servers", "3", "--balancer", "none"]);
        assert_eq!(netns_of(&lab.name).len(), 6, "client, router, dir, rs1..3");
        let net = if mode == "dr" { 1 } else { 2 };
        for n in 1..=3u8 {
            for target in [
                format!("198.18.{net}.{}:80", 10 + n),
                format!("[fd00:{net}::{:x}]:8080", 10 + n),
            ] {
                let (ok, out) = lab.client("http", &target, 2);
                assert!(ok, "{mode} {target}: {out}");
                assert!(
                    out.starts_with(&format!("rs{n} 2\nfailed 0\n")),
                    "{mode} {target}: {out}"
                );
            }
            let target = format!("[fd00:{net}::{:x}]:9000", 10 + n);
            let (ok, out) = lab.client("udp", &target, 2);
            assert!(
                ok && out.starts_with(&format!("rs{n} 2\n")),
                "{mode} {target}: {out}"
            );
        }
        // A wrong address fails (bounded), and the client says so with its exit status.
        let (ok, out) = lab.client_t("http", "198.18.1.99:80", 1, 300);
        assert!(!ok && out.contains("failed 1"), "{out}");
        let name = lab.name.clone();
        drop(lab);
        assert!(
            netns_of(&name).is_empty(),
            "namespaces left: {:?}",
            netns_of(&name)
        );
        assert!(!std::path::Path::new(&format!("/run/rvs/lab/{name}")).exists());
        // down is idempotent.
        let (ok, _, err) = rvs(&["lab", "down", "--name", &name]);
        assert!(ok, "{err}");
    }
}

#[test]
fn nftables_spreads_requests_evenly() {
    if !privileged("lab up --balancer nftables") {
        return;
    }
    let lab = Lab::up(&["--mode", "nat", "--servers", "3", "--balancer", "nftables"]);
    for target in ["198.18.1.100", "[fd00:1::100]"] {
        let (ok, out) = lab.client("http", target, 30);
        assert!(ok, "{target}: {out}");
        assert!(
            out.starts_with("rs1 10\nrs2 10\nrs3 10\nfailed 0\n"),
            "{target}: {out}"
        );
        let (ok, out) = lab.client("udp", &format!("{target}:9000"), 6);
        assert!(ok, "{target}: {out}");
        assert!(
            out.starts_with("rs1 2\nrs2 2\nrs3 2\nfailed 0\n"),
            "{target} udp: {out}"
        );
    }
    let (ok, out, _) = rvs(&["lab", "status", "--name", &lab.name]);
    assert!(
        ok && out.contains("serve-rs3") && !out.contains("DEAD") && !out.contains("MISSING"),
        "{out}"
    );
}

#[test]
fn lab_up_refuses_bad_names_and_existing_labs() {
    if !privileged("lab up twice") {
        return;
    }
    let (ok, _, err) = rvs(&[
        "lab",
        "up",
        "--mode",
        "dr",
        "--name",
        "labx",
        "--balancer",
        "none",
    ]);
    assert!(!ok && err.contains("must start with"), "{err}");
    let lab = Lab::up(&["--mode", "dr", "--servers", "1", "--balancer", "none"]);
    let (ok, _, err) = rvs(&[
        "lab",
        "up",
        "--mode",
        "dr",
        "--name",
        &lab.name,
        "--balancer",
        "none",
    ]);
    assert!(!ok && err.contains("already exists"), "{err}");
    // The refused second `up` did not tear down the first lab.
    let (ok, out) = lab.client("http", "198.18.1.11", 1);
    assert!(ok, "{out}");
}

/// A network namespace removed on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn in_ns(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn snapshot(ns: &str) -> (Vec<String>, String) {
    let mut v = Vec::new();
    for dev in ["all", "lo", "eth0"] {
        for k in ["arp_ignore", "arp_announce", "rp_filter"] {
            let key = format!("net.ipv4.conf.{dev}.{k}");
            v.push(format!(
                "{key}={}",
                in_ns(ns, &["sysctl", "-n", &key]).trim()
            ));
        }
    }
    let addrs = in_ns(ns, &["ip", "-o", "addr", "show", "dev", "lo"]);
    let mut a: Vec<&str> = addrs
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    a.sort();
    (v, a.join(" "))
}

#[test]
fn rs_setup_dr_start_stop_restores_everything() {
    if !privileged("rs-setup in a netns") {
        return;
    }
    let ns = Netns(unique_name());
    assert!(
        Command::new("ip")
            .args(["netns", "add", &ns.0])
            .status()
            .unwrap()
            .success()
    );
    in_ns(&ns.0, &["ip", "link", "set", "lo", "up"]);
    in_ns(
        &ns.0,
        &[
            "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
        ],
    );
    in_ns(&ns.0, &["ip", "link", "set", "eth0", "up"]);
    // Non-default values that must come back, and a VIP that was already there.
    in_ns(
        &ns.0,
        &["sysctl", "-qw", "net.ipv4.conf.all.arp_announce=1"],
    );
    in_ns(
        &ns.0,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "fd00:1::101/128",
            "dev",
            "lo",
            "nodad",
        ],
    );
    let before = snapshot(&ns.0);
    let state = format!("/run/rvs/rs-setup-test-{}.json", ns.0);
    let args = [
        RVS,
        "rs-setup",
        "--mode",
        "dr",
        "--vip",
        "198.18.1.100",
        "--vip",
        "fd00:1::100",
        "--vip",
        "fd00:1::101",
        "--iface",
        "eth0",
        "--state",
        &state,
    ];
    for _ in 0..2 {
        let mut a = args.to_vec();
        a.push("start");
        in_ns(&ns.0, &a);
    }
    let during = snapshot(&ns.0);
    for want in [
        "net.ipv4.conf.all.arp_ignore=1",
        "net.ipv4.conf.lo.arp_ignore=1",
        "net.ipv4.conf.eth0.arp_ignore=1",
        "net.ipv4.conf.all.arp_announce=2",
        "net.ipv4.conf.eth0.arp_announce=2",
    ] {
        assert!(
            during.0.iter().any(|s| s == want),
            "{want} not in {:?}",
            during.0
        );
    }
    assert!(during.1.contains("198.18.1.100/32"), "{}", during.1);
    assert!(during.1.contains("fd00:1::100/128"), "{}", during.1);
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["addresses"].as_array().unwrap().len(), 2, "{st}");
    let mut a = args.to_vec();
    a.push("stop");
    in_ns(&ns.0, &a);
    assert_eq!(snapshot(&ns.0), before);
    assert!(
        snapshot(&ns.0).1.contains("fd00:1::101/128"),
        "pre-existing VIP kept"
    );
    assert!(!std::path::Path::new(&state).exists());
    // stop again: nothing to undo, still success.
    in_ns(&ns.0, &a);
}

#[test]
fn rs_setup_tun_attaches_and_removes_the_decapsulator() {
    if !privileged("rs-setup tun in a netns") {
        return;
    }
    let ns = Netns(unique_name());
    assert!(
        Command::new("ip")
            .args(["netns", "add", &ns.0])
            .status()
            .unwrap()
            .success()
    );
    in_ns(
        &ns.0,
        &[
            "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
        ],
    );
    in_ns(&ns.0, &["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2"]);
    let before = snapshot(&ns.0);
    let state = format!("/run/rvs/rs-setup-test-{}.json", ns.0);
    let args = [
        RVS,
        "rs-setup",
        "--mode",
        "tun",
        "--tun-type",
        "gue",
        "--gue-port",
        "6080",
        "--vip",
        "198.18.1.100",
        "--iface",
        "eth0",
        "--state",
        &state,
    ];
    let mut a = args.to_vec();
    a.push("start");
    in_ns(&ns.0, &a);
    let link = in_ns(&ns.0, &["ip", "link", "show", "dev", "eth0"]);
    assert!(link.contains("name rvs_decap"), "{link}");
    let during = snapshot(&ns.0);
    assert!(
        during
            .0
            .iter()
            .any(|s| s == "net.ipv4.conf.all.rp_filter=0"),
        "{:?}",
        during.0
    );
    let mut a = args.to_vec();
    a.push("stop");
    in_ns(&ns.0, &a);
    let link = in_ns(&ns.0, &["ip", "link", "show", "dev", "eth0"]);
    assert!(!link.contains("rvs_decap"), "{link}");
    assert_eq!(snapshot(&ns.0), before);
}
