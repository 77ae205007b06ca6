//! From a [`Config`] to the table keepalived would install at start ([`Desired`]), as
//! rvs-core commands, and the difference between two desired tables ([`diff`]) for a
//! hitless reload.
//!
//! What keepalived installs at start (`ipwrapper.c`, `init_service_vs`):
//! * one IPVS service per virtual server — per address of a `virtual_server_group` range
//!   and per group fwmark entry;
//! * every real server that starts alive: one without checkers, or whose checkers are not
//!   in `alpha` mode (alpha = failed until the first success); a real server that starts
//!   down is not installed, unless `inhibit_on_failure` (then it is installed with weight 0);
//! * quorum: when the summed weight of the live servers is 0 or below `quorum + hysteresis`
//!   and a sorry server is configured, the live servers are taken out (weight 0 with
//!   inhibit) and the sorry server is installed with weight 1; a `sorry_server_inhibit`
//!   sorry server is otherwise present with weight 0.

use std::collections::HashMap;
use std::net::IpAddr;

use rvs_core::fwmark::FwmarkRule;
use rvs_core::listing::ServiceRow;
use rvs_core::sched::flags as sf;
use rvs_core::service::flags as svcf;
use rvs_core::{Af, Command, DestConfig, FwdMethod, ServiceConfig, ServiceKey};

use super::diag::{Diags, Pos};
use super::model::{Config, GroupEntry, Method, VirtualServer, VsTarget};
use super::vs::{MAX_SERVICES, from_u128, to_u128};

/// The table a configuration asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// `lvs_timeouts` as `--set tcp tcpfin udp` (0 = leave unchanged); `None` when not given.
    pub timeouts: Option<(u32, u32, u32)>,
    /// rvs fwmark classifier rules (`rvs_fwmark_rule`), in order.
    pub fwmark_rules: Vec<FwmarkRule>,
    /// Services in configuration order.
    pub services: Vec<DesiredService>,
}

/// One service and its real servers (in the order keepalived adds them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredService {
    /// Service options.
    pub config: ServiceConfig,
    /// Real servers.
    pub dests: Vec<DestConfig>,
}

/// A service key with where it comes from (for duplicate reports).
fn service_keys(vs: &VirtualServer, cfg: &Config) -> Vec<(ServiceKey, Option<u16>)> {
    let proto = vs.protocol;
    match &vs.target {
        VsTarget::Addr(a, p) => vec![(
            ServiceKey::Addr {
                proto,
                addr: *a,
                port: *p,
            },
            Some(*p),
        )],
        VsTarget::Fwmark(m) => vec![(
            ServiceKey::Fwmark {
                af: vs.af,
                mark: *m,
            },
            None,
        )],
        VsTarget::Group(g) => {
            let Some(g) = cfg.groups.iter().find(|x| &x.name == g) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for e in &g.entries {
                match e {
                    GroupEntry::Range {
                        first, last, port, ..
                    } => {
                        let (a, b) = (to_u128(*first), to_u128(*last));
                        if b.saturating_sub(a) >= u128::from(MAX_SERVICES) {
                            continue;
                        }
                        for v in a..=b {
                            out.push((
                                ServiceKey::Addr {
                                    proto,
                                    addr: from_u128(*first, v),
                                    port: *port,
                                },
                                Some(*port),
                            ));
                        }
                    }
                    GroupEntry::Fwmark { mark, af, .. } => out.push((
                        ServiceKey::Fwmark {
                            af: af.unwrap_or(vs.af),
                            mark: *mark,
                        },
                        None,
                    )),
                }
            }
            out
        }
    }
}

fn dest(addr: IpAddr, port: u16, method: Method, weight: i32, u: u32, l: u32) -> DestConfig {
    DestConfig {
        addr,
        port,
        fwd: method.fwd(),
        weight,
        u_threshold: u,
        l_threshold: l,
        tun: method.tun(),
    }
}

/// Port of a server in one service: NAT/FULLNAT keep theirs (the service's when 0); the
/// others get the service's port (fwmark: the given port for NAT, else 0).
pub fn port_in(svc_port: Option<u16>, method: Method, port: u16) -> u16 {
    let nat = matches!(method, Method::Nat | Method::FullNat);
    match svc_port {
        None => {
            if nat {
                port
            } else {
                0
            }
        }
        Some(sp) => {
            if port == 0 || !nat {
                sp
            } else {
                port
            }
        }
    }
}

