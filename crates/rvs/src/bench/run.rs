//! The benchmark run: per system a fresh lab, every measurement `reps` times, the lab torn
//! down afterwards (also on error or Ctrl-C: [`LabGuard`]).

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};

use super::latency::LatencyReport;
use super::probe::{self, MachineCpu};
use super::report::{self, MemRow, Results, SystemResult};
use super::system::{self, System};
use crate::lab::topo::{LabConfig, UDP_PORT, VIP4, sock};
use crate::lab::{procs, sys, up};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM set a flag the run checks between steps (so the lab is torn down).
pub fn catch_signals() {
    let h = on_signal as extern "C" fn(libc::c_int);
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGINT, h as libc::sighandler_t);
        libc::signal(libc::SIGTERM, h as libc::sighandler_t);
    }
}

fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Systems, in order.
    pub systems: Vec<System>,
    /// Repetitions of every measurement.
    pub reps: usize,
    /// Seconds per measurement.
    pub seconds: f64,
    /// Real servers per lab.
    pub servers: u8,
    /// wrk connections.
    pub wrk_conns: usize,
    /// Latency client rate (req/s).
    pub latency_rate: f64,
    /// Latency client connections.
    pub latency_conns: usize,
    /// Connection counts for rvsd's memory.
    pub mem_targets: Vec<u64>,
    /// Pin generators to CPU 0, the director's processes to CPU 1.
    pub pin: bool,
    /// Smoke run.
    pub smoke: bool,
}

impl Plan {
    /// The rvs system whose memory is measured: rvs DR if listed, else the first rvs one.
    pub fn memory_system(&self) -> Option<System> {
        if self.mem_targets.is_empty() {
            return None;
        }
        if self.systems.contains(&System::RvsDr) {
            return Some(System::RvsDr);
        }
        self.systems.iter().copied().find(|s| s.is_rvs())
    }
}

/// Tears the lab down when dropped.
struct LabGuard<'a> {
    name: String,
    exes: &'a up::Exes,
}

impl Drop for LabGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = up::down(&self.name, self.exes) {
            eprintln!("rvs bench: {e:#}");
        }
    }
}

/// A lab name: `rvsb` + 6 hex digits.
fn lab_name() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let x = (t ^ std::process::id().rotate_left(20)) & 0xff_ffff;
    format!("rvsb{x:06x}")
}

/// Context of one system's lab.
struct Ctx<'a> {
    plan: &'a Plan,
    exes: &'a up::Exes,
    sys: System,
    lab: LabConfig,
    dir: PathBuf,
}

impl Ctx<'_> {
    fn rvs(&self) -> String {
        self.exes.rvs.to_string_lossy().into_owned()
    }

    /// Runs `prog args` in the client namespace, on CPU 0 when pinning.
    fn client(&self, prog: &str, args: &[&str]) -> Result<String> {
        let ns = self.lab.ns("client");
        let out = if self.plan.pin {
            let mut v = vec!["-c", "0", prog];
            v.extend_from_slice(args);
            sys::nsexec(&ns, "taskset", &v)?
        } else {
            sys::nsexec(&ns, prog, args)?
        };
        check_interrupt()?;
        Ok(out)
    }

    fn secs(&self) -> String {
        format!("{}", self.plan.seconds)
    }

    fn http_url(&self) -> String {
        let (a, p) = self.sys.http_target(&self.lab);
        format!("http://{}/", sock(a, p))
    }

    fn dir_ns(&self) -> String {
        self.lab.ns("dir")
    }

    fn rs_rx(&self) -> Result<u64> {
        let mut s = 0;
        for n in 1..=self.lab.servers {
            s += probe::if_counter(&self.lab.rs_ns(n), "eth0", "rx_packets")?;
        }
        Ok(s)
    }

    fn wrk(&self, extra: &[&str]) -> Result<probe::WrkOut> {
        let c = format!("-c{}", self.plan.wrk_conns);
        let d = format!("-d{}s", self.plan.seconds.round().max(1.0));
        let url = self.http_url();
        let mut args = vec!["-t1", &c, &d];
        args.extend_from_slice(extra);
        args.push(&url);
        let out = self.client("wrk", &args)?;
        let w = probe::parse_wrk(&out)?;
        if !w.errors.is_empty() {
            eprintln!("   {} wrk: {}", self.sys.key(), w.errors.join("; "));
        }
        Ok(w)
    }
}

