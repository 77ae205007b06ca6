//! Health checks: keepalived.conf's checkers (rvs-health) watch every real server and change
//! the table through the same path as a reload — the table the configuration and the
//! current health ask for is diffed against the running one and only the difference is
//! applied. `rvsadm -Ln --health` and the HTTP API read the checker's view from here.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rvs_config::keepalived::{Config, Desired};
use rvs_control::Reply;
use rvs_core::ServiceKey;
use rvs_core::addr::fmt_addr_port;
use rvs_core::engine::Engine;
use rvs_health::{Change, Handle, Monitor, RsStatus, TableSink};

use crate::config::{self, Running};
use crate::control::Plane;

/// Concurrent probes at most (keepalived runs every check from one thread too; this bounds
/// sockets and child processes, not the number of real servers).
const MAX_PROBES: usize = 64;

/// The health checker, when rvsd runs a keepalived.conf.
#[derive(Default)]
pub struct Health {
    handle: Mutex<Option<Handle>>,
}

/// Applies what the checker asks for.
struct Sink {
    running: Arc<Mutex<Running>>,
    engine: Arc<Mutex<Engine>>,
    plane: Plane,
}

impl TableSink for Sink {
    fn apply(&self, desired: Desired, change: Change) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        config::apply(
            &mut running,
            desired,
            matches!(change, Change::Reload),
            &self.engine,
            &self.plane,
        );
    }
}

impl Health {
    /// Start checking the real servers of `cfg` (the running configuration). The table
    /// installed at start is brought in line with the monitor's first view at once.
    pub fn start(
        &self,
        cfg: &Config,
        running: Arc<Mutex<Running>>,
        engine: Arc<Mutex<Engine>>,
        plane: Plane,
    ) -> anyhow::Result<()> {
        let seed = crate::random_seed();
        let monitor = Monitor::new(cfg, rvs_dataplane::now(), seed);
        let sink = Arc::new(Sink {
            running,
            engine,
            plane,
        });
        sink.apply(monitor.desired(), Change::Health);
        let clock: rvs_health::Clock = Arc::new(rvs_dataplane::now);
        let handle = Handle::start_with_clock(monitor, sink, MAX_PROBES, clock)
            .map_err(|e| anyhow::anyhow!("cannot start the health checker: {e}"))?;
        *self.lock() = Some(handle);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Handle>> {
        self.handle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A reloaded (valid) configuration: checkers of unchanged real servers keep their
    /// state; the table follows through the sink.
    pub fn reload(&self, cfg: Config) -> bool {
        match self.lock().as_ref() {
            Some(h) => {
                h.reload(cfg);
                true
            }
            None => false,
        }
    }

    /// Every checked real server; `None` without a checker.
    pub fn status(&self) -> Option<Vec<RsStatus>> {
        self.lock().as_ref().map(Handle::status)
    }

    /// Stop probing (before rvsd exits).
    pub fn shutdown(&self) {
        let h = self.lock().take();
        if let Some(h) = h {
            h.shutdown();
        }
    }

    /// The health of real server `addr:port` of `service` for the API.
    pub fn of(&self, service: &ServiceKey, addr: IpAddr, port: u16) -> rvs_api::Health {
        let Some(all) = self.status() else {
            return rvs_api::Health::Unchecked;
        };
        match all
            .iter()
            .find(|r| r.service == *service && r.addr == addr && r.port == port)
        {
            Some(r) if r.checkers.is_empty() => rvs_api::Health::Unchecked,
            Some(r) if r.up => rvs_api::Health::Up,
            Some(_) => rvs_api::Health::Down,
            None => rvs_api::Health::Unchecked,
        }
    }

    /// `rvsadm -Ln --health`.
    pub fn listing(&self) -> Reply {
        match self.status() {
            Some(rows) => Reply::ok(render(&rows, rvs_dataplane::now())),
            None => Reply::err(
                2,
                "rvsd: no health checker runs (rvsd was not started with -f keepalived.conf)",
            ),
        }
    }
}

/// The service line's first columns as `-Ln` prints them.
fn service(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            format!(
                "{}  {}",
                proto.lower_name().to_uppercase(),
                fmt_addr_port(addr, *port)
            )
        }
        ServiceKey::Fwmark { mark, .. } => format!("FWM  {mark}"),
    }
}

/// The health listing: per service (in the checker's order) its quorum, then every
/// configured real server (and the sorry server) with its state, weight, time in that
/// state and each checker's last result.
pub fn render(rows: &[RsStatus], now: rvs_core::Time) -> String {
    let mut out = String::from(
        "Prot LocalAddress:Port Quorum\n  -> RemoteAddress:Port           Health Weight Since    Checkers\n",
    );
    let mut last: Option<ServiceKey> = None;
    for r in rows {
        if last != Some(r.service) {
            let _ = writeln!(
                out,
                "{} {}",
                service(&r.service),
                if r.quorum_up { "up" } else { "lost" }
            );
            last = Some(r.service);
        }
        let state = match (r.sorry, r.up) {
            (true, true) => "sorry",
            (true, false) => "spare",
            (false, true) => "up",
            (false, false) => "down",
        };
        let since = format!("{}s", now.0.saturating_sub(r.since.0) / 1000);
        let checkers: Vec<String> = r
            .checkers
            .iter()
            .map(|c| {
                let mut s = format!("{} {}", c.kind, if c.up { "ok" } else { "failed" });
                if let Some(why) = c.last_failure.as_ref().filter(|_| !c.up) {
                    let _ = write!(s, " ({why})");
                }
                s
            })
            .collect();
        let checkers = if checkers.is_empty() {
            "-".to_string()
        } else {
            checkers.join(", ")
        };
        let _ = writeln!(
            out,
            "  -> {:<28} {:<6} {:<6} {:<8} {}",
            fmt_addr_port(&r.addr, r.port),
            state,
            r.weight,
            since,
            checkers
        );
    }
    out
}
