//! Packets/s with an XDP generator: what the director can forward when neither end
//! limits it.
//!
//! The lab of the other measurements puts a router (kernel forwarding) and bridges
//! between the client and the director, and its generator is a socket flood: on a small
//! machine those cap every system near the same rate. Here a lab of its own joins three
//! namespaces with two veth pairs, nothing else:
//!
//! ```text
//!   <name>-gen  g0 198.18.20.2/24 ── eth1 198.18.20.1/24  <name>-dir  eth2 198.18.21.1/24 ── eth0 198.18.21.11/24  <name>-rs
//!               rvs bench xdp-gen        (VIP 198.18.20.100)                                   rvs bench xdp-sink
//! ```
//!
//! `xdp-gen` (BPF_PROG_RUN, live frames) sends 60-byte UDP datagrams from 64 source ports
//! to VIP:9000 (plain routing: to the real server's address) straight into the
//! director's eth1; `xdp-sink` counts and drops them in XDP at the real server. The
//! system under test is the only thing in between: plain kernel forwarding, nftables
//! DNAT, or rvsd (NAT or DR, with or without its XDP fast path). The generator's work, the
//! director's and the sink's all run in the softirq of the generator's CPU, so the rate
//! counted at the sink is one core's worth of the whole path.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::run::Plan;
use super::system::System;
use super::xdpgen;
use crate::lab::{procs, sys, up};

const GEN_ADDR: &str = "198.18.20.2";
const VIP: &str = "198.18.20.100";
const RIP: &str = "198.18.21.11";
const PORT: u16 = 9000;
/// Seconds sent before each measurement.
const WARMUP: f64 = 1.0;

/// Whether `s` is measured here (TCP-only proxies, TUN and FULLNAT are not).
pub fn applies(s: System) -> bool {
    matches!(
        s,
        System::Plain
            | System::Nftables
            | System::RvsNat
            | System::RvsDr
            | System::RvsNatNoFastpath
            | System::RvsDrNoFastpath
    )
}

/// The lab, torn down when dropped.
struct PpsLab<'a> {
    name: String,
    exes: &'a up::Exes,
    rvsd: Option<Child>,
    sink: Option<Child>,
}

/// The lab's nodes (`<name>-<node>` namespaces).
const NODES: [&str; 3] = ["gen", "dir", "rs"];

impl Drop for PpsLab<'_> {
    fn drop(&mut self) {
        // Stops the recorded processes (sink, rvsd, wire) and removes the state; its
        // namespace list knows only `rvs lab`'s node names.
        if let Err(e) = up::down(&self.name, self.exes) {
            eprintln!("rvs bench: {e:#}");
        }
        for c in [self.rvsd.as_mut(), self.sink.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = c.wait();
        }
        for node in NODES {
            let ns = self.ns(node);
            procs::kill_ns_pids(&ns);
            if let Err(e) = sys::ip(&["netns", "del", &ns])
                && sys::netns_list().is_ok_and(|l| l.contains(&ns))
            {
                eprintln!("rvs bench: removing {ns}: {e}");
            }
        }
    }
}

impl PpsLab<'_> {
    fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    fn dir(&self) -> std::path::PathBuf {
        up::state_dir(&self.name)
    }
}

/// Owned copies of `args` (process arguments).
fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(ToString::to_string).collect()
}

fn name() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("rvsp{:06x}", (t ^ std::process::id()) & 0xff_ffff)
}

fn wait_file(path: &Path, child: &mut Child, what: &str) -> Result<()> {
    for _ in 0..500 {
        if path.exists() {
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            bail!("{what} exited ({st}) before {} appeared", path.display());
        }
        thread::sleep(Duration::from_millis(20));
    }
    bail!("{what}: {} did not appear within 10 s", path.display())
}

