//! The sans-IO health monitor: keepalived's checker scheduling and state machine
//! (check_api.c, check_tcp.c's epilog, ipwrapper.c's update_svr_checker_state,
//! perform_svr_state, update_quorum_state), driven by time and probe results.
//!
//! No sockets, clocks or threads here: [`Monitor::poll`] says which probes are due at a
//! given [`Time`], [`Monitor::on_result`] takes their outcome, and both return
//! [`Action`]s for a driver to carry out.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rvs_config::keepalived::VsTarget;
use rvs_config::keepalived::table::{HealthView, StartupHealth, port_in};
use rvs_config::keepalived::{Checker, CheckerKind, Config, Desired, RealServer, VirtualServer};
use rvs_core::rng::{Rng, SplitMix64};
use rvs_core::time::Dur;
use rvs_core::{ServiceKey, Time};

/// keepalived's `BOOTSTRAP_DELAY`: the first check of every checker comes at least this
/// long after start (plus the random warmup).
pub const BOOTSTRAP_DELAY: Dur = Dur(1000);

/// Identifies one probe run (unique for the life of a [`Monitor`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(u64);

impl ProbeId {
    /// The number inside (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What a probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    /// The check passed.
    Up,
    /// The check failed; the reason is for logs.
    Down(String),
    /// `MISC_CHECK` with `misc_dynamic` passed and asks for this weight (exit code − 2).
    Weight(i32),
}

/// Everything one probe needs.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSpec {
    /// The checker kind with its options.
    pub kind: CheckerKind,
    /// Where to connect: `connect_ip`/`connect_port`, else the real server's.
    pub target: SocketAddr,
    /// `bindto`.
    pub bindto: Option<IpAddr>,
    /// `bind_port`.
    pub bind_port: Option<u16>,
    /// `bind_if` (SO_BINDTODEVICE).
    pub bind_if: Option<String>,
    /// `fwmark` (SO_MARK).
    pub fwmark: Option<u32>,
    /// `virtualhost` for HTTP_GET/SSL_GET: the checker's, else the real server's, else the
    /// virtual server's (a url's own `virtualhost` still wins).
    pub virtualhost: Option<String>,
    /// How long the probe may take (connect_timeout; misc_timeout for MISC_CHECK).
    pub timeout: Duration,
}

/// A state change worth a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// A checker passed after failing, or failed (after its retries).
    Checker {
        /// Virtual server, as keepalived names it.
        vs: String,
        /// Real server.
        rs: SocketAddr,
        /// Checker keyword (`TCP_CHECK`).
        checker: &'static str,
        /// New state.
        up: bool,
        /// Why (the probe's reason for a failure).
        reason: String,
    },
    /// A real server went up or down.
    RealServer {
        /// Virtual server.
        vs: String,
        /// Real server.
        rs: SocketAddr,
        /// New state.
        up: bool,
        /// Its weight.
        weight: i32,
    },
    /// A real server's weight changed (misc_dynamic).
    Weight {
        /// Virtual server.
        vs: String,
        /// Real server.
        rs: SocketAddr,
        /// Old weight.
        from: i32,
        /// New weight.
        to: i32,
    },
    /// A virtual server gained or lost quorum.
    Quorum {
        /// Virtual server.
        vs: String,
        /// New state.
        up: bool,
        /// Summed weight of the live real servers.
        weight_sum: i64,
        /// The threshold it was compared with.
        threshold: i64,
        /// Whether a sorry server took over (lost) or was removed (gained).
        sorry: bool,
    },
}

impl Transition {
    /// Whether this is good news (logged at info; bad news at warn).
    pub fn is_up(&self) -> bool {
        match self {
            Transition::Checker { up, .. }
            | Transition::RealServer { up, .. }
            | Transition::Quorum { up, .. } => *up,
            Transition::Weight { .. } => true,
        }
    }
}

