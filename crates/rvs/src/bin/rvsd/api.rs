//! The HTTP API (`--api`, or `rvs_api` in keepalived.conf): rvs-api on its own thread,
//! with the data plane behind [`Runtime`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rvs_api::{Auth, DataplaneReport, Runtime};
use rvs_core::ServiceKey;
use rvs_core::Time;
use rvs_core::engine::Engine;

use crate::control::Plane;
use crate::health::Health;

/// rvsd as the API sees it.
struct Daemon {
    plane: Plane,
    health: Arc<Health>,
}

impl Runtime for Daemon {
    fn now(&self) -> Time {
        rvs_dataplane::now()
    }

    fn refresh(&self) {
        self.plane.refresh();
    }

    fn health(&self, service: &ServiceKey, addr: IpAddr, port: u16) -> rvs_api::Health {
        self.health.of(service, addr, port)
    }

    fn health_checker(&self) -> Option<String> {
        self.health
            .status()
            .map(|_| "rvs-health (keepalived checkers)".to_string())
    }

    fn dataplane(&self) -> Option<DataplaneReport> {
        let s = self.plane.stats()?;
        let map = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
        };
        let mut frames = map(&[
            ("rx", s.rx),
            ("tx", s.tx),
            ("tx_copied", s.tx_copied),
            ("unresolved_held", s.unresolved_held),
            ("unresolved_sent", s.unresolved_sent),
        ]);
        let drops = map(&[
            ("tx-failed", s.tx_failed),
            ("passed-in-userspace", s.passed_in_userspace),
            ("unresolved-timeout", s.unresolved_dropped),
            ("no-port", s.no_port),
            ("kernel-rx-ring-full", s.kernel.rx_ring_full),
            ("kernel-rx-dropped", s.kernel.rx_dropped),
            ("kernel-rx-invalid-desc", s.kernel.rx_invalid_descs),
            ("kernel-tx-invalid-desc", s.kernel.tx_invalid_descs),
        ]);
        let mut classifier_hits = BTreeMap::new();
        let fastpath_hits = s.classifier.as_ref().map_or(0, |c| c.fastpath);
        if let Some(c) = &s.classifier {
            frames.extend(map(&[
                ("xdp_seen", c.seen),
                ("xdp_redirected", c.redirected),
                ("xdp_passed", c.passed()),
            ]));
            classifier_hits = map(&[
                ("service", c.hit_service),
                ("reply", c.hit_reply),
                ("local", c.hit_local),
                ("fwmark", c.hit_fwmark),
                ("icmp", c.hit_icmp),
            ]);
        }
        let detail = serde_json::json!({
            "sockets": s.sockets.iter().map(|k| serde_json::json!({
                "interface": k.interface, "queue": k.queue, "zero_copy": k.zero_copy,
            })).collect::<Vec<_>>(),
            "xdp_modes": s.xdp_modes.iter().map(|(i, m)| (i.clone(), m.to_string()))
                .collect::<BTreeMap<_, _>>(),
            "kernel_rx_fill_ring_empty": s.kernel.rx_fill_ring_empty,
            "idle_ticks": s.idle_ticks,
            "fastpath_flows": s.fastpath_flows,
        });
        Some(DataplaneReport {
            frames,
            drops,
            classifier_hits,
            fastpath_hits,
            detail,
        })
    }

    fn vrrp(&self) -> Vec<rvs_api::VrrpInstance> {
        crate::vrrp::states()
    }
}

/// Start the API on `addr`. Without a token file the API is read-only and needs
/// `public_read`.
pub fn start(
    addr: SocketAddr,
    token_file: Option<&Path>,
    public_read: bool,
    engine: Arc<Mutex<Engine>>,
    plane: Plane,
    health: Arc<Health>,
) -> anyhow::Result<rvs_api::Server> {
    let token = match token_file {
        Some(p) => {
            if let Ok(meta) = std::fs::metadata(p)
                && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0
            {
                tracing::warn!(file = %p.display(), "the API token file is readable by others; chmod 600 it");
            }
            Some(Auth::token_from_file(p)?)
        }
        None if public_read => None,
        None => anyhow::bail!(
            "the HTTP API needs --api-token-file (or --api-public-read for a read-only API)"
        ),
    };
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the HTTP API listens beyond loopback; put TLS in front of it");
    }
    let writable = token.is_some();
    let api = rvs_api::Api::new(
        engine,
        Arc::new(Daemon { plane, health }),
        Auth::new(token, public_read),
    );
    let server = rvs_api::spawn(addr, api).context("cannot start the HTTP API")?;
    tracing::info!(addr = %server.local_addr(), writable, public_read, "HTTP API listening");
    Ok(server)
}