/// Builds the lab for `s` and starts the sink (and rvsd).
fn open<'a>(plan: &Plan, exes: &'a up::Exes, s: System) -> Result<PpsLab<'a>> {
    let mut lab = PpsLab {
        name: name(),
        exes,
        rvsd: None,
        sink: None,
    };
    let dir = lab.dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let [g, d, r] = NODES.map(|n| lab.ns(n));
    for ns in [&g, &d, &r] {
        sys::ip(&["netns", "add", ns])?;
        sys::ipn(ns, &["link", "set", "lo", "up"])?;
    }
    sys::ip(&[
        "link", "add", "g0", "netns", &g, "type", "veth", "peer", "name", "eth1", "netns", &d,
    ])?;
    sys::ip(&[
        "link", "add", "eth2", "netns", &d, "type", "veth", "peer", "name", "eth0", "netns", &r,
    ])?;
    sys::ipn(&g, &["addr", "add", &format!("{GEN_ADDR}/24"), "dev", "g0"])?;
    sys::ipn(&d, &["addr", "add", "198.18.20.1/24", "dev", "eth1"])?;
    sys::ipn(&d, &["addr", "add", "198.18.21.1/24", "dev", "eth2"])?;
    sys::ipn(&r, &["addr", "add", &format!("{RIP}/24"), "dev", "eth0"])?;
    for (ns, dev) in [(&g, "g0"), (&d, "eth1"), (&d, "eth2"), (&r, "eth0")] {
        sys::ipn(ns, &["link", "set", dev, "up"])?;
    }
    sys::ipn(&r, &["route", "add", "default", "via", "198.18.21.1"])?;
    sys::sysctl(&d, "net.ipv4.ip_forward", "1")?;
    let rvs = exes.rvs.to_string_lossy().into_owned();
    // NAPI on the director's receiving veth, so frames the generator transmits into it
    // are taken without an XDP program there (the kernel systems).
    sys::nsexec(&d, &rvs, &["lab", "gro-on", "eth1"])?;
    // The sink first: it answers ARP (it passes everything but the counted datagrams).
    let out = dir.join("sink.count");
    let args: Vec<String> = strings(&[
        "bench",
        "xdp-sink",
        "--dev",
        "eth0",
        "--port",
        &PORT.to_string(),
        "--out",
        &out.to_string_lossy(),
    ]);
    let mut sink = procs::spawn_in_ns(&dir, "sink", &r, &exes.rvs, &args, &dir.join("sink.log"))?;
    wait_file(&out, &mut sink, "xdp-sink")?;
    lab.sink = Some(sink);
    match s {
        System::Plain => {}
        System::Nftables => {
            let rules = format!(
                "table ip rvsbench {{\n  chain pre {{\n    type nat hook prerouting priority -100;\n    \
                 ip daddr {VIP} udp dport {PORT} dnat to {RIP}:{PORT}\n  }}\n}}\n"
            );
            let f = dir.join("nft.conf");
            std::fs::write(&f, rules)?;
            sys::nsexec(&d, "nft", &["-f", &f.to_string_lossy()])?;
        }
        _ => {
            let flag = if matches!(s, System::RvsNat | System::RvsNatNoFastpath) {
                "-m"
            } else {
                "-g"
            };
            let rules = dir.join("rules.txt");
            std::fs::write(
                &rules,
                format!("-A -u {VIP}:{PORT} -s rr\n-a -u {VIP}:{PORT} -r {RIP}:{PORT} {flag}\n"),
            )?;
            let sock = dir.join("rvsd.sock");
            let mut args: Vec<String> = strings(&[
                "--rules",
                &rules.to_string_lossy(),
                "--control",
                &sock.to_string_lossy(),
                "--xdp-mode",
                "native",
                "--interface",
                "eth1",
                "--interface",
                "eth2",
                "--vip",
                &format!("{VIP}/32"),
                "--vip-interface",
                "eth1",
            ]);
            if !s.has_fastpath() {
                args.push("--no-fastpath".into());
            }
            let mut child =
                procs::spawn_in_ns(&dir, "rvsd", &d, &exes.rvsd, &args, &dir.join("rvsd.log"))?;
            wait_file(&sock, &mut child, "rvsd")?;
            lab.rvsd = Some(child);
            if plan.pin {
                for pid in super::probe::ns_pids(&d) {
                    sys::run("taskset", &["-a", "-p", "-c", "1", &pid.to_string()])?;
                }
            }
        }
    }
    Ok(lab)
}

