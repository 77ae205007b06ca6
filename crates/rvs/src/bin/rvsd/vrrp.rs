//! VRRP in rvsd: the `vrrp_instance`s of the -f configuration, run by rvs-vrrp's driver on
//! its own thread (never in the data plane's way). SIGTERM: masters resign with priority
//! 0 and drop their VIPs. SIGHUP: changed instances restart, unchanged ones run on.

use std::sync::{Arc, Mutex, OnceLock};

use rvs_config::keepalived::model::{AuthType, Config};
use rvs_vrrp::driver::{InstanceStatus, Vrrp as Driver, VrrpSpec};
use rvs_vrrp::machine::State;

/// The live instance states, for the HTTP API and the control socket's status.
static STATUS: OnceLock<Mutex<Option<Shared>>> = OnceLock::new();

/// The driver's status list.
type Shared = Arc<Mutex<Vec<InstanceStatus>>>;

fn slot() -> &'static Mutex<Option<Shared>> {
    STATUS.get_or_init(|| Mutex::new(None))
}

/// The VRRP instances now, as the API shows them (empty without VRRP).
pub fn states() -> Vec<rvs_api::VrrpInstance> {
    let handle = slot().lock().ok().and_then(|s| s.clone());
    let Some(h) = handle else {
        return Vec::new();
    };
    let list = h.lock().map(|l| l.clone()).unwrap_or_default();
    list.into_iter()
        .map(|s| rvs_api::VrrpInstance {
            name: s.name,
            state: match s.state {
                State::Init => rvs_api::VrrpState::Init,
                State::Backup => rvs_api::VrrpState::Backup,
                State::Master => rvs_api::VrrpState::Master,
                State::Fault => rvs_api::VrrpState::Fault,
            },
            interface: s.interface,
            virtual_router_id: s.vrid,
            priority: s.priority,
            virtual_addresses: s.vips,
        })
        .collect()
}

/// VRRP, running or not.
#[derive(Default)]
pub struct Vrrp(Option<Driver>);

/// Start the instances of `config`, if it has any.
pub fn start(config: Option<&Config>) -> Vrrp {
    let mut v = Vrrp(None);
    if let Some(c) = config {
        v.reload(c);
    }
    v
}

impl Vrrp {
    /// Apply `config`'s VRRP part (start, restart changed instances, or stop).
    pub fn reload(&mut self, config: &Config) {
        for v in &config.vrrp_instances {
            if v.use_vmac.is_some()
                && v.virtual_ipaddress
                    .first()
                    .is_some_and(|x| x.addr.is_ipv6())
            {
                tracing::warn!(instance = %v.name, "use_vmac is supported for IPv4 only: the IPv6 VIPs go on the interface itself");
            }
            if v.authentication
                .as_ref()
                .is_some_and(|a| a.kind == AuthType::Ah)
            {
                tracing::warn!(instance = %v.name, "auth_type AH is not supported: adverts go without authentication");
            }
        }
        let spec = VrrpSpec::from_config(config);
        match (&self.0, spec.instances.is_empty()) {
            (None, true) => {}
            (Some(_), true) => self.shutdown_inner(),
            (Some(d), false) => d.reload(spec),
            (None, false) => match Driver::start(spec) {
                Ok(d) => {
                    tracing::info!(instances = config.vrrp_instances.len(), "VRRP started");
                    if let Ok(mut s) = slot().lock() {
                        *s = Some(d.status_handle());
                    }
                    self.0 = Some(d);
                }
                Err(e) => tracing::error!("cannot start VRRP: {e}"),
            },
        }
    }

    fn shutdown_inner(&mut self) {
        if let Some(d) = self.0.take() {
            d.shutdown();
            tracing::info!("VRRP stopped");
        }
    }

    /// Stop: masters send priority 0 and remove their VIPs.
    pub fn shutdown(mut self) {
        self.shutdown_inner();
    }
}
