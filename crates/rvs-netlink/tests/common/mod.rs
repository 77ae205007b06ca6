//! Privileged test support: throw-away network namespaces.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether the test may run: true as root; otherwise prints SKIP and returns false,
/// unless RVS_REQUIRE_PRIV=1 (then it panics).
pub fn privileged(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("RVS_REQUIRE_PRIV").as_deref() == Ok("1") {
        panic!("{test} needs root and RVS_REQUIRE_PRIV=1");
    }
    println!("SKIP (needs root): {test}");
    false
}

/// Run a command; panic with its output when it fails.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace, deleted on drop (also when the test panics).
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        Netns::with_prefix("rvsn")
    }

    /// A namespace named `<prefix><random hex>`.
    pub fn with_prefix(prefix: &str) -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let r = nanos
            ^ std::process::id().rotate_left(16)
            ^ N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9e37_79b9);
        let name = format!("{prefix}{r:08x}");
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        // No DAD on link-local addresses of new links: while the link-local address is
        // tentative the kernel sends no neighbour solicitation at all.
        sh(&[
            "ip",
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-qw",
            "net.ipv6.conf.default.accept_dad=0",
        ]);
        ns
    }

    /// `ip -n <ns> args...`
    pub fn ip(&self, args: &[&str]) {
        let mut v = vec!["ip", "-n", self.name.as_str()];
        v.extend_from_slice(args);
        sh(&v);
    }

    /// Run `f` on a thread that entered this namespace; panics propagate.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).unwrap();
                // SAFETY: a valid namespace fd; only this thread changes namespace.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth: `a`'s eth0 198.18.0.1/24 fd00::1/64, `b`'s eth0
/// 198.18.0.2/24 fd00::2/64, both up.
pub fn pair() -> (Netns, Netns) {
    pair_with_prefix("rvsn")
}

/// [`pair`] with namespaces named `<prefix><random hex>`.
pub fn pair_with_prefix(prefix: &str) -> (Netns, Netns) {
    let a = Netns::with_prefix(prefix);
    let b = Netns::with_prefix(prefix);
    a.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &b.name,
    ]);
    a.ip(&["addr", "add", "198.18.0.1/24", "dev", "eth0"]);
    a.ip(&["addr", "add", "fd00::1/64", "dev", "eth0", "nodad"]);
    b.ip(&["addr", "add", "198.18.0.2/24", "dev", "eth0"]);
    b.ip(&["addr", "add", "fd00::2/64", "dev", "eth0", "nodad"]);
    a.ip(&["link", "set", "eth0", "up"]);
    b.ip(&["link", "set", "eth0", "up"]);
    (a, b)
}

/// The MAC of `dev` in `ns` as `ip` reports it.
pub fn mac_of(ns: &Netns, dev: &str) -> [u8; 6] {
    let out = Command::new("ip")
        .args(["-n", &ns.name, "-br", "link", "show", dev])
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    let mac = s.split_whitespace().nth(2).unwrap();
    let v: Vec<u8> = mac
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}
