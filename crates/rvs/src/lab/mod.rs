//! `rvs lab`: network-namespace labs (client, router, director, real servers) for people,
//! tests and benchmarks, with the built-in servers and client they use.

pub mod client;
mod demo;
pub mod ethtool;
pub mod flood;
pub mod net;
pub mod procs;
pub mod serve;
pub mod sys;
pub mod topo;
pub mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use topo::{Balancer, LabConfig, Mode, TunType};

/// `rvs lab` arguments.
#[derive(clap::Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    cmd: LabCmd,
}

#[derive(clap::Subcommand, Debug)]
enum LabCmd {
    /// Build a lab: namespaces, links, addresses, balancer and real servers.
    Up(UpArgs),
    /// Remove a lab (processes, namespaces, state). Safe to repeat.
    Down {
        /// Lab name.
        #[arg(long, default_value = "rvslab")]
        name: String,
    },
    /// Run a command inside a node: rvs lab exec NAME NODE -- CMD…
    Exec {
        /// Lab name.
        name: String,
        /// client, router, dir, rs1, rs2…
        node: String,
        /// The command and its arguments (after `--`, or directly).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// Show a lab's configuration, namespaces and processes.
    Status {
        /// Lab name.
        #[arg(long, default_value = "rvslab")]
        name: String,
    },
    /// The real servers' HTTP server and UDP echo (runs until killed).
    Serve(serve::ServeArgs),
    /// Send requests and count which server answered.
    #[command(subcommand)]
    Client(client::ClientCmd),
    /// Small-packet UDP generator for benchmarks: many source ports, sendmmsg batches.
    Flood(flood::FloodArgs),
    /// DR lab, 3 servers weighted 3/2/1 under wrr, 60 HTTP requests, stats, then down.
    Demo {
        /// Lab name.
        #[arg(long, default_value = "rvsdemo")]
        name: String,
        /// rvsd executable (default: next to rvs).
        #[arg(long)]
        rvsd: Option<PathBuf>,
        /// rvsd's XDP attach mode.
        #[arg(long, default_value = "auto")]
        xdp_mode: String,
    },
    /// Turn TX checksum offload off on interfaces of this namespace (used by `up`).
    #[command(hide = true)]
    TxCsumOff {
        /// Interface names.
        ifaces: Vec<String>,
    },
    /// Turn GRO on for interfaces of this namespace (used by `up`).
    #[command(hide = true)]
    GroOn {
        /// Interface names.
        ifaces: Vec<String>,
    },
}

/// `rvs lab up` arguments.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Forwarding method (and topology).
    #[arg(long, value_enum)]
    mode: Mode,
    /// Number of real servers.
    #[arg(long, default_value_t = 3)]
    servers: u8,
    /// Lab name (prefix of every namespace; must start with "rvs").
    #[arg(long, default_value = "rvslab")]
    name: String,
    /// Scheduler.
    #[arg(long, default_value = "rr")]
    sched: String,
    /// Weights, comma separated, one per server (default 1 each).
    #[arg(long, value_delimiter = ',')]
    weights: Vec<u32>,
    /// What balances the VIP.
    #[arg(long, value_enum, default_value = "rvs")]
    balancer: Balancer,
    /// rvsd's XDP attach mode: auto, native, generic.
    #[arg(long, default_value = "auto", value_parser = ["auto", "native", "generic"])]
    xdp_mode: String,
    /// Tunnel type of --mode tun.
    #[arg(long, value_enum, default_value = "ipip")]
    tun_type: TunType,
    /// HTTP from nginx on the real servers (ports 80 and 8080, body `rsN`) instead of
    /// the built-in server (which still does the UDP echo). Needs nginx installed.
    #[arg(long)]
    nginx: bool,
    /// Directors: 2 runs a second director (dir2) with VRRP between the two and the
    /// connection sync daemon following it (DR and NAT; IPv4 VIP), for failover tests.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    directors: u8,
    /// Run rvsd without its XDP fast path (`rvsd --no-fastpath`).
    #[arg(long)]
    no_fastpath: bool,
    /// rvsd pins its fast-path maps and XDP links in a bpffs mounted at the lab's state
    /// directory (`rvsd --pin-dir`): restarting rvsd keeps established flows forwarding.
    #[arg(long)]
    pin: bool,
    /// Labs are always dual-stack; this only puts IPv6 first in the hints.
    #[arg(long)]
    ipv6: bool,
    /// rvsd executable (default: next to rvs).
    #[arg(long)]
    rvsd: Option<PathBuf>,
}

impl UpArgs {
    fn config(&self) -> LabConfig {
        let weights = if self.weights.is_empty() {
            vec![1; usize::from(self.servers)]
        } else {
            self.weights.clone()
        };
        LabConfig {
            name: self.name.clone(),
            mode: self.mode,
            servers: self.servers,
            sched: self.sched.clone(),
            weights,
            balancer: self.balancer,
            xdp_mode: self.xdp_mode.clone(),
            tun_type: self.tun_type,
            nginx: self.nginx,
            directors: self.directors,
            fastpath: !self.no_fastpath,
            pin: self.pin,
        }
    }
}

/// Runs `rvs lab …`.
pub fn main(args: LabArgs) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rvs lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: LabArgs) -> Result<ExitCode> {
    match args.cmd {
        LabCmd::Up(a) => {
            let cfg = a.config();
            let exes = up::Exes::locate(a.rvsd.as_deref())?;
            up::up(&cfg, &exes)?;
            print!("{}", up::describe(&cfg, &exes, a.ipv6));
            Ok(ExitCode::SUCCESS)
        }
        LabCmd::Down { name } => {
            up::down(&name, &up::Exes::locate(None)?)?;
            println!("lab {name} is down");
            Ok(ExitCode::SUCCESS)
        }
        LabCmd::Exec { name, node, cmd } => {
            up::exec(&name, &node, &cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        LabCmd::Status { name } => {
            print!("{}", up::status(&name)?);
            Ok(ExitCode::SUCCESS)
        }
        LabCmd::Serve(a) => {
            serve::main(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        LabCmd::Client(c) => client::main(&c),
        LabCmd::Flood(a) => flood::main(&a).map(|_| ExitCode::SUCCESS),
        LabCmd::Demo {
            name,
            rvsd,
            xdp_mode,
        } => demo::run(&name, rvsd.as_deref(), &xdp_mode),
        LabCmd::TxCsumOff { ifaces } => {
            for i in &ifaces {
                if let Err(e) = ethtool::tx_csum_off(i) {
                    bail!("turning TX checksum offload off on {i}: {e}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCmd::GroOn { ifaces } => {
            for i in &ifaces {
                if let Err(e) = ethtool::gro_on(i) {
                    bail!("turning GRO on for {i}: {e}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
