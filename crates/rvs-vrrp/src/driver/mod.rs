//! The VRRP driver: one thread running every instance's [`Machine`] (through a
//! [`Router`] for sync groups) over raw sockets, with `poll(2)` on the sockets and a wake
//! pipe and a timeout at the next deadline. Interfaces are polled for IFF_UP|IFF_RUNNING
//! twice a second; `vrrp_script`s run on threads of their own. The data plane is never
//! touched: VIPs go on and off with rtnetlink (rvs-netlink).

pub mod net;
pub mod scripts;
pub mod spec;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::machine::{Action, Input, Machine, Ms, Router, State};
use crate::packet::{Advert, TTL};
use net::Link;
pub use spec::{GroupSpec, InstanceSpec, Notify, ScriptSpec, VipSpec, VrrpSpec};

/// How often interfaces are looked at.
const LINK_CHECK: Ms = 500;

/// An instance as rvsd reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceStatus {
    /// `vrrp_instance` name.
    pub name: String,
    /// State.
    pub state: State,
    /// Interface.
    pub interface: String,
    /// Virtual router id.
    pub vrid: u8,
    /// Effective priority.
    pub priority: u8,
    /// Every address it holds as master.
    pub vips: Vec<String>,
    /// Source of the last accepted advert.
    pub master: Option<IpAddr>,
}

enum Cmd {
    Reload(VrrpSpec),
    Script(String, bool),
    Stop,
}

/// The running VRRP driver.
pub struct Vrrp {
    tx: Sender<Cmd>,
    waker: Arc<UnixStream>,
    thread: Option<JoinHandle<()>>,
    status: Arc<Mutex<Vec<InstanceStatus>>>,
}

fn wake(w: &UnixStream) {
    let _ = (&*w).write(&[1]);
}

impl Vrrp {
    /// Start the instances of `spec` on a new thread (in the caller's network namespace).
    pub fn start(spec: VrrpSpec) -> std::io::Result<Vrrp> {
        let (r, w) = UnixStream::pair()?;
        r.set_nonblocking(true)?;
        w.set_nonblocking(true)?;
        let waker = Arc::new(w);
        let (tx, rx) = channel();
        let status = Arc::new(Mutex::new(Vec::new()));
        let mut l = Loop {
            start: Instant::now(),
            router: Router::default(),
            insts: Vec::new(),
            groups: Vec::new(),
            scripts: Vec::new(),
            script_state: HashMap::new(),
            runners: Vec::new(),
            children: Vec::new(),
            tx: tx.clone(),
            waker: waker.clone(),
            status: status.clone(),
            next_link_check: 0,
        };
        let thread = std::thread::Builder::new()
            .name("rvs-vrrp".into())
            .spawn(move || {
                l.apply(spec);
                l.run(r, rx);
            })?;
        Ok(Vrrp {
            tx,
            waker,
            thread: Some(thread),
            status,
        })
    }

    /// The instances now.
    pub fn status(&self) -> Vec<InstanceStatus> {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A handle on the status that stays valid after `self` moves.
    pub fn status_handle(&self) -> Arc<Mutex<Vec<InstanceStatus>>> {
        self.status.clone()
    }

    /// Apply a new configuration: instances whose settings changed restart (a master
    /// resigns with priority 0 first), unchanged ones run on, removed ones stop.
    pub fn reload(&self, spec: VrrpSpec) {
        if self.tx.send(Cmd::Reload(spec)).is_ok() {
            wake(&self.waker);
        }
    }

    /// Stop: masters send priority 0 and remove their VIPs; returns when done.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            if self.tx.send(Cmd::Stop).is_ok() {
                wake(&self.waker);
            }
            let _ = t.join();
        }
    }
}

