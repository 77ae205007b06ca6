//! VRRP interop, as root: rvsd and keepalived 2.2.7 (or two rvsd) on one Ethernet LAN (a
//! bridge in its own namespace) with a client namespace, advert_int 1.
//!
//! "Killing" a node is SIGKILL of its daemon and its link going down at once (a machine
//! that dies: a killed daemon would leave its VIP behind, and the kernel would go on
//! answering for it). Takeover time = from the kill until the VIP is on the new master AND
//! the client's TCP connection attempt to the VIP is answered (refused: nothing listens); it must be within
//! 3 × advert_int + Skew_Time + 0.5 s. Times are printed (`cargo test -- --nocapture`).
//!
//! Without root the tests print `SKIP (needs root)` and pass, unless `RVS_REQUIRE_PRIV=1`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

const RVSD: &str = env!("CARGO_BIN_EXE_rvsd");
const RVS: &str = env!("CARGO_BIN_EXE_rvs");
const KEEPALIVED: &str = "/usr/sbin/keepalived";
const VIP4: &str = "198.18.0.100";
const VIP6: &str = "fd00:18::100";
/// rvsd's HTTP API inside each router namespace.
const API: &str = "127.0.0.1:9180";

fn privileged(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 && Path::new(KEEPALIVED).exists() {
        return true;
    }
    assert!(
        std::env::var("RVS_REQUIRE_PRIV").as_deref() != Ok("1"),
        "{what} needs root and keepalived, and RVS_REQUIRE_PRIV=1 forbids skipping"
    );
    eprintln!("SKIP (needs root and {KEEPALIVED}): {what}");
    false
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn must(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait up to `d` for `f`, checking every 20 ms; the time it took.
fn wait_until(d: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    loop {
        if f() {
            return Some(t.elapsed());
        }
        if t.elapsed() >= d {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Which daemon runs on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rvsd,
    Keepalived,
}

struct Proc {
    kind: Kind,
    child: Child,
    log: PathBuf,
    vrrp_pid: PathBuf,
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// keepalived's VRRP child (the process that speaks VRRP), if it wrote its pid.
    fn vrrp_child(&self) -> Option<i32> {
        std::fs::read_to_string(&self.vrrp_pid)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn signal(&mut self, sig: i32) {
        if sig == libc::SIGKILL
            && self.kind == Kind::Keepalived
            && let Some(p) = self.vrrp_child()
        {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(p, sig) };
        }
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Wait (bounded) for the process to exit after a signal.
    fn reap(&mut self, d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// A LAN: namespace `<name>w` with bridge `br0`, nodes `<name>a`, `<name>b` (routers) and
/// `<name>c` (client), each with `eth0` on the bridge. Everything goes on drop.
struct Lan {
    name: String,
    dir: PathBuf,
    procs: Vec<(String, Proc)>,
}

fn suffix() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:06x}",
        (n ^ std::process::id().rotate_left(12)) & 0xff_ffff
    )
}

impl Lan {
    fn up() -> Lan {
        let name = format!("rvsv{}", suffix());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let lan = Lan {
            name,
            dir,
            procs: Vec::new(),
        };
        let w = lan.ns("w");
        must(&["ip", "netns", "add", &w]);
        must(&["ip", "-n", &w, "link", "add", "br0", "type", "bridge"]);
        must(&["ip", "-n", &w, "link", "set", "br0", "up"]);
        for (node, host) in [("a", 1), ("b", 2), ("c", 10)] {
            let ns = lan.ns(node);
            must(&["ip", "netns", "add", &ns]);
            let port = format!("p{node}");
            must(&[
                "ip", "-n", &w, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ]);
            must(&["ip", "-n", &w, "link", "set", &port, "master", "br0", "up"]);
            must(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            must(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            must(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("198.18.0.{host}/24"),
                "dev",
                "eth0",
            ]);
            must(&[
                "ip",
                "-n",
                &ns,
                "-6",
                "addr",
                "add",
                &format!("fd00:18::{host}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
        }
        // Link-local addresses (VRRPv3 over IPv6 sends from them): wait out their DAD.
        for node in ["a", "b"] {
            let ns = lan.ns(node);
            let ok = wait_until(Duration::from_secs(5), || {
                let out = Command::new("ip")
                    .args([
                        "-n", &ns, "-6", "addr", "show", "dev", "eth0", "scope", "link",
                    ])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                out.contains("fe80") && !out.contains("tentative")
            });
            assert!(ok.is_some(), "link-local address on {ns}");
        }
        lan
    }

    fn ns(&self, node: &str) -> String {
        format!("{}{node}", self.name)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Start `kind` on `node` with the vrrp_instance body `body` (interface eth0 added).
    fn start(&mut self, node: &str, kind: Kind, body: &str) {
        self.start_conf(
            node,
            kind,
            &format!("vrrp_instance VI_1 {{\n    interface eth0\n{body}\n}}\n"),
        );
    }

    fn start_conf(&mut self, node: &str, kind: Kind, conf: &str) {
        let n = self.procs.iter().filter(|(x, _)| x == node).count();
        let tag = format!("{node}{n}");
        let cfg = self.file(&format!("{tag}.conf"));
        std::fs::write(&cfg, conf).unwrap();
        let log = self.file(&format!("{tag}.log"));
        let vrrp_pid = self.file(&format!("{tag}.vrrp.pid"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(node)]);
        match kind {
            Kind::Rvsd => {
                cmd.arg(RVSD)
                    .arg("-f")
                    .arg(&cfg)
                    .args(["--api", API, "--api-public-read"])
                    .arg("--control")
                    .arg(self.file(&format!("{node}.sock")));
            }
            Kind::Keepalived => {
                cmd.args([KEEPALIVED, "-n", "-l", "-D", "-P", "-R", "-f"])
                    .arg(&cfg)
                    .arg("-p")
                    .arg(self.file(&format!("{tag}.pid")))
                    .arg("-r")
                    .arg(&vrrp_pid)
                    .arg("-c")
                    .arg(self.file(&format!("{tag}.check.pid")));
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start daemon");
        self.procs.push((
            node.to_string(),
            Proc {
                kind,
                child,
                log,
                vrrp_pid,
            },
        ));
    }

    fn proc(&mut self, node: &str) -> &mut Proc {
        &mut self
            .procs
            .iter_mut()
            .rev()
            .find(|(n, _)| n == node)
            .expect("a daemon on that node")
            .1
    }

    fn log(&mut self, node: &str) -> String {
        self.proc(node).log()
    }

    fn has_vip(&self, node: &str, vip: &str) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.ns(node), "addr", "show", "dev", "eth0"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.contains(&format!(" {vip}/"))
    }

    /// A TCP connection attempt from the client to VIP port 9 is answered (accepted or
    /// refused: either way the VIP's holder replied) within 300 ms.
    fn client_reaches(&self, vip: &str) -> bool {
        let ns = PathBuf::from("/run/netns").join(self.ns("c"));
        let addr = std::net::SocketAddr::new(vip.parse().expect("VIP"), 9);
        std::thread::spawn(move || {
            let Ok(f) = std::fs::File::open(&ns) else {
                return false;
            };
            // SAFETY: setns on a valid namespace fd; it only affects this new thread.
            if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) } != 0
            {
                return false;
            }
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(_) => true,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            }
        })
        .join()
        .unwrap_or(false)
    }

    /// The last state a node's daemon logged (keepalived's words; rvsd logs the same).
    fn state(&mut self, node: &str) -> Option<&'static str> {
        let log = self.log(node);
        let m = log.rfind("Entering MASTER STATE");
        let b = log.rfind("Entering BACKUP STATE");
        let f = log.rfind("Entering FAULT STATE");
        [(m, "MASTER"), (b, "BACKUP"), (f, "FAULT")]
            .into_iter()
            .filter_map(|(p, s)| p.map(|p| (p, s)))
            .max()
            .map(|(_, s)| s)
    }

    /// GET `path` from rvsd's HTTP API in `node`'s namespace: the body.
    fn api_get(&self, node: &str, path: &str) -> String {
        let ns = PathBuf::from("/run/netns").join(self.ns(node));
        let path = path.to_string();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let f = std::fs::File::open(&ns).ok()?;
            // SAFETY: setns on a valid namespace fd; it only affects this new thread.
            if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) } != 0
            {
                return None;
            }
            let mut s =
                std::net::TcpStream::connect_timeout(&API.parse().ok()?, Duration::from_secs(2))
                    .ok()?;
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).ok()?;
            Some(out)
        })
        .join()
        .ok()
        .flatten()
        .unwrap_or_default()
    }

    /// rvsd's view through `rvs ctl --status`.
    fn rvsd_status(&self, node: &str) -> String {
        Command::new(RVS)
            .args(["ctl", "--status", "--control"])
            .arg(self.file(&format!("{node}.sock")))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Wait until `node` is MASTER with the VIP and `other` is BACKUP without it.
    fn settle(&mut self, master: &str, backup: &str, vip: &str, d: Duration) {
        let ok = wait_until(d, || {
            self.has_vip(master, vip)
                && !self.has_vip(backup, vip)
                && self.state(master) == Some("MASTER")
                && self.state(backup) == Some("BACKUP")
        });
        assert!(
            ok.is_some(),
            "{master} MASTER / {backup} BACKUP not reached\n--- {master}:\n{}\n--- {backup}:\n{}",
            self.log(master),
            self.log(backup)
        );
    }

    /// The roles stay put for `d`.
    fn stays(&mut self, master: &str, backup: &str, vip: &str, d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            assert!(self.has_vip(master, vip), "{master} lost the VIP");
            assert!(!self.has_vip(backup, vip), "{backup} took the VIP");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(self.state(master), Some("MASTER"));
        assert_eq!(self.state(backup), Some("BACKUP"));
    }

    /// Kill `node` (SIGKILL, link down) and time the takeover by `other`.
    fn kill_and_time(&mut self, node: &str, other: &str, vip: &str, bound: Duration) -> Duration {
        let ns = self.ns(node);
        let t = Instant::now();
        self.proc(node).signal(libc::SIGKILL);
        must(&["ip", "-n", &ns, "link", "set", "eth0", "down"]);
        let took = self.time_takeover(other, vip, t, bound);
        self.proc(node).reap(Duration::from_secs(5));
        took
    }

    fn time_takeover(&mut self, other: &str, vip: &str, t: Instant, bound: Duration) -> Duration {
        let ok = wait_until(bound + Duration::from_secs(3), || {
            self.has_vip(other, vip) && self.client_reaches(vip)
        });
        let took = t.elapsed();
        assert!(
            ok.is_some(),
            "no takeover by {other}\n--- {other}:\n{}",
            self.log(other)
        );
        took
    }

    /// SIGTERM `node` and time the takeover by `other`.
    fn stop_and_time(&mut self, node: &str, other: &str, vip: &str, bound: Duration) -> Duration {
        let t = Instant::now();
        self.proc(node).signal(libc::SIGTERM);
        let took = self.time_takeover(other, vip, t, bound);
        self.proc(node).reap(Duration::from_secs(5));
        took
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for (_, p) in &mut self.procs {
            if let Ok(None) = p.child.try_wait() {
                p.signal(libc::SIGTERM);
                p.reap(Duration::from_secs(3));
            }
        }
        for node in ["a", "b", "c", "w"] {
            sh(&["ip", "netns", "del", &self.ns(node)]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn inst(prio: u8, extra: &str) -> String {
    format!(
        "    virtual_router_id 51\n    priority {prio}\n    advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass rvs-test\n    }}\n    virtual_ipaddress {{\n        {VIP4}/24\n    }}\n{extra}"
    )
}

/// Master_Down_Interval of a v2 backup at `prio` with advert_int 1, plus 0.5 s.
fn bound(prio: u8) -> Duration {
    Duration::from_millis(3000 + (256 - u64::from(prio)) * 1000 / 256 + 500)
}

const SETTLE: Duration = Duration::from_secs(10);

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// (a)/(b), (c), (d) with `master` (priority 150, node a) and `backup` (priority 100,
/// node b): roles, the client reaching the VIP, what the rvsd side shows (status, API),
/// SIGTERM handover (priority 0), preemption when the master comes back, SIGKILL
/// takeover within Master_Down_Interval + 0.5 s.
fn roles_then_takeovers(master: Kind, backup: Kind) {
    let mut lan = Lan::up();
    lan.start("b", backup, &inst(100, ""));
    lan.start("a", master, &inst(150, ""));
    lan.settle("a", "b", VIP4, SETTLE);
    // The backup hears the master for longer than its Master_Down_Interval.
    lan.stays("a", "b", VIP4, Duration::from_secs(5));
    assert!(lan.client_reaches(VIP4));
    let (rvsd_node, rvsd_state, rvsd_prio) = match master {
        Kind::Rvsd => ("a", "MASTER", 150),
        Kind::Keepalived => ("b", "BACKUP", 100),
    };
    let st = lan.rvsd_status(rvsd_node);
    assert!(st.contains(&format!("\"{rvsd_state}\"")), "{st}");
    // The HTTP API (and so the status page) shows the instance.
    let api = lan.api_get(rvsd_node, "/api/v1/vrrp");
    assert!(
        api.contains("\"name\":\"VI_1\"") && api.contains(&format!("\"state\":\"{rvsd_state}\"")),
        "{api}"
    );
    assert!(api.contains(&format!("\"priority\":{rvsd_prio}")), "{api}");
    if matches!(backup, Kind::Keepalived) {
        assert!(!lan.log("b").contains("invalid"), "{}", lan.log("b"));
    }
    // (c) SIGTERM: priority 0, the backup takes over after Skew_Time only.
    let took = lan.stop_and_time("a", "b", VIP4, bound(100));
    eprintln!("TAKEOVER {backup:?} after {master:?} SIGTERM (priority 0): {took:?}");
    assert!(took < Duration::from_millis(2000), "{took:?}");
    if matches!(backup, Kind::Keepalived) {
        assert!(
            lan.log("b")
                .contains("Backup received priority 0 advertisement")
        );
    }
    if matches!(master, Kind::Rvsd) {
        assert!(!lan.has_vip("a", VIP4), "rvsd removed its VIP on exit");
    }
    // (d) preempt: the master coming back with the higher priority takes over again.
    lan.start("a", master, &inst(150, ""));
    lan.settle("a", "b", VIP4, SETTLE);
    // (c) SIGKILL: the backup takes over within Master_Down_Interval + 0.5 s.
    let took = lan.kill_and_time("a", "b", VIP4, bound(100));
    eprintln!(
        "TAKEOVER {backup:?} after {master:?} SIGKILL: {took:?} (bound {:?})",
        bound(100)
    );
    assert!(took <= bound(100), "{took:?} > {:?}", bound(100));
}

#[test]
fn rvsd_master_keepalived_backup_then_takeovers() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    roles_then_takeovers(Kind::Rvsd, Kind::Keepalived);
}

#[test]
fn keepalived_master_rvsd_backup_then_takeovers() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    roles_then_takeovers(Kind::Keepalived, Kind::Rvsd);
}

#[test]
fn nopreempt_with_keepalived() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    let mut lan = Lan::up();
    // keepalived (100) is master alone; rvsd (150, nopreempt) joins and stays BACKUP.
    lan.start("b", Kind::Keepalived, &inst(100, ""));
    assert!(
        wait_until(SETTLE, || lan.has_vip("b", VIP4)).is_some(),
        "keepalived alone becomes master"
    );
    lan.start(
        "a",
        Kind::Rvsd,
        &inst(150, "    state BACKUP\n    nopreempt\n"),
    );
    std::thread::sleep(Duration::from_secs(1));
    lan.stays("b", "a", VIP4, Duration::from_secs(6));
    // And the reverse: rvsd (100) master alone, keepalived (150, nopreempt) stays BACKUP.
    let mut lan = Lan::up();
    lan.start("a", Kind::Rvsd, &inst(100, ""));
    assert!(wait_until(SETTLE, || lan.has_vip("a", VIP4)).is_some());
    lan.start(
        "b",
        Kind::Keepalived,
        &inst(150, "    state BACKUP\n    nopreempt\n"),
    );
    std::thread::sleep(Duration::from_secs(1));
    lan.stays("a", "b", VIP4, Duration::from_secs(6));
}

#[test]
fn auth_mismatch_is_ignored_and_logged() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    let mut lan = Lan::up();
    lan.start("b", Kind::Keepalived, &inst(100, ""));
    let other = inst(150, "").replace("rvs-test", "other-pw");
    lan.start("a", Kind::Rvsd, &other);
    // Both ignore each other: both end up MASTER, as keepalived would.
    let ok = wait_until(SETTLE, || lan.has_vip("a", VIP4) && lan.has_vip("b", VIP4));
    assert!(ok.is_some(), "{}\n{}", lan.log("a"), lan.log("b"));
    std::thread::sleep(Duration::from_secs(2));
    assert!(lan.has_vip("a", VIP4) && lan.has_vip("b", VIP4));
    let log = lan.log("a");
    assert!(log.contains("authentication mismatch"), "{log}");
    assert!(lan.log("b").contains("invalid passwd"), "{}", lan.log("b"));
}

#[test]
fn two_rvsd_election_takeover_preempt_nopreempt() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    let mut lan = Lan::up();
    lan.start("a", Kind::Rvsd, &inst(150, ""));
    lan.start("b", Kind::Rvsd, &inst(100, ""));
    lan.settle("a", "b", VIP4, SETTLE);
    lan.stays("a", "b", VIP4, Duration::from_secs(2));
    let took = lan.stop_and_time("a", "b", VIP4, bound(100));
    eprintln!("TAKEOVER rvsd after rvsd SIGTERM (priority 0): {took:?}");
    assert!(took < Duration::from_millis(2000), "{took:?}");
    lan.start("a", Kind::Rvsd, &inst(150, ""));
    lan.settle("a", "b", VIP4, SETTLE);
    let took = lan.kill_and_time("a", "b", VIP4, bound(100));
    eprintln!(
        "TAKEOVER rvsd after rvsd SIGKILL: {took:?} (bound {:?})",
        bound(100)
    );
    assert!(took <= bound(100), "{took:?} > {:?}", bound(100));
    // nopreempt: a comes back (link up again) with 150 and stays BACKUP.
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "eth0", "up"]);
    lan.start(
        "a",
        Kind::Rvsd,
        &inst(150, "    state BACKUP\n    nopreempt\n"),
    );
    std::thread::sleep(Duration::from_secs(1));
    lan.stays("b", "a", VIP4, Duration::from_secs(6));
}

