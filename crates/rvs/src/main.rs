//! `rvs`: the toolbox: `rvs sim` (offline replay of flows or captured frames through a rule
//! set), `rvs ctl` (talk to rvsd), `rvs lab` (network-namespace labs), `rvs bench` (rvs
//! against its peers in labs), `rvs rs-setup` (real-server preparation) and `rvs convert`
//! (ldirectord.cf → keepalived.conf).

mod bench;
mod convert;
mod ctl;
mod frame_args;
mod lab;
mod pcap;
mod rs_setup;
mod sim;
mod sim_pcap;

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
    /// Send an ipvsadm command line to rvsd over its control socket.
    Ctl(ctl::CtlArgs),
    /// Network-namespace labs: director, real servers, client (root).
    Lab(lab::LabArgs),
    /// Benchmark rvs against plain routing, nftables, HAProxy and nginx in labs (root).
    Bench(bench::BenchArgs),
    /// Prepare (start) or restore (stop) a real server for DR or TUN (root).
    RsSetup(rs_setup::RsSetupArgs),
    /// Print the keepalived.conf equivalent of an ldirectord.cf.
    Convert(convert::ConvertArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Sim(args) => sim::main(&args),
        Cmd::Ctl(args) => ctl::main(&args),
        Cmd::Lab(args) => lab::main(args),
        Cmd::Bench(args) => bench::main(&args),
        Cmd::RsSetup(args) => rs_setup::main(&args),
        Cmd::Convert(args) => convert::main(&args),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
