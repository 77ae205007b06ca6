//! What the API needs from the daemon around the table: the clock, the data plane, and
//! (when they exist) health checks and VRRP. rvsd implements [`Runtime`]; tests use
//! [`Static`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use rvs_core::Time;
use rvs_core::service::ServiceKey;
use serde::Serialize;

/// A real server's health as its checker sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No checker watches it (every dest until health checks exist).
    #[default]
    Unchecked,
    /// The last checks passed.
    Up,
    /// The checks failed; the checker has taken it out (weight 0 or removed).
    Down,
}

impl Health {
    /// Every state, for state-set metrics.
    pub const ALL: [Health; 3] = [Health::Unchecked, Health::Up, Health::Down];

    /// `unchecked`, `up`, `down`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Health::Unchecked => "unchecked",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// VRRP states (keepalived's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VrrpState {
    /// Starting.
    Init,
    /// Standing by.
    Backup,
    /// Holding the addresses.
    Master,
    /// Failed (a tracked interface or script is down).
    Fault,
}

impl VrrpState {
    /// Every state, for state-set metrics.
    pub const ALL: [VrrpState; 4] = [
        VrrpState::Init,
        VrrpState::Backup,
        VrrpState::Master,
        VrrpState::Fault,
    ];

    /// `INIT`, `BACKUP`, `MASTER`, `FAULT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            VrrpState::Init => "INIT",
            VrrpState::Backup => "BACKUP",
            VrrpState::Master => "MASTER",
            VrrpState::Fault => "FAULT",
        }
    }
}

/// One VRRP instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VrrpInstance {
    /// The `vrrp_instance` name.
    pub name: String,
    /// Current state.
    pub state: VrrpState,
    /// Interface it runs on.
    pub interface: String,
    /// Virtual router id.
    pub virtual_router_id: u8,
    /// Effective priority.
    pub priority: u8,
    /// Virtual addresses it holds when master.
    pub virtual_addresses: Vec<String>,
}

/// Data-plane counters outside the engine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DataplaneReport {
    /// Frame counters by name (`rx`, `tx`, `tx_copied`, `passed_in_userspace`, ...).
    pub frames: BTreeMap<String, u64>,
    /// Frames dropped by the data plane or the kernel around it, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Frames the XDP classifier matched (sent to userspace), by kind; empty without one.
    pub classifier_hits: BTreeMap<String, u64>,
    /// Packets of established flows forwarded by the XDP fast path (never in userspace).
    pub fastpath_hits: u64,
    /// Anything else worth showing in `/api/v1/status` (sockets, XDP modes).
    pub detail: serde_json::Value,
}

/// The daemon around the table.
pub trait Runtime: Send + Sync + 'static {
    /// The data plane's clock (commands and packets move the director along one clock).
    fn now(&self) -> Time;

    /// Bring the data plane in line with the table after a change. Called without the
    /// engine lock.
    fn refresh(&self);

    /// Data-plane counters; `None` when running without a data plane. Called without the
    /// engine lock.
    fn dataplane(&self) -> Option<DataplaneReport>;

    /// Health of real server `addr:port` of `service`. Until health checks exist: always
    /// [`Health::Unchecked`].
    fn health(&self, service: &ServiceKey, addr: IpAddr, port: u16) -> Health {
        let _ = (service, addr, port);
        Health::Unchecked
    }

    /// Whether a health checker runs (`/api/v1/health` says `"checker": "none"` until then).
    fn health_checker(&self) -> Option<String> {
        None
    }

    /// VRRP instances; empty until VRRP exists (or when none is configured).
    fn vrrp(&self) -> Vec<VrrpInstance> {
        Vec::new()
    }
}

/// A [`Runtime`] with a settable clock and canned reports, for tests and for running the
/// API without a data plane.
#[derive(Debug, Default)]
pub struct Static {
    /// Current time in milliseconds.
    pub now_ms: std::sync::atomic::AtomicU64,
    /// How often `refresh` was called.
    pub refreshes: std::sync::atomic::AtomicU64,
    /// What `dataplane` returns.
    pub report: Option<DataplaneReport>,
    /// What `health` returns for every dest.
    pub health: Health,
    /// What `vrrp` returns.
    pub vrrp: Vec<VrrpInstance>,
}

impl Runtime for Static {
    fn now(&self) -> Time {
        Time(self.now_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn refresh(&self) {
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn dataplane(&self) -> Option<DataplaneReport> {
        self.report.clone()
    }

    fn health(&self, _: &ServiceKey, _: IpAddr, _: u16) -> Health {
        self.health
    }

    fn vrrp(&self) -> Vec<VrrpInstance> {
        self.vrrp.clone()
    }
}