#[test]
fn ipv6_v3_rvsd_and_keepalived() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    let mut lan = Lan::up();
    let six = |prio: u8| {
        format!(
            "    virtual_router_id 52\n    priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP6}/64\n    }}\n"
        )
    };
    lan.start("b", Kind::Keepalived, &six(100));
    lan.start("a", Kind::Rvsd, &six(150));
    lan.settle("a", "b", VIP6, SETTLE);
    lan.stays("a", "b", VIP6, Duration::from_secs(3));
    assert!(lan.client_reaches(VIP6));
    let took = lan.kill_and_time("a", "b", VIP6, bound(100));
    eprintln!("TAKEOVER keepalived after rvsd SIGKILL (IPv6, v3): {took:?}");
    assert!(took <= bound(100), "{took:?}");
    // The reverse: rvsd takes the IPv6 VIP over from a killed keepalived.
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "eth0", "up"]);
    lan.start("a", Kind::Rvsd, &six(50));
    // Longer than rvsd's Master_Down_Interval (3.8 s): it hears keepalived over IPv6.
    std::thread::sleep(Duration::from_secs(5));
    assert!(!lan.has_vip("a", VIP6));
    let took = lan.kill_and_time("b", "a", VIP6, bound(50));
    eprintln!("TAKEOVER rvsd after keepalived SIGKILL (IPv6, v3): {took:?}");
    assert!(took <= bound(50), "{took:?}");
}

