//! [`Dataplane`]: interfaces, neighbour cache, XDP classifier, AF_XDP sockets and the
//! worker thread, started and stopped together.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rvs_core::engine::{Engine, IfaceId, Neighbours, Routes};
use rvs_core::time::Time;
use rvs_netlink::{NeighCache, NetlinkError, RouteWatch};
use rvs_xdp::{Classifier, ClassifierCounters, XdpError, XdpMode};

use crate::classes::classes_of;
use crate::fastpath;
use crate::fastsync::{FastSync, SYNC_MS};
use crate::worker::{EngineHook, Hook, Resolver, Worker, WorkerConfig, WorkerCounters, lock};
use crate::xsk::{BindMode, KernelStats, XdpPort, XskError, kernel_stats};

/// How to run the data plane.
#[derive(Clone, Debug)]
pub struct Config {
    /// Interfaces to serve, in engine order (`IfaceId(0)` is the first).
    pub interfaces: Vec<String>,
    /// How the XDP classifier is attached.
    pub mode: XdpMode,
    /// Frames received per socket per round (64).
    pub batch: usize,
    /// UMEM chunks (4 KiB each) per socket, a power of two (4096).
    pub frames: u32,
    /// How long a frame waits for its next hop's MAC before it is dropped (1 s).
    pub hold: Duration,
    /// Forward established flows in XDP (the fast path, docs/xdp.md); `false`: every
    /// service packet goes through the AF_XDP worker.
    pub fastpath: bool,
    /// Fast path: send frames back out of their ingress interface with XDP_TX. Off by
    /// default: a DEVMAP redirect works everywhere, while a veth drops XDP_TX frames
    /// unless its peer runs an XDP program; turn it on for NICs.
    pub xdp_tx: bool,
    /// A bpffs directory (e.g. `/sys/fs/bpf/rvs/<name>`) where the fast path's maps, the
    /// counters and the XDP links are pinned: on stop the program stays attached and
    /// keeps forwarding established flows; the next start with the same directory takes
    /// the links over atomically and reuses the maps (hitless restart). `None`: nothing
    /// is pinned and the program goes with the process.
    pub pin_dir: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interfaces: Vec::new(),
            mode: XdpMode::Auto,
            batch: 64,
            frames: 4096,
            hold: Duration::from_secs(1),
            fastpath: true,
            xdp_tx: false,
            pin_dir: None,
        }
    }
}

