//! `rvsd`, the director daemon: the service table (from keepalived.conf, an ipvsadm rules
//! file, or rvsadm), the data plane on the named interfaces, the VIPs, and the control
//! socket that rvsadm / `rvs ctl` talk to.

mod api;
mod config;
mod control;
mod health;
mod rules;
mod signals;
mod sync;
mod vips;
mod vrrp;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;
use rvs_core::engine::Engine;
use rvs_core::{Director, Settings, SplitMix64};

/// rvsd — the rvs director daemon (runs in the foreground, logs to stderr).
#[derive(Parser, Debug)]
#[command(name = "rvsd", version, about)]
struct Args {
    /// keepalived.conf to run (virtual servers, real servers, rvs_* keywords in
    /// global_defs); SIGHUP reloads it, applying only what changed.
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    use_file: Option<PathBuf>,
    /// Check the -f file, print every problem as FILE:LINE:COL: message, and exit (0 = valid).
    #[arg(short = 't', long = "config-test", requires = "use_file")]
    config_test: bool,
    /// Rules to load at start, in ipvsadm-save format (`-A -t VIP:80 -s rr`, `-a ...`).
    #[arg(long, value_name = "FILE", conflicts_with = "use_file")]
    rules: Option<PathBuf>,
    /// Data-plane interface (repeatable). Without any, rvsd runs the control plane only.
    #[arg(long = "interface", short = 'i', value_name = "IF")]
    interfaces: Vec<String>,
    /// Control socket path [default: $RVS_SOCKET, else /run/rvs/rvsd.sock].
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// How the XDP program is attached: auto (native, else generic), native, generic.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    xdp_mode: String,
    /// Do not forward established flows in XDP (the fast path): every service packet goes
    /// through the AF_XDP worker (for comparisons and debugging).
    #[arg(long)]
    no_fastpath: bool,
    /// Pin the fast path's maps and the XDP links in this bpffs directory (e.g.
    /// /sys/fs/bpf/rvs/NAME): on exit the program keeps forwarding established flows and
    /// the next rvsd with the same directory takes over without a gap. `rm -r DIR` after a
    /// stop for good.
    #[arg(long, value_name = "DIR")]
    pin_dir: Option<PathBuf>,
    /// Address to put on --vip-interface while rvsd runs (repeatable), ADDR[/PLEN]
    /// (default /32 or /128), like keepalived's virtual_ipaddress.
    #[arg(long = "vip", value_name = "ADDR[/PLEN]")]
    vips: Vec<String>,
    /// Interface the --vip addresses go on [default: the first --interface].
    #[arg(long, value_name = "IF")]
    vip_interface: Option<String>,
    /// FULLNAT local address (repeatable): the source address towards real servers.
    #[arg(long = "local-address", value_name = "ADDR")]
    local_addresses: Vec<std::net::IpAddr>,
    /// Serve the HTTP API (Prometheus /metrics, JSON /api/v1, status page /) on ADDR:PORT
    /// (IPv6: [ADDR]:PORT). Off by default; keep it on loopback. Overrides `rvs_api`.
    #[arg(long, value_name = "ADDR:PORT")]
    api: Option<std::net::SocketAddr>,
    /// File holding the API's bearer token (writes need it; reads too unless
    /// --api-public-read).
    #[arg(long, value_name = "FILE")]
    api_token_file: Option<PathBuf>,
    /// Let anyone who can reach the API read it (metrics, listings, the status page's data).
    #[arg(long)]
    api_public_read: bool,
    /// Log format: text, or json (one object per line).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Seed of the connection hash (default: random).
    #[arg(long, hide = true)]
    seed: Option<u64>,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    match std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
    {
        Ok(()) => u64::from_ne_bytes(b),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed),
    }
}