impl std::fmt::Display for Transition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transition::Checker {
                vs,
                rs,
                checker,
                up,
                reason,
            } => {
                if *up {
                    write!(f, "{checker} on {rs} of VS {vs} succeeded")
                } else {
                    write!(f, "{checker} on {rs} of VS {vs} failed: {reason}")
                }
            }
            Transition::RealServer { vs, rs, up, weight } => {
                let what = if *up { "up" } else { "down" };
                write!(f, "real server {rs} of VS {vs} is {what} (weight {weight})")
            }
            Transition::Weight { vs, rs, from, to } => {
                write!(f, "weight of {rs} of VS {vs} changed from {from} to {to}")
            }
            Transition::Quorum {
                vs,
                up,
                weight_sum,
                threshold,
                sorry,
            } => {
                let what = if *up { "Gained" } else { "Lost" };
                write!(
                    f,
                    "{what} quorum for VS {vs} (live weight {weight_sum}, threshold {threshold})"
                )?;
                if *sorry {
                    let s = if *up { "removed" } else { "serving" };
                    write!(f, "; sorry server {s}")?;
                }
                Ok(())
            }
        }
    }
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Run this probe (the driver enforces `timeout`, the connect_timeout/misc_timeout).
    Probe {
        /// Report the result with this id.
        id: ProbeId,
        /// What to probe.
        spec: ProbeSpec,
        /// Time limit.
        timeout: Duration,
    },
    /// [`Monitor::desired`] changed (a real server went up/down, a weight changed, quorum
    /// changed).
    TableChanged,
    /// Run a notify_up/notify_down/quorum_up/quorum_down script (keepalived's command line).
    Script {
        /// The command line, run with `sh -c`.
        command: String,
        /// Why (for logs).
        reason: String,
    },
    /// A transition to log.
    Transition(Transition),
}

/// One checker's health, for listings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckerStatus {
    /// Kind keyword (`HTTP_GET`).
    pub kind: &'static str,
    /// Whether it passes.
    pub up: bool,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// The last failure's reason.
    pub last_failure: Option<String>,
}

/// One real server (or sorry server) in one service, with its health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsStatus {
    /// The service (one row per service key the virtual server expands to).
    pub service: ServiceKey,
    /// Address.
    pub addr: IpAddr,
    /// Port as in the table.
    pub port: u16,
    /// The sorry server row.
    pub sorry: bool,
    /// Healthy (sorry server: serving).
    pub up: bool,
    /// Current weight (configured, or what misc_dynamic set; sorry server: 1 serving, 0 not).
    pub weight: i32,
    /// Last transition (or start).
    pub since: Time,
    /// Each checker.
    pub checkers: Vec<CheckerStatus>,
    /// Whether its virtual server has quorum.
    pub quorum_up: bool,
}

#[derive(Clone, Debug)]
struct CkState {
    slot: u64,
    is_up: bool,
    has_run: bool,
    retry_it: u32,
    next: Option<Time>,
    in_flight: Option<ProbeId>,
    failures: u32,
    last_reason: Option<String>,
    dyn_weight: Option<i32>,
}

#[derive(Clone, Debug)]
struct RsState {
    alive: bool,
    since: Time,
    checkers: Vec<CkState>,
}

#[derive(Clone, Debug)]
struct VsState {
    quorum_up: bool,
    since: Time,
    rss: Vec<RsState>,
}

/// Whether rvs runs probes for this kind (FILE_CHECK and BFD_CHECK are parsed but not
/// run: they count as passing).
fn probed(kind: &CheckerKind) -> bool {
    !matches!(kind, CheckerKind::File(_) | CheckerKind::Bfd(_))
}

/// The virtual server as keepalived's logs name it.
pub fn vs_name(vs: &VirtualServer) -> String {
    let proto = match vs.protocol {
        rvs_core::Protocol::Tcp => "tcp",
        rvs_core::Protocol::Udp => "udp",
        rvs_core::Protocol::Sctp => "sctp",
    };
    match &vs.target {
        VsTarget::Addr(a, p) => format!("[{a}]:{proto}:{p}"),
        VsTarget::Fwmark(m) => format!("FWM {m}"),
        VsTarget::Group(g) => format!("group {g}"),
    }
}

fn checkers_eq(a: &[Checker], b: &[Checker]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.kind == y.kind
                && x.timing == y.timing
                && x.connect_ip == y.connect_ip
                && x.connect_port == y.connect_port
                && x.bindto == y.bindto
                && x.bind_port == y.bind_port
                && x.bind_if == y.bind_if
                && x.fwmark == y.fwmark
                && x.log_all_failures == y.log_all_failures
        })
}

