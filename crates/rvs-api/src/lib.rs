//! rvsd's HTTP API: Prometheus metrics (`GET /metrics`), a JSON API over the service table
//! (`/api/v1/...`) and a live status page (`GET /`), on a thread and runtime of their own.
//!
//! Reads copy what they need out of the engine under its lock and format afterwards;
//! writes go through the ipvsadm command model ([`write`]) under the lock, then ask the
//! [`Runtime`] to refresh the data plane with the lock released. Nothing here does I/O
//! while holding the engine lock. See `docs/api.md` and `docs/api.yaml`.

pub mod auth;
pub mod error;
mod handlers;
pub mod history;
pub mod ids;
pub mod metrics;
pub mod model;
mod page;
pub mod runtime;
pub mod write;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rvs_core::engine::Engine;

pub use auth::Auth;
pub use error::ApiError;
pub use history::History;
pub use runtime::{DataplaneReport, Health, Runtime, Static, VrrpInstance, VrrpState};

/// The API's shared state; cheap to clone.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Arc<Mutex<Engine>>,
    runtime: Arc<dyn Runtime>,
    auth: Auth,
    history: Mutex<History>,
    started: Instant,
}

/// How often the rate history is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

impl Api {
    /// An API over `engine`, with `runtime` around it and `auth` in front.
    pub fn new(engine: Arc<Mutex<Engine>>, runtime: Arc<dyn Runtime>, auth: Auth) -> Api {
        Api {
            inner: Arc::new(Inner {
                engine,
                runtime,
                auth,
                history: Mutex::new(History::new(SAMPLE_INTERVAL.as_millis() as u64)),
                started: Instant::now(),
            }),
        }
    }

    /// The HTTP routes.
    pub fn router(&self) -> axum::Router {
        handlers::router(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        self.inner.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn history(&self) -> MutexGuard<'_, History> {
        self.inner.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add one sample of every rate to the history (the server does this every
    /// [`SAMPLE_INTERVAL`]).
    pub fn sample(&self) {
        let rows = self.lock().director.service_rows(None).unwrap_or_default();
        self.history().sample(&rows);
    }

    /// What a scrape reports.
    pub fn snapshot(&self) -> metrics::Snapshot {
        let dataplane = self.inner.runtime.dataplane();
        let (services, engine, total, templates) = {
            let eng = self.lock();
            (
                eng.director.service_rows(None).unwrap_or_default(),
                eng.counters.clone(),
                eng.director.conns.len(),
                eng.director.conns.templates(),
            )
        };
        let rt = &self.inner.runtime;
        let health = services
            .iter()
            .map(|s| {
                s.dests
                    .iter()
                    .map(|d| rt.health(&s.key, d.addr, d.port))
                    .collect()
            })
            .collect();
        metrics::Snapshot {
            services,
            health,
            engine,
            connections: total.saturating_sub(templates) as u64,
            templates: templates as u64,
            dataplane,
            vrrp: rt.vrrp(),
        }
    }
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The thread or its runtime cannot be started.
    #[error("cannot start the API thread: {0}")]
    Thread(std::io::Error),
}

/// A running API server.
pub struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving and wait for the thread.
    pub fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bind `addr` now (so a bad address fails at start) and serve `api` on a thread with a
/// single-threaded runtime of its own, sampling the rate history every second.
pub fn spawn(addr: SocketAddr, api: Api) -> Result<Server, ServeError> {
    let bind_err = |source| ServeError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServeError::Thread)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("rvsd-api".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("API listener: {e}");
                        return;
                    }
                };
                let sampler = {
                    let api = api.clone();
                    async move {
                        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                        loop {
                            tick.tick().await;
                            api.sample();
                        }
                    }
                };
                let serve =
                    axum::serve(listener, api.router()).with_graceful_shutdown(async move {
                        let _ = rx.await;
                    });
                tokio::select! {
                    r = serve => {
                        if let Err(e) = r {
                            tracing::error!("API server: {e}");
                        }
                    }
                    () = sampler => {}
                }
            });
        })
        .map_err(ServeError::Thread)?;
    Ok(Server {
        addr: local,
        stop: Some(tx),
        thread: Some(thread),
    })
}
