//! The connection sync daemons: UDP multicast around rvs-sync's sans-IO master and
//! backup, one thread each. The data plane only appends to the director's sync log (no
//! syscall per packet); the master thread drains it every [`TICK`] under the engine lock,
//! then sends outside the lock.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rvs_config::ipvsadm::{DaemonConfig as ArgConfig, SyncState};
use rvs_config::keepalived::model::{Config, LvsSyncDaemon};
use rvs_control::exec::SyncDaemons;
use rvs_core::Director;
use rvs_core::engine::Engine;
use rvs_core::listing::{DaemonRow, SyncRole};
use rvs_sync::{Backup, DaemonConfig, DaemonSet, Master, MasterConfig};
use socket2::{Domain, Protocol, Socket, Type};

use crate::control::lock;

/// How often the master drains the log and the backup checks for stop.
const TICK: Duration = Duration::from_millis(100);
/// Messages the master keeps while its socket buffer is full.
const MAX_PENDING: usize = 1024;
/// How often the master forgets connections that are gone.
const GC_EVERY: u32 = 100;

/// One running daemon.
#[derive(Debug)]
pub struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Ask the thread to end (it does within one tick) without waiting.
    fn signal(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Ask the thread to end and wait for it.
    fn join(mut self) {
        self.signal();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// rvsd's sync daemons.
pub struct Daemons {
    engine: Arc<Mutex<Engine>>,
    set: DaemonSet<Running>,
    /// Stopped daemons whose threads may still be winding down (joined at shutdown).
    stopping: Vec<Running>,
}

/// The sync daemons shared by the control socket and the VRRP follower.
pub type Shared = Arc<Mutex<Daemons>>;

/// Lock the daemons, recovering from a poisoned lock.
pub fn lock_daemons(d: &Mutex<Daemons>) -> std::sync::MutexGuard<'_, Daemons> {
    d.lock().unwrap_or_else(|p| p.into_inner())
}

/// ipvsadm's parsed options to the daemon's (unset ones take the kernel's defaults).
pub fn from_args(a: &ArgConfig) -> DaemonConfig {
    let d = DaemonConfig::default();
    DaemonConfig {
        mcast_ifn: if a.mcast_ifn.is_empty() {
            d.mcast_ifn
        } else {
            a.mcast_ifn.clone()
        },
        syncid: a.syncid,
        sync_maxlen: a.sync_maxlen.unwrap_or(0),
        mcast_group: a.mcast_group.unwrap_or(d.mcast_group),
        mcast_port: a.mcast_port.unwrap_or(d.mcast_port),
        mcast_ttl: a.mcast_ttl.unwrap_or(d.mcast_ttl),
    }
}

fn role_of(s: SyncState) -> SyncRole {
    match s {
        SyncState::Master => SyncRole::Master,
        SyncState::Backup => SyncRole::Backup,
    }
}

fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

fn mtu(name: &str) -> u32 {
    std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1500)
}

fn domain(group: &IpAddr) -> Domain {
    if group.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    }
}