impl Drop for Vrrp {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Inst {
    spec: InstanceSpec,
    link: Option<Link>,
    link_up: bool,
    track_up: Vec<bool>,
}

struct Runner {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

struct Loop {
    start: Instant,
    router: Router,
    insts: Vec<Inst>,
    groups: Vec<GroupSpec>,
    scripts: Vec<ScriptSpec>,
    script_state: HashMap<String, bool>,
    runners: Vec<Runner>,
    children: Vec<Child>,
    tx: Sender<Cmd>,
    waker: Arc<UnixStream>,
    status: Arc<Mutex<Vec<InstanceStatus>>>,
    next_link_check: Ms,
}

/// Our address on `spec`'s interface: the configured source, else the interface's first
/// IPv4 address that is not a VIP, or its IPv6 link-local address.
fn primary(spec: &InstanceSpec) -> Option<IpAddr> {
    if let Some(a) = spec.src_ip {
        return Some(a);
    }
    if spec.params.version == 3 && spec.group.is_ipv6() {
        let index = net::ifindex(&spec.interface).ok()?;
        return net::link_local(index).map(IpAddr::V6);
    }
    let info = rvs_netlink::link(&spec.interface).ok()?;
    info.v4
        .iter()
        .map(|(a, _)| IpAddr::V4(*a))
        .find(|a| !spec.vips.iter().any(|v| v.addr == *a))
}

impl Loop {
    fn now(&self) -> Ms {
        self.start.elapsed().as_millis() as Ms
    }