/// Why the data plane could not start or refresh.
#[derive(thiserror::Error, Debug)]
pub enum DataplaneError {
    /// `Config::interfaces` is empty.
    #[error("no interfaces to serve")]
    NoInterfaces,
    /// Reading interfaces, routes or neighbours failed.
    #[error("netlink")]
    Netlink(#[from] NetlinkError),
    /// Loading, attaching or updating the XDP classifier failed.
    #[error("xdp")]
    Xdp(#[from] XdpError),
    /// Opening an AF_XDP socket failed.
    #[error("af_xdp")]
    Xsk(#[from] XskError),
    /// The worker thread could not be spawned.
    #[error("spawning the worker thread")]
    Thread(#[source] std::io::Error),
}

/// One AF_XDP socket of the data plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// Interface name.
    pub interface: String,
    /// Rx queue the socket is bound to.
    pub queue: u32,
    /// Whether the kernel runs it zero-copy (veth: never).
    pub zero_copy: bool,
}

/// Data-plane counters (a snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataplaneStats {
    /// Frames received from the AF_XDP sockets.
    pub rx: u64,
    /// Frames handed to the kernel for transmission.
    pub tx: u64,
    /// Of those, frames copied to another interface's socket.
    pub tx_copied: u64,
    /// Frames the transmit ring or UMEM had no room for.
    pub tx_failed: u64,
    /// Frames the engine passed to the local stack; in userspace already, so dropped.
    pub passed_in_userspace: u64,
    /// Frames the engine dropped (the engine's counters say why).
    pub dropped: u64,
    /// Frames held for an unresolved next hop.
    pub unresolved_held: u64,
    /// Held frames sent once the next hop's MAC appeared.
    pub unresolved_sent: u64,
    /// Held frames dropped (waited `hold`, or the per-hop queue overflowed).
    pub unresolved_dropped: u64,
    /// Frames whose egress interface has no socket.
    pub no_port: u64,
    /// Times the idle worker advanced the engine.
    pub idle_ticks: u64,
    /// The sockets.
    pub sockets: Vec<SocketInfo>,
    /// The XDP attach mode in effect per interface.
    pub xdp_modes: Vec<(String, XdpMode)>,
    /// The kernel's AF_XDP counters summed over the sockets (frames dropped before the
    /// worker saw them, e.g. RX ring full).
    pub kernel: KernelStats,
    /// The classifier's counters, if they could be read.
    pub classifier: Option<ClassifierCounters>,
    /// Fast-path flow entries installed (both directions count), 0 without the fast path.
    pub fastpath_flows: u64,
}

impl Resolver for NeighCache {
    fn resolve(&self, iface: IfaceId, addr: std::net::IpAddr) {
        NeighCache::resolve(self, iface, addr);
    }
}

/// The running data plane.
pub struct Dataplane {
    engine: Arc<Mutex<Engine>>,
    classifier: Arc<Mutex<Classifier>>,
    fastpath_flows: Arc<AtomicU64>,
    neigh: Arc<NeighCache>,
    routes: Arc<RouteWatch>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
    counters: Arc<WorkerCounters>,
    sockets: Vec<SocketInfo>,
    /// The sockets' descriptors (owned by the worker; open until `stop_all`).
    fds: Vec<std::os::fd::RawFd>,
    modes: Vec<(String, XdpMode)>,
}

/// The monotonic clock (`CLOCK_MONOTONIC`, ms) the worker gives the engine. Whoever
/// applies commands to the same engine should use it too.
pub fn now() -> Time {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if r != 0 {
        return Time::ZERO;
    }
    Time(ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000)
}

impl Dataplane {
    /// Read the interfaces and routes into `engine.routes`, start the neighbour cache and
    /// the route watch (later changes of routes, addresses, MTU or MAC are swapped into
    /// `engine.routes` as they happen), load and attach the classifier on every
    /// interface, open one AF_XDP socket per (interface, rx queue), install
    /// [`classes_of`] the engine, and spawn the worker.
    pub fn start(cfg: Config, engine: Arc<Mutex<Engine>>) -> Result<Dataplane, DataplaneError> {
        if cfg.interfaces.is_empty() {
            return Err(DataplaneError::NoInterfaces);
        }
        let (routes, ids) = rvs_netlink::build_routes(&cfg.interfaces)?;
        install_routes(&mut lock(&engine), routes.clone());
        let neigh = NeighCache::start(&ids)?;
        let watch = match start_watch(&cfg.interfaces, &routes, &ids, &engine) {
            Ok(w) => w,
            Err(e) => {
                neigh.stop();
                return Err(e.into());
            }
        };
        match Self::start_rest(&cfg, engine, &ids, Arc::clone(&neigh), Arc::clone(&watch)) {
            Ok(d) => Ok(d),
            Err(e) => {
                watch.stop();
                neigh.stop();
                Err(e)
            }
        }
    }

    fn start_rest(
        cfg: &Config,
        engine: Arc<Mutex<Engine>>,
        ids: &[(IfaceId, u32)],
        neigh: Arc<NeighCache>,
        routes: Arc<RouteWatch>,
    ) -> Result<Dataplane, DataplaneError> {
        let mut classifier = match &cfg.pin_dir {
            Some(dir) => Classifier::load_pinned(dir)?,
            None => Classifier::load()?,
        };
        let mut modes = Vec::new();
        for name in &cfg.interfaces {
            modes.push((name.clone(), classifier.attach(name, cfg.mode)?));
        }
        let mut ports = Vec::new();
        let mut sockets = Vec::new();
        for ((iface, ifindex), (name, mode)) in ids.iter().zip(&modes) {
            let queues = rvs_netlink::link(name)?.rx_queues.max(1);
            // Generic XDP hands frames over by copy anyway; zero-copy needs a driver.
            let bind = if *mode == XdpMode::Generic {
                BindMode::Copy
            } else {
                BindMode::Auto
            };
            // The link reports the queues allocated; the kernel binds only to the ones
            // in use (e.g. veth allocates one per CPU, uses one): stop at the first
            // queue it refuses.
            for q in 0..queues {
                let port = match XdpPort::open(*ifindex, q, cfg.frames, bind) {
                    Ok(p) => p,
                    Err(XskError::Socket {
                        source: xdp::socket::SocketError::Bind(e),
                        ..
                    }) if q > 0 && e.raw_os_error() == Some(libc::EINVAL) => break,
                    Err(e) => return Err(e.into()),
                };
                classifier.register_xsk(*ifindex, q, port.raw_fd())?;
                sockets.push(SocketInfo {
                    interface: name.clone(),
                    queue: q,
                    zero_copy: port.is_zero_copy(),
                });
                ports.push((*iface, port));
            }
        }
        let fds = ports.iter().map(|(_, p)| p.raw_fd()).collect();
        let mut classes = classes_of(&lock(&engine));
        classes.hosts = crate::hosts::host_addresses();
        classifier.set_classes(&classes)?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(WorkerCounters::default());
        let wcfg = WorkerConfig {
            batch: cfg.batch,
            hold_ms: cfg.hold.as_millis().min(u64::MAX as u128) as u64,
        };
        let resolver: Arc<dyn Resolver> = neigh.clone();
        let (e2, s2, c2) = (
            Arc::clone(&engine),
            Arc::clone(&stop),
            Arc::clone(&counters),
        );
        let classifier = Arc::new(Mutex::new(classifier));
        let fastpath_flows = Arc::new(AtomicU64::new(0));
        let hook = if cfg.fastpath {
            fastpath_hook(&classifier, &neigh, ids, &fastpath_flows, cfg.xdp_tx)
        } else {
            None
        };
        let worker = std::thread::Builder::new()
            .name("rvs-dataplane".into())
            .spawn(move || {
                let w = Worker::new(ports, e2, resolver, wcfg, c2);
                match hook {
                    Some(h) => w.with_hook(SYNC_MS, h).run(&s2, &now),
                    None => w.run(&s2, &now),
                }
            })
            .map_err(DataplaneError::Thread)?;
        tracing::info!(?sockets, ?modes, "data plane started");
        Ok(Dataplane {
            engine,
            classifier,
            fastpath_flows,
            neigh,
            routes,
            stop,
            worker: Some(worker),
            counters,
            sockets,
            fds,
            modes,
        })
    }

    /// Recompute the classifier's maps from the engine (after every command).
    pub fn refresh(&self) -> Result<(), DataplaneError> {
        let mut classes = classes_of(&lock(&self.engine));
        classes.hosts = crate::hosts::host_addresses();
        let mut c = self.classifier.lock().unwrap_or_else(|p| p.into_inner());
        c.set_classes(&classes)?;
        Ok(())
    }

    /// The counters.
    pub fn stats(&self) -> DataplaneStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let classifier = self
            .classifier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .counters()
            .ok();
        DataplaneStats {
            rx: g(&c.rx),
            tx: g(&c.tx),
            tx_copied: g(&c.tx_copied),
            tx_failed: g(&c.tx_failed),
            passed_in_userspace: g(&c.passed_in_userspace),
            dropped: g(&c.dropped),
            unresolved_held: g(&c.held),
            unresolved_sent: g(&c.held_sent),
            unresolved_dropped: g(&c.held_dropped),
            no_port: g(&c.no_port) + g(&c.bad_buffer),
            idle_ticks: g(&c.idle_ticks),
            sockets: self.sockets.clone(),
            xdp_modes: self.modes.clone(),
            kernel: self.fds.iter().filter_map(|fd| kernel_stats(*fd)).fold(
                KernelStats::default(),
                |mut acc, k| {
                    acc.add(&k);
                    acc
                },
            ),
            classifier,
            fastpath_flows: self.fastpath_flows.load(Ordering::Relaxed),
        }
    }

    /// Stop like [`Dataplane::shutdown`], and remove the pins of `Config::pin_dir`: the
    /// links detach and the pinned maps go (a stop for good, not a restart).
    pub fn shutdown_and_unpin(self) {
        self.classifier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unpin_all();
        drop(self);
    }

    /// Whether the neighbour cache answers `addr` on `iface` (diagnostics).
    pub fn knows_neighbour(&self, iface: IfaceId, addr: &std::net::IpAddr) -> bool {
        self.neigh.mac(iface, addr).is_some()
    }

    /// Stop the worker, close the sockets, detach the classifier, stop the route watch
    /// and the neighbour cache. Dropping the data plane does the same.
    pub fn shutdown(self) {
        drop(self);
    }

    fn stop_all(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.worker.take()
            && w.join().is_err()
        {
            tracing::error!("data-plane worker panicked");
        }
        self.classifier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .detach_all();
        self.routes.stop();
        self.neigh.stop();
    }
}

/// The worker's fast-path hook: every egress interface in the redirect DEVMAP, then
/// [`FastSync::sync`] with the classifier's maps. `None` (and a warning) when the DEVMAP
/// cannot be filled: the data plane then runs without the fast path.
fn fastpath_hook(
    classifier: &Arc<Mutex<Classifier>>,
    neigh: &Arc<NeighCache>,
    ids: &[(IfaceId, u32)],
    flows: &Arc<AtomicU64>,
    xdp_tx: bool,
) -> Option<Hook> {
    {
        let mut c = classifier.lock().unwrap_or_else(|p| p.into_inner());
        for (_, ifindex) in ids {
            if let Err(e) = c.add_tx_port(*ifindex) {
                tracing::warn!(error = %e, "XDP fast path disabled");
                return None;
            }
        }
    }
    Some(Box::new(FastHook {
        classifier: Arc::clone(classifier),
        neigh: Arc::clone(neigh),
        flows: Arc::clone(flows),
        ids: ids.to_vec(),
        sync: FastSync::new(xdp_tx),
    }))
}

/// [`FastSync`] run by the worker.
struct FastHook {
    classifier: Arc<Mutex<Classifier>>,
    neigh: Arc<NeighCache>,
    flows: Arc<AtomicU64>,
    ids: Vec<(IfaceId, u32)>,
    sync: FastSync,
}

impl EngineHook for FastHook {
    fn periodic(&mut self, engine: &mut Engine, now: Time) {
        let mut c = self.classifier.lock().unwrap_or_else(|p| p.into_inner());
        let ids = &self.ids;
        let map = |i: IfaceId| ids.iter().find(|x| x.0 == i).map(|x| x.1);
        let r = self.sync.sync(engine, &mut *c, &*self.neigh, &map, now);
        if r.errors > 0 {
            tracing::debug!(?r, "fast-path sync");
        }
        for (iface, addr) in self.sync.take_unresolved() {
            self.neigh.resolve(iface, addr);
        }
        self.flows.store(self.sync.len() as u64, Ordering::Relaxed);
    }

