//! keepalived.conf as rvsd's configuration: `-f FILE` at start, `-t -f FILE` to check,
//! SIGHUP to reload (only the difference is applied; a bad file changes nothing).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::bail;
use rvs_config::keepalived::{self, Config, Desired, Report};
use rvs_core::engine::Engine;
use rvs_core::{Command, DestConfig, ServiceKey, Time};

use crate::control::{Plane, lock};
use crate::health::Health;

/// A FULLNAT local address and the service it belongs to (`None`: the global pool).
type Lip = (Option<ServiceKey>, IpAddr);

/// A real server a reload removed, kept at weight 0 until it has no active connection.
struct Draining {
    svc: ServiceKey,
    addr: IpAddr,
    port: u16,
    deadline: Time,
}

/// The configuration rvsd runs: where it came from and what it asked for.
pub struct Running {
    path: PathBuf,
    desired: Desired,
    lips: Vec<Lip>,
    config: Config,
    draining: Vec<Draining>,
}

impl Running {
    /// rvs's own `global_defs` keywords of the running file.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether removed real servers are still draining.
    pub fn draining(&self) -> bool {
        !self.draining.is_empty()
    }
}

/// `rvsd -t -f FILE`: every diagnostic on stderr; `Ok(true)` when the file is usable.
pub fn check(path: &Path) -> bool {
    let report = keepalived::load(path);
    eprint!("{}", report.render());
    if report.is_ok() {
        eprintln!("{}: configuration OK", path.display());
    } else {
        eprintln!(
            "{}: {} error(s), configuration refused",
            path.display(),
            report.errors.len()
        );
    }
    report.is_ok()
}

/// Log the warnings of a usable report; the config, or every diagnostic as one error.
fn accept(path: &Path, report: Report) -> anyhow::Result<Config> {
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    match report.config {
        Some(c) if report.errors.is_empty() => Ok(c),
        _ => {
            let all: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
            bail!(
                "{}: configuration refused:\n{}",
                path.display(),
                all.join("\n")
            )
        }
    }
}

/// `rvsd -f FILE` at start: install the file's table into `engine` (empty until now).
pub fn load(path: &Path, engine: &mut Engine) -> anyhow::Result<Running> {
    let config = accept(path, keepalived::load(path))?;
    let desired = config.desired();
    let commands = desired.commands();
    for cmd in &commands {
        if let Err(e) = engine.director.apply(cmd, Time::ZERO) {
            bail!("{}: cannot apply {cmd:?}: {e}", path.display());
        }
    }
    let lips = config.local_addresses();
    for (svc, a) in &lips {
        engine.fullnat.add_local_address(*svc, *a);
    }
    tracing::info!(
        file = %path.display(),
        services = desired.services.len(),
        commands = commands.len(),
        "configuration loaded"
    );
    Ok(Running {
        path: path.to_path_buf(),
        desired,
        lips,
        config,
        draining: Vec::new(),
    })
}

/// SIGHUP: read the file again; if it is usable, apply only what changed. On any error the
/// running configuration stays as it is and the problems are logged. With a health checker
/// the new table comes through it ([`Health::reload`]: real servers it holds down stay
/// down), else it is the file's start-up table.
pub fn reload(running: &Mutex<Running>, engine: &Mutex<Engine>, plane: &Plane, health: &Health) {
    let path = lock_running(running).path.clone();
    // Reading and checking happen outside every lock.
    let config = match accept(&path, keepalived::load(&path)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("reload refused, the running configuration is kept: {e:#}");
            return;
        }
    };
    let lips = config.local_addresses();
    {
        let mut r = lock_running(running);
        let changed = lips != r.lips;
        {
            let mut eng = lock(engine);
            for (svc, a) in &r.lips {
                if !lips.contains(&(*svc, *a)) {
                    eng.fullnat.remove_local_address(*svc, a);
                }
            }
            for (svc, a) in &lips {
                if !r.lips.contains(&(*svc, *a)) {
                    eng.fullnat.add_local_address(*svc, *a);
                }
            }
        }
        if changed {
            plane.refresh();
        }
        restart_only(&r.config, &config);
        r.lips = lips;
        r.config = config.clone();
    }
    tracing::info!(file = %path.display(), "configuration re-read");
    if !health.reload(config.clone()) {
        apply(
            &mut lock_running(running),
            config.desired(),
            true,
            engine,
            plane,
        );
    }
}

/// Lock the running configuration, recovering from a poisoned lock.
pub fn lock_running(running: &Mutex<Running>) -> MutexGuard<'_, Running> {
    running.lock().unwrap_or_else(|p| p.into_inner())
}