fn run(mut args: Args) -> anyhow::Result<()> {
    // Block the signals we wait for before any thread starts, so every thread inherits it.
    let sigs = signals::block()?;
    let seed = args.seed.unwrap_or_else(random_seed);
    let director = Director::new(Settings::default(), seed, Box::new(SplitMix64(seed)));
    let mut engine = Engine::new(director);
    for a in &args.local_addresses {
        engine.fullnat.add_local_address(None, *a);
    }
    if let Some(path) = &args.rules {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let n = rules::load(&mut engine.director, path, &text)?;
        tracing::info!(file = %path.display(), commands = n, "rules loaded");
    }
    let running = match &args.use_file {
        Some(path) => Some(config::load(path, &mut engine)?),
        None => None,
    };
    // rvs's own global_defs keywords, where the command line does not say otherwise.
    if let Some(r) = &running {
        let g = &r.config().global.rvs;
        if args.interfaces.is_empty() {
            args.interfaces = g.interfaces.clone();
        }
        if args.control.is_none() {
            args.control = g.control.as_ref().map(PathBuf::from);
        }
        if args.api.is_none() {
            args.api = g.api;
        }
    }
    let engine = Arc::new(Mutex::new(engine));
    let running = running.map(|r| Arc::new(Mutex::new(r)));
    let health = Arc::new(health::Health::default());

    let vip_if = args
        .vip_interface
        .clone()
        .or_else(|| args.interfaces.first().cloned());
    let socket = rvs_control::socket_path(args.control.as_deref());
    let mut vips = vips::Vips::new(socket.with_extension("vips"));
    if !args.vips.is_empty() {
        let Some(ifname) = vip_if else {
            anyhow::bail!("--vip needs --vip-interface or an --interface");
        };
        for v in &args.vips {
            let (addr, plen) = vips::parse(v)?;
            vips.add(&ifname, addr, plen)?;
        }
    }

    let plane = control::Plane::start(
        &args.interfaces,
        &args.xdp_mode,
        !args.no_fastpath,
        args.pin_dir.clone(),
        engine.clone(),
    );
    let plane = match plane {
        Ok(p) => p,
        Err(e) => {
            vips.remove_all();
            return Err(e);
        }
    };
    if let Some(r) = &running {
        let cfg = config::lock_running(r).config().clone();
        if let Err(e) = health.start(&cfg, r.clone(), engine.clone(), plane.clone()) {
            plane.shutdown();
            vips.remove_all();
            return Err(e);
        }
    }
    let sync_daemons: sync::Shared = Arc::new(Mutex::new(sync::Daemons::new(engine.clone())));
    let server = match control::Server::bind(
        &socket,
        engine.clone(),
        plane.clone(),
        health.clone(),
        sync_daemons.clone(),
    ) {
        Ok(s) => s,
        Err(e) => {
            plane.shutdown();
            vips.remove_all();
            return Err(e);
        }
    };
    let http = match args.api {
        Some(addr) => match api::start(
            addr,
            args.api_token_file.as_deref(),
            args.api_public_read,
            engine.clone(),
            plane.clone(),
            health.clone(),
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                health.shutdown();
                plane.shutdown();
                vips.remove_all();
                server.remove_socket();
                return Err(e);
            }
        },
        None => None,
    };
    let vrrp_cfg = running
        .as_ref()
        .map(|r| config::lock_running(r).config().clone());
    let mut vrrp = vrrp::start(vrrp_cfg.as_ref());
    let mut follower = vrrp_cfg
        .as_ref()
        .and_then(|c| sync::Follower::start(c, engine.clone(), sync_daemons.clone()));
    tracing::info!(control = %socket.display(), interfaces = ?args.interfaces, "rvsd running");
    server.spawn();

    let sig = loop {
        // With a configuration, wake up every second: real servers may drain after a reload
        // (the health checker applies a reload's table on its own thread, so draining can
        // start after this loop has looked).
        let got = if running.is_some() {
            signals::wait_timeout(&sigs, std::time::Duration::from_secs(1))
        } else {
            Some(signals::wait(&sigs))
        };
        match got {
            Some(signals::Signal::Stop(name)) => break name,
            Some(signals::Signal::Reload) => match running.as_ref() {
                Some(r) => {
                    config::reload(r, &engine, &plane, &health);
                    let cfg = config::lock_running(r).config().clone();
                    vrrp.reload(&cfg);
                    if follower.as_ref().map(|f| &f.spec) != cfg.global.lvs_sync_daemon.as_ref() {
                        if let Some(f) = follower.take() {
                            f.stop();
                            sync::stop_followed(&engine, &sync_daemons);
                        }
                        follower =
                            sync::Follower::start(&cfg, engine.clone(), sync_daemons.clone());
                    }
                }
                None => tracing::warn!("SIGHUP ignored: no -f configuration to reload"),
            },
            None => {
                if let Some(r) = running.as_ref() {
                    config::drain_tick(&mut config::lock_running(r), &engine, &plane);
                }
            }
        }
    };
    tracing::info!(signal = sig, "shutting down");
    if let Some(f) = follower.take() {
        f.stop();
    }
    vrrp.shutdown();
    if let Some(h) = http {
        h.shutdown();
    }
    health.shutdown();
    sync::lock_daemons(&sync_daemons).shutdown();
    plane.shutdown();
    vips.remove_all();
    server.remove_socket();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.config_test
        && let Some(path) = &args.use_file
    {
        return if config::check(path) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    init_logging(&args.log_format);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rvsd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
