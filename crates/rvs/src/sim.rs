//! `rvs sim --rules FILE --flows FILE [--list] [--stats] [--rate] [--conns]`, or
//! `rvs sim --rules FILE --pcap IN --out OUT --iface NAME=MAC,IP... [--neigh IP=MAC]...`
//! (frames through the packet engine, see [`crate::sim_pcap`]).
//!
//! The rules file is ipvsadm-save format (what `ipvsadm -S -n` prints), applied in order
//! like `ipvsadm -R`. The flow file is described in [`rvs_core::sim`]. One line is printed
//! per event; its last field is the real server the connection is (or was) bound to.
//! Bad input gives `FILE:LINE: message` on stderr and exit status 2.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use rvs_config::ipvsadm::{self, Invocation};
use rvs_core::sim::{FlowLine, Simulator, parse_line};
use rvs_core::{Command, Director, Settings, SplitMix64, Time};

/// Options of `rvs sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Rules in ipvsadm-save format (`-A -t VIP:80 -s wrr`, `-a ... -r RIP:80 -g -w 4`).
    #[arg(long, value_name = "FILE")]
    rules: PathBuf,
    /// Flow events: `TIME PROTO SRC DST open|close|reset|packet` or `TIME cmd ARGS...`.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "pcap",
        conflicts_with = "pcap"
    )]
    flows: Option<PathBuf>,
    /// Replay the frames of this capture (pcap, Ethernet) through the packet engine.
    #[arg(long, value_name = "IN.pcap", requires = "out")]
    pcap: Option<PathBuf>,
    /// Write every frame the director transmits here (pcap, Ethernet).
    #[arg(long, value_name = "OUT.pcap", requires = "pcap")]
    out: Option<PathBuf>,
    /// A director interface: `NAME=MAC,IPv4[/LEN][,IPv6[/LEN]]` (the first one receives
    /// the capture unless `--ingress` names another).
    #[arg(long, value_name = "NAME=MAC,IP[/LEN]...")]
    iface: Vec<String>,
    /// A neighbour's MAC address: `IP=MAC`.
    #[arg(long, value_name = "IP=MAC")]
    neigh: Vec<String>,
    /// A route: `PREFIX/LEN=IFACE[,via=GATEWAY]`.
    #[arg(long, value_name = "PREFIX/LEN=IFACE[,via=GW]")]
    route: Vec<String>,
    /// A FULLNAT local address, global or for one service: `IP` or `IP@tcp:VIP:PORT`.
    #[arg(long = "local-address", value_name = "IP[@SERVICE]")]
    local_address: Vec<String>,
    /// The interface the captured frames arrive on (default: the first `--iface`).
    #[arg(long, value_name = "NAME")]
    ingress: Option<String>,
    /// Print the `ipvsadm -Ln` table after the last event.
    #[arg(long)]
    list: bool,
    /// Print the `ipvsadm -Ln --stats` table.
    #[arg(long)]
    stats: bool,
    /// Print the `ipvsadm -Ln --rate` table.
    #[arg(long)]
    rate: bool,
    /// Print the `ipvsadm -Lnc` connection listing.
    #[arg(long)]
    conns: bool,
    /// Reproduce kernels with the 2026 IPVS fixes instead of the classic behaviour.
    #[arg(long)]
    modern: bool,
    /// Seed of the random generator (the `twos` scheduler).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A `FILE:LINE: message` error.
struct LineError(String);

fn line_err(file: &Path, line: usize, msg: impl std::fmt::Display) -> LineError {
    LineError(format!("{}:{}: {}", file.display(), line, msg))
}

/// Parse ipvsadm arguments into a table command; listing and other commands are not
/// allowed in rule files.
fn to_command(args: &[String]) -> Result<Command, String> {
    match ipvsadm::parse("ipvsadm", args) {
        Ok(Invocation::Command(c)) => Ok(c),
        Ok(_) => Err(format!(
            "`{}' does not change rules: a rules file takes -A -E -D -C -a -e -d -Z --set \
             and --add-fwmark-rule / --del-fwmark-rule",
            args.first().map_or("", String::as_str)
        )),
        Err(e) => Err(e.message.trim_end().replace('\n', " ")),
    }
}