#[test]
fn rvsd_track_script_notify_fault_and_reload() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    let mut lan = Lan::up();
    let ok = lan.file("ok");
    let notify_log = lan.file("notify.log");
    let notify = lan.file("notify.sh");
    std::fs::write(&ok, "").unwrap();
    std::fs::write(
        &notify,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", notify_log.display()),
    )
    .unwrap();
    let conf = |prio1: u8| {
        format!(
            r#"vrrp_script chk {{
    script "/usr/bin/test -e {ok}"
    interval 1
    weight -60
    fall 1
    rise 1
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    priority {prio1}
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass rvs-test
    }}
    virtual_ipaddress {{
        {VIP4}/24 label eth0:vip
    }}
    track_script {{
        chk
    }}
    notify "/bin/sh {notify}"
    notify_master "/bin/sh {notify} became-master"
    notify_backup "/bin/sh {notify} became-backup"
    notify_fault "/bin/sh {notify} became-fault"
}}
vrrp_instance VI_2 {{
    interface eth0
    virtual_router_id 52
    priority 150
    advert_int 1
    virtual_ipaddress {{
        198.18.0.200/24
    }}
}}
"#,
            ok = ok.display(),
            notify = notify.display()
        )
    };
    lan.start("b", Kind::Keepalived, &inst(100, ""));
    lan.start_conf("a", Kind::Rvsd, &conf(150));
    lan.settle("a", "b", VIP4, SETTLE);
    let addrs = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-n", &lan.ns("a"), "addr", "show", "dev", "eth0"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(addrs.contains("eth0:vip"), "label: {addrs}");
    let notes = || std::fs::read_to_string(&notify_log).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(3), || notes()
            .contains("INSTANCE VI_1 MASTER 150"))
        .is_some(),
        "{}",
        notes()
    );
    // The script fails: 150 - 60 = 90 < 100, keepalived preempts.
    std::fs::remove_file(&ok).unwrap();
    lan.settle("b", "a", VIP4, SETTLE);
    assert!(
        wait_until(Duration::from_secs(3), || notes()
            .contains("INSTANCE VI_1 BACKUP 90"))
        .is_some(),
        "{}",
        notes()
    );
    // It succeeds again: 150, rvsd preempts.
    std::fs::write(&ok, "").unwrap();
    lan.settle("a", "b", VIP4, SETTLE);
    // The interface goes down: FAULT, keepalived takes over; up again: rvsd is back.
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "eth0", "down"]);
    assert!(
        wait_until(Duration::from_secs(3), || lan
            .rvsd_status("a")
            .contains("\"FAULT\""))
        .is_some(),
        "{}",
        lan.rvsd_status("a")
    );
    assert!(!lan.has_vip("a", VIP4));
    assert!(wait_until(SETTLE, || lan.has_vip("b", VIP4)).is_some());
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "eth0", "up"]);
    lan.settle("a", "b", VIP4, SETTLE);
    assert!(notes().contains("INSTANCE VI_1 FAULT"), "{}", notes());
    // The state-specific scripts ran too, with no arguments of their own.
    let n = notes();
    for w in ["became-master\n", "became-backup\n", "became-fault\n"] {
        assert!(n.contains(w), "{n}");
    }
    // SIGHUP with VI_1 at priority 50: VI_1 restarts (resigning with priority 0) and
    // keepalived takes over; VI_2, unchanged, stays MASTER without a transition.
    assert!(wait_until(SETTLE, || lan.has_vip("a", "198.18.0.200")).is_some());
    std::thread::sleep(Duration::from_millis(200));
    let vi2_before = lan.log("a").matches("(VI_2) Entering").count();
    std::fs::write(lan.file("a0.conf"), conf(50)).unwrap();
    lan.proc("a").signal(libc::SIGHUP);
    let took = lan.time_takeover("b", VIP4, Instant::now(), bound(100));
    eprintln!("TAKEOVER keepalived after rvsd reload to a lower priority: {took:?}");
    lan.settle("b", "a", VIP4, SETTLE);
    let log = lan.log("a");
    assert!(log.contains("(VI_1) sent 0 priority"), "{log}");
    assert_eq!(log.matches("(VI_2) Entering").count(), vi2_before, "{log}");
    assert!(lan.has_vip("a", "198.18.0.200"));
    let st = lan.rvsd_status("a");
    assert!(st.contains("\"priority\": 50"), "{st}");
}