/// CPU samples around a measurement.
struct CpuMark {
    machine: MachineCpu,
    dir: Vec<(i32, u64)>,
}

impl CpuMark {
    fn now(dir_ns: &str) -> Result<CpuMark> {
        Ok(CpuMark {
            machine: probe::machine_cpu()?,
            dir: probe::ns_cpu(dir_ns),
        })
    }

    /// (director processes, machine softirq, machine busy) in ns since `self`.
    fn since(&self, dir_ns: &str) -> Result<(f64, f64, f64)> {
        let later = CpuMark::now(dir_ns)?;
        let ns = 1e9 / probe::ticks_per_sec();
        Ok((
            probe::ns_cpu_delta(&self.dir, &later.dir) as f64 * ns,
            later.machine.softirq.saturating_sub(self.machine.softirq) as f64 * ns,
            later.machine.busy.saturating_sub(self.machine.busy) as f64 * ns,
        ))
    }
}

/// Runs the whole plan.
pub fn run(plan: &Plan, exes: &up::Exes, res: &mut Results) -> Result<()> {
    for &s in &plan.systems {
        check_interrupt()?;
        let mut r = SystemResult::default();
        eprintln!("== {}", s.label());
        if let Err(e) = run_system(plan, exes, s, &mut r, res) {
            let msg = format!("{e:#}");
            eprintln!("   {}: FAILED: {msg}", s.key());
            r.error = Some(msg);
        }
        check_interrupt()?;
        if super::pps::applies(s) {
            match super::pps::measure(plan, exes, s) {
                Ok(m) => {
                    for (pps, gen_pps) in m.runs {
                        r.push(report::XDP_PPS, pps);
                        r.push(report::XDP_GEN, gen_pps);
                    }
                    res.xdp_wire.extend(m.wire);
                }
                Err(e) => {
                    let msg = format!("XDP generator: {e:#}");
                    eprintln!("   {}: FAILED: {msg}", s.key());
                    r.error.get_or_insert(msg);
                }
            }
        }
        res.systems.insert(s, r);
        check_interrupt()?;
    }
    Ok(())
}

/// Brings up the lab of `s` (torn down when the guard drops) and prepares it: port ranges,
/// the proxy, CPU pinning, and a reachability check over HTTP and UDP.
fn open<'a>(plan: &'a Plan, exes: &'a up::Exes, s: System) -> Result<(LabGuard<'a>, Ctx<'a>)> {
    let name = lab_name();
    let lab = s.lab(&name, plan.servers);
    up::up(&lab, exes)?;
    let guard = LabGuard {
        name: name.clone(),
        exes,
    };
    let cx = Ctx {
        plan,
        exes,
        sys: s,
        dir: up::state_dir(&name),
        lab,
    };
    // Enough source ports for conn/s (client, and the proxies' backend side).
    for node in ["client", "dir"] {
        sys::sysctl(
            &cx.lab.ns(node),
            "net.ipv4.ip_local_port_range",
            "1024 65000",
        )?;
    }
    match s {
        System::Haproxy | System::Nginx => start_proxy(&cx)?,
        _ => {}
    }
    if plan.pin {
        for pid in probe::ns_pids(&cx.dir_ns()) {
            let p = pid.to_string();
            sys::run("taskset", &["-a", "-p", "-c", "1", &p])?;
        }
    }
    // Reachability, and warm-up (ARP, caches, conntrack).
    let (a, p) = s.http_target(&cx.lab);
    let rvs = cx.rvs();
    let target = sock(a, p);
    retry(|| cx.client(&rvs, &["lab", "client", "http", &target, "--count", "6"]))
        .context("HTTP through the system")?;
    if s.has_udp() {
        for t in s.udp_targets(&cx.lab) {
            let t = sock(IpAddr::V4(t), UDP_PORT);
            retry(|| cx.client(&rvs, &["lab", "client", "udp", &t, "--count", "6"]))
                .context("UDP through the system")?;
        }
    }
    Ok((guard, cx))
}

