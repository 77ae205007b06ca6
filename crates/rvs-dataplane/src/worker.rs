//! The worker loop: receive a batch, run it through the engine under one lock, transmit,
//! hold frames whose next hop is unresolved, sleep in `poll()` when idle.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rvs_core::engine::{Engine, Frame, IfaceId, Neighbours, Verdict};
use rvs_core::time::Time;

use crate::xsk::{XskBuf, XskPort};

/// Neighbour answers plus a way to ask the kernel to resolve a next hop.
pub trait Resolver: Neighbours + Send + Sync {
    /// Start resolving `addr` on `iface` (non-blocking, rate limited by the implementer).
    fn resolve(&self, iface: IfaceId, addr: IpAddr);
}

/// The engine is advanced at least this often when no frame arrives (ms).
pub const TICK_MS: u64 = 100;
/// Frames held per unresolved next hop; the oldest is dropped beyond (like the kernel's
/// neighbour queue).
pub const HOLD_PER_HOP: usize = 64;
/// Next hops that may have frames waiting at once; frames for more are dropped.
pub const MAX_HELD_HOPS: usize = 1024;
/// Poll timeout while frames wait for a neighbour (ms).
const HOLD_RECHECK_MS: u64 = 10;

/// Worker tunables.
#[derive(Clone, Copy, Debug)]
pub struct WorkerConfig {
    /// Frames received per port per round.
    pub batch: usize,
    /// How long an unresolved frame waits for its next hop's MAC (ms).
    pub hold_ms: u64,
}

/// Counters the worker keeps (shared with [`crate::Dataplane::stats`]).
#[derive(Debug, Default)]
pub struct WorkerCounters {
    /// Frames received from the sockets.
    pub rx: AtomicU64,
    /// Frames queued for transmission (all kinds).
    pub tx: AtomicU64,
    /// Of those, frames copied to another interface's socket.
    pub tx_copied: AtomicU64,
    /// Frames the kernel refused to take (transmit ring or UMEM full).
    pub tx_failed: AtomicU64,
    /// Frames the engine passed to the local stack: already in userspace, dropped.
    pub passed_in_userspace: AtomicU64,
    /// Frames the engine dropped (reasons in the engine's counters).
    pub dropped: AtomicU64,
    /// Frames put on hold for an unresolved next hop.
    pub held: AtomicU64,
    /// Held frames sent once the MAC appeared.
    pub held_sent: AtomicU64,
    /// Held frames dropped: waited `hold`, or the queue was full.
    pub held_dropped: AtomicU64,
    /// Frames that could not be given to the engine (bad buffer bounds).
    pub bad_buffer: AtomicU64,
    /// Frames for an egress interface without a socket.
    pub no_port: AtomicU64,
    /// Idle ticks that advanced the engine.
    pub idle_ticks: AtomicU64,
    /// Rounds of the loop (polls included).
    pub rounds: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// A frame waiting for its next hop's MAC.
struct Held {
    since: Time,
    bytes: Vec<u8>,
}

/// Work beside the engine (the XDP fast path's sync): now and then under the engine's
/// lock, and a look at every received frame before the engine sees it.
pub trait EngineHook: Send {
    /// Called at least every period the hook was installed with.
    fn periodic(&mut self, engine: &mut Engine, now: Time);
    /// A frame as received, before [`Engine::process`].
    fn frame_seen(&mut self, _frame: &[u8]) {}
}

/// A boxed [`EngineHook`].
pub type Hook = Box<dyn EngineHook>;

/// The single worker: every port, one engine.
pub struct Worker<P: XskPort> {
    ports: Vec<(IfaceId, P)>,
    /// The port each interface transmits copied frames on (its first socket).
    tx_port: BTreeMap<IfaceId, usize>,
    engine: Arc<Mutex<Engine>>,
    neigh: Arc<dyn Resolver>,
    cfg: WorkerConfig,
    counters: Arc<WorkerCounters>,
    held: HashMap<(IfaceId, IpAddr), VecDeque<Held>>,
    last_advance: Time,
    bufs: Vec<P::Buf>,
    verdicts: Vec<Verdict>,
    /// `(period ms, hook, last run)`.
    hook: Option<(u64, Hook, Time)>,
}

/// Lock the engine even if a panic poisoned the mutex (the engine keeps no invariant a
/// half-processed frame could break for the next one).
pub fn lock(engine: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(|p| p.into_inner())
}

impl<P: XskPort> Worker<P> {
    /// A worker over `ports` (each with the engine interface it belongs to).
    pub fn new(
        ports: Vec<(IfaceId, P)>,
        engine: Arc<Mutex<Engine>>,
        neigh: Arc<dyn Resolver>,
        cfg: WorkerConfig,
        counters: Arc<WorkerCounters>,
    ) -> Self {
        let mut tx_port = BTreeMap::new();
        for (i, (iface, _)) in ports.iter().enumerate() {
            tx_port.entry(*iface).or_insert(i);
        }
        Worker {
            ports,
            tx_port,
            engine,
            neigh,
            cfg: WorkerConfig {
                batch: cfg.batch.max(1),
                ..cfg
            },
            counters,
            held: HashMap::new(),
            last_advance: Time::ZERO,
            bufs: Vec::new(),
            verdicts: Vec::new(),
            hook: None,
        }
    }