#[test]
fn unicast_peers_with_keepalived() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    let mut lan = Lan::up();
    let uni = |me: u8, peer: u8| {
        format!(
            "    unicast_src_ip 198.18.0.{me}\n    unicast_peer {{\n        198.18.0.{peer}\n    }}\n"
        )
    };
    lan.start("b", Kind::Keepalived, &inst(100, &uni(2, 1)));
    lan.start("a", Kind::Rvsd, &inst(150, &uni(1, 2)));
    lan.settle("a", "b", VIP4, SETTLE);
    lan.stays("a", "b", VIP4, Duration::from_secs(3));
    let took = lan.kill_and_time("a", "b", VIP4, bound(100));
    eprintln!("TAKEOVER keepalived after rvsd SIGKILL (unicast): {took:?}");
    assert!(took <= bound(100), "{took:?}");
    // rvsd as the unicast backup of keepalived.
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "eth0", "up"]);
    lan.start("a", Kind::Rvsd, &inst(50, &uni(1, 2)));
    std::thread::sleep(Duration::from_secs(2));
    lan.stays("b", "a", VIP4, Duration::from_secs(3));
    let took = lan.stop_and_time("b", "a", VIP4, bound(50));
    eprintln!("TAKEOVER rvsd after keepalived SIGTERM (unicast): {took:?}");
    assert!(took < Duration::from_millis(2000), "{took:?}");
}

