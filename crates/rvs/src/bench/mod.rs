//! `rvs bench`: rvs against its peers (plain routing, nftables DNAT, HAProxy, nginx stream)
//! in network-namespace labs, side by side in one run; writes Markdown, JSON and an SVG
//! chart. Method: bench/RESULTS.md.

pub mod chart;
pub mod latency;
pub mod pps;
pub mod probe;
pub mod report;
pub mod run;
pub mod system;
pub mod udpconns;
pub mod xdpgen;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use crate::lab::{sys, up};
use report::Results;
use system::System;

/// `rvs bench` arguments.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    tool: Option<Tool>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Tool {
    /// Open-loop HTTP latency client (run inside the lab's client; prints JSON).
    #[command(hide = true)]
    Latency(latency::LatencyArgs),
    /// Raw sender of UDP datagrams from many source tuples (prints the count sent).
    #[command(hide = true)]
    UdpConns(udpconns::UdpConnsArgs),
    /// XDP traffic generator (BPF_PROG_RUN live frames; prints `sent N pps P`).
    #[command(hide = true)]
    XdpGen(xdpgen::XdpGenArgs),
    /// XDP wire: redirects every IP frame from --dev to --out-dev (until killed).
    #[command(hide = true)]
    XdpWire(xdpgen::XdpWireArgs),
    /// XDP counting sink (rewrites --out every 50 ms until killed).
    #[command(hide = true)]
    XdpSink(xdpgen::XdpSinkArgs),
}

/// Options of a benchmark run.
#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Short run for CI: 1 repetition, 1 s per measurement, plain, nftables, rvs NAT and
    /// DR (with the XDP fast path) and rvs DR without it, memory at 10k connections.
    #[arg(long)]
    smoke: bool,
    /// Systems, comma separated (default: all; smoke: plain,nftables,rvs-nat,rvs-dr,
    /// rvs-dr-no-fastpath).
    #[arg(long, value_enum, value_delimiter = ',')]
    systems: Vec<System>,
    /// Repetitions of every measurement (default 3; smoke 1).
    #[arg(long)]
    reps: Option<usize>,
    /// Seconds per measurement (default 5; smoke 1).
    #[arg(long)]
    seconds: Option<f64>,
    /// Real servers per lab.
    #[arg(long, default_value_t = 3)]
    servers: u8,
    /// wrk connections.
    #[arg(long, default_value_t = 16)]
    wrk_conns: usize,
    /// Latency: requests/s (a moderate, fixed rate).
    #[arg(long, default_value_t = 2000.0)]
    latency_rate: f64,
    /// Latency: keep-alive connections.
    #[arg(long, default_value_t = 8)]
    latency_conns: usize,
    /// rvsd memory at these connection counts (default 10000,100000,1000000; smoke 10000;
    /// 0 = skip).
    #[arg(long, value_delimiter = ',')]
    mem_conns: Vec<u64>,
    /// No CPU pinning (default: generators on CPU 0, director processes on CPU 1).
    #[arg(long)]
    no_pin: bool,
    /// Output directory (results.md, results.json, ratios.svg).
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Also replace the table between the `<!-- rvs bench -->` markers of this file and
    /// write ratios.svg next to it (bench/RESULTS.md).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Measure nothing: write results.md and ratios.svg (and --record) again from the
    /// results.json of an earlier run, with this version's tables and chart.
    #[arg(long, value_name = "RESULTS_JSON")]
    render: Option<PathBuf>,
}