    fn frame_seen(&mut self, frame: &[u8]) {
        if self.sync.is_empty() {
            return;
        }
        if let Some(k) = fastpath::closing_key(frame) {
            let mut c = self.classifier.lock().unwrap_or_else(|p| p.into_inner());
            self.sync.closing(&mut *c, &k);
        }
    }
}

/// Replace `engine.routes` with `routes`, keeping the generation increasing: the engine
/// caches each dest's hop per routes generation, so no hop cached from the old table may
/// survive under a generation number the new table also has.
fn install_routes(e: &mut Engine, routes: Routes) {
    let old = e.routes.generation();
    e.routes = routes;
    // `iface_mut` bumps the generation (the only public way to); a table without
    // interfaces has no hop anyone could have cached.
    let first = IfaceId(0);
    while e.routes.generation() <= old && e.routes.iface_mut(first).is_some() {}
}

/// Start the [`RouteWatch`] whose callback swaps each changed table into the engine.
fn start_watch(
    names: &[String],
    installed: &Routes,
    ids: &[(IfaceId, u32)],
    engine: &Arc<Mutex<Engine>>,
) -> Result<Arc<RouteWatch>, NetlinkError> {
    let engine = Arc::clone(engine);
    let first_ids = ids.to_vec();
    RouteWatch::start(
        names,
        installed,
        ids,
        Box::new(move |routes, ids| {
            if ids != first_ids {
                // The AF_XDP sockets, the classifier and the neighbour cache are bound to
                // the ifindexes seen at start.
                tracing::warn!(
                    before = ?first_ids, now = ?ids,
                    "an interface was re-created (new ifindex); restart rvsd to serve it"
                );
            }
            let generation = {
                let mut e = lock(&engine);
                install_routes(&mut e, routes);
                e.routes.generation()
            };
            tracing::info!(
                generation,
                "routes, addresses or links changed; table swapped"
            );
        }),
    )
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop_all();
    }
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("sockets", &self.sockets)
            .field("modes", &self.modes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::engine::Interface;
    use rvs_core::{Director, Settings, SplitMix64};

    fn table(gw: &str) -> Routes {
        let mut r = Routes::default();
        let id = r.add_interface(Interface {
            name: "eth0".into(),
            mac: [2, 0, 0, 0, 0, 1],
            mtu: 1500,
            v4: vec![("198.18.0.1".parse().unwrap(), 24)],
            v6: Vec::new(),
        });
        r.add_route(
            "198.18.9.0".parse().unwrap(),
            24,
            id,
            Some(gw.parse().unwrap()),
        )
        .unwrap();
        r
    }

    #[test]
    fn install_routes_keeps_the_generation_increasing() {
        let mut e = Engine::new(Director::new(
            Settings::default(),
            7,
            Box::new(SplitMix64(7)),
        ));
        let dst = "198.18.9.5".parse().unwrap();
        let mut last = e.routes.generation();
        for (i, gw) in ["198.18.0.2", "198.18.0.3", "198.18.0.2"]
            .iter()
            .enumerate()
        {
            let fresh = table(gw);
            assert!(fresh.generation() <= last || i == 0);
            install_routes(&mut e, fresh);
            let g = e.routes.generation();
            assert!(g > last, "{g} <= {last}");
            last = g;
            assert_eq!(
                e.routes.lookup(&dst).unwrap().next_hop,
                gw.parse::<std::net::IpAddr>().unwrap()
            );
        }
    }
}