/// `IP_MTU_DISCOVER = IP_PMTUDISC_DONT`: no DF bit, large messages may be fragmented.
fn pmtudisc_dont(s: &Socket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let v: libc::c_int = libc::IP_PMTUDISC_DONT;
    // SAFETY: a valid socket and a c_int option value of the right size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The master's socket (`make_send_sock`): bound to the interface, multicast TTL, loop
/// off, fragmentation allowed, connected to the group.
fn send_socket(c: &DaemonConfig, ifindex: u32) -> std::io::Result<UdpSocket> {
    let s = Socket::new(domain(&c.mcast_group), Type::DGRAM, Some(Protocol::UDP))?;
    s.bind_device(Some(c.mcast_ifn.as_bytes()))?;
    if c.mcast_group.is_ipv6() {
        s.set_multicast_if_v6(ifindex)?;
        s.set_multicast_hops_v6(u32::from(c.mcast_ttl))?;
        s.set_multicast_loop_v6(false)?;
    } else {
        s.set_multicast_ttl_v4(u32::from(c.mcast_ttl))?;
        s.set_multicast_loop_v4(false)?;
        // SO_BINDTODEVICE above picks the outgoing interface, as IP_MULTICAST_IF would.
        pmtudisc_dont(&s)?;
    }
    s.set_nonblocking(true)?;
    s.connect(&SocketAddr::new(c.mcast_group, c.mcast_port).into())?;
    Ok(s.into())
}

/// The backup's socket (`make_receive_sock`): address reuse, bound to the group and port
/// on the interface, group joined there.
fn recv_socket(c: &DaemonConfig, ifindex: u32) -> std::io::Result<UdpSocket> {
    let s = Socket::new(domain(&c.mcast_group), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(c.mcast_ifn.as_bytes()))?;
    s.bind(&SocketAddr::new(c.mcast_group, c.mcast_port).into())?;
    match c.mcast_group {
        IpAddr::V4(g) => {
            s.join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(ifindex))?
        }
        IpAddr::V6(g) => s.join_multicast_v6(&g, ifindex)?,
    }
    s.set_read_timeout(Some(TICK))?;
    Ok(s.into())
}

fn spawn(name: &str, f: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Result<Running, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || f(flag))
        .map_err(|e| e.to_string())?;
    Ok(Running {
        stop,
        thread: Some(thread),
    })
}

fn run_master(engine: Arc<Mutex<Engine>>, sock: UdpSocket, mut m: Master, stop: Arc<AtomicBool>) {
    let mut ticks = 0u32;
    let mut out = Vec::new();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        {
            let mut eng = lock(&engine);
            let now = rvs_dataplane::now().max(eng.director.now());
            let Engine {
                director: d,
                fullnat,
                ..
            } = &mut *eng;
            let events = d.take_sync_events();
            m.on_events_with(&mut d.conns, &events, now, &|id| fullnat.get(id));
            ticks = ticks.wrapping_add(1);
            if ticks.is_multiple_of(GC_EVERY) {
                m.gc(&d.conns);
            }
            if stopping {
                // stop_role turned the log off already (a new master may own it now).
                out.extend(m.flush());
            } else {
                while let Some(msg) = m.poll_transmit(now) {
                    out.push(msg);
                }
            }
        }
        // A full socket buffer keeps the rest for the next tick (the kernel's master
        // waits for the socket to be writable); other errors drop the message.
        let mut sent = 0;
        for msg in &out {
            match sock.send(msg) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && !stopping => break,
                Err(e) => tracing::debug!("sync master send: {e}"),
            }
            sent += 1;
        }
        out.drain(..sent);
        if out.len() > MAX_PENDING {
            let n = out.len() - MAX_PENDING;
            out.drain(..n);
            tracing::warn!(
                dropped = n,
                "sync master: messages dropped (socket buffer full)"
            );
        }
        if stopping {
            tracing::info!(
                entries = m.stats.entries,
                messages = m.stats.messages,
                "sync master stopped"
            );
            return;
        }
        std::thread::sleep(TICK);
    }
}

fn run_backup(
    engine: Arc<Mutex<Engine>>,
    sock: UdpSocket,
    mut b: Backup,
    maxlen: usize,
    stop: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; maxlen.max(1024)];
    while !stop.load(Ordering::SeqCst) {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let mut eng = lock(&engine);
                let now = rvs_dataplane::now().max(eng.director.now());
                eng.advance(now);
                let Engine {
                    director, fullnat, ..
                } = &mut *eng;
                // FULLNAT entries keep their source: replies find them, the port stays taken.
                b.on_datagram_with(director, &buf[..n], &mut |id, c| {
                    if let Some((laddr, lport)) = c.fullnat
                        && !fullnat.claim(id, c.protocol, &c.daddr, c.dport, laddr, lport)
                    {
                        tracing::warn!(%laddr, lport, "synced FULLNAT source already in use");
                    }
                });
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                tracing::warn!("sync backup receive: {e}");
                std::thread::sleep(TICK);
            }
        }
    }
    tracing::info!(stats = ?b.stats, "sync backup stopped");
}

