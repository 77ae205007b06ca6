//! `GET /metrics`: the table, the health and VRRP states, and the data plane's counters,
//! in the OpenMetrics text format (`prometheus-client`), built fresh from a [`Snapshot`]
//! on every scrape.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `rvs_services` | gauge | |
//! | `rvs_connections` | gauge | `kind` = `connection` \| `template` |
//! | `rvs_service_connections_total`, `rvs_service_in_packets_total`, `rvs_service_out_packets_total`, `rvs_service_in_bytes_total`, `rvs_service_out_bytes_total` | counter | `service` |
//! | `rvs_service_connections_per_second`, `rvs_service_in_packets_per_second`, `rvs_service_out_packets_per_second`, `rvs_service_in_bytes_per_second`, `rvs_service_out_bytes_per_second` | gauge | `service` |
//! | `rvs_dest_*`: the same ten | | `service`, `dest` |
//! | `rvs_dest_active_connections`, `rvs_dest_inactive_connections`, `rvs_dest_persistent_connections`, `rvs_dest_weight` | gauge | `service`, `dest` |
//! | `rvs_dest_health` | gauge (state set: 1 for the current state) | `service`, `dest`, `state` = `unchecked` \| `up` \| `down` |
//! | `rvs_vrrp_state` | gauge (state set) | `instance`, `state` = `INIT` \| `BACKUP` \| `MASTER` \| `FAULT` |
//! | `rvs_frames_total` | counter | `stage` = `engine` \| `dataplane`, `kind` |
//! | `rvs_dropped_frames_total` | counter | `stage` = `engine` \| `dataplane`, `reason` |
//! | `rvs_xdp_classifier_hits_total` | counter | `kind` (XDP classifier matches) |
//! | `rvs_xdp_fastpath_hits_total` | counter | (packets forwarded by the XDP fast path) |
//!
//! Counters restart from 0 when a service is zeroed (`ipvsadm -Z`), which Prometheus
//! treats as a counter reset. Rates are IPVS's 2-second estimator, as `ipvsadm --rate`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rvs_core::engine::Counters as EngineCounters;
use rvs_core::listing::ServiceRow;
use rvs_core::stats::{Counters, Rates};

use crate::ids::{DestKey, service_id};
use crate::runtime::{DataplaneReport, Health, VrrpInstance, VrrpState};

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Everything a scrape reports, copied out of the engine (and the runtime) first.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Services with their dests.
    pub services: Vec<ServiceRow>,
    /// Health of `services[i].dests[j]` at `[i][j]`.
    pub health: Vec<Vec<Health>>,
    /// Engine frame counters.
    pub engine: EngineCounters,
    /// Connection-table entries that are connections.
    pub connections: u64,
    /// Connection-table entries that are persistence templates.
    pub templates: u64,
    /// The data plane's counters (none without one).
    pub dataplane: Option<DataplaneReport>,
    /// VRRP instances.
    pub vrrp: Vec<VrrpInstance>,
}

type Labels = Vec<(String, String)>;
type Counts = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;

fn gauge_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The ten per-object families: five counters, five rates.
struct Traffic {
    counters: [Counts; 5],
    rates: [Gauges; 5],
}

const TRAFFIC: [(&str, &str); 5] = [
    ("connections", "connections"),
    ("in_packets", "packets client to server"),
    ("out_packets", "packets server to client (NAT and FULLNAT)"),
    ("in_bytes", "bytes client to server"),
    ("out_bytes", "bytes server to client (NAT and FULLNAT)"),
];

impl Traffic {
    fn register(reg: &mut Registry, prefix: &str, what: &str) -> Traffic {
        let t = Traffic {
            counters: Default::default(),
            rates: Default::default(),
        };
        for (i, (name, help)) in TRAFFIC.iter().enumerate() {
            reg.register(
                format!("{prefix}_{name}"),
                format!("New {help} of a {what} since it was added or zeroed"),
                t.counters[i].clone(),
            );
            reg.register(
                format!("{prefix}_{name}_per_second"),
                format!("Estimated {help} per second of a {what} (2-second estimator)"),
                t.rates[i].clone(),
            );
        }
        t
    }