/// Runs `rvs bench …`.
pub fn main(a: &BenchArgs) -> ExitCode {
    let r = match &a.tool {
        Some(Tool::Latency(l)) => latency::run(l).and_then(|rep| {
            println!("{}", serde_json::to_string(&rep)?);
            Ok(true)
        }),
        Some(Tool::UdpConns(u)) => udpconns::run(u).map(|n| {
            println!("sent {n}");
            true
        }),
        Some(Tool::XdpGen(g)) => xdpgen::gen_main(g).map(|(n, pps)| {
            println!("sent {n} pps {pps:.0}");
            true
        }),
        Some(Tool::XdpSink(k)) => xdpgen::sink_main(k).map(|()| true),
        Some(Tool::XdpWire(w)) => xdpgen::wire_main(w).map(|()| true),
        None => bench(&a.run),
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("rvs bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn plan(a: &RunArgs) -> Result<run::Plan> {
    let systems = if !a.systems.is_empty() {
        a.systems.clone()
    } else if a.smoke {
        vec![
            System::Plain,
            System::Nftables,
            System::RvsNat,
            System::RvsDr,
            System::RvsDrNoFastpath,
        ]
    } else {
        system::ALL.to_vec()
    };
    let mem_targets: Vec<u64> = if a.mem_conns.is_empty() {
        if a.smoke {
            vec![10_000]
        } else {
            vec![10_000, 100_000, 1_000_000]
        }
    } else {
        a.mem_conns.iter().copied().filter(|&n| n > 0).collect()
    };
    if mem_targets.iter().any(|&n| n > 5_000_000) {
        bail!("--mem-conns: at most 5000000");
    }
    let p = run::Plan {
        systems,
        reps: a.reps.unwrap_or(if a.smoke { 1 } else { 3 }),
        seconds: a.seconds.unwrap_or(if a.smoke { 1.0 } else { 5.0 }),
        servers: a.servers,
        wrk_conns: a.wrk_conns,
        latency_rate: a.latency_rate,
        latency_conns: a.latency_conns,
        mem_targets,
        pin: !a.no_pin,
        smoke: a.smoke,
    };
    if p.reps == 0 || p.reps > 100 || !(p.seconds >= 1.0 && p.seconds <= 600.0) {
        bail!("--reps 1..100, --seconds 1..600");
    }
    Ok(p)
}

/// Commands the run needs, with their Debian packages.
fn tools(systems: &[System]) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("/usr/bin/wrk", "wrk"), ("/usr/bin/taskset", "util-linux")];
    if systems.contains(&System::Nftables) {
        v.push(("/usr/sbin/nft", "nftables"));
    }
    if systems.contains(&System::Haproxy) {
        v.push(("/usr/sbin/haproxy", "haproxy"));
    }
    if systems.contains(&System::Nginx) {
        v.push(("/usr/sbin/nginx", "nginx-light"));
        v.push((
            "/usr/lib/nginx/modules/ngx_stream_module.so",
            "libnginx-mod-stream",
        ));
    }
    v
}

