//! The control socket server and the data-plane handle it refreshes. Commands and
//! packets move the engine along one clock, the data plane's (`rvs_dataplane::now`).

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, bail};
use rvs_control::frame::{self, FrameError};
use rvs_control::names::SystemNames;
use rvs_control::{Reply, Request, exec};
use rvs_core::engine::Engine;
use rvs_dataplane::{Config, Dataplane};
use rvs_xdp::XdpMode;

use crate::health::Health;
use crate::sync::{self, Shared};

/// Lock the engine, recovering from a poisoned lock (a panic elsewhere must not wedge
/// the control socket).
pub fn lock(engine: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(|p| p.into_inner())
}

/// The data plane, or nothing when rvsd runs without interfaces.
#[derive(Clone)]
pub struct Plane {
    inner: Arc<Mutex<Option<Dataplane>>>,
}

impl Plane {
    /// Start the data plane on `interfaces` (none: control plane only).
    pub fn start(
        interfaces: &[String],
        xdp_mode: &str,
        fastpath: bool,
        pin_dir: Option<std::path::PathBuf>,
        engine: Arc<Mutex<Engine>>,
    ) -> anyhow::Result<Plane> {
        if interfaces.is_empty() {
            return Ok(Plane {
                inner: Arc::new(Mutex::new(None)),
            });
        }
        let mode: XdpMode = xdp_mode
            .parse()
            .map_err(|e| anyhow::anyhow!("--xdp-mode {xdp_mode}: {e}"))?;
        let cfg = Config {
            interfaces: interfaces.to_vec(),
            mode,
            fastpath,
            pin_dir,
            ..Config::default()
        };
        let dp = Dataplane::start(cfg, engine).context("cannot start the data plane")?;
        let st = dp.stats();
        for (ifname, mode) in &st.xdp_modes {
            tracing::info!(interface = %ifname, %mode, "XDP classifier attached");
        }
        for s in &st.sockets {
            tracing::info!(interface = %s.interface, queue = s.queue, zero_copy = s.zero_copy, "AF_XDP socket");
        }
        Ok(Plane {
            inner: Arc::new(Mutex::new(Some(dp))),
        })
    }

    /// Bring the classifier maps in line with the service table.
    pub fn refresh(&self) {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dp) = guard.as_ref()
            && let Err(e) = dp.refresh()
        {
            tracing::error!(
                "cannot update the XDP classifier: {:#}",
                anyhow::Error::from(e)
            );
        }
    }

    /// The data plane's counters; `None` without a data plane.
    pub fn stats(&self) -> Option<rvs_dataplane::DataplaneStats> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(Dataplane::stats)
    }

    /// Status as JSON.
    pub fn status(&self, engine: &Engine) -> serde_json::Value {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let c = &engine.counters;
        let dataplane = guard.as_ref().map(|dp| {
            let s = dp.stats();
            let cl = s.classifier.as_ref().map(|c| {
                serde_json::json!({
                    "seen": c.seen, "redirected": c.redirected, "passed": c.passed(),
                    "hits": c.hits(), "no_xsk": c.no_xsk, "redirect_failed": c.redirect_failed,
                    "malformed": c.malformed, "fragments": c.fragments,
                    "fastpath": c.fastpath,
                })
            });
            serde_json::json!({
                "rx": s.rx, "tx": s.tx, "tx_copied": s.tx_copied, "tx_failed": s.tx_failed,
                "passed_in_userspace": s.passed_in_userspace, "dropped": s.dropped,
                "unresolved_held": s.unresolved_held, "unresolved_sent": s.unresolved_sent,
                "unresolved_dropped": s.unresolved_dropped, "no_port": s.no_port,
                "sockets": s.sockets.iter().map(|k| serde_json::json!({
                    "interface": k.interface, "queue": k.queue, "zero_copy": k.zero_copy,
                })).collect::<Vec<_>>(),
                "xdp_modes": s.xdp_modes.iter().map(|(i, m)| (i.clone(), m.to_string()))
                    .collect::<std::collections::BTreeMap<_, _>>(),
                "kernel": {
                    "rx_ring_full": s.kernel.rx_ring_full, "rx_dropped": s.kernel.rx_dropped,
                    "rx_fill_ring_empty": s.kernel.rx_fill_ring_empty,
                    "rx_invalid_descs": s.kernel.rx_invalid_descs,
                    "tx_invalid_descs": s.kernel.tx_invalid_descs,
                },
                "classifier": cl,
                "fastpath_flows": s.fastpath_flows,
            })
        });
        serde_json::json!({
            "dataplane": dataplane,
            "engine": {
                "rx": c.rx, "tx": c.tx, "unresolved": c.unresolved, "passed": c.passed,
                "dropped": c.dropped,
            },
            "services": engine.director.table.len(),
            "connections": engine.director.conns.len(),
            "vrrp": crate::vrrp::states(),
        })
    }

    /// Stop the workers and detach from every interface.
    pub fn shutdown(&self) {
        let dp = {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            guard.take()
        };
        if let Some(dp) = dp {
            dp.shutdown();
            tracing::info!("data plane stopped, XDP detached");
        }
    }
}