    fn run(&mut self, mut wake_rx: UnixStream, rx: Receiver<Cmd>) {
        loop {
            let now = self.now();
            // Timers.
            for _ in 0..64 {
                match self.router.deadline() {
                    Some((d, i)) if d <= now => {
                        let out = self.router.handle(i, now, Input::Timer);
                        self.exec(out);
                    }
                    _ => break,
                }
            }
            if now >= self.next_link_check {
                self.check_links(now);
                self.next_link_check = now + LINK_CHECK;
            }
            self.reap();
            self.publish();
            let next = self
                .router
                .deadline()
                .map_or(self.next_link_check, |(d, _)| d.min(self.next_link_check));
            let timeout = next.saturating_sub(self.now()).min(1000) as i32;
            let mut fds: Vec<libc::pollfd> = vec![libc::pollfd {
                fd: wake_rx.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let owners: Vec<usize> = self
                .insts
                .iter()
                .enumerate()
                .filter_map(|(i, x)| x.link.as_ref().map(|_| i))
                .collect();
            for &i in &owners {
                if let Some(l) = &self.insts[i].link {
                    fds.push(libc::pollfd {
                        fd: l.fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
            }
            // SAFETY: `fds` is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                continue;
            }
            for (k, &i) in owners.iter().enumerate() {
                if fds[k + 1].revents != 0 {
                    self.receive(i);
                }
            }
            if fds[0].revents != 0 {
                let mut b = [0u8; 64];
                while matches!(wake_rx.read(&mut b), Ok(n) if n > 0) {}
                while let Ok(cmd) = rx.try_recv() {
                    match cmd {
                        Cmd::Stop => {
                            self.stop_all();
                            self.publish();
                            return;
                        }
                        Cmd::Reload(spec) => self.apply(spec),
                        Cmd::Script(name, ok) => self.on_script(&name, ok),
                    }
                }
            }
        }
    }

    fn receive(&mut self, i: usize) {
        for _ in 0..64 {
            let got = match self.insts[i].link.as_ref().map(Link::recv) {
                Some(Ok(Some(r))) => r,
                Some(Err(e)) => {
                    tracing::debug!(instance = %self.insts[i].spec.params.name, "receive: {e}");
                    return;
                }
                _ => return,
            };
            let spec = &self.insts[i].spec;
            let name = spec.params.name.clone();
            if got.payload.is_empty() {
                continue;
            }
            let unicast = !spec.unicast_peers.is_empty();
            if unicast {
                if !spec.unicast_peers.contains(&got.src) {
                    continue;
                }
            } else if got.ttl != Some(TTL) {
                tracing::info!(instance = %name, src = %got.src, "({name}) invalid TTL/HL {:?}, expect 255: advert dropped", got.ttl);
                continue;
            }
            let advert = match Advert::decode(&got.payload, got.src, got.dst) {
                Ok(a) => a,
                Err(e) => {
                    tracing::info!(instance = %name, src = %got.src, "({name}) bad advert: {e}");
                    continue;
                }
            };
            if advert.vrid != spec.params.vrid {
                continue;
            }
            let now = self.now();
            let out = self.router.handle(
                i,
                now,
                Input::Advert {
                    src: got.src,
                    advert,
                },
            );
            self.exec(out);
        }
    }

    fn check_links(&mut self, now: Ms) {
        for i in 0..self.insts.len() {
            if self.insts[i].link.is_none() {
                self.open(i);
            }
            let up = self.insts[i].link.is_some() && net::link_up(&self.insts[i].spec.interface);
            if up != self.insts[i].link_up {
                self.insts[i].link_up = up;
                let name = &self.insts[i].spec.params.name;
                tracing::info!(instance = %name, interface = %self.insts[i].spec.interface, up, "({name}) interface {}", if up { "up" } else { "down" });
                let out = self.router.handle(i, now, Input::Link(up));
                self.exec(out);
            }
            for j in 0..self.insts[i].spec.track_interfaces.len() {
                let up = net::link_up(&self.insts[i].spec.track_interfaces[j]);
                if up != self.insts[i].track_up[j] {
                    self.insts[i].track_up[j] = up;
                    let out = self.router.handle(i, now, Input::Track(j, up));
                    self.exec(out);
                }
            }
        }
    }

    fn open(&mut self, i: usize) {
        let spec = &self.insts[i].spec;
        let Some(src) = primary(spec) else {
            return;
        };
        let send_if = match &spec.vmac {
            Some(vmac) => {
                if let Err(e) = setup_vmac(&spec.interface, vmac, spec.params.vrid) {
                    tracing::warn!(instance = %spec.params.name, interface = %vmac, "cannot set up the virtual MAC interface: {e}");
                    return;
                }
                vmac.clone()
            }
            None => spec.interface.clone(),
        };
        // With a VMAC, multicast adverts from a peer's VMAC (the same MAC) are delivered to
        // our VMAC interface only (macvlan's rule for frames from a local address), so we
        // listen there; unicast ones come to the base interface's address.
        let unicast = !spec.unicast_peers.is_empty();
        let recv_if = if unicast { &spec.interface } else { &send_if };
        match Link::open(recv_if, &send_if, src, spec.group, unicast) {
            Ok(l) => {
                tracing::info!(instance = %spec.params.name, interface = %spec.interface, %src, "VRRP sockets open");
                if let Some(m) = self.router.machines.get_mut(i) {
                    m.set_primary(src);
                }
                self.insts[i].link = Some(l);
            }
            Err(e) => {
                tracing::warn!(instance = %spec.params.name, interface = %spec.interface, "cannot open VRRP sockets: {e}");
            }
        }
    }

    fn on_script(&mut self, name: &str, ok: bool) {
        self.script_state.insert(name.to_string(), ok);
        let now = self.now();
        for i in 0..self.insts.len() {
            let base = self.insts[i].spec.track_interfaces.len();
            let hits: Vec<usize> = self.insts[i]
                .spec
                .track_scripts
                .iter()
                .enumerate()
                .filter(|(_, s)| *s == name)
                .map(|(k, _)| base + k)
                .collect();
            for t in hits {
                let out = self.router.handle(i, now, Input::Track(t, ok));
                self.exec(out);
            }
        }
    }

    fn exec(&mut self, out: Vec<(usize, Action)>) {
        for (i, a) in out {
            self.exec_one(i, a);
        }
    }

    fn exec_one(&mut self, i: usize, a: Action) {
        let Some(inst) = self.insts.get(i) else {
            return;
        };
        let spec = &inst.spec;
        let name = spec.params.name.as_str();
        match a {
            Action::Send(ad) => {
                let Some(link) = &inst.link else { return };
                let dsts: Vec<IpAddr> = if spec.unicast_peers.is_empty() {
                    vec![spec.group]
                } else {
                    spec.unicast_peers.clone()
                };
                for dst in dsts {
                    match ad.encode(link.src, dst) {
                        Ok(bytes) => {
                            if let Err(e) = link.send(&bytes, dst) {
                                tracing::debug!(instance = %name, %dst, "send: {e}");
                            }
                        }
                        Err(e) => tracing::warn!(instance = %name, "cannot encode advert: {e}"),
                    }
                }
                if ad.priority == 0 {
                    tracing::info!(instance = %name, "({name}) sent 0 priority");
                }
            }
            Action::AddVips => {
                tracing::info!(instance = %name, "({name}) setting VIPs");
                for v in &spec.vips {
                    if let Err(e) = add_vip(v) {
                        tracing::warn!(instance = %name, addr = %v.addr, dev = %v.dev, "cannot add VIP: {e}");
                    }
                }
            }
            Action::RemoveVips => {
                tracing::info!(instance = %name, "({name}) removing VIPs");
                for v in &spec.vips {
                    if let Err(e) = rvs_netlink::del_address(&v.dev, v.addr, v.plen) {
                        tracing::warn!(instance = %name, addr = %v.addr, dev = %v.dev, "cannot remove VIP: {e}");
                    }
                }
            }
            Action::Garp => {
                for v in &spec.vips {
                    if let Err(e) = garp(v, spec.garp_repeat) {
                        tracing::warn!(instance = %name, addr = %v.addr, "gratuitous ARP / NA: {e}");
                    }
                }
            }
            Action::Transition { from, to, why } => {
                tracing::info!(instance = %name, from = from.as_str(), to = to.as_str(), why, "({name}) Entering {} STATE", to.as_str());
                self.notify(i, to);
            }
            Action::Stopped => {
                tracing::info!(instance = %name, "({name}) stopped");
                if let Some(vmac) = &spec.vmac
                    && let Err(e) = rvs_netlink::del_link(vmac)
                {
                    tracing::warn!(instance = %name, interface = %vmac, "cannot remove the virtual MAC interface: {e}");
                }
                self.notify(i, State::Init);
            }
            Action::Ignored { src, why } => {
                tracing::info!(instance = %name, %src, "({name}) advert from {src} ignored: {why}");
            }
        }
    }

    /// Run the notify scripts of instance `i` (and of its sync group, once per group
    /// change: for the group's first member) for a move to `to` (`Init` = stop).
    fn notify(&mut self, i: usize, to: State) {
        let spec = &self.insts[i].spec;
        let prio = self.router.machines.get(i).map_or(0, Machine::priority);
        let word = match to {
            State::Master => "MASTER",
            State::Backup => "BACKUP",
            State::Fault => "FAULT",
            State::Init => "STOP",
        };
        let mut jobs: Vec<(String, Vec<String>)> = Vec::new();
        let mut add = |n: &Notify, kind: &str, name: &str| {
            let specific = match to {
                State::Master => &n.master,
                State::Backup => &n.backup,
                State::Fault => &n.fault,
                State::Init => &n.stop,
            };
            if let Some(s) = specific {
                jobs.push((s.clone(), Vec::new()));
            }
            if let Some(s) = &n.any {
                jobs.push((
                    s.clone(),
                    vec![kind.into(), name.into(), word.into(), prio.to_string()],
                ));
            }
        };
        add(&spec.notify, "INSTANCE", &spec.params.name);
        for g in &self.groups {
            if g.members.first() == Some(&spec.params.name) {
                add(&g.notify, "GROUP", &g.name);
            }
        }
        for (line, args) in jobs {
            match scripts::spawn(&line, &args) {
                Ok(c) => self.children.push(c),
                Err(e) => tracing::warn!("cannot run notify script `{line}`: {e}"),
            }
        }
    }

    fn reap(&mut self) {
        self.children
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
    }

    fn publish(&self) {
        let list: Vec<InstanceStatus> = self
            .insts
            .iter()
            .zip(&self.router.machines)
            .map(|(x, m)| InstanceStatus {
                name: x.spec.params.name.clone(),
                state: m.state(),
                interface: x.spec.interface.clone(),
                vrid: x.spec.params.vrid,
                priority: m.priority(),
                vips: x
                    .spec
                    .vips
                    .iter()
                    .map(|v| format!("{}/{}", v.addr, v.plen))
                    .collect(),
                master: if m.state() == State::Master {
                    x.link.as_ref().map(|l| l.src)
                } else {
                    m.master_src()
                },
            })
            .collect();
        if let Ok(mut s) = self.status.lock() {
            *s = list;
        }
    }

    fn stop_all(&mut self) {
        let now = self.now();
        for i in 0..self.insts.len() {
            let out = self.router.handle(i, now, Input::Shutdown);
            self.exec(out);
        }
        self.stop_runners();
    }

    fn stop_runners(&mut self) {
        for r in &self.runners {
            r.stop.store(true, Ordering::Relaxed);
        }
        for r in self.runners.drain(..) {
            let _ = r.thread.join();
        }
    }

    /// Take `spec` in: keep unchanged instances, stop changed and removed ones, start new.
    fn apply(&mut self, spec: VrrpSpec) {
        let now = self.now();
        let old_insts = std::mem::take(&mut self.insts);
        let old_machines = std::mem::take(&mut self.router.machines);
        let mut kept: Vec<Option<(Inst, Machine)>> = Vec::new();
        let mut olds: Vec<Option<(Inst, Machine)>> =
            old_insts.into_iter().zip(old_machines).map(Some).collect();
        for s in &spec.instances {
            let hit = olds
                .iter_mut()
                .find(|o| o.as_ref().is_some_and(|(x, _)| x.spec == *s))
                .and_then(Option::take);
            kept.push(hit);
        }
        // Stop what is not kept.
        for (x, mut m) in olds.into_iter().flatten() {
            self.insts.push(x);
            let actions: Vec<(usize, Action)> = m
                .handle(now, Input::Shutdown)
                .into_iter()
                .map(|a| (self.insts.len() - 1, a))
                .collect();
            self.router.machines.push(m);
            self.exec(actions);
            self.insts.clear();
            self.router.machines.clear();
        }
        let mut fresh = Vec::new();
        for (k, s) in spec.instances.iter().enumerate() {
            match kept[k].take() {
                Some((x, m)) => {
                    self.insts.push(x);
                    self.router.machines.push(m);
                }
                None => {
                    self.insts.push(Inst {
                        spec: s.clone(),
                        link: None,
                        link_up: false,
                        track_up: vec![true; s.track_interfaces.len()],
                    });
                    self.router.machines.push(Machine::new(s.params.clone()));
                    fresh.push(k);
                }
            }
        }
        self.groups = spec.groups.clone();
        self.router.groups = spec
            .groups
            .iter()
            .map(|g| {
                g.members
                    .iter()
                    .filter_map(|n| spec.instances.iter().position(|i| i.params.name == *n))
                    .collect()
            })
            .collect();
        if spec.scripts != self.scripts {
            self.stop_runners();
            self.script_state.clear();
            self.scripts = spec.scripts.clone();
            for s in &self.scripts {
                self.script_state.insert(s.name.clone(), !s.init_fail);
                let stop = Arc::new(AtomicBool::new(false));
                let tx = self.tx.clone();
                let waker = self.waker.clone();
                let report = move |n: String, ok: bool| {
                    let sent = tx.send(Cmd::Script(n, ok)).is_ok();
                    wake(&waker);
                    sent
                };
                match scripts::start(s.clone(), report, stop.clone()) {
                    Ok(thread) => self.runners.push(Runner { stop, thread }),
                    Err(e) => tracing::warn!(script = %s.name, "cannot start: {e}"),
                }
            }
            // The new runners report changes from their initial verdict: kept instances
            // start from it too.
            let states: Vec<(String, bool)> = self
                .script_state
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            for (name, ok) in states {
                self.on_script(&name, ok);
            }
        }
        // Start the new instances: sockets, link and track state, then Start.
        for k in fresh {
            // As keepalived at start: VIPs a crashed predecessor left behind go.
            for v in &self.insts[k].spec.vips {
                if let Ok(true) = rvs_netlink::del_address(&v.dev, v.addr, v.plen) {
                    tracing::info!(instance = %self.insts[k].spec.params.name, addr = %v.addr, dev = %v.dev, "left-over VIP removed");
                }
            }
            self.open(k);
            let up = self.insts[k].link.is_some() && net::link_up(&self.insts[k].spec.interface);
            self.insts[k].link_up = up;
            let mut inputs = vec![Input::Link(up)];
            for j in 0..self.insts[k].spec.track_interfaces.len() {
                let t = net::link_up(&self.insts[k].spec.track_interfaces[j]);
                self.insts[k].track_up[j] = t;
                inputs.push(Input::Track(j, t));
            }
            let base = self.insts[k].spec.track_interfaces.len();
            for (j, s) in self.insts[k].spec.track_scripts.iter().enumerate() {
                let ok = self.script_state.get(s).copied().unwrap_or(true);
                inputs.push(Input::Track(base + j, ok));
            }
            if self.insts[k].spec.initial_master {
                tracing::info!(instance = %self.insts[k].spec.params.name, "state MASTER: starting as BACKUP until the master down timer runs out, as keepalived");
            }
            inputs.push(Input::Start);
            for inp in inputs {
                let out = self.router.handle(k, now, inp);
                self.exec(out);
            }
        }
        self.publish();
    }
}

/// keepalived's `use_vmac`: macvlan `vmac` (private mode, 00:00:5e:00:01:VRID) on
/// `base`, and the sysctls keepalived sets so that only the VMAC answers ARP for the VIPs
/// (`vrrp_if_config.c`).
fn setup_vmac(base: &str, vmac: &str, vrid: u8) -> std::io::Result<()> {
    rvs_netlink::add_macvlan(base, vmac, [0, 0, 0x5e, 0, 1, vrid])
        .map_err(std::io::Error::other)?;
    let set = |ifname: &str, key: &str, val: &str| {
        let path = format!("/proc/sys/net/ipv4/conf/{ifname}/{key}");
        if let Err(e) = std::fs::write(&path, val) {
            tracing::warn!("cannot set {path}: {e}");
        }
    };
    set(vmac, "arp_ignore", "1");
    set(vmac, "accept_local", "1");
    set(vmac, "rp_filter", "0");
    set(base, "arp_ignore", "1");
    set(base, "arp_filter", "1");
    Ok(())
}

fn add_vip(v: &VipSpec) -> Result<bool, rvs_netlink::NetlinkError> {
    let opts = rvs_netlink::AddrOptions {
        label: v.label.clone(),
        scope: v.scope_number(),
        broadcast: match v.brd {
            Some(IpAddr::V4(b)) => Some(b),
            _ => None,
        },
    };
    rvs_netlink::add_address_with(&v.dev, v.addr, v.plen, &opts)
}

fn garp(v: &VipSpec, repeat: u32) -> std::io::Result<()> {
    if repeat == 0 {
        return Ok(());
    }
    let info = rvs_netlink::link(&v.dev).map_err(std::io::Error::other)?;
    match v.addr {
        IpAddr::V4(a) => net::send_garp(info.index, info.mac, a, repeat),
        IpAddr::V6(a) => net::send_na(info.index, info.mac, a, repeat),
    }
}

/// Wait up to `d` for `f` to hold, polling every 10 ms (for tests and callers that need
/// a bounded wait).
pub fn wait_for(d: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + d;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