/// What the health checker knows, for computing the table ([`Desired::with_health`]).
pub trait HealthView {
    /// Weight real server `rs` (index in `vs.real_servers`) of virtual server `vs` (index in
    /// `cfg.virtual_servers`) should have now: `None` = down (removed, or weight 0 with
    /// `inhibit_on_failure`); `Some(w)` = up with weight `w` (the configured weight, or what
    /// `misc_dynamic` set).
    fn weight(&self, vs: usize, rs: usize) -> Option<i32>;
    /// Whether virtual server `vs` has quorum now (false with a sorry server: the sorry
    /// server serves and the live real servers are taken out, as keepalived does).
    fn quorum_up(&self, vs: usize) -> bool;
}

/// The health keepalived assumes at start: a real server is alive unless one of its
/// checkers starts in alpha mode, with its configured weight; quorum is up when the live
/// weight is positive and reaches `quorum + hysteresis`.
#[derive(Clone, Copy, Debug)]
pub struct StartupHealth<'a> {
    /// The configuration.
    pub cfg: &'a Config,
}

impl StartupHealth<'_> {
    /// Start-up quorum of one virtual server (keepalived's `set_quorum_states`).
    pub fn vs_quorum_up(vs: &VirtualServer) -> bool {
        let live: u64 = vs
            .real_servers
            .iter()
            .filter(|r| r.starts_alive())
            .map(|r| r.weight.max(0) as u64)
            .sum();
        live > 0 && live >= u64::from(vs.quorum) + u64::from(vs.hysteresis)
    }
}

impl HealthView for StartupHealth<'_> {
    fn weight(&self, vs: usize, rs: usize) -> Option<i32> {
        let r = self.cfg.virtual_servers.get(vs)?.real_servers.get(rs)?;
        r.starts_alive().then_some(r.weight)
    }

    fn quorum_up(&self, vs: usize) -> bool {
        self.cfg
            .virtual_servers
            .get(vs)
            .is_some_and(StartupHealth::vs_quorum_up)
    }
}

fn dests(
    vs: &VirtualServer,
    vi: usize,
    svc_port: Option<u16>,
    health: &dyn HealthView,
) -> Vec<DestConfig> {
    let quorum_up = health.quorum_up(vi);
    let sorry_active = !quorum_up && vs.sorry_server.is_some();
    let mut out: Vec<DestConfig> = Vec::new();
    for (ri, r) in vs.real_servers.iter().enumerate() {
        let alive = health.weight(vi, ri);
        let weight = match alive {
            Some(w) if !sorry_active => w,
            _ if r.inhibit_on_failure => 0,
            _ => continue,
        };
        let port = port_in(svc_port, r.method, r.port);
        if out.iter().any(|x| x.addr == r.addr && x.port == port) {
            continue;
        }
        out.push(dest(
            r.addr,
            port,
            r.method,
            weight,
            r.uthreshold,
            r.lthreshold,
        ));
    }
    if let Some(s) = &vs.sorry_server {
        let port = port_in(svc_port, s.method, s.port);
        let weight = if sorry_active {
            Some(1)
        } else if s.inhibit {
            Some(0)
        } else {
            None
        };
        if let Some(w) = weight {
            match out.iter_mut().find(|x| x.addr == s.addr && x.port == port) {
                Some(x) => {
                    if sorry_active {
                        x.weight = 1;
                    }
                }
                None => out.push(dest(s.addr, port, s.method, w, 0, 0)),
            }
        }
    }
    out
}

impl Desired {
    /// The table `cfg` asks for at start.
    pub fn from_config(cfg: &Config) -> Desired {
        Desired::with_health(cfg, &StartupHealth { cfg })
    }

