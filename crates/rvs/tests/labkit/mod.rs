//! Shared by the root end-to-end tests: a `rvs lab` that is taken down on drop, command
//! helpers, and the rule that privileged tests skip loudly (or fail with
//! `RVS_REQUIRE_PRIV=1`). Tests using it run one at a time (`require` holds a lock).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One lab at a time per test binary.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// The rvs binary.
pub const RVS: &str = env!("CARGO_BIN_EXE_rvs");
/// The rvsd binary.
pub const RVSD: &str = env!("CARGO_BIN_EXE_rvsd");
/// The rvsadm binary.
pub const RVSADM: &str = env!("CARGO_BIN_EXE_rvsadm");

/// Whether the test may run: root, or a loud skip (a failure with RVS_REQUIRE_PRIV=1).
pub fn privileged(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("RVS_REQUIRE_PRIV").as_deref() != Ok("1"),
        "{what} needs root and RVS_REQUIRE_PRIV=1 forbids skipping"
    );
    eprintln!("SKIP (needs root): {what}");
    false
}

/// Run a command to completion.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn")
}

/// Run a command that must succeed; its standard output.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A lab, taken down on drop (also when a test panics).
pub struct Lab {
    /// Lab name (namespace prefix).
    pub name: String,
}

impl Lab {
    pub fn up(mode: &str, extra: &[&str]) -> Lab {
        let name = format!(
            "rvse{:06x}",
            std::process::id() ^ (Instant::now().elapsed().as_nanos() as u32) ^ rand_u32()
        );
        let name = name[..10.min(name.len())].to_string();
        let lab = Lab { name };
        ok(Command::new(RVS)
            .args([
                "lab", "up", "--mode", mode, "--name", &lab.name, "--rvsd", RVSD,
            ])
            .args(extra));
        lab
    }

    pub fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    pub fn state(&self) -> PathBuf {
        PathBuf::from(format!("/run/rvs/lab/{}", self.name))
    }

    pub fn sock(&self) -> PathBuf {
        self.state().join("rvsd.sock")
    }

    pub fn exec(&self, node: &str, args: &[&str]) -> Output {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns(node)])
            .args(args))
    }

    /// `rvs lab client KIND TARGET --count N` from the client: answers per server.
    pub fn tally(&self, kind: &str, target: &str, count: u32) -> BTreeMap<String, u64> {
        let out = self.exec(
            "client",
            &[
                RVS,
                "lab",
                "client",
                kind,
                target,
                "--count",
                &count.to_string(),
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
            .collect()
    }

    pub fn ctl(&self, args: &str) -> String {
        ok(Command::new(RVS)
            .args(["ctl", "--control"])
            .arg(self.sock())
            .arg("--")
            .args(args.split_whitespace()))
    }

    pub fn status(&self) -> serde_json::Value {
        let out = ok(Command::new(RVS)
            .args(["ctl", "--status", "--control"])
            .arg(self.sock()));
        serde_json::from_str(&out).expect("status JSON")
    }

    /// A counter of an interface inside a node.
    pub fn counter(&self, node: &str, ifname: &str, which: &str) -> u64 {
        let text = ok(Command::new("ip")
            .args(["netns", "exec", &self.ns(node), "cat"])
            .arg(format!("/sys/class/net/{ifname}/statistics/{which}")));
        text.trim().parse().expect("counter")
    }

    pub fn rvsd_pid(&self) -> i32 {
        let text =
            std::fs::read_to_string(self.state().join("pids/rvsd.pid")).expect("rvsd pid file");
        text.split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("pid")
    }

    pub fn xdp_attached(&self) -> bool {
        self.xdp_on("eth1")
    }

    pub fn xdp_on(&self, ifname: &str) -> bool {
        let out =
            ok(Command::new("ip").args(["-n", &self.ns("dir"), "-d", "link", "show", ifname]));
        out.contains("prog/xdp") || out.contains(" xdp")
    }

    /// The running rvsd's command line (from /proc).
    pub fn rvsd_argv(&self) -> Vec<String> {
        let pid = self.rvsd_pid();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
        cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    /// Start rvsd as `argv` in the director's namespace, its stderr in `<state>/<log>`;
    /// returns once it answers rvsadm (10 s at most).
    pub fn start_rvsd(&self, argv: &[String], log: &str) -> Child {
        let file = std::fs::File::create(self.state().join(log)).expect("log");
        let mut rvsd = Command::new("ip")
            .args(["netns", "exec", &self.ns("dir")])
            .args(argv)
            .stderr(file)
            .spawn()
            .expect("start rvsd");
        let t0 = Instant::now();
        while Command::new(RVSADM)
            .env("RVS_SOCKET", self.sock())
            .arg("-Ln")
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "rvsd does not answer"
            );
            assert!(rvsd.try_wait().expect("wait").is_none(), "rvsd exited");
            std::thread::sleep(Duration::from_millis(50));
        }
        rvsd
    }

    /// Replace the lab's rvsd (started with `--rules`) by one running `-f` on a
    /// keepalived.conf with `conf` as its text (written to the lab's state directory), its
    /// log in `<state>/<log>`; returns once it answers rvsadm (10 s at most).
    pub fn restart_with_conf(&self, conf: &str, log: &str) -> (Child, PathBuf) {
        let mut argv = self.rvsd_argv();
        let path = self.state().join("keepalived.conf");
        std::fs::write(&path, conf).expect("write conf");
        let at = argv.iter().position(|a| a == "--rules").expect("--rules");
        argv[at] = "-f".into();
        argv[at + 1] = path.display().to_string();
        self.stop_rvsd();
        (self.start_rvsd(&argv, log), path)
    }

    /// `rvsadm ARGS` against the lab's rvsd; its standard output (it must succeed).
    pub fn rvsadm(&self, args: &str) -> String {
        ok(Command::new(RVSADM)
            .env("RVS_SOCKET", self.sock())
            .args(args.split_whitespace()))
    }

    /// SIGTERM the lab's rvsd and wait until it is gone (10 s at most).
    pub fn stop_rvsd(&self) {
        kill_and_wait(self.rvsd_pid(), "TERM", Duration::from_secs(10));
    }
}

/// Send `sig` to `pid` (not our child) and wait until it has exited (gone, or a zombie
/// its parent has not reaped yet), `limit` at most.
pub fn kill_and_wait(pid: i32, sig: &str, limit: Duration) {
    ok(Command::new("kill").args([format!("-{sig}"), pid.to_string()]));
    let t0 = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
    {
        assert!(t0.elapsed() < limit, "rvsd survived SIG{sig}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(RVS)
            .args(["lab", "down", "--name", &self.name])
            .output();
    }
}

/// A random number from /dev/urandom.
pub fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    u32::from_ne_bytes(b)
}

/// `privileged`, then the one-lab-at-a-time lock.
pub fn require(what: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    if !privileged(what) {
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|p| p.into_inner()))
}