    fn set(&self, labels: &Labels, c: &Counters, r: &Rates) {
        let cs = [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes];
        let rs = [r.cps, r.inpps, r.outpps, r.inbps, r.outbps];
        for i in 0..5 {
            self.counters[i].get_or_create(labels).inc_by(cs[i]);
            self.rates[i].get_or_create(labels).set(gauge_i64(rs[i]));
        }
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// Render `snap` in the OpenMetrics text format.
pub fn render(snap: &Snapshot) -> String {
    let mut reg = Registry::default();
    let services: Gauge = Gauge::default();
    reg.register("rvs_services", "Virtual services", services.clone());
    let conns: Gauges = Gauges::default();
    reg.register(
        "rvs_connections",
        "Entries of the connection table",
        conns.clone(),
    );
    let svc = Traffic::register(&mut reg, "rvs_service", "virtual service");
    let dst = Traffic::register(&mut reg, "rvs_dest", "real server");
    let dest_gauges: [Gauges; 4] = Default::default();
    for (g, (name, help)) in dest_gauges.iter().zip([
        (
            "rvs_dest_active_connections",
            "Active connections of a real server",
        ),
        (
            "rvs_dest_inactive_connections",
            "Inactive connections of a real server",
        ),
        (
            "rvs_dest_persistent_connections",
            "Persistence templates bound to a real server",
        ),
        ("rvs_dest_weight", "Weight of a real server (0 = drained)"),
    ]) {
        reg.register(name, help, g.clone());
    }
    let health: Gauges = Gauges::default();
    reg.register(
        "rvs_dest_health",
        "Health-check state of a real server (1 for the current state)",
        health.clone(),
    );
    let vrrp: Gauges = Gauges::default();
    reg.register(
        "rvs_vrrp_state",
        "State of a VRRP instance (1 for the current state)",
        vrrp.clone(),
    );
    let frames: Counts = Counts::default();
    reg.register(
        "rvs_frames",
        "Frames by processing stage and kind",
        frames.clone(),
    );
    let drops: Counts = Counts::default();
    reg.register(
        "rvs_dropped_frames",
        "Frames dropped, by stage and reason",
        drops.clone(),
    );
    let hits: Counts = Counts::default();
    reg.register(
        "rvs_xdp_classifier_hits",
        "Frames the XDP classifier matched, by kind",
        hits.clone(),
    );

    let fast: Counter = Counter::default();
    reg.register(
        "rvs_xdp_fastpath_hits",
        "Packets of established flows forwarded by the XDP fast path",
        fast.clone(),
    );

    services.set(gauge_i64(snap.services.len() as u64));
    conns
        .get_or_create(&labels(&[("kind", "connection")]))
        .set(gauge_i64(snap.connections));
    conns
        .get_or_create(&labels(&[("kind", "template")]))
        .set(gauge_i64(snap.templates));
    for (i, s) in snap.services.iter().enumerate() {
        let sid = service_id(&s.key);
        svc.set(&labels(&[("service", &sid)]), &s.counters, &s.rates);
        for (j, d) in s.dests.iter().enumerate() {
            let did = DestKey {
                addr: d.addr,
                port: d.port,
            }
            .to_string();
            let l = labels(&[("service", &sid), ("dest", &did)]);
            dst.set(&l, &d.counters, &d.rates);
            let vals = [
                u64::from(d.activeconns),
                u64::from(d.inactconns),
                u64::from(d.persistconns),
            ];
            for (g, v) in dest_gauges.iter().zip(vals) {
                g.get_or_create(&l).set(gauge_i64(v));
            }
            dest_gauges[3].get_or_create(&l).set(i64::from(d.weight));
            let h = snap
                .health
                .get(i)
                .and_then(|v| v.get(j))
                .copied()
                .unwrap_or_default();
            for state in Health::ALL {
                let l = labels(&[("service", &sid), ("dest", &did), ("state", state.as_str())]);
                health.get_or_create(&l).set(i64::from(state == h));
            }
        }
    }
    for inst in &snap.vrrp {
        for state in VrrpState::ALL {
            let l = labels(&[("instance", &inst.name), ("state", state.as_str())]);
            vrrp.get_or_create(&l).set(i64::from(state == inst.state));
        }
    }
    let e = &snap.engine;
    for (kind, v) in [
        ("rx", e.rx),
        ("tx", e.tx),
        ("unresolved", e.unresolved),
        ("passed", e.passed),
    ] {
        frames
            .get_or_create(&labels(&[("stage", "engine"), ("kind", kind)]))
            .inc_by(v);
    }
    for (reason, v) in &e.dropped {
        drops
            .get_or_create(&labels(&[("stage", "engine"), ("reason", reason)]))
            .inc_by(*v);
    }
    if let Some(dp) = &snap.dataplane {
        for (kind, v) in &dp.frames {
            frames
                .get_or_create(&labels(&[("stage", "dataplane"), ("kind", kind)]))
                .inc_by(*v);
        }
        for (reason, v) in &dp.drops {
            drops
                .get_or_create(&labels(&[("stage", "dataplane"), ("reason", reason)]))
                .inc_by(*v);
        }
        for (kind, v) in &dp.classifier_hits {
            hits.get_or_create(&labels(&[("kind", kind)])).inc_by(*v);
        }
        fast.inc_by(dp.fastpath_hits);
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &reg);
    out
}