#[test]
fn sync_group_with_keepalived() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    let mut lan = Lan::up();
    const VIP_B: &str = "198.18.0.200";
    // rvsd's VI_2 tracks a spare interface (weight 0: down means FAULT).
    must(&[
        "ip",
        "-n",
        &lan.ns("a"),
        "link",
        "add",
        "dum0",
        "type",
        "veth",
        "peer",
        "name",
        "dum1",
    ]);
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "dum1", "up"]);
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "dum0", "up"]);
    let conf = |prio: u8, track: &str| {
        format!(
            r#"vrrp_sync_group G {{
    group {{
        VI_1
        VI_2
    }}
}}
vrrp_instance VI_1 {{
    interface eth0
{i1}}}
vrrp_instance VI_2 {{
    interface eth0
    virtual_router_id 52
    priority {prio}
    advert_int 1
    virtual_ipaddress {{
        {VIP_B}/24
    }}
{track}}}
"#,
            i1 = inst(prio, "")
        )
    };
    lan.start_conf("b", Kind::Keepalived, &conf(100, ""));
    lan.start_conf(
        "a",
        Kind::Rvsd,
        &conf(150, "    track_interface {\n        dum0\n    }\n"),
    );
    lan.settle("a", "b", VIP4, SETTLE);
    assert!(
        wait_until(SETTLE, || lan.has_vip("a", VIP_B)
            && !lan.has_vip("b", VIP_B))
        .is_some()
    );
    // VI_2's tracked interface loses its carrier: VI_2 FAULT, and VI_1 with it; keepalived
    // takes both over.
    let t = Instant::now();
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "dum1", "down"]);
    let took = lan.time_takeover("b", VIP4, t, bound(100));
    assert!(wait_until(SETTLE, || lan.has_vip("b", VIP_B)).is_some());
    eprintln!("TAKEOVER keepalived after rvsd sync group FAULT: {took:?}");
    assert!(!lan.has_vip("a", VIP4) && !lan.has_vip("a", VIP_B));
    let st = lan.rvsd_status("a");
    assert_eq!(st.matches("\"FAULT\"").count(), 2, "{st}");
    // Back up: both return to rvsd (preempt).
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "dum1", "up"]);
    lan.settle("a", "b", VIP4, SETTLE);
    assert!(
        wait_until(SETTLE, || lan.has_vip("a", VIP_B)
            && !lan.has_vip("b", VIP_B))
        .is_some()
    );
}

