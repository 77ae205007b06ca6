//! PING_CHECK against a network namespace that answers, then stops answering
//! (`icmp_echo_ignore_all` inside it). Root only: skips loudly otherwise, fails when
//! RVS_REQUIRE_PRIV=1.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use rvs_config::keepalived::CheckerKind;
use rvs_health::{ProbeResult, ProbeSpec, probe};

fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        if std::env::var("RVS_REQUIRE_PRIV").as_deref() == Ok("1") {
            panic!("RVS_REQUIRE_PRIV=1 but not root");
        }
        eprintln!("SKIPPED: the PING_CHECK namespace test needs root");
    }
    root
}

/// A network namespace, deleted on drop (even when the test panics).
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let suffix = std::process::id()
            ^ (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos());
        let name = format!("rvsh{:06x}", suffix & 0xff_ffff);
        assert!(name.len() <= 12);
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name}");
        let ns = Netns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .args(["-n", &self.0])
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success(), "ip -n {} {args:?}", self.0);
    }

    fn sysctl(&self, key: &str, value: &str) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.0,
                "sysctl",
                "-qw",
                &format!("{key}={value}"),
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Runs `f` on a thread that has entered the namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let fd = File::open(&path).unwrap();
            // SAFETY: setns on a valid namespace fd; it only changes this thread's network
            // namespace, and this thread is ours alone.
            let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns");
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ping(target: &str) -> Option<ProbeResult> {
    let spec = ProbeSpec {
        kind: CheckerKind::Ping,
        target: target.parse().unwrap(),
        bindto: None,
        bind_port: None,
        bind_if: None,
        fwmark: None,
        virtualhost: None,
        timeout: Duration::from_secs(1),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(spec.timeout, probe::run(&spec))
            .await
            .ok()
    })
}

#[test]
fn ping_check_up_then_silent_namespace() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    ns.ip(&["addr", "add", "198.18.77.1/32", "dev", "lo"]);
    ns.ip(&["addr", "add", "fd00:77::1/128", "dev", "lo"]);
    // IPv6 addresses need DAD to settle: on lo it is immediate, but give it a moment.
    std::thread::sleep(Duration::from_millis(200));
    for t in ["198.18.77.1:0", "[fd00:77::1]:0"] {
        let r = ns.run(move || ping(t));
        assert_eq!(r, Some(ProbeResult::Up), "{t}");
    }
    assert!(ns.sysctl("net.ipv4.icmp_echo_ignore_all", "1"));
    let r = ns.run(|| ping("198.18.77.1:0"));
    assert_eq!(r, None, "an echo reply came from a silent namespace: {r:?}");
    if ns.sysctl("net.ipv6.icmp.echo_ignore_all", "1") {
        let r = ns.run(|| ping("[fd00:77::1]:0"));
        assert_eq!(r, None, "an echo reply came from a silent namespace: {r:?}");
    }
    // Answering again, then the interface goes down: never up.
    assert!(ns.sysctl("net.ipv4.icmp_echo_ignore_all", "0"));
    assert_eq!(ns.run(|| ping("198.18.77.1:0")), Some(ProbeResult::Up));
    ns.ip(&["link", "set", "lo", "down"]);
    let r = ns.run(|| ping("198.18.77.1:0"));
    assert!(!matches!(r, Some(ProbeResult::Up)), "{r:?}");
}