/// Installs missing tools with apt-get (services are not started: policy-rc.d).
fn install_missing(systems: &[System]) -> Result<()> {
    let missing: Vec<&str> = tools(systems)
        .into_iter()
        .filter(|(p, _)| !Path::new(p).exists())
        .map(|(_, pkg)| pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("== apt-get install {}", missing.join(" "));
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let made = !policy.exists() && fs::write(policy, "#!/bin/sh\nexit 101\n").is_ok();
    if made {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = fs::set_permissions(policy, fs::Permissions::from_mode(0o755));
    }
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(&missing);
    let r = sys::run("apt-get", &args).or_else(|_| {
        sys::run("apt-get", &["update", "-qq"])?;
        sys::run("apt-get", &args)
    });
    if made {
        let _ = fs::remove_file(policy);
    }
    r.with_context(|| format!("installing {}", missing.join(" ")))?;
    Ok(())
}

fn commit() -> String {
    let head = sys::run("git", &["rev-parse", "--short", "HEAD"])
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let dirty = sys::run("git", &["status", "--porcelain", "--untracked-files=no"])
        .map(|s| !s.trim().is_empty())
        .unwrap_or(false);
    if dirty { format!("{head}+dirty") } else { head }
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn meta(p: &run::Plan) -> report::Meta {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    report::Meta {
        date: sys::run("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        commit: commit(),
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        kernel: sys::run("uname", &["-r"])
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        load_start: loadavg(),
        load_end: String::new(),
        reps: p.reps,
        seconds: p.seconds,
        servers: p.servers,
        wrk_conns: p.wrk_conns,
        latency_rate: p.latency_rate,
        latency_conns: p.latency_conns,
        pinned: p.pin,
        memory_system: p.memory_system(),
        smoke: p.smoke,
    }
}

/// Markers around the generated part of RESULTS.md.
const BEGIN: &str = "<!-- rvs bench: begin (generated by `make bench`) -->";
const END: &str = "<!-- rvs bench: end -->";

/// `doc` with the text between the markers replaced by `table` (markers appended when
/// absent).
pub fn splice(doc: &str, table: &str) -> String {
    let block = format!("{BEGIN}\n{table}\n![ratios](ratios.svg)\n{END}");
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{block}{}", &doc[..b], &doc[e + END.len()..])
        }
        _ => format!("{}\n\n{block}\n", doc.trim_end()),
    }
}

fn bench(a: &RunArgs) -> Result<bool> {
    if let Some(json) = &a.render {
        return render(a, json);
    }
    // SAFETY: geteuid has no memory effects.
    if unsafe { libc::geteuid() } != 0 {
        bail!("needs root (network namespaces, XDP, raw sockets)");
    }
    let p = plan(a)?;
    install_missing(&p.systems)?;
    let exes = up::Exes::locate(None)?;
    run::catch_signals();
    let mut res = Results {
        meta: meta(&p),
        order: p.systems.clone(),
        ..Default::default()
    };
    let r = run::run(&p, &exes, &mut res);
    if r.is_ok()
        && let Some(s) = res.meta.memory_system
        && let Err(e) = run::run_memory(&p, &exes, s, &mut res)
    {
        eprintln!("   memory: FAILED: {e:#}");
        res.memory_error = Some(format!("{e:#}"));
    }
    res.meta.load_end = loadavg();
    let done = write_outputs(&mut res, a, &p.mem_targets)?;
    r?;
    Ok(done)
}

/// `rvs bench --render JSON`: the outputs of an earlier run, again.
fn render(a: &RunArgs, json: &Path) -> Result<bool> {
    let text = fs::read_to_string(json).with_context(|| format!("reading {}", json.display()))?;
    let mut res: Results =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", json.display()))?;
    let mut targets: Vec<u64> = res.memory.iter().map(|m| m.target).collect();
    targets.sort_unstable();
    targets.dedup();
    write_outputs(&mut res, a, &targets)
}

/// Summaries, then results.md, results.json and ratios.svg in `--out`; with `--record`
/// and a complete table, the table and chart into the document. `false`: incomplete.
fn write_outputs(res: &mut Results, a: &RunArgs, mem_targets: &[u64]) -> Result<bool> {
    res.finish();
    fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let md = report::markdown(res);
    let svg = chart::svg(res);
    fs::write(a.out.join("results.md"), &md)?;
    fs::write(
        a.out.join("results.json"),
        serde_json::to_string_pretty(&res)?,
    )?;
    fs::write(a.out.join("ratios.svg"), &svg)?;
    println!("{md}");
    eprintln!(
        "rvs bench: wrote {}/results.md, results.json, ratios.svg",
        a.out.display()
    );
    let gaps = res.incomplete(mem_targets);
    if !gaps.is_empty() {
        eprintln!("rvs bench: the table is incomplete:");
        for g in &gaps {
            eprintln!("  {g}");
        }
        return Ok(false);
    }
    if let Some(doc) = &a.record {
        let text = fs::read_to_string(doc).with_context(|| format!("reading {}", doc.display()))?;
        fs::write(doc, splice(&text, &md))?;
        let svg_path = doc.with_file_name("ratios.svg");
        fs::write(&svg_path, &svg)?;
        eprintln!(
            "rvs bench: updated {} and {}",
            doc.display(),
            svg_path.display()
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_between_markers() {
        let doc = format!("# R\n\nintro\n{BEGIN}\nold\n{END}\n\nafter\n");
        let out = splice(&doc, "NEW");
        assert!(out.contains("intro\n"));
        assert!(out.contains("NEW\n![ratios](ratios.svg)"));
        assert!(!out.contains("old"));
        assert!(out.ends_with("\n\nafter\n"));
        assert_eq!(splice(&out, "NEW"), out);
        let appended = splice("# R\n", "T");
        assert!(appended.starts_with("# R\n\n<!-- rvs bench: begin"));
    }

    #[test]
    fn smoke_and_full_plans() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: RunArgs,
        }
        let s = plan(&P::parse_from(["x", "--smoke"]).a).unwrap();
        assert_eq!(
            (s.reps, s.seconds, s.mem_targets.clone()),
            (1, 1.0, vec![10_000])
        );
        assert_eq!(s.memory_system(), Some(System::RvsDr));
        let f = plan(&P::parse_from(["x"]).a).unwrap();
        assert_eq!(f.systems.len(), 10);
        assert!(s.systems.contains(&System::RvsDrNoFastpath));
        assert_eq!(f.reps, 3);
        assert_eq!(f.mem_targets, vec![10_000, 100_000, 1_000_000]);
        let n = plan(&P::parse_from(["x", "--systems", "plain,haproxy", "--mem-conns", "0"]).a)
            .unwrap();
        assert_eq!(n.memory_system(), None);
        assert!(plan(&P::parse_from(["x", "--reps", "0"]).a).is_err());
    }

    #[test]
    fn render_writes_an_earlier_runs_outputs_again() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: RunArgs,
        }
        let dir = std::env::temp_dir().join(format!("rvs-render-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut res = Results {
            order: vec![System::Nginx],
            ..Default::default()
        };
        res.systems
            .entry(System::Nginx)
            .or_default()
            .push(report::KEEPALIVE, 100.0);
        let json = dir.join("in.json");
        fs::write(&json, serde_json::to_string(&res).unwrap()).unwrap();
        let doc = dir.join("RESULTS.md");
        fs::write(&doc, format!("# R\n{BEGIN}\nold\n{END}\n")).unwrap();
        let out = dir.join("out");
        let (o, j, d) = (
            out.to_string_lossy().into_owned(),
            json.to_string_lossy().into_owned(),
            doc.to_string_lossy().into_owned(),
        );
        let a = P::parse_from(["x", "--render", &j, "--out", &o, "--record", &d]).a;
        // Incomplete (nginx's other columns are missing): written, not recorded.
        assert!(!bench(&a).unwrap());
        assert!(out.join("results.md").is_file() && out.join("ratios.svg").is_file());
        assert!(fs::read_to_string(&doc).unwrap().contains("old"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