/// `f` up to 3 times (a first datagram can be lost while neighbours resolve).
fn retry(mut f: impl FnMut() -> Result<String>) -> Result<String> {
    let mut last = None;
    for _ in 0..3 {
        match f() {
            Ok(o) => return Ok(o),
            Err(e) => {
                check_interrupt()?;
                last = Some(e);
                thread::sleep(Duration::from_millis(300));
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("no attempt")))
}

/// rvsd's memory, `reps` times, each in a fresh lab of its own (so earlier measurements
/// leave no connections).
pub fn run_memory(plan: &Plan, exes: &up::Exes, s: System, res: &mut Results) -> Result<()> {
    for rep in 1..=plan.reps {
        eprintln!("== rvsd memory ({}), run {rep}", s.label());
        let (_guard, cx) = open(plan, exes, s)?;
        let mut rows = Vec::new();
        memory(&cx, &mut rows)?;
        res.memory.extend(rows);
    }
    Ok(())
}

fn run_system(
    plan: &Plan,
    exes: &up::Exes,
    s: System,
    r: &mut SystemResult,
    res: &mut Results,
) -> Result<()> {
    let (_guard, cx) = open(plan, exes, s)?;
    let rvs = cx.rvs();
    cx.client("wrk", &["-t1", "-c4", "-d1s", &cx.http_url()])?;
    let dns = cx.dir_ns();
    for rep in 1..=plan.reps {
        let m = CpuMark::now(&dns)?;
        let w = cx.wrk(&[])?;
        let (dir, _, _) = m.since(&dns)?;
        r.push(report::KEEPALIVE, w.rps);
        if report::applies(s, report::DIR_REQ) && w.requests > 0 {
            r.push(report::DIR_REQ, dir / w.requests as f64);
        }
        eprintln!("   keep-alive {rep}: {:.0} req/s", w.rps);
    }
    for rep in 1..=plan.reps {
        let w = cx.wrk(&["-H", "Connection: close"])?;
        r.push(report::CONN, w.rps);
        eprintln!("   conn/s {rep}: {:.0}", w.rps);
    }
    for rep in 1..=plan.reps {
        let l = latency(&cx)?;
        r.push(report::P50, l.p50_us);
        r.push(report::P99, l.p99_us);
        eprintln!(
            "   latency {rep}: p50 {:.0} µs, p99 {:.0} µs ({} requests, {} errors)",
            l.p50_us, l.p99_us, l.requests, l.errors
        );
    }
    if s.has_udp() {
        let dsts: Vec<String> = s
            .udp_targets(&cx.lab)
            .iter()
            .map(ToString::to_string)
            .collect();
        let dsts = dsts.join(",");
        for rep in 1..=plan.reps {
            thread::sleep(Duration::from_millis(300));
            let rx0 = cx.rs_rx()?;
            let m = CpuMark::now(&dns)?;
            let gen_pps = flood(&cx, &dsts)?;
            let (dir, softirq, busy) = m.since(&dns)?;
            thread::sleep(Duration::from_millis(300));
            let pkts = cx.rs_rx()?.saturating_sub(rx0);
            let pps = pkts as f64 / plan.seconds;
            r.push(report::UDP, pps);
            r.push(report::GEN, gen_pps);
            if pkts > 0 {
                if report::applies(s, report::DIR_PKT) {
                    r.push(report::DIR_PKT, dir / pkts as f64);
                }
                r.push(report::SOFTIRQ_PKT, softirq / pkts as f64);
                r.push(report::BUSY_PKT, busy / pkts as f64);
            }
            eprintln!(
                "   UDP {rep}: {pps:.0} pps at RS (generator {gen_pps:.0}); per packet: director procs {:.0} ns, softirq {:.0} ns, all {:.0} ns",
                dir / pkts.max(1) as f64,
                softirq / pkts.max(1) as f64,
                busy / pkts.max(1) as f64
            );
        }
    }
    if s == System::Plain {
        generator_limit(&cx, &mut res.generator_limit)?;
    }
    if s.is_rvs() {
        let sockp = cx.dir.join("rvsd.sock");
        let out = sys::run(
            &rvs,
            &["ctl", "--control", &sockp.to_string_lossy(), "--status"],
        )?;
        r.rvsd_status = serde_json::from_str(&out).ok();
    }
    Ok(())
}

/// Starts HAProxy or nginx in the director (VIP on eth1) and waits until it answers.
fn start_proxy(cx: &Ctx) -> Result<()> {
    let d = cx.dir_ns();
    sys::ipn(&d, &["addr", "add", &format!("{VIP4}/32"), "dev", "eth1"])?;
    let (label, prog, conf, args): (&str, &str, String, Vec<String>) = match cx.sys {
        System::Haproxy => {
            let c = cx.dir.join("haproxy.cfg");
            (
                "haproxy",
                "/usr/sbin/haproxy",
                system::haproxy_conf(&cx.lab, &cx.dir),
                vec!["-db".into(), "-f".into(), c.to_string_lossy().into_owned()],
            )
        }
        _ => {
            let c = cx.dir.join("nginx-stream.conf");
            (
                "nginx-stream",
                "/usr/sbin/nginx",
                system::nginx_stream_conf(&cx.lab, &cx.dir),
                vec![
                    "-c".into(),
                    c.to_string_lossy().into_owned(),
                    "-e".into(),
                    cx.dir
                        .join("nginx-stream.error.log")
                        .to_string_lossy()
                        .into_owned(),
                ],
            )
        }
    };
    if !Path::new(prog).is_file() {
        bail!("{prog} not found (apt-get install haproxy libnginx-mod-stream)");
    }
    let cfile = if cx.sys == System::Haproxy {
        "haproxy.cfg"
    } else {
        "nginx-stream.conf"
    };
    fs::write(cx.dir.join(cfile), conf)?;
    let log = cx.dir.join(format!("{label}.log"));
    let mut child = procs::spawn_in_ns(&cx.dir, label, &d, Path::new(prog), &args, &log)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let target = sock(IpAddr::V4(VIP4), 80);
    let rvs = cx.rvs();
    loop {
        check_interrupt()?;
        if let Ok(Some(st)) = child.try_wait() {
            bail!("{label} exited ({st}); {}", up::log_tail(&log));
        }
        let ok = sys::nsexec(
            &cx.lab.ns("client"),
            &rvs,
            &[
                "lab",
                "client",
                "http",
                &target,
                "--count",
                "1",
                "--timeout-ms",
                "500",
            ],
        );
        if ok.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{label} does not answer on {target}; {}",
                up::log_tail(&log)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// One open-loop latency run.
fn latency(cx: &Ctx) -> Result<LatencyReport> {
    let (a, p) = cx.sys.http_target(&cx.lab);
    let rate = cx.plan.latency_rate.to_string();
    let conns = cx.plan.latency_conns.to_string();
    let secs = cx.secs();
    let rvs = cx.rvs();
    let out = cx.client(
        &rvs,
        &[
            "bench",
            "latency",
            &sock(a, p),
            "--rate",
            &rate,
            "--seconds",
            &secs,
            "--conns",
            &conns,
        ],
    )?;
    let l: LatencyReport =
        serde_json::from_str(out.trim()).with_context(|| format!("latency output {out:?}"))?;
    if l.requests == 0 {
        bail!("latency: no response ({} errors)", l.errors);
    }
    Ok(l)
}

/// One `rvs lab flood` run; returns the datagrams/s the client's kernel accepted.
fn flood(cx: &Ctx, dsts: &str) -> Result<f64> {
    let rvs = cx.rvs();
    let port = UDP_PORT.to_string();
    let secs = cx.secs();
    let out = cx.client(
        &rvs,
        &[
            "lab",
            "flood",
            dsts,
            &port,
            &secs,
            "--sockets",
            "64",
            "--payload",
            "18",
        ],
    )?;
    sent_pps(&out)
}

/// P of a generator's `sent N pps P` line (`rvs lab flood`, `rvs bench xdp-gen`).
pub(super) fn sent_pps(out: &str) -> Result<f64> {
    out.split_whitespace()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("cannot parse the generator's output {out:?}"))
}

/// The flood's own rate into a veth sink in the client namespace (no forwarding path).
fn generator_limit(cx: &Ctx, out: &mut Vec<f64>) -> Result<()> {
    let c = cx.lab.ns("client");
    // A veth pair inside the client: gen0 (no ARP, so frames go out at once) → gen1, whose
    // stack drops them on arrival (addressed to another host).
    sys::ipn(
        &c,
        &[
            "link", "add", "gen0", "type", "veth", "peer", "name", "gen1",
        ],
    )?;
    sys::ipn(&c, &["addr", "add", "198.18.200.1/24", "dev", "gen0"])?;
    sys::ipn(&c, &["link", "set", "gen0", "arp", "off", "up"])?;
    sys::ipn(&c, &["link", "set", "gen1", "up"])?;
    for rep in 1..=cx.plan.reps {
        let pps = flood(cx, "198.18.200.2")?;
        eprintln!("   generator limit {rep}: {pps:.0} pps into a veth sink");
        out.push(pps);
    }
    Ok(())
}

fn rvsd_conns(cx: &Ctx) -> Result<u64> {
    let sockp = cx.dir.join("rvsd.sock");
    let out = sys::run(
        &cx.rvs(),
        &["ctl", "--control", &sockp.to_string_lossy(), "--status"],
    )?;
    let v: serde_json::Value = serde_json::from_str(&out).context("rvsd status")?;
    v["connections"]
        .as_u64()
        .ok_or_else(|| anyhow!("no `connections` in rvsd's status"))
}

fn rvsd_pid(cx: &Ctx) -> Result<i32> {
    procs::recorded(&cx.dir)
        .into_iter()
        .find(|r| r.label == "rvsd")
        .map(|r| r.pid)
        .ok_or_else(|| anyhow!("no rvsd pid recorded"))
}

/// rvsd's RSS idle and with each target count of UDP connections (cumulative: tuples
/// 0..target), each count verified in rvsd's status.
fn memory(cx: &Ctx, rows: &mut Vec<MemRow>) -> Result<()> {
    let pid = rvsd_pid(cx)?;
    let base = probe::rss_kib(pid)?;
    let before = rvsd_conns(cx)?;
    let rvs = cx.rvs();
    let dst = VIP4.to_string();
    let port = UDP_PORT.to_string();
    let mut sent_to = 0u64;
    for &target in &cx.plan.mem_targets {
        let t0 = Instant::now();
        let mut counted = 0;
        for pass in 0..4 {
            // First pass: the new tuples; later passes: all of them again (an existing
            // connection is only refreshed), until rvsd counts them all.
            let from = if pass == 0 { sent_to } else { 0 };
            let (f, t) = (from.to_string(), target.to_string());
            cx.client(
                &rvs,
                &["bench", "udp-conns", &dst, &port, "--from", &f, "--to", &t],
            )?;
            // Let rvsd drain its rings.
            let mut last = 0;
            for _ in 0..20 {
                thread::sleep(Duration::from_millis(200));
                counted = rvsd_conns(cx)?.saturating_sub(before);
                if counted >= target || (counted == last && counted > 0) {
                    break;
                }
                last = counted;
            }
            if counted >= target {
                break;
            }
            eprintln!("   memory: {counted} of {target} connections after pass {pass}, resending");
        }
        sent_to = target;
        let rss = probe::rss_kib(pid)?;
        eprintln!(
            "   memory: {counted} connections, RSS {:.1} MiB (idle {:.1} MiB) [{:.1} s]",
            rss as f64 / 1024.0,
            base as f64 / 1024.0,
            t0.elapsed().as_secs_f64()
        );
        rows.push(MemRow {
            target,
            counted,
            rss_kib: rss,
            base_kib: base,
        });
    }
    Ok(())
}