/// The control socket.
pub struct Server {
    path: PathBuf,
    listener: UnixListener,
    engine: Arc<Mutex<Engine>>,
    plane: Plane,
    health: Arc<Health>,
    sync: Shared,
}

impl Server {
    /// Bind `path` (mode 0600). A socket file nobody answers on (a crashed rvsd's) is
    /// replaced; a live one is an error.
    pub fn bind(
        path: &Path,
        engine: Arc<Mutex<Engine>>,
        plane: Plane,
        health: Arc<Health>,
        sync: Shared,
    ) -> anyhow::Result<Server> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                bail!("another rvsd is answering on {}", path.display());
            }
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove stale {}", path.display()))?;
            tracing::warn!(path = %path.display(), "removed a stale control socket");
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("cannot bind {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
        Ok(Server {
            path: path.to_path_buf(),
            listener,
            engine,
            plane,
            health,
            sync,
        })
    }

    /// Serve in background threads (one per client connection).
    pub fn spawn(&self) {
        let Ok(listener) = self.listener.try_clone() else {
            tracing::error!("cannot clone the control listener");
            return;
        };
        let (engine, plane, health, sync) = (
            self.engine.clone(),
            self.plane.clone(),
            self.health.clone(),
            self.sync.clone(),
        );
        std::thread::Builder::new()
            .name("rvsd-control".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    match conn {
                        Ok(stream) => {
                            let (engine, plane, health, sync) =
                                (engine.clone(), plane.clone(), health.clone(), sync.clone());
                            let spawned = std::thread::Builder::new()
                                .name("rvsd-client".into())
                                .spawn(move || serve(stream, &engine, &plane, &health, &sync));
                            if let Err(e) = spawned {
                                tracing::warn!("cannot start a control thread: {e}");
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => tracing::warn!("control accept: {e}"),
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!("cannot start the control thread: {e}"));
    }

    /// Remove the socket file.
    pub fn remove_socket(&self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), "cannot remove the control socket: {e}");
        }
    }
}

fn serve(
    mut stream: UnixStream,
    engine: &Mutex<Engine>,
    plane: &Plane,
    health: &Health,
    sync: &Shared,
) {
    loop {
        let req: Request = match frame::read(&mut stream) {
            Ok(r) => r,
            Err(FrameError::Closed) => return,
            Err(e) => {
                tracing::warn!("control request: {e}");
                let _ = frame::write(
                    &mut stream,
                    &Reply::err(2, format!("rvsd: bad request: {e}")),
                );
                return;
            }
        };
        let reply = handle(&req, engine, plane, health, sync);
        if let Err(e) = frame::write(&mut stream, &reply) {
            tracing::debug!("control reply: {e}");
            return;
        }
    }
}

/// Run one request.
pub fn handle(
    req: &Request,
    engine: &Mutex<Engine>,
    plane: &Plane,
    health: &Health,
    sync: &Shared,
) -> Reply {
    match req {
        Request::Ipvsadm { argv0, args, stdin } => {
            // Names are looked up outside the engine lock: parsing before, rendering after.
            let names = SystemNames::load();
            let plan = exec::plan(argv0, args, stdin.as_deref(), &names);
            let executed = {
                // Lock order: engine, then the sync daemons.
                let mut eng = lock(engine);
                let mut daemons = sync::lock_daemons(sync);
                let now = rvs_dataplane::now().max(eng.director.now());
                exec::execute_with(&mut eng.director, plan, now, &mut *daemons)
            };
            let outcome = exec::finish(executed, &names);
            if outcome.changed {
                tracing::info!(command = %args.join(" "), "table changed");
                plane.refresh();
            }
            outcome.reply
        }
        Request::Proc { file } => match exec::proc_file(&lock(engine).director, file) {
            Some(text) => Reply::ok(text),
            None => Reply::err(
                2,
                format!(
                    "rvsd: no such /proc view `{file}' (known: {})",
                    exec::PROC_FILES.join(", ")
                ),
            ),
        },
        Request::Health => health.listing(),
        Request::Status => {
            let eng = lock(engine);
            Reply::ok(format!("{:#}\n", plane.status(&eng)))
        }
    }
}