/// One run: `(packets/s at the sink, generator frames/s)`.
fn once(plan: &Plan, lab: &PpsLab, s: System) -> Result<(f64, f64)> {
    let mac = sys::nsexec(&lab.ns("dir"), "cat", &["/sys/class/net/eth1/address"])?;
    let dst = if s == System::Plain { RIP } else { VIP };
    let secs = format!("{}", plan.seconds);
    let warm = format!("{WARMUP}");
    let rvs = lab.exes.rvs.to_string_lossy().into_owned();
    let mut argv: Vec<&str> = vec![];
    if plan.pin {
        argv.extend(["taskset", "-c", "0"]);
    }
    argv.extend([
        rvs.as_str(),
        "bench",
        "xdp-gen",
        "--dev",
        "g0",
        "--dst-mac",
        mac.trim(),
        "--src",
        GEN_ADDR,
        "--dst",
        dst,
        "--warmup",
        &warm,
        "--seconds",
        &secs,
    ]);
    let gen_ns = lab.ns("gen");
    let child = Command::new("ip")
        .args(["netns", "exec", &gen_ns])
        .args(&argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting xdp-gen")?;
    let count = lab.dir().join("sink.count");
    // The sink's counts over the generator's measured seconds (its file is rewritten every
    // 50 ms with its own clock).
    thread::sleep(Duration::from_secs_f64(WARMUP + 0.1));
    let (p0, t0) = xdpgen::read_sink(&count)?;
    thread::sleep(Duration::from_secs_f64((plan.seconds - 0.2).max(0.1)));
    let (p1, t1) = xdpgen::read_sink(&count)?;
    let out = child.wait_with_output().context("xdp-gen")?;
    if !out.status.success() {
        bail!(
            "xdp-gen failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let gen_pps = super::run::sent_pps(&String::from_utf8_lossy(&out.stdout))?;
    let dt = (t1.saturating_sub(t0)) as f64 / 1e9;
    if dt <= 0.0 {
        bail!("the sink's count did not move in time");
    }
    Ok((p1.saturating_sub(p0) as f64 / dt, gen_pps))
}

/// What [`measure`] found.
#[derive(Debug, Default)]
pub struct Measured {
    /// `(sink pps, generator pps)` per run.
    pub runs: Vec<(f64, f64)>,
    /// Plain routing's lab only: sink pps per run with the XDP wire in the director.
    pub wire: Vec<f64>,
}

/// `plan.reps` runs for `s` in a fresh lab (for plain routing, then as many with the XDP
/// wire in the director).
pub fn measure(plan: &Plan, exes: &up::Exes, s: System) -> Result<Measured> {
    let mut lab = open(plan, exes, s)?;
    let mut m = Measured::default();
    for rep in 1..=plan.reps {
        let (pps, gen_pps) = once(plan, &lab, s)?;
        eprintln!("   XDP generator {rep}: {pps:.0} pps at the sink (generator {gen_pps:.0})");
        m.runs.push((pps, gen_pps));
    }
    if s == System::Plain {
        let rs_mac = sys::nsexec(&lab.ns("rs"), "cat", &["/sys/class/net/eth0/address"])?;
        let dir = lab.dir();
        let log = dir.join("wire.log");
        let args: Vec<String> = strings(&[
            "bench",
            "xdp-wire",
            "--dev",
            "eth1",
            "--out-dev",
            "eth2",
            "--dst-mac",
            rs_mac.trim(),
        ]);
        let mut child = procs::spawn_in_ns(&dir, "wire", &lab.ns("dir"), &exes.rvs, &args, &log)?;
        let mut up = false;
        for _ in 0..250 {
            if std::fs::read_to_string(&log).is_ok_and(|t| t.contains("attached")) {
                up = true;
                break;
            }
            if let Ok(Some(st)) = child.try_wait() {
                bail!("xdp-wire exited ({st})");
            }
            thread::sleep(Duration::from_millis(20));
        }
        lab.rvsd = Some(child);
        if !up {
            bail!("xdp-wire did not attach within 5 s");
        }
        for rep in 1..=plan.reps {
            let (pps, _) = once(plan, &lab, s)?;
            eprintln!("   XDP wire {rep}: {pps:.0} pps at the sink");
            m.wire.push(pps);
        }
    }
    if s.is_rvs() {
        let sock = lab.dir().join("rvsd.sock");
        if let Ok(out) = sys::run(
            &lab.exes.rvs.to_string_lossy(),
            &["ctl", "--control", &sock.to_string_lossy(), "--status"],
        ) && let Ok(st) = serde_json::from_str::<serde_json::Value>(&out)
        {
            eprintln!(
                "   rvsd: fast-path flows {}, worker rx {}",
                st["dataplane"]["fastpath_flows"], st["dataplane"]["rx"]
            );
        }
    }
    Ok(m)
}