/// Bring the table from what `running` last asked for to `desired`: only the difference
/// is applied. After a reload (`reload`), real servers the file removed drain first when
/// `rvs_drain_timeout` is set; health changes apply at once, as keepalived does.
pub fn apply(
    running: &mut Running,
    desired: Desired,
    reload: bool,
    engine: &Mutex<Engine>,
    plane: &Plane,
) {
    let commands = keepalived::diff(&running.desired, &desired);
    if commands.is_empty() {
        running.desired = desired;
        return;
    }
    let mut failed = 0;
    let n = commands.len();
    {
        let mut eng = lock(engine);
        let now = rvs_dataplane::now().max(eng.director.now());
        let commands = if reload {
            let drain_ms = u64::from(running.config.global.rvs.drain_timeout) * 1000;
            plan_drains(commands, running, drain_ms, now)
        } else {
            commands
        };
        for cmd in &commands {
            if let Err(e) = eng.director.apply(cmd, now) {
                // The running table drifted from what the file asked for (rvsadm edits):
                // say so and go on with the rest, as keepalived does.
                tracing::warn!("{}: {cmd:?}: {e}", if reload { "reload" } else { "health" });
                failed += 1;
            }
        }
    }
    plane.refresh();
    tracing::info!(
        changes = n,
        failed,
        "{}",
        if reload {
            "configuration reloaded"
        } else {
            "table changed by health checks"
        }
    );
    running.desired = desired;
}

/// Warn about settings a reload cannot change.
fn restart_only(old: &Config, new: &Config) {
    let (o, n) = (&old.global.rvs, &new.global.rvs);
    if o.interfaces != n.interfaces {
        tracing::warn!("reload: rvs_interface changes take effect at the next start");
    }
    if o.control != n.control {
        tracing::warn!("reload: rvs_control changes take effect at the next start");
    }
    if o.api != n.api {
        tracing::warn!("reload: rvs_api changes take effect at the next start");
    }
}

/// With a drain timeout, turn the deletion of a real server (whose service stays) into
/// weight 0 plus a later deletion; a draining real server the new file brings back is
/// edited instead of added. Without one, `commands` are returned as they are.
fn plan_drains(
    commands: Vec<Command>,
    running: &mut Running,
    drain_ms: u64,
    now: Time,
) -> Vec<Command> {
    let mut out = Vec::with_capacity(commands.len());
    for cmd in commands {
        match cmd {
            Command::DelDest(svc, addr, port) if drain_ms > 0 => {
                let old = running
                    .desired
                    .services
                    .iter()
                    .filter(|s| s.config.key == svc)
                    .flat_map(|s| &s.dests)
                    .find(|d| d.addr == addr && d.port == port);
                match old {
                    Some(d) => {
                        out.push(Command::EditDest(svc, DestConfig { weight: 0, ..*d }));
                        running.draining.push(Draining {
                            svc,
                            addr,
                            port,
                            deadline: Time(now.0 + drain_ms),
                        });
                    }
                    None => out.push(Command::DelDest(svc, addr, port)),
                }
            }
            Command::AddDest(svc, d)
                if running
                    .draining
                    .iter()
                    .any(|x| x.svc == svc && x.addr == d.addr && x.port == d.port) =>
            {
                running
                    .draining
                    .retain(|x| !(x.svc == svc && x.addr == d.addr && x.port == d.port));
                out.push(Command::EditDest(svc, d));
            }
            Command::DelService(svc) => {
                running.draining.retain(|x| x.svc != svc);
                out.push(Command::DelService(svc));
            }
            other => out.push(other),
        }
    }
    out
}

/// Delete the draining real servers that have no active connection left, or whose drain
/// time is up.
pub fn drain_tick(running: &mut Running, engine: &Mutex<Engine>, plane: &Plane) {
    if !running.draining() {
        return;
    }
    let mut deleted = 0;
    {
        let mut eng = lock(engine);
        let now = rvs_dataplane::now().max(eng.director.now());
        let mut keep = Vec::new();
        for x in running.draining.drain(..) {
            let active = eng
                .director
                .service_rows(Some(&x.svc))
                .and_then(|rows| rows.into_iter().next())
                .and_then(|row| {
                    row.dests
                        .iter()
                        .find(|d| d.addr == x.addr && d.port == x.port)
                        .map(|d| d.activeconns)
                });
            match active {
                // Gone already (rvsadm deleted it).
                None => {}
                Some(n) if n == 0 || now >= x.deadline => {
                    let cmd = Command::DelDest(x.svc, x.addr, x.port);
                    match eng.director.apply(&cmd, now) {
                        Ok(()) => {
                            tracing::info!(
                                service = %x.svc,
                                dest = %x.addr,
                                port = x.port,
                                active = n,
                                "drained real server deleted"
                            );
                            deleted += 1;
                        }
                        Err(e) => tracing::warn!("drain: {cmd:?}: {e}"),
                    }
                }
                Some(_) => keep.push(x),
            }
        }
        running.draining = keep;
    }
    if deleted > 0 {
        plane.refresh();
    }
}