fn apply_rules(d: &mut Director, path: &Path, text: &str) -> Result<(), LineError> {
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let args = ipvsadm::split_restore_line(line);
        if args.is_empty() {
            continue;
        }
        let cmd = to_command(&args).map_err(|m| line_err(path, n, m))?;
        d.apply(&cmd, Time::ZERO)
            .map_err(|e| line_err(path, n, e))?;
    }
    Ok(())
}

fn run(args: &SimArgs) -> Result<String, LineError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .with_context(|| format!("cannot read {}", p.display()))
            .map_err(|e| LineError(format!("{e:#}")))
    };
    let rules = read(&args.rules)?;
    let mut settings = Settings::default();
    if args.modern {
        settings.compat = rvs_core::settings::Compat::Modern;
    }
    let mut d = Director::new(settings, args.seed, Box::new(SplitMix64(args.seed)));
    apply_rules(&mut d, &args.rules, &rules)?;
    if let (Some(pcap), Some(out_path)) = (&args.pcap, &args.out) {
        return run_pcap(args, d, pcap, out_path);
    }
    let Some(flows_path) = &args.flows else {
        return Err(LineError("one of --flows or --pcap is required".into()));
    };
    let flows = read(flows_path)?;
    let mut sim = Simulator::new(d);
    let mut out = String::new();
    for (i, line) in flows.lines().enumerate() {
        let n = i + 1;
        let fl = parse_line(line).map_err(|e| line_err(flows_path, n, e))?;
        match fl {
            None => {}
            Some(FlowLine::Cmd { time, args: a }) => {
                sim.set_time(time).map_err(|e| line_err(flows_path, n, e))?;
                let cmd = to_command(&a).map_err(|m| line_err(flows_path, n, m))?;
                sim.director
                    .apply(&cmd, time)
                    .map_err(|e| line_err(flows_path, n, e))?;
            }
            Some(FlowLine::Event(ev)) => {
                let r = sim.event(&ev).map_err(|e| line_err(flows_path, n, e))?;
                let _ = writeln!(out, "{r}");
            }
        }
    }
    listings(args, &sim.director, &mut out);
    Ok(out)
}

/// Frame mode: replay a capture through the engine and write what it transmits.
fn run_pcap(
    args: &SimArgs,
    d: Director,
    pcap: &Path,
    out_path: &Path,
) -> Result<String, LineError> {
    let input = std::fs::read(pcap)
        .map_err(|e| LineError(format!("cannot read {}: {e}", pcap.display())))?;
    let opts = crate::sim_pcap::FrameOptions {
        ifaces: args.iface.clone(),
        neigh: args.neigh.clone(),
        routes: args.route.clone(),
        local: args.local_address.clone(),
        ingress: args.ingress.clone(),
    };
    let mut eng = rvs_core::engine::Engine::new(d);
    let (mut report, bytes) = crate::sim_pcap::replay(&mut eng, &opts, &input)
        .map_err(|e| LineError(format!("{}: {e}", pcap.display())))?;
    std::fs::write(out_path, bytes)
        .map_err(|e| LineError(format!("cannot write {}: {e}", out_path.display())))?;
    listings(args, &eng.director, &mut report);
    Ok(report)
}

/// Append the listings the options ask for.
fn listings(args: &SimArgs, d: &Director, out: &mut String) {
    let listings = [
        (args.list, rvs_core::listing::ListOptions::default()),
        (
            args.stats,
            rvs_core::listing::ListOptions {
                stats: true,
                ..Default::default()
            },
        ),
        (
            args.rate,
            rvs_core::listing::ListOptions {
                rate: true,
                ..Default::default()
            },
        ),
    ];
    for (wanted, opts) in listings {
        if wanted {
            out.push('\n');
            out.push_str(&d.render_list(&opts));
        }
    }
    if args.conns {
        out.push('\n');
        out.push_str(&d.render_conns());
    }
}

/// Entry point of `rvs sim`.
pub fn main(args: &SimArgs) -> ExitCode {
    match run(args) {
        Ok(out) => {
            let mut so = std::io::stdout().lock();
            if so
                .write_all(out.as_bytes())
                .and_then(|_| so.flush())
                .is_err()
            {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(LineError(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