#[test]
fn v3_half_second_adverts_with_keepalived() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    let mut lan = Lan::up();
    let v3 = |prio: u8| {
        format!(
            "    version 3\n    virtual_router_id 53\n    priority {prio}\n    advert_int 0.5\n    virtual_ipaddress {{\n        {VIP4}/24\n    }}\n"
        )
    };
    // Master_Down_Interval of the priority-100 backup: 3 × 0.5 s + 156 × 50 / 256 cs.
    let bound = Duration::from_millis(1500 + 304 + 500);
    lan.start("b", Kind::Keepalived, &v3(100));
    lan.start("a", Kind::Rvsd, &v3(150));
    lan.settle("a", "b", VIP4, SETTLE);
    lan.stays("a", "b", VIP4, Duration::from_secs(2));
    let took = lan.kill_and_time("a", "b", VIP4, bound);
    eprintln!(
        "TAKEOVER keepalived after rvsd SIGKILL (v3, advert_int 0.5): {took:?} (bound {bound:?})"
    );
    assert!(took <= bound, "{took:?}");
    // rvsd (100) learns keepalived's (150) interval and takes over as fast.
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "eth0", "up"]);
    lan.start("a", Kind::Rvsd, &v3(100));
    // Longer than rvsd's 1.8 s Master_Down_Interval: it hears keepalived.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!lan.has_vip("a", VIP4));
    let took = lan.kill_and_time("b", "a", VIP4, bound);
    eprintln!(
        "TAKEOVER rvsd after keepalived SIGKILL (v3, advert_int 0.5): {took:?} (bound {bound:?})"
    );
    assert!(took <= bound, "{took:?}");
}