fn ms(d: Duration) -> Dur {
    Dur(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// keepalived's checker state for every real server of a configuration.
#[derive(Clone, Debug)]
pub struct Monitor {
    cfg: Config,
    rng: SplitMix64,
    vss: Vec<VsState>,
    slots: HashMap<u64, (usize, usize, usize)>,
    schedule: BTreeSet<(Time, u64)>,
    probes: HashMap<ProbeId, u64>,
    next_slot: u64,
    next_probe: u64,
    pending: Vec<Action>,
    started: Time,
}

impl HealthView for Monitor {
    fn weight(&self, vs: usize, rs: usize) -> Option<i32> {
        let st = self.vss.get(vs)?.rss.get(rs)?;
        st.alive.then(|| self.effective_weight(vs, rs))
    }

    fn quorum_up(&self, vs: usize) -> bool {
        self.vss.get(vs).is_some_and(|v| v.quorum_up)
    }
}

impl Monitor {
    /// Starts monitoring `cfg` at `now`: real servers start as keepalived starts them
    /// (alive unless a checker is in alpha mode), each checker's first probe comes after
    /// [`BOOTSTRAP_DELAY`] plus a random share of its `warmup` (drawn from `seed`).
    pub fn new(cfg: &Config, now: Time, seed: u64) -> Monitor {
        let mut m = Monitor {
            cfg: cfg.clone(),
            rng: SplitMix64(seed),
            vss: Vec::new(),
            slots: HashMap::new(),
            schedule: BTreeSet::new(),
            probes: HashMap::new(),
            next_slot: 0,
            next_probe: 0,
            pending: Vec::new(),
            started: now,
        };
        for vi in 0..cfg.virtual_servers.len() {
            let st = m.fresh_vs(vi, now);
            m.vss.push(st);
            m.start_quorum(vi);
        }
        m.reindex();
        m
    }

    /// The time given to [`Monitor::new`].
    pub fn started_at(&self) -> Time {
        self.started
    }

    /// The configuration being monitored.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn fresh_rs(&mut self, rs: &RealServer, now: Time) -> RsState {
        let mut checkers = Vec::new();
        for c in &rs.checkers {
            let slot = self.next_slot;
            self.next_slot += 1;
            let mut st = CkState {
                slot,
                is_up: !c.timing.alpha,
                has_run: false,
                retry_it: 0,
                next: None,
                in_flight: None,
                failures: 0,
                last_reason: None,
                dyn_weight: None,
            };
            if !probed(&c.kind) {
                st.is_up = true;
            } else {
                let warm = ms(c.timing.warmup).0;
                let r = if warm == 0 {
                    0
                } else {
                    let n = u32::try_from(warm).unwrap_or(u32::MAX - 1);
                    u64::from(self.rng.below(n.saturating_add(1)))
                };
                let t = now + BOOTSTRAP_DELAY + Dur(r);
                st.next = Some(t);
                self.schedule.insert((t, slot));
            }
            checkers.push(st);
        }
        RsState {
            alive: checkers.iter().all(|c| c.is_up),
            since: now,
            checkers,
        }
    }

    fn fresh_vs(&mut self, vi: usize, now: Time) -> VsState {
        let vs = self.cfg.virtual_servers[vi].clone();
        let rss = vs
            .real_servers
            .iter()
            .map(|r| self.fresh_rs(r, now))
            .collect();
        VsState {
            quorum_up: StartupHealth::vs_quorum_up(&vs),
            since: now,
            rss,
        }
    }

    /// keepalived at start with quorum down and a sorry server: "Starting with quorum
    /// down", the quorum_down script runs.
    fn start_quorum(&mut self, vi: usize) {
        let vs = &self.cfg.virtual_servers[vi];
        if !self.vss[vi].quorum_up && vs.sorry_server.is_some() {
            let (sum, threshold) = self.quorum_numbers(vi);
            self.pending.push(Action::Transition(Transition::Quorum {
                vs: vs_name(vs),
                up: false,
                weight_sum: sum,
                threshold,
                sorry: true,
            }));
            if let Some(s) = &vs.quorum_down {
                self.pending.push(Action::Script {
                    command: s.clone(),
                    reason: format!("quorum_down of VS {} (start)", vs_name(vs)),
                });
            }
        }
    }

    fn reindex(&mut self) {
        self.slots.clear();
        for (vi, v) in self.vss.iter().enumerate() {
            for (ri, r) in v.rss.iter().enumerate() {
                for (ci, c) in r.checkers.iter().enumerate() {
                    self.slots.insert(c.slot, (vi, ri, ci));
                }
            }
        }
        let slots = &self.slots;
        self.schedule.retain(|(_, s)| slots.contains_key(s));
        self.probes.retain(|_, s| slots.contains_key(s));
    }

    /// A reloaded configuration: real servers whose (virtual server key(s), address, port,
    /// checkers) are unchanged keep their state and schedule; new ones start as keepalived
    /// starts them (alpha → down until the first success; warmup → random first delay).
    /// Virtual servers with the same service keys keep their quorum state, which is then
    /// re-evaluated against the new quorum settings (scripts come out of the next
    /// [`Monitor::poll`]).
    pub fn reload(&mut self, cfg: &Config, now: Time) {
        type Key = (Vec<ServiceKey>, IpAddr, u16);
        let old_cfg = std::mem::replace(&mut self.cfg, cfg.clone());
        let mut old_vss: Vec<Option<VsState>> = std::mem::take(&mut self.vss)
            .into_iter()
            .map(Some)
            .collect();
        let old_keys: Vec<Vec<ServiceKey>> = (0..old_cfg.virtual_servers.len())
            .map(|i| old_cfg.vs_services(i).into_iter().map(|k| k.0).collect())
            .collect();
        let mut old_rs: HashMap<Key, Vec<(usize, usize)>> = HashMap::new();
        for (vi, vs) in old_cfg.virtual_servers.iter().enumerate() {
            for (ri, r) in vs.real_servers.iter().enumerate() {
                old_rs
                    .entry((old_keys[vi].clone(), r.addr, r.port))
                    .or_default()
                    .push((vi, ri));
            }
        }
        let mut taken: HashMap<(usize, usize), RsState> = HashMap::new();
        for (vi, v) in old_vss.iter_mut().enumerate() {
            if let Some(v) = v {
                for (ri, r) in std::mem::take(&mut v.rss).into_iter().enumerate() {
                    taken.insert((vi, ri), r);
                }
            }
        }
        for vi in 0..cfg.virtual_servers.len() {
            let vs = cfg.virtual_servers[vi].clone();
            let keys: Vec<ServiceKey> = cfg.vs_services(vi).into_iter().map(|k| k.0).collect();
            let mut rss = Vec::new();
            for r in &vs.real_servers {
                let found = old_rs
                    .get(&(keys.clone(), r.addr, r.port))
                    .and_then(|cands| {
                        cands.iter().find(|(ovi, ori)| {
                            taken.contains_key(&(*ovi, *ori))
                                && checkers_eq(
                                    &old_cfg.virtual_servers[*ovi].real_servers[*ori].checkers,
                                    &r.checkers,
                                )
                        })
                    })
                    .copied();
                match found.and_then(|k| taken.remove(&k)) {
                    Some(st) => rss.push(st),
                    None => {
                        let st = self.fresh_rs(r, now);
                        rss.push(st);
                    }
                }
            }
            let old_vi = old_keys.iter().position(|k| *k == keys);
            let kept = old_vi.and_then(|i| old_vss.get_mut(i).and_then(Option::take));
            match kept {
                Some(o) => self.vss.push(VsState {
                    quorum_up: o.quorum_up,
                    since: o.since,
                    rss,
                }),
                None => {
                    self.vss.push(VsState {
                        quorum_up: StartupHealth::vs_quorum_up(&vs),
                        since: now,
                        rss,
                    });
                    // The start-up rule for new virtual servers uses the configured health,
                    // but kept real servers bring their own: recompute from them.
                    let (sum, _) = self.quorum_numbers(vi);
                    self.vss[vi].quorum_up =
                        sum > 0 && sum >= i64::from(vs.quorum) + i64::from(vs.hysteresis);
                    self.start_quorum(vi);
                }
            }
        }
        self.reindex();
        let mut out = std::mem::take(&mut self.pending);
        for vi in 0..self.vss.len() {
            self.update_quorum(vi, now, &mut out);
        }
        self.pending = out;
    }

    /// The table the configuration and the current health ask for.
    pub fn desired(&self) -> Desired {
        Desired::with_health(&self.cfg, self)
    }

    /// Probes due at `now` (and anything else due: actions from start or reload).
    pub fn poll(&mut self, now: Time) -> Vec<Action> {
        let mut out = std::mem::take(&mut self.pending);
        while let Some(&(t, slot)) = self.schedule.first() {
            if t > now {
                break;
            }
            self.schedule.pop_first();
            let Some(&(vi, ri, ci)) = self.slots.get(&slot) else {
                continue;
            };
            let id = ProbeId(self.next_probe);
            self.next_probe += 1;
            let ck = &mut self.vss[vi].rss[ri].checkers[ci];
            ck.next = None;
            ck.in_flight = Some(id);
            self.probes.insert(id, slot);
            let spec = self.spec(vi, ri, ci);
            out.push(Action::Probe {
                id,
                timeout: spec.timeout,
                spec,
            });
        }
        out
    }

    /// When [`Monitor::poll`] next has something to do.
    pub fn next_deadline(&self) -> Option<Time> {
        if !self.pending.is_empty() {
            return Some(self.started);
        }
        self.schedule.first().map(|(t, _)| *t)
    }

    /// The probe spec of checker `ci` of real server `ri` of virtual server `vi`.
    fn spec(&self, vi: usize, ri: usize, ci: usize) -> ProbeSpec {
        let vs = &self.cfg.virtual_servers[vi];
        let rs = &vs.real_servers[ri];
        let c = &rs.checkers[ci];
        let virtualhost = match &c.kind {
            CheckerKind::Http(h) | CheckerKind::Ssl(h) => h
                .virtualhost
                .clone()
                .or_else(|| rs.virtualhost.clone())
                .or_else(|| vs.virtualhost.clone()),
            _ => None,
        };
        let timeout = match &c.kind {
            // keepalived: misc_timeout, else the virtual server's delay_loop.
            // (misc_timeout 0 = not given.)
            CheckerKind::Misc(m) => m
                .timeout
                .filter(|t| !t.is_zero())
                .unwrap_or(vs.timing.delay_loop),
            _ => c.timing.connect_timeout,
        };
        ProbeSpec {
            kind: c.kind.clone(),
            target: SocketAddr::new(
                c.connect_ip.unwrap_or(rs.addr),
                c.connect_port.unwrap_or(rs.port),
            ),
            bindto: c.bindto,
            bind_port: c.bind_port,
            bind_if: c.bind_if.clone(),
            fwmark: c.fwmark,
            virtualhost,
            timeout,
        }
    }

    fn effective_weight(&self, vi: usize, ri: usize) -> i32 {
        let base = self.cfg.virtual_servers[vi].real_servers[ri].weight;
        let st = &self.vss[vi].rss[ri];
        st.checkers
            .iter()
            .filter_map(|c| c.dyn_weight)
            .fold(base, |w, d| w.saturating_add(d.saturating_sub(base)))
    }

    fn view_of(&self, vi: usize) -> (Vec<Option<i32>>, bool) {
        let n = self.vss[vi].rss.len();
        (
            (0..n).map(|ri| self.weight(vi, ri)).collect(),
            self.vss[vi].quorum_up,
        )
    }

    /// A probe finished.
    pub fn on_result(&mut self, id: ProbeId, result: ProbeResult, now: Time) -> Vec<Action> {
        let Some(slot) = self.probes.remove(&id) else {
            return Vec::new();
        };
        let Some(&(vi, ri, ci)) = self.slots.get(&slot) else {
            return Vec::new();
        };
        if self.vss[vi].rss[ri].checkers[ci].in_flight != Some(id) {
            return Vec::new();
        }
        let before = self.view_of(vi);
        let mut out = Vec::new();
        let timing = self.cfg.virtual_servers[vi].real_servers[ri].checkers[ci].timing;
        let (ok, reason, dyn_w) = match result {
            ProbeResult::Up => (true, String::new(), None),
            ProbeResult::Weight(w) => (true, String::new(), Some(w.clamp(0, 253))),
            ProbeResult::Down(r) => (false, r, None),
        };
        {
            let ck = &mut self.vss[vi].rss[ri].checkers[ci];
            ck.in_flight = None;
            if ok {
                ck.failures = 0;
            } else {
                ck.failures = ck.failures.saturating_add(1);
                ck.last_reason = Some(reason.clone());
            }
        }
        if ok {
            self.set_dyn_weight(vi, ri, ci, dyn_w, now, &mut out);
        }
        let ck = &self.vss[vi].rss[ri].checkers[ci];
        let delay = if ok || ck.retry_it >= timing.retry {
            let (is_up, has_run) = (ck.is_up, ck.has_run);
            self.vss[vi].rss[ri].checkers[ci].retry_it = 0;
            if ok && (!is_up || !has_run) {
                self.set_checker_state(vi, ri, ci, true, &reason, now, &mut out);
            } else if !ok && (is_up || !has_run) {
                // The checker failed for good: a misc_dynamic weight no longer counts.
                self.vss[vi].rss[ri].checkers[ci].dyn_weight = None;
                self.set_checker_state(vi, ri, ci, false, &reason, now, &mut out);
            }
            ms(timing.delay_loop)
        } else {
            self.vss[vi].rss[ri].checkers[ci].retry_it += 1;
            ms(timing.delay_before_retry)
        };
        let ck = &mut self.vss[vi].rss[ri].checkers[ci];
        ck.has_run = true;
        // Time here is in milliseconds: a sub-millisecond delay still waits one.
        let next = now + Dur(delay.0.max(1));
        ck.next = Some(next);
        self.schedule.insert((next, slot));
        if self.view_of(vi) != before {
            out.push(Action::TableChanged);
        }
        out
    }

    fn set_dyn_weight(
        &mut self,
        vi: usize,
        ri: usize,
        ci: usize,
        w: Option<i32>,
        now: Time,
        out: &mut Vec<Action>,
    ) {
        if self.vss[vi].rss[ri].checkers[ci].dyn_weight == w {
            return;
        }
        let from = self.effective_weight(vi, ri);
        self.vss[vi].rss[ri].checkers[ci].dyn_weight = w;
        let to = self.effective_weight(vi, ri);
        if from != to {
            let vs = &self.cfg.virtual_servers[vi];
            let rs = &vs.real_servers[ri];
            out.push(Action::Transition(Transition::Weight {
                vs: vs_name(vs),
                rs: SocketAddr::new(rs.addr, rs.port),
                from,
                to,
            }));
            self.update_quorum(vi, now, out);
        }
    }

    /// keepalived's update_svr_checker_state.
    #[allow(clippy::too_many_arguments)]
    fn set_checker_state(
        &mut self,
        vi: usize,
        ri: usize,
        ci: usize,
        alive: bool,
        reason: &str,
        now: Time,
        out: &mut Vec<Action>,
    ) {
        let vs = &self.cfg.virtual_servers[vi];
        let rs = &vs.real_servers[ri];
        let c = &rs.checkers[ci];
        let ck = &self.vss[vi].rss[ri].checkers[ci];
        if ck.is_up == alive {
            if !ck.has_run && (c.timing.alpha || !alive) {
                self.rs_notifies(vi, ri, out);
            }
            return;
        }
        out.push(Action::Transition(Transition::Checker {
            vs: vs_name(vs),
            rs: SocketAddr::new(rs.addr, rs.port),
            checker: c.kind.keyword(),
            up: alive,
            reason: reason.to_string(),
        }));
        let failed = self.vss[vi].rss[ri]
            .checkers
            .iter()
            .filter(|c| !c.is_up)
            .count();
        if (alive && failed <= 1) || (!alive && failed == 0) {
            self.perform_svr_state(vi, ri, alive, now, out);
        }
        self.vss[vi].rss[ri].checkers[ci].is_up = alive;
    }

    fn perform_svr_state(
        &mut self,
        vi: usize,
        ri: usize,
        alive: bool,
        now: Time,
        out: &mut Vec<Action>,
    ) {
        if self.vss[vi].rss[ri].alive == alive {
            return;
        }
        self.vss[vi].rss[ri].alive = alive;
        self.vss[vi].rss[ri].since = now;
        let vs = &self.cfg.virtual_servers[vi];
        let rs = &vs.real_servers[ri];
        out.push(Action::Transition(Transition::RealServer {
            vs: vs_name(vs),
            rs: SocketAddr::new(rs.addr, rs.port),
            up: alive,
            weight: self.effective_weight(vi, ri),
        }));
        self.rs_notifies(vi, ri, out);
        self.update_quorum(vi, now, out);
    }

    fn rs_notifies(&self, vi: usize, ri: usize, out: &mut Vec<Action>) {
        let vs = &self.cfg.virtual_servers[vi];
        let rs = &vs.real_servers[ri];
        let up = self.vss[vi].rss[ri].alive;
        let script = if up { &rs.notify_up } else { &rs.notify_down };
        if let Some(s) = script {
            out.push(Action::Script {
                command: s.clone(),
                reason: format!(
                    "notify_{} of {} in VS {}",
                    if up { "up" } else { "down" },
                    SocketAddr::new(rs.addr, rs.port),
                    vs_name(vs)
                ),
            });
        }
    }

    /// Live weight and the threshold the current quorum state compares it with.
    fn quorum_numbers(&self, vi: usize) -> (i64, i64) {
        let vs = &self.cfg.virtual_servers[vi];
        let sum: i64 = (0..self.vss[vi].rss.len())
            .filter_map(|ri| self.weight(vi, ri))
            .map(|w| i64::from(w.max(0)))
            .sum();
        let h = i64::from(vs.hysteresis);
        let threshold = i64::from(vs.quorum) + if self.vss[vi].quorum_up { -h } else { h };
        (sum, threshold)
    }

    /// keepalived's update_quorum_state.
    fn update_quorum(&mut self, vi: usize, now: Time, out: &mut Vec<Action>) {
        let (sum, threshold) = self.quorum_numbers(vi);
        let up = self.vss[vi].quorum_up;
        let new_up = if !up && sum >= threshold {
            true
        } else if up && (sum == 0 || sum < threshold) {
            false
        } else {
            return;
        };
        self.vss[vi].quorum_up = new_up;
        self.vss[vi].since = now;
        let vs = &self.cfg.virtual_servers[vi];
        out.push(Action::Transition(Transition::Quorum {
            vs: vs_name(vs),
            up: new_up,
            weight_sum: sum,
            threshold,
            sorry: vs.sorry_server.is_some(),
        }));
        let script = if new_up {
            &vs.quorum_up
        } else {
            &vs.quorum_down
        };
        if let Some(s) = script {
            out.push(Action::Script {
                command: s.clone(),
                reason: format!(
                    "quorum_{} of VS {}",
                    if new_up { "up" } else { "down" },
                    vs_name(vs)
                ),
            });
        }
    }

    /// What keepalived does at shutdown for virtual servers with `omega`: notify_down of
    /// every live real server and quorum_down. Other virtual servers run nothing.
    pub fn shutdown(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        for (vi, vs) in self.cfg.virtual_servers.iter().enumerate() {
            if !vs.omega {
                continue;
            }
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                if self.vss[vi].rss[ri].alive
                    && let Some(s) = &rs.notify_down
                {
                    out.push(Action::Script {
                        command: s.clone(),
                        reason: format!(
                            "notify_down of {} in VS {} (shutdown, omega)",
                            SocketAddr::new(rs.addr, rs.port),
                            vs_name(vs)
                        ),
                    });
                }
            }
            if let Some(s) = &vs.quorum_down {
                out.push(Action::Script {
                    command: s.clone(),
                    reason: format!("quorum_down of VS {} (shutdown, omega)", vs_name(vs)),
                });
            }
        }
        out
    }

    /// Every configured real server (and sorry server) with its health, one row per
    /// service key its virtual server expands to.
    pub fn status(&self) -> Vec<RsStatus> {
        let mut out = Vec::new();
        for (vi, vs) in self.cfg.virtual_servers.iter().enumerate() {
            let st = &self.vss[vi];
            for (key, svc_port) in self.cfg.vs_services(vi) {
                for (ri, rs) in vs.real_servers.iter().enumerate() {
                    let r = &st.rss[ri];
                    out.push(RsStatus {
                        service: key,
                        addr: rs.addr,
                        port: port_in(svc_port, rs.method, rs.port),
                        sorry: false,
                        up: r.alive,
                        weight: self.effective_weight(vi, ri),
                        since: r.since,
                        checkers: rs
                            .checkers
                            .iter()
                            .zip(&r.checkers)
                            .map(|(c, s)| CheckerStatus {
                                kind: c.kind.keyword(),
                                up: s.is_up,
                                failures: s.failures,
                                last_failure: s.last_reason.clone(),
                            })
                            .collect(),
                        quorum_up: st.quorum_up,
                    });
                }
                if let Some(s) = &vs.sorry_server {
                    out.push(RsStatus {
                        service: key,
                        addr: s.addr,
                        port: port_in(svc_port, s.method, s.port),
                        sorry: true,
                        up: !st.quorum_up,
                        weight: i32::from(!st.quorum_up),
                        since: st.since,
                        checkers: Vec::new(),
                        quorum_up: st.quorum_up,
                    });
                }
            }
        }
        out
    }
}