    /// The table `cfg` asks for when the real servers' health is `health`.
    pub fn with_health(cfg: &Config, health: &dyn HealthView) -> Desired {
        let t = cfg.global.lvs_timeouts;
        let timeouts = (t.tcp.is_some() || t.tcpfin.is_some() || t.udp.is_some()).then(|| {
            (
                t.tcp.unwrap_or(0),
                t.tcpfin.unwrap_or(0),
                t.udp.unwrap_or(0),
            )
        });
        let mut services: Vec<DesiredService> = Vec::new();
        for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
            for (key, port) in service_keys(vs, cfg) {
                if services.iter().any(|s| s.config.key == key) {
                    continue;
                }
                let netmask = vs.persistence_granularity.filter(|m| {
                    matches!(
                        (m, key.af()),
                        (rvs_core::addr::Netmask::V4(_), Af::Inet)
                            | (rvs_core::addr::Netmask::V6(_), Af::Inet6)
                    )
                });
                let config = ServiceConfig {
                    key,
                    scheduler: vs.scheduler.clone(),
                    persistent: vs.persistence_timeout,
                    netmask,
                    pe: vs.persistence_engine.clone(),
                    onepacket: vs.ops,
                    sched_flags: vs.sched_flags,
                };
                services.push(DesiredService {
                    config: normalize_service(config),
                    dests: dests(vs, vi, port, health)
                        .into_iter()
                        .filter(|d| d.fwd == FwdMethod::Tunnel || Af::of(&d.addr) == key.af())
                        .collect(),
                });
            }
        }
        Desired {
            timeouts,
            fwmark_rules: cfg.global.rvs.fwmark_rules.clone(),
            services,
        }
    }

    /// The table as it runs now (a listing snapshot), with `rules` as the classifier's rules.
    pub fn from_rows(rows: &[ServiceRow], rules: &[FwmarkRule]) -> Desired {
        let services = rows
            .iter()
            .map(|r| {
                let persistent = r.flags & svcf::PERSISTENT != 0;
                let config = ServiceConfig {
                    key: r.key,
                    scheduler: r.sched_name.clone(),
                    persistent: persistent.then_some(r.timeout),
                    netmask: Some(r.netmask),
                    pe: r.pe_name.clone(),
                    onepacket: r.flags & svcf::ONEPACKET != 0,
                    sched_flags: r.flags & sf::MASK,
                };
                // Listings are newest first; keepalived's order is oldest first.
                let dests = r
                    .dests
                    .iter()
                    .rev()
                    .map(|d| DestConfig {
                        addr: d.addr,
                        port: d.port,
                        fwd: d.fwd,
                        weight: d.weight,
                        u_threshold: d.u_threshold,
                        l_threshold: d.l_threshold,
                        tun: d.tun,
                    })
                    .map(normalize_dest)
                    .collect();
                DesiredService {
                    config: normalize_service(config),
                    dests,
                }
            })
            .collect();
        Desired {
            timeouts: None,
            fwmark_rules: rules.to_vec(),
            services,
        }
    }

    /// Commands that build this table on an empty director: `--set` (when given), fwmark
    /// rules, then each service followed by its real servers.
    pub fn commands(&self) -> Vec<Command> {
        diff(&Desired::default(), self)
    }
}

impl Config {
    /// FULLNAT local addresses: the global pool (`rvs_local_address` in `global_defs`, with
    /// `None`) and each virtual server's own, once per service it defines.
    pub fn local_addresses(&self) -> Vec<(Option<ServiceKey>, IpAddr)> {
        let mut out: Vec<(Option<ServiceKey>, IpAddr)> = self
            .global
            .rvs
            .local_addresses
            .iter()
            .map(|a| (None, *a))
            .collect();
        for vs in &self.virtual_servers {
            for (key, _) in service_keys(vs, self) {
                for a in &vs.local_addresses {
                    if !out.contains(&(Some(key), *a)) {
                        out.push((Some(key), *a));
                    }
                }
            }
        }
        out
    }

    /// The services virtual server `vs` (index in `virtual_servers`) defines, each with the
    /// port real servers inherit (`None` for fwmark services), in table order.
    pub fn vs_services(&self, vs: usize) -> Vec<(ServiceKey, Option<u16>)> {
        self.virtual_servers
            .get(vs)
            .map(|v| service_keys(v, self))
            .unwrap_or_default()
    }

    /// The table this configuration asks for at start.
    pub fn desired(&self) -> Desired {
        Desired::from_config(self)
    }

    /// Commands that install this configuration on an empty director.
    pub fn to_commands(&self) -> Vec<Command> {
        self.desired().commands()
    }
}

/// Netmask only when persistent and not /32 or /128.
fn normalize_service(mut c: ServiceConfig) -> ServiceConfig {
    if c.persistent.is_none() || c.netmask.is_some_and(|m| m.is_full()) {
        c.netmask = None;
    }
    c
}

/// Tunnel options only matter for tunnels.
fn normalize_dest(mut d: DestConfig) -> DestConfig {
    if d.fwd != FwdMethod::Tunnel {
        d.tun = Default::default();
    }
    d
}