#[test]
fn use_vmac_with_keepalived() {
    if !privileged("VRRP interop") {
        return;
    }
    let _g = lock();
    let mut lan = Lan::up();
    let vmac_has_vip = |lan: &Lan, node: &str| {
        let out = Command::new("ip")
            .args(["-n", &lan.ns(node), "addr", "show", "dev", "vrrp.51"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.contains(&format!(" {VIP4}/")) && out.contains("00:00:5e:00:01:33")
    };
    let client_mac = |lan: &Lan| {
        Command::new("ip")
            .args(["-n", &lan.ns("c"), "neigh", "show", VIP4])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    // Replies from the VIP leave through eth0 (its /24 route); with the default
    // arp_announce 0 the kernel's ARP request for the client would carry the VIP as sender
    // with eth0's MAC and overwrite the client's entry. Directors set arp_announce 2.
    for node in ["a", "b"] {
        must(&[
            "ip",
            "netns",
            "exec",
            &lan.ns(node),
            "sysctl",
            "-qw",
            "net.ipv4.conf.eth0.arp_announce=2",
        ]);
    }
    lan.start("b", Kind::Keepalived, &inst(100, "    use_vmac\n"));
    lan.start("a", Kind::Rvsd, &inst(150, "    use_vmac\n"));
    let ok = wait_until(SETTLE, || {
        vmac_has_vip(&lan, "a") && !vmac_has_vip(&lan, "b") && lan.state("b") == Some("BACKUP")
    });
    assert!(ok.is_some(), "{}\n{}", lan.log("a"), lan.log("b"));
    assert!(lan.client_reaches(VIP4));
    assert!(
        client_mac(&lan).contains("00:00:5e:00:01:33"),
        "{}",
        client_mac(&lan)
    );
    let t = Instant::now();
    lan.proc("a").signal(libc::SIGKILL);
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "eth0", "down"]);
    let ok = wait_until(bound(100) + Duration::from_secs(2), || {
        vmac_has_vip(&lan, "b") && lan.client_reaches(VIP4)
    });
    let took = t.elapsed();
    assert!(ok.is_some(), "{}", lan.log("b"));
    eprintln!("TAKEOVER keepalived after rvsd SIGKILL (use_vmac): {took:?}");
    assert!(took <= bound(100), "{took:?}");
    // The client's neighbour entry never had to change: the MAC moved with the VIP.
    assert!(
        client_mac(&lan).contains("00:00:5e:00:01:33"),
        "{}",
        client_mac(&lan)
    );
    lan.proc("a").reap(Duration::from_secs(3));
    // rvsd as the backup takes the virtual MAC over from keepalived, and removes its
    // VMAC interface when it stops.
    must(&["ip", "-n", &lan.ns("a"), "link", "set", "eth0", "up"]);
    lan.start("a", Kind::Rvsd, &inst(50, "    use_vmac\n"));
    // Longer than rvsd's Master_Down_Interval (3.8 s): it hears keepalived's adverts.
    std::thread::sleep(Duration::from_secs(5));
    assert!(!vmac_has_vip(&lan, "a"), "{}", lan.log("a"));
    let t = Instant::now();
    lan.proc("b").signal(libc::SIGTERM);
    let ok = wait_until(bound(50), || {
        vmac_has_vip(&lan, "a") && lan.client_reaches(VIP4)
    });
    assert!(ok.is_some(), "{}", lan.log("a"));
    eprintln!(
        "TAKEOVER rvsd after keepalived SIGTERM (use_vmac): {:?}",
        t.elapsed()
    );
    lan.proc("a").signal(libc::SIGTERM);
    lan.proc("a").reap(Duration::from_secs(5));
    assert!(!sh(&["ip", "-n", &lan.ns("a"), "link", "show", "vrrp.51"]));
}