    /// Run `hook` on the engine at least every `period_ms` (from [`Worker::step`]; the idle
    /// loop wakes at least every [`TICK_MS`]).
    pub fn with_hook(mut self, period_ms: u64, hook: Hook) -> Self {
        self.hook = Some((period_ms.max(1), hook, Time::ZERO));
        self
    }

    /// The ports (tests look at what was sent).
    pub fn ports(&self) -> &[(IfaceId, P)] {
        &self.ports
    }

    /// Mutable ports (tests inject frames).
    pub fn ports_mut(&mut self) -> &mut [(IfaceId, P)] {
        &mut self.ports
    }

    /// Frames currently held for unresolved next hops.
    pub fn held_frames(&self) -> usize {
        self.held.values().map(VecDeque::len).sum()
    }

    /// One round at `now`: receive and process a batch from every port, transmit, retry
    /// or expire held frames, advance the engine if it has been idle for a tick. Returns
    /// the number of frames received.
    pub fn step(&mut self, now: Time) -> usize {
        bump(&self.counters.rounds, 1);
        let mut received = 0;
        for pi in 0..self.ports.len() {
            received += self.rx_port(pi, now);
        }
        self.service_held(now);
        for pi in 0..self.ports.len() {
            self.flush_port(pi);
        }
        if let Some((period, hook, last)) = &mut self.hook
            && now.millis_since(*last) >= *period
        {
            hook.periodic(&mut lock(&self.engine), now);
            *last = now;
        }
        if received > 0 {
            self.last_advance = now;
        } else if now.millis_since(self.last_advance) >= TICK_MS {
            lock(&self.engine).advance(now);
            bump(&self.counters.idle_ticks, 1);
            self.last_advance = now;
        }
        received
    }

    /// How long the loop may sleep in `poll()` at `now` (ms).
    pub fn poll_timeout(&self, now: Time) -> u64 {
        let tick = TICK_MS.saturating_sub(now.millis_since(self.last_advance));
        if self.held.is_empty() {
            tick.max(1)
        } else {
            tick.clamp(1, HOLD_RECHECK_MS)
        }
    }

    fn rx_port(&mut self, pi: usize, now: Time) -> usize {
        let mut bufs = std::mem::take(&mut self.bufs);
        let mut verdicts = std::mem::take(&mut self.verdicts);
        bufs.clear();
        verdicts.clear();
        let iface = self.ports[pi].0;
        let n = self.ports[pi].1.recv(&mut bufs, self.cfg.batch);
        if n == 0 {
            self.bufs = bufs;
            self.verdicts = verdicts;
            return 0;
        }
        bump(&self.counters.rx, bufs.len() as u64);
        {
            let mut engine = lock(&self.engine);
            let neigh: &dyn Neighbours = &*self.neigh;
            for buf in bufs.iter_mut() {
                let (b, start, len) = buf.buffer();
                if let Some((_, hook, _)) = &mut self.hook
                    && let Some(f) = b.get(start..start + len)
                {
                    hook.frame_seen(f);
                }
                let v = match Frame::new(b, start, len) {
                    Ok(mut f) => {
                        let v = engine.process(&mut f, iface, now, neigh);
                        let (s, l) = (f.start(), f.len());
                        buf.set_frame(s, l);
                        Some(v)
                    }
                    Err(_) => None,
                };
                verdicts.push(v.unwrap_or(Verdict::Pass(rvs_core::engine::PassReason::NotIp)));
                if v.is_none() {
                    bump(&self.counters.bad_buffer, 1);
                }
            }
        }
        for (buf, v) in bufs.drain(..).zip(verdicts.drain(..)) {
            self.dispatch(pi, buf, v, now);
        }
        self.bufs = bufs;
        self.verdicts = verdicts;
        n
    }

