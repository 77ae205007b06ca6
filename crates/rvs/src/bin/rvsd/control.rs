//! The control socket server, the daemon clock, and the data-plane handle it refreshes.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{Context, bail};
use rvs_control::frame::{self, FrameError};
use rvs_control::{Reply, Request, exec};
use rvs_core::Time;
use rvs_core::engine::Engine;

/// rvsd's one clock: milliseconds since start, shared by commands and the data plane.
#[derive(Clone, Copy, Debug)]
pub struct Clock(Instant);

impl Clock {
    /// Start counting now.
    pub fn start() -> Clock {
        Clock(Instant::now())
    }

    /// The current time.
    pub fn now(&self) -> Time {
        Time(self.0.elapsed().as_millis() as u64)
    }
}

/// Lock the engine, recovering from a poisoned lock (a panic elsewhere must not wedge
/// the control socket).
pub fn lock(engine: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(|p| p.into_inner())
}

/// The data plane, or nothing when rvsd runs without interfaces.
#[derive(Clone)]
pub struct Plane {
    inner: Arc<Mutex<Option<PlaneState>>>,
}

struct PlaneState {
    interfaces: Vec<String>,
}

impl Plane {
    /// Start the data plane on `interfaces` (none: control plane only).
    pub fn start(
        interfaces: &[String],
        xdp_mode: &str,
        _engine: Arc<Mutex<Engine>>,
        _clock: Clock,
    ) -> anyhow::Result<Plane> {
        if interfaces.is_empty() {
            return Ok(Plane {
                inner: Arc::new(Mutex::new(None)),
            });
        }
        let _ = xdp_mode;
        bail!("the data plane is not wired into rvsd yet");
    }

    /// Bring the classifier maps in line with the service table.
    pub fn refresh(&self) {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(st) = guard.as_ref() {
            tracing::debug!(interfaces = ?st.interfaces, "refresh");
        }
    }

    /// Status as JSON.
    pub fn status(&self, engine: &Engine) -> serde_json::Value {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let c = &engine.counters;
        serde_json::json!({
            "interfaces": guard.as_ref().map(|s| s.interfaces.clone()).unwrap_or_default(),
            "engine": {
                "rx": c.rx, "tx": c.tx, "unresolved": c.unresolved, "passed": c.passed,
                "dropped": c.dropped,
            },
            "services": engine.director.table.len(),
            "connections": engine.director.conns.len(),
        })
    }

    /// Stop the workers and detach from every interface.
    pub fn shutdown(&self) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.take();
    }
}

/// The control socket.
pub struct Server {
    path: PathBuf,
    listener: UnixListener,
    engine: Arc<Mutex<Engine>>,
    plane: Plane,
    clock: Clock,
}

impl Server {
    /// Bind `path` (mode 0600). A socket file nobody answers on (a crashed rvsd's) is
    /// replaced; a live one is an error.
    pub fn bind(
        path: &Path,
        engine: Arc<Mutex<Engine>>,
        plane: Plane,
        clock: Clock,
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
            clock,
        })
    }

    /// Serve in background threads (one per client connection).
    pub fn spawn(&self) {
        let Ok(listener) = self.listener.try_clone() else {
            tracing::error!("cannot clone the control listener");
            return;
        };
        let (engine, plane, clock) = (self.engine.clone(), self.plane.clone(), self.clock);
        std::thread::Builder::new()
            .name("rvsd-control".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    match conn {
                        Ok(stream) => {
                            let (engine, plane) = (engine.clone(), plane.clone());
                            let spawned = std::thread::Builder::new()
                                .name("rvsd-client".into())
                                .spawn(move || serve(stream, &engine, &plane, clock));
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

fn serve(mut stream: UnixStream, engine: &Mutex<Engine>, plane: &Plane, clock: Clock) {
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
        let reply = handle(&req, engine, plane, clock);
        if let Err(e) = frame::write(&mut stream, &reply) {
            tracing::debug!("control reply: {e}");
            return;
        }
    }
}

/// Run one request.
pub fn handle(req: &Request, engine: &Mutex<Engine>, plane: &Plane, clock: Clock) -> Reply {
    match req {
        Request::Ipvsadm { argv0, args, stdin } => {
            let outcome = {
                let mut eng = lock(engine);
                let now = clock.now().max(eng.director.now());
                exec::run(&mut eng.director, argv0, args, stdin.as_deref(), now)
            };
            if outcome.changed {
                tracing::info!(command = %args.join(" "), "table changed");
                plane.refresh();
            }
            outcome.reply
        }
        Request::Status => {
            let eng = lock(engine);
            Reply::ok(format!("{:#}\n", plane.status(&eng)))
        }
    }
}
