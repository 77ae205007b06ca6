//! `rvs lab demo`: a DR lab with 3 real servers weighted 3/2/1 under wrr, 60 HTTP requests
//! from the client, the per-server counts and rvsd's `-Ln --stats`, then the lab is removed
//! (also when a step fails).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};

use super::sys;
use super::topo::{Balancer, LabConfig, Mode, TunType, VIP4};
use super::up::{self, Exes};

/// Runs the demo.
pub fn run(name: &str, rvsd: Option<&Path>, xdp_mode: &str) -> Result<ExitCode> {
    let exes = Exes::locate(rvsd)?;
    let cfg = LabConfig {
        name: name.to_string(),
        mode: Mode::Dr,
        servers: 3,
        sched: "wrr".into(),
        weights: vec![3, 2, 1],
        balancer: Balancer::Rvs,
        xdp_mode: xdp_mode.to_string(),
        tun_type: TunType::Ipip,
        nginx: false,
        directors: 1,
        fastpath: true,
        pin: false,
    };
    let t0 = Instant::now();
    // A leftover from an interrupted demo would make `up` refuse.
    up::down(name, &exes)?;
    up::up(&cfg, &exes)?;
    println!("{}", up::describe(&cfg, &exes, false));
    let r = steps(&cfg, &exes);
    let d = up::down(name, &exes);
    r?;
    d?;
    println!(
        "demo done in {:.1} s (lab {name} removed)",
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn steps(cfg: &LabConfig, exes: &Exes) -> Result<()> {
    let rvs = exes.rvs.to_string_lossy().into_owned();
    let vip = VIP4.to_string();
    println!(
        "== 60 HTTP requests from {}-client to http://{vip}/ (wrr, weights 3/2/1)",
        cfg.name
    );
    let out = sys::nsexec(
        &cfg.ns("client"),
        &rvs,
        &["lab", "client", "http", &vip, "--count", "60"],
    );
    let counts = match out {
        Ok(o) => o,
        Err(e) => bail!("client: {e}"),
    };
    print!("{counts}");
    let sock = up::state_dir(&cfg.name).join("rvsd.sock");
    // rvsadm sits next to rvs (both are built by `make demo`).
    let rvsadm = exes.rvs.with_file_name("rvsadm");
    let sock_env = format!("RVS_SOCKET={}", sock.display());
    println!("\n== rvsadm -Ln --stats");
    let stats = sys::run(
        "env",
        &[&sock_env, &rvsadm.to_string_lossy(), "-Ln", "--stats"],
    )?;
    print!("{stats}");
    Ok(())
}