/// Commands that turn table `old` into table `new`, touching only what differs:
/// removed services are deleted; a service whose options changed is edited (`-E`, which keeps
/// its connections and dests); removed dests are deleted, changed ones edited (`-e`), new
/// ones added; new services are added with their dests. Timeouts are set when `new` gives
/// them and they differ; fwmark rules no longer wanted are removed first, new ones added
/// last.
pub fn diff(old: &Desired, new: &Desired) -> Vec<Command> {
    let mut out = Vec::new();
    if let Some((tcp, tcpfin, udp)) = new.timeouts
        && old.timeouts != new.timeouts
    {
        out.push(Command::SetTimeouts { tcp, tcpfin, udp });
    }
    for r in &old.fwmark_rules {
        if !new.fwmark_rules.contains(r) {
            out.push(Command::DelFwmarkRule(r.clone()));
        }
    }
    let old_by: HashMap<ServiceKey, &DesiredService> =
        old.services.iter().map(|s| (s.config.key, s)).collect();
    let new_keys: std::collections::HashSet<ServiceKey> =
        new.services.iter().map(|s| s.config.key).collect();
    for s in &old.services {
        if !new_keys.contains(&s.config.key) {
            out.push(Command::DelService(s.config.key));
        }
    }
    for s in &new.services {
        let key = s.config.key;
        match old_by.get(&key) {
            Some(o) => {
                if normalize_service(o.config.clone()) != normalize_service(s.config.clone()) {
                    out.push(Command::EditService(s.config.clone()));
                }
                let new_dests: std::collections::HashSet<(IpAddr, u16)> =
                    s.dests.iter().map(|d| (d.addr, d.port)).collect();
                for d in &o.dests {
                    if !new_dests.contains(&(d.addr, d.port)) {
                        out.push(Command::DelDest(key, d.addr, d.port));
                    }
                }
                for d in &s.dests {
                    match o
                        .dests
                        .iter()
                        .find(|x| x.addr == d.addr && x.port == d.port)
                    {
                        Some(x) if normalize_dest(*x) == normalize_dest(*d) => {}
                        Some(_) => out.push(Command::EditDest(key, *d)),
                        None => out.push(Command::AddDest(key, *d)),
                    }
                }
            }
            None => {
                out.push(Command::AddService(s.config.clone()));
                out.extend(s.dests.iter().map(|d| Command::AddDest(key, *d)));
            }
        }
    }
    for r in &new.fwmark_rules {
        if !old.fwmark_rules.contains(r) {
            out.push(Command::AddFwmarkRule(r.clone()));
        }
    }
    out
}

/// Table-level checks: size, the same service defined twice, FULLNAT without local
/// addresses.
pub(crate) fn validate(cfg: &Config, d: &mut Diags) {
    let mut total: u64 = 0;
    let mut seen: HashMap<ServiceKey, Pos> = HashMap::new();
    for g in &cfg.groups {
        for e in &g.entries {
            if let GroupEntry::Range {
                first, last, pos, ..
            } = e
            {
                let n = (to_u128(*last) - to_u128(*first)).saturating_add(1);
                if n > u128::from(MAX_SERVICES) {
                    d.err(
                        pos,
                        format!("address range of {n} addresses is larger than {MAX_SERVICES}"),
                    );
                }
            }
        }
    }
    for vs in &cfg.virtual_servers {
        let keys = service_keys(vs, cfg);
        total += keys.len() as u64;
        for (k, _) in keys {
            if let Some(first) = seen.get(&k) {
                d.err(
                    &vs.pos,
                    format!("service {k} is already defined by the virtual server at {first}"),
                );
            } else {
                seen.insert(k, vs.pos.clone());
            }
        }
        let lips = |af: Af| {
            vs.local_addresses
                .iter()
                .chain(&cfg.global.rvs.local_addresses)
                .any(|a| Af::of(a) == af)
        };
        for r in &vs.real_servers {
            if r.method == Method::FullNat && !lips(Af::of(&r.addr)) {
                d.err(
                    &r.pos,
                    format!(
                        "FULLNAT real server {} needs a local address of its family (rvs_local_address in global_defs or in the virtual_server)",
                        r.addr
                    ),
                );
            }
        }
    }
    if total > MAX_SERVICES {
        d.err(
            &Pos::file(""),
            format!("the configuration defines {total} services, more than {MAX_SERVICES}"),
        );
    }
}
