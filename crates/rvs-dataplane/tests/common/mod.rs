//! Shared by the live data-plane tests.

#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// GRO on for `eth0` in `ns`: a veth with GRO runs NAPI, which is what XDP_TX and
/// redirects into its peer need (`ETHTOOL_SGRO` through `SIOCETHTOOL`).
pub fn gro_on(ns: &str) {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a valid namespace fd; only this thread changes namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        #[repr(C)]
        struct Val {
            cmd: u32,
            data: u32,
        }
        #[repr(C)]
        struct Req {
            name: [libc::c_char; libc::IFNAMSIZ],
            data: *mut libc::c_void,
            pad: [u8; 16],
        }
        let mut val = Val { cmd: 0x2c, data: 1 };
        let mut req = Req {
            name: [0; libc::IFNAMSIZ],
            data: (&mut val as *mut Val).cast(),
            pad: [0; 16],
        };
        for (d, s) in req.name.iter_mut().zip(b"eth0") {
            *d = *s as libc::c_char;
        }
        // SAFETY: plain socket + ioctl on valid structs.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            assert!(fd >= 0);
            let r = libc::ioctl(fd, libc::SIOCETHTOOL, &mut req as *mut Req);
            libc::close(fd);
            assert_eq!(r, 0, "SGRO: {}", std::io::Error::last_os_error());
        }
    })
    .join()
    .unwrap();
}

/// Root, or a loud skip (a failure with RVS_REQUIRE_PRIV=1).
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

/// Run a command that must succeed.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace, deleted on drop (also on panic).
pub struct Netns {
    /// The namespace name.
    pub name: String,
}

impl Netns {
    pub fn new(name: String) -> Netns {
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn ip(&self, args: &[&str]) {
        let mut v = vec!["ip", "-n", self.name.as_str()];
        v.extend_from_slice(args);
        sh(&v);
    }

    /// `ip netns exec <ns> python3 -c <code> <args>`, stdout piped.
    pub fn python(&self, code: &str, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "python3", "-c", code])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A child process killed (by its pid) on drop.
pub struct Proc(pub Option<Child>);

impl Proc {
    pub fn wait_output(mut self, timeout: Duration) -> (bool, String, String) {
        let mut child = self.0.take().unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = child.try_wait().unwrap() {
                let out = child.wait_with_output().unwrap();
                return (
                    status.success(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        (
            false,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            format!("timeout; {}", String::from_utf8_lossy(&out.stderr)),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A short random suffix for namespace names.
pub fn suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{:06x}",
        (nanos ^ std::process::id().rotate_left(12)) & 0xff_ffff
    )
}

/// The VIP on the director's `ext`.
pub const VIP: &str = "198.18.0.100";
/// The real server's address.
pub const RIP: &str = "198.18.1.11";

/// client `eth0` 198.18.0.2 — director `ext` 198.18.0.1 (+ VIP) ; director `int`
/// 198.18.1.1 — server `eth0` RIP, namespaces `<prefix><suffix>{c,d,s}`. The callers give
/// the veth peers NAPI as their test needs (the XDP fast path redirects into them).
pub fn topology(prefix: &str) -> (Netns, Netns, Netns) {
    let sfx = suffix();
    let c = Netns::new(format!("{prefix}{sfx}c"));
    let d = Netns::new(format!("{prefix}{sfx}d"));
    let s = Netns::new(format!("{prefix}{sfx}s"));
    c.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "ext", "netns", &d.name,
    ]);
    s.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "int", "netns", &d.name,
    ]);
    c.ip(&["addr", "add", "198.18.0.2/24", "dev", "eth0"]);
    c.ip(&["link", "set", "eth0", "up"]);
    c.ip(&["route", "add", "default", "via", "198.18.0.1"]);
    d.ip(&["addr", "add", "198.18.0.1/24", "dev", "ext"]);
    d.ip(&["addr", "add", &format!("{VIP}/32"), "dev", "ext"]);
    d.ip(&["addr", "add", "198.18.1.1/24", "dev", "int"]);
    d.ip(&["link", "set", "ext", "up"]);
    d.ip(&["link", "set", "int", "up"]);
    s.ip(&["addr", "add", &format!("{RIP}/24"), "dev", "eth0"]);
    s.ip(&["link", "set", "eth0", "up"]);
    s.ip(&["route", "add", "default", "via", "198.18.1.1"]);
    (c, d, s)
}