    fn dispatch(&mut self, pi: usize, mut buf: P::Buf, v: Verdict, now: Time) {
        // A plain borrow: no reference-count traffic per frame.
        let c = &*self.counters;
        match v {
            Verdict::Transmit { egress, .. } => {
                if egress == self.ports[pi].0 {
                    match self.ports[pi].1.send(buf) {
                        Ok(()) => bump(&c.tx, 1),
                        Err(b) => {
                            bump(&c.tx_failed, 1);
                            self.ports[pi].1.release(b);
                        }
                    }
                } else {
                    match self.tx_port.get(&egress).copied() {
                        Some(ti) => {
                            if self.ports[ti].1.send_copy(buf.bytes()) {
                                bump(&c.tx, 1);
                                bump(&c.tx_copied, 1);
                            } else {
                                bump(&c.tx_failed, 1);
                            }
                        }
                        None => bump(&c.no_port, 1),
                    }
                    self.ports[pi].1.release(buf);
                }
            }
            Verdict::Unresolved {
                egress, next_hop, ..
            } => {
                let bytes = buf.bytes().to_vec();
                self.ports[pi].1.release(buf);
                self.hold(egress, next_hop, bytes, now);
                self.neigh.resolve(egress, next_hop);
            }
            Verdict::Pass(_) => {
                bump(&c.passed_in_userspace, 1);
                self.ports[pi].1.release(buf);
            }
            Verdict::Drop(_) => {
                bump(&c.dropped, 1);
                self.ports[pi].1.release(buf);
            }
        }
    }

    fn hold(&mut self, egress: IfaceId, next_hop: IpAddr, bytes: Vec<u8>, now: Time) {
        let key = (egress, next_hop);
        if !self.held.contains_key(&key) && self.held.len() >= MAX_HELD_HOPS {
            bump(&self.counters.held_dropped, 1);
            return;
        }
        let q = self.held.entry(key).or_default();
        if q.len() >= HOLD_PER_HOP {
            q.pop_front();
            bump(&self.counters.held_dropped, 1);
        }
        q.push_back(Held { since: now, bytes });
        bump(&self.counters.held, 1);
    }

    /// Send held frames whose next hop is now known; drop those that waited too long.
    fn service_held(&mut self, now: Time) {
        if self.held.is_empty() {
            return;
        }
        let hold = self.cfg.hold_ms;
        let keys: Vec<(IfaceId, IpAddr)> = self.held.keys().copied().collect();
        for key in keys {
            let Some(mut q) = self.held.remove(&key) else {
                continue;
            };
            if let Some(mac) = self.neigh.mac(key.0, &key.1) {
                let ti = self.tx_port.get(&key.0).copied();
                for mut h in q.drain(..) {
                    let Some(ti) = ti else {
                        bump(&self.counters.no_port, 1);
                        continue;
                    };
                    if h.bytes.len() >= 6 {
                        h.bytes[..6].copy_from_slice(&mac);
                    }
                    if self.ports[ti].1.send_copy(&h.bytes) {
                        bump(&self.counters.tx, 1);
                        bump(&self.counters.held_sent, 1);
                    } else {
                        bump(&self.counters.tx_failed, 1);
                    }
                }
                continue;
            }
            let before = q.len();
            q.retain(|h| now.millis_since(h.since) < hold);
            bump(&self.counters.held_dropped, (before - q.len()) as u64);
            if !q.is_empty() {
                self.held.insert(key, q);
            }
        }
    }

    fn flush_port(&mut self, pi: usize) {
        let port = &mut self.ports[pi].1;
        match port.flush() {
            Ok((_, dropped)) => {
                if dropped > 0 {
                    // They were counted as queued; move them to failed.
                    self.counters
                        .tx
                        .fetch_sub(dropped as u64, Ordering::Relaxed);
                    bump(&self.counters.tx_failed, dropped as u64);
                }
            }
            Err(e) => tracing::warn!("AF_XDP transmit: {e}"),
        }
        if let Err(e) = port.complete() {
            tracing::warn!("AF_XDP completion: {e}");
        }
    }

    /// Every port's descriptor (for `poll()`).
    pub fn fds(&self) -> Vec<RawFd> {
        self.ports.iter().filter_map(|(_, p)| p.fd()).collect()
    }

    /// Run until `stop` is set: rounds while frames arrive, `poll()` with a timeout (at
    /// most [`TICK_MS`]) when a round found none. `clock` gives the time.
    pub fn run(mut self, stop: &AtomicBool, clock: &dyn Fn() -> Time) {
        let fds = self.fds();
        while !stop.load(Ordering::Relaxed) {
            let now = clock();
            if self.step(now) == 0 {
                let timeout = self.poll_timeout(clock());
                poll_in(&fds, timeout);
            }
        }
    }
}

/// Wait until one of `fds` is readable or `timeout_ms` passed. Errors (EINTR) just end
/// the wait early; with no descriptors, sleep.
pub fn poll_in(fds: &[RawFd], timeout_ms: u64) {
    let timeout = timeout_ms.min(i32::MAX as u64) as i32;
    if fds.is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(timeout as u64));
        return;
    }
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs for the call.
    let _ = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout) };
}

#[cfg(test)]
mod tests;