impl Daemons {
    /// No daemon running yet.
    pub fn new(engine: Arc<Mutex<Engine>>) -> Daemons {
        Daemons {
            engine,
            set: DaemonSet::default(),
            stopping: Vec::new(),
        }
    }

    /// Start `role` with `cfg` (`d` is the locked director: the master turns its log on).
    pub fn start_role(
        &mut self,
        d: &mut Director,
        role: SyncRole,
        cfg: DaemonConfig,
    ) -> Result<(), String> {
        if self.set.running(role) {
            return Err(rvs_sync::config::ERR_RUNNING.into());
        }
        let Some(idx) = ifindex(&cfg.mcast_ifn) else {
            return Err("No such device".into());
        };
        let maxlen = cfg.effective_maxlen(role == SyncRole::Master, mtu(&cfg.mcast_ifn));
        let engine = self.engine.clone();
        let threshold = MasterConfig::default().threshold;
        self.set.start(role, cfg, maxlen, |c| match role {
            SyncRole::Master => {
                let sock = send_socket(c, idx).map_err(|e| e.to_string())?;
                let m = Master::new(MasterConfig {
                    syncid: c.syncid,
                    maxlen: maxlen as usize,
                    ..MasterConfig::default()
                });
                d.set_sync_master(true);
                spawn("rvsd-sync-master", move |stop| {
                    run_master(engine, sock, m, stop)
                })
            }
            SyncRole::Backup => {
                let sock = recv_socket(c, idx).map_err(|e| e.to_string())?;
                let b = Backup::new(c.syncid, threshold);
                spawn("rvsd-sync-backup", move |stop| {
                    run_backup(engine, sock, b, maxlen as usize, stop)
                })
            }
        })?;
        tracing::info!(role = role.name(), "sync daemon started");
        Ok(())
    }

    /// Stop `role`: its thread ends within one tick (not waited for here, since the caller
    /// may hold the engine lock the thread needs).
    pub fn stop_role(&mut self, d: &mut Director, role: SyncRole) -> Result<(), String> {
        let r = self.set.stop(role)?;
        if role == SyncRole::Master {
            d.set_sync_master(false);
        }
        r.signal();
        self.stopping.push(r);
        Ok(())
    }

    /// Stop every daemon and wait for the threads (call without the engine lock).
    pub fn shutdown(&mut self) {
        let all: Vec<Running> = self
            .set
            .stop_all()
            .into_iter()
            .chain(self.stopping.drain(..))
            .collect();
        for r in all {
            r.join();
        }
    }
}

/// keepalived's `lvs_sync_daemon` as daemon options; `vrid` is the followed instance's
/// router id (the sync id when `id` is not given).
pub fn from_keepalived(sd: &LvsSyncDaemon, vrid: u8) -> DaemonConfig {
    let d = DaemonConfig::default();
    DaemonConfig {
        mcast_ifn: sd.interface.clone(),
        syncid: sd.syncid.unwrap_or(vrid),
        sync_maxlen: sd.maxlen.unwrap_or(0),
        mcast_group: sd.group.unwrap_or(d.mcast_group),
        mcast_port: sd.port.unwrap_or(d.mcast_port),
        mcast_ttl: sd.ttl.unwrap_or(d.mcast_ttl),
    }
}

impl Daemons {
    /// What keepalived does when the followed VRRP instance changes state
    /// (`ipvs_syncd_master` / `ipvs_syncd_backup`): stop the other role, start this one.
    /// Errors are logged (a role already running, or not running, is fine).
    pub fn follow(&mut self, d: &mut Director, master: bool, cfg: &DaemonConfig) {
        let (stop, start) = if master {
            (SyncRole::Backup, SyncRole::Master)
        } else {
            (SyncRole::Master, SyncRole::Backup)
        };
        let _ = self.stop_role(d, stop);
        if self.set.running(start) {
            return;
        }
        if let Err(e) = self.start_role(d, start, cfg.clone()) {
            tracing::error!(role = start.name(), "cannot start the sync daemon: {e}");
        }
    }
}

