//! `rvs`: the toolbox. Today: `rvs sim`, offline replay of flows through a rule set.

// Not wired into `rvs sim` yet (the engine is).
#[allow(dead_code)]
mod frame_args;
#[allow(dead_code)]
mod pcap;
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// rvs — Linux Virtual Server rebuilt in Rust.
#[derive(Parser, Debug)]
#[command(name = "rvs", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Replay flow events through an ipvsadm rule set, offline, and show what the
    /// director would do.
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Sim(args) => sim::main(&args),
    }
}