impl SyncDaemons for Daemons {
    fn start(&mut self, d: &mut Director, cfg: &ArgConfig) -> Result<(), String> {
        self.start_role(d, role_of(cfg.state), from_args(cfg))
    }

    fn stop(&mut self, d: &mut Director, cfg: &ArgConfig) -> Result<(), String> {
        self.stop_role(d, role_of(cfg.state))
    }

    fn rows(&self) -> Vec<DaemonRow> {
        self.set.rows()
    }
}

/// keepalived.conf's `lvs_sync_daemon`, followed: a thread that watches the named VRRP
/// instance's state and starts/stops the daemons as keepalived does.
pub struct Follower {
    /// The `lvs_sync_daemon` it follows (a reload with another one restarts it).
    pub spec: LvsSyncDaemon,
    run: Running,
}

/// The instance `lvs_sync_daemon` follows: the named one, else the first on its interface,
/// else the first. Its name and router id.
fn followed(cfg: &Config, sd: &LvsSyncDaemon) -> Option<(String, u8)> {
    let list = &cfg.vrrp_instances;
    let v = match &sd.vrrp_instance {
        Some(n) => list.iter().find(|v| &v.name == n),
        None => list
            .iter()
            .find(|v| v.interface.as_deref() == Some(sd.interface.as_str()))
            .or_else(|| list.first()),
    }?;
    Some((v.name.clone(), v.virtual_router_id))
}

impl Follower {
    /// Start following `cfg`'s `lvs_sync_daemon`, if it has one and its VRRP instance
    /// exists.
    pub fn start(cfg: &Config, engine: Arc<Mutex<Engine>>, daemons: Shared) -> Option<Follower> {
        let sd = cfg.global.lvs_sync_daemon.clone()?;
        let Some((name, vrid)) = followed(cfg, &sd) else {
            tracing::warn!("lvs_sync_daemon: no VRRP instance to follow; no sync daemon runs");
            return None;
        };
        let dcfg = from_keepalived(&sd, vrid);
        tracing::info!(instance = %name, interface = %dcfg.mcast_ifn, syncid = dcfg.syncid, "sync daemon follows VRRP");
        let run = spawn("rvsd-sync-vrrp", move |stop| {
            let mut last: Option<bool> = None;
            while !stop.load(Ordering::SeqCst) {
                let state = crate::vrrp::states()
                    .into_iter()
                    .find(|i| i.name == name)
                    .map(|i| i.state);
                let master = match state {
                    Some(rvs_api::VrrpState::Master) => Some(true),
                    Some(rvs_api::VrrpState::Backup | rvs_api::VrrpState::Fault) => Some(false),
                    _ => None,
                };
                if let Some(m) = master
                    && last != Some(m)
                {
                    let mut eng = lock(&engine);
                    let mut d = lock_daemons(&daemons);
                    d.follow(&mut eng.director, m, &dcfg);
                    last = Some(m);
                }
                std::thread::sleep(TICK);
            }
        })
        .map_err(|e| tracing::error!("cannot start the sync follower: {e}"))
        .ok()?;
        Some(Follower { spec: sd, run })
    }

    /// Stop following (the daemons keep running; see [`Daemons::shutdown`]).
    pub fn stop(self) {
        self.run.join();
    }
}

/// Stop both roles (the followed `lvs_sync_daemon` went away in a reload).
pub fn stop_followed(engine: &Mutex<Engine>, daemons: &Mutex<Daemons>) {
    let mut eng = lock(engine);
    let mut d = lock_daemons(daemons);
    for role in [SyncRole::Master, SyncRole::Backup] {
        let _ = d.stop_role(&mut eng.director, role);
    }
}
