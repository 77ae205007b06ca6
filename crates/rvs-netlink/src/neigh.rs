//! The kernel's neighbour (ARP / ND) table, followed live.
//!
//! [`NeighCache::start`] subscribes to the `RTNLGRP_NEIGH` multicast group, then dumps
//! the table, then follows `RTM_NEWNEIGH` / `RTM_DELNEIGH` in a background thread (events
//! that arrive during the dump are applied after it, so nothing is missed). Lookups take a
//! read lock on one hash map; the generation counter is bumped *after* each change, so a
//! caller that reads the generation before the MAC (as the engine does) never caches a
//! stale MAC under a new generation.
//!
//! [`NeighCache::resolve`] sends `RTM_NEWNEIGH` with `NLM_F_CREATE` and the `NTF_USE`
//! flag: the kernel's `neigh_add` creates the entry if needed and calls
//! `neigh_event_send`, which starts ARP / neighbour solicitation exactly as if a packet
//! had been queued to the address. The request carries no `NLM_F_ACK` and the socket is
//! non-blocking, so the caller never waits for the kernel's answer; the answer (an error,
//! if any) is read and logged by the next `resolve` call. The MAC then arrives through the
//! multicast group.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use netlink_packet_core::{
    NLM_F_CREATE, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, route::RouteType};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};
use rvs_core::engine::{IfaceId, Mac, Neighbours};

use crate::NetlinkError;

/// [`NeighCache::resolve`] asks the kernel about one address at most once per interval.
pub const RESOLVE_INTERVAL: Duration = Duration::from_millis(100);

/// How long the background thread blocks in `recv` before looking at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Receive buffer of the event socket (events are lost, and a re-dump done, beyond it).
const RCVBUF: usize = 1 << 20;

/// Rate-limit entries kept before old ones are pruned.
const MAX_PENDING: usize = 4096;

/// NUD states whose link-layer address is usable.
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

type Key = (IfaceId, IpAddr);

/// State shared with the background thread.
struct Shared {
    map: RwLock<HashMap<Key, Mac>>,
    gen_: AtomicU64,
    stop: AtomicBool,
    by_index: HashMap<u32, IfaceId>,
}

/// The socket `resolve` sends on, and when each address was last asked about.
struct Resolver {
    sock: Socket,
    last: HashMap<Key, Instant>,
    seq: u32,
}

/// The kernel's neighbours on a set of interfaces, as [`Neighbours`] for the engine.
pub struct NeighCache {
    shared: Arc<Shared>,
    ifindex: HashMap<IfaceId, u32>,
    resolver: Mutex<Resolver>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for NeighCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeighCache")
            .field("ifaces", &self.ifindex)
            .field("generation", &self.shared.gen_.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl NeighCache {
    /// Dump the kernel's neighbours on these interfaces (IfaceId, ifindex), then follow
    /// RTM_NEWNEIGH/DELNEIGH in a background thread. generation() changes whenever an
    /// entry changes. Acts in the calling thread's network namespace.
    pub fn start(ifaces: &[(IfaceId, u32)]) -> Result<Arc<NeighCache>, NetlinkError> {
        let by_index: HashMap<u32, IfaceId> = ifaces.iter().map(|&(id, ix)| (ix, id)).collect();
        let ifindex: HashMap<IfaceId, u32> = ifaces.iter().copied().collect();

        // Subscribe first, so events during the dump wait in the socket.
        let mut events = Socket::new(NETLINK_ROUTE)?;
        events.bind(&SocketAddr::new(0, 0))?;
        events.add_membership(libc::RTNLGRP_NEIGH)?;
        set_sockopt(&events, libc::SO_RCVBUF, RCVBUF as libc::c_int)?;
        set_rcvtimeo(&events, POLL)?;

        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, 0))?;
        sock.set_non_blocking(true)?;

        let shared = Arc::new(Shared {
            map: RwLock::new(HashMap::new()),
            gen_: AtomicU64::new(1),
            stop: AtomicBool::new(false),
            by_index,
        });
        shared.replace_all(dump()?);

        let s2 = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("rvs-neigh".into())
            .spawn(move || follow(&s2, &events))?;
        tracing::debug!(ifaces = ?ifaces, entries = shared.len(), "neighbour cache started");
        Ok(Arc::new(NeighCache {
            shared,
            ifindex,
            resolver: Mutex::new(Resolver {
                sock,
                last: HashMap::new(),
                seq: 0,
            }),
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// Ask the kernel to resolve `addr` on `iface` (RTM_NEWNEIGH with NTF_USE), without
    /// blocking; at most once per address per [`RESOLVE_INTERVAL`]. Unknown interfaces
    /// are ignored.
    pub fn resolve(&self, iface: IfaceId, addr: IpAddr) {
        let Some(&ifindex) = self.ifindex.get(&iface) else {
            return;
        };
        let Ok(mut r) = self.resolver.lock() else {
            return;
        };
        if !admit(&mut r.last, (iface, addr), Instant::now()) {
            return;
        }
        r.seq = r.seq.wrapping_add(1);
        let buf = use_request(ifindex, addr, r.seq);
        // Earlier answers first, so the socket never fills up.
        drain_answers(&r.sock);
        match r.sock.send(&buf, libc::MSG_DONTWAIT) {
            Ok(_) => tracing::trace!(%addr, ifindex, "neighbour resolution requested"),
            Err(e) => tracing::debug!(%addr, ifindex, error = %e, "neighbour request not sent"),
        }
    }

    /// Stop the background thread (the table stays as it was). Idempotent.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("neighbour thread panicked");
        }
    }
}

impl Drop for NeighCache {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Neighbours for NeighCache {
    fn mac(&self, iface: IfaceId, addr: &IpAddr) -> Option<Mac> {
        self.shared.map.read().ok()?.get(&(iface, *addr)).copied()
    }

    fn generation(&self) -> Option<u64> {
        Some(self.shared.gen_.load(Ordering::Acquire))
    }
}

impl Shared {
    fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Set or remove one entry; bumps the generation if that changed anything.
    fn set(&self, key: Key, mac: Option<Mac>) {
        let changed = match self.map.write() {
            Ok(mut m) => match mac {
                Some(mac) => m.insert(key, mac) != Some(mac),
                None => m.remove(&key).is_some(),
            },
            Err(_) => false,
        };
        if changed {
            tracing::debug!(iface = key.0.0, addr = %key.1, ?mac, "neighbour changed");
            self.gen_.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Replace the whole table with the usable entries of a dump.
    fn replace_all(&self, msgs: Vec<NeighbourMessage>) {
        let mut fresh = HashMap::new();
        for m in &msgs {
            if let Some((key, Some(mac))) = self.parse(m) {
                fresh.insert(key, mac);
            }
        }
        if let Ok(mut m) = self.map.write() {
            *m = fresh;
        }
        self.gen_.fetch_add(1, Ordering::AcqRel);
    }

    /// The key of a message about one of our interfaces, and its usable MAC (None =
    /// not usable: incomplete, failed, no lladdr).
    fn parse(&self, m: &NeighbourMessage) -> Option<(Key, Option<Mac>)> {
        if m.header.flags.contains(NeighbourFlags::Proxy) {
            return None;
        }
        let iface = *self.by_index.get(&m.header.ifindex)?;
        let mut addr = None;
        let mut lladdr = None;
        for a in &m.attributes {
            match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                    addr = Some(IpAddr::V4(*v4))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                    addr = Some(IpAddr::V6(*v6))
                }
                NeighbourAttribute::LinkLayerAddress(l) => {
                    lladdr = <[u8; 6]>::try_from(l.as_slice()).ok()
                }
                _ => {}
            }
        }
        let usable = u16::from(m.header.state) & NUD_USABLE != 0;
        Some(((iface, addr?), lladdr.filter(|_| usable)))
    }

    fn apply(&self, msg: RouteNetlinkMessage) {
        match msg {
            RouteNetlinkMessage::NewNeighbour(m) => {
                if let Some((key, mac)) = self.parse(&m) {
                    self.set(key, mac);
                }
            }
            RouteNetlinkMessage::DelNeighbour(m) => {
                if let Some((key, _)) = self.parse(&m) {
                    self.set(key, None);
                }
            }
            _ => {}
        }
    }
}

/// The rate limit: whether `key` may be asked about at `now` (then it is recorded).
fn admit(last: &mut HashMap<Key, Instant>, key: Key, now: Instant) -> bool {
    if last
        .get(&key)
        .is_some_and(|t| now.saturating_duration_since(*t) < RESOLVE_INTERVAL)
    {
        return false;
    }
    if last.len() >= MAX_PENDING {
        last.retain(|_, t| now.saturating_duration_since(*t) < RESOLVE_INTERVAL);
    }
    last.insert(key, now);
    true
}

/// The background loop: apply events until stopped.
fn follow(shared: &Shared, sock: &Socket) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    while !shared.stop.load(Ordering::Acquire) {
        buf.clear();
        match sock.recv(&mut buf, 0) {
            Ok(_) => {
                for msg in parse_all(&buf) {
                    shared.apply(msg);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                tracing::warn!("neighbour events lost (ENOBUFS); dumping the table again");
                match dump() {
                    Ok(msgs) => shared.replace_all(msgs),
                    Err(e) => tracing::error!(error = %e, "neighbour re-dump failed"),
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "neighbour event socket failed; cache frozen");
                return;
            }
        }
    }
}

/// Every route-netlink message in one datagram.
pub(crate) fn parse_all(buf: &[u8]) -> Vec<RouteNetlinkMessage> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let Ok(nb) = NetlinkBuffer::new_checked(&buf[off..]) else {
            break;
        };
        let len = nb.length() as usize;
        if len == 0 || off + len > buf.len() {
            break;
        }
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..off + len]) {
            Ok(m) => match m.payload {
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    tracing::debug!(error = %e, "netlink error answer")
                }
                _ => {}
            },
            Err(e) => tracing::debug!(error = %e, "undecodable netlink message skipped"),
        }
        off += (len + 3) & !3;
    }
    out
}

/// Read (and log) whatever the kernel answered to earlier requests.
fn drain_answers(sock: &Socket) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    for _ in 0..64 {
        buf.clear();
        match sock.recv(&mut buf, libc::MSG_DONTWAIT) {
            Ok(_) => {
                parse_all(&buf);
            }
            Err(_) => return,
        }
    }
}

/// An `RTM_NEWNEIGH` request with `NTF_USE` (see the module documentation).
fn use_request(ifindex: u32, addr: IpAddr, seq: u32) -> Vec<u8> {
    let mut m = NeighbourMessage::default();
    m.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.ifindex = ifindex;
    m.header.state = NeighbourState::None;
    m.header.flags = NeighbourFlags::Use;
    m.header.kind = RouteType::Unspec;
    m.attributes
        .push(NeighbourAttribute::Destination(match addr {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    let mut nl = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(m));
    nl.header.flags = NLM_F_REQUEST | NLM_F_CREATE;
    nl.header.sequence_number = seq;
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    buf
}

/// The kernel's IPv4 and IPv6 neighbours (all interfaces).
fn dump() -> Result<Vec<NeighbourMessage>, NetlinkError> {
    crate::rt::run(|h| async move {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut part: Vec<NeighbourMessage> = h
                .neighbours()
                .get()
                .set_address_family(family)
                .execute()
                .try_collect()
                .await
                .map_err(|e| NetlinkError::request("dump neighbours", e))?;
            out.append(&mut part);
        }
        Ok(out)
    })
}

pub(crate) fn set_sockopt(sock: &Socket, opt: libc::c_int, val: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid socket fd and a pointer to a c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&raw const val).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_rcvtimeo(sock: &Socket, d: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: a valid socket fd and a pointer to a timeval of the size given.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_per_address() {
        let mut last = HashMap::new();
        let t0 = Instant::now();
        let a = (IfaceId(0), "198.18.0.2".parse().unwrap());
        let b = (IfaceId(1), "198.18.0.2".parse().unwrap());
        assert!(admit(&mut last, a, t0));
        assert!(!admit(&mut last, a, t0 + Duration::from_millis(99)));
        assert!(admit(&mut last, b, t0 + Duration::from_millis(1)));
        assert!(admit(&mut last, a, t0 + Duration::from_millis(100)));
        assert!(!admit(&mut last, a, t0 + Duration::from_millis(150)));
        // The table stays bounded.
        for i in 0..(MAX_PENDING as u32 + 10) {
            let k = (
                IfaceId(0),
                std::net::IpAddr::from([198, 18, (i >> 8) as u8, i as u8]),
            );
            admit(
                &mut last,
                k,
                t0 + Duration::from_secs(1) + Duration::from_millis(u64::from(i / 4000) * 200),
            );
        }
        assert!(last.len() <= MAX_PENDING + 1, "{}", last.len());
    }

    #[test]
    fn use_request_round_trips() {
        let buf = use_request(7, "198.18.0.2".parse().unwrap(), 42);
        let msgs = parse_all(&buf);
        assert_eq!(msgs.len(), 1);
        let RouteNetlinkMessage::NewNeighbour(m) = &msgs[0] else {
            panic!("{msgs:?}")
        };
        assert_eq!(m.header.ifindex, 7);
        assert!(m.header.flags.contains(NeighbourFlags::Use));
        assert_eq!(m.header.family, AddressFamily::Inet);
        let nl = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf).unwrap();
        assert_eq!(nl.header.flags, NLM_F_REQUEST | NLM_F_CREATE);
        assert_eq!(nl.header.sequence_number, 42);
    }

    #[test]
    fn parse_keeps_only_usable_states() {
        let shared = Shared {
            map: RwLock::new(HashMap::new()),
            gen_: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            by_index: [(5, IfaceId(1))].into_iter().collect(),
        };
        let msg = |ifindex, state, ll: Option<Vec<u8>>| {
            let mut m = NeighbourMessage::default();
            m.header.family = AddressFamily::Inet;
            m.header.ifindex = ifindex;
            m.header.state = state;
            m.attributes
                .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                    "198.18.0.9".parse().unwrap(),
                )));
            if let Some(l) = ll {
                m.attributes.push(NeighbourAttribute::LinkLayerAddress(l));
            }
            m
        };
        let key = (IfaceId(1), "198.18.0.9".parse().unwrap());
        let mac = vec![2, 0, 0, 0, 0, 9];
        for (state, want) in [
            (NeighbourState::Reachable, true),
            (NeighbourState::Stale, true),
            (NeighbourState::Delay, true),
            (NeighbourState::Probe, true),
            (NeighbourState::Permanent, true),
            (NeighbourState::Noarp, true),
            (NeighbourState::Incomplete, false),
            (NeighbourState::Failed, false),
            (NeighbourState::None, false),
        ] {
            let got = shared.parse(&msg(5, state, Some(mac.clone())));
            assert_eq!(
                got,
                Some((key, want.then_some([2, 0, 0, 0, 0, 9]))),
                "{state:?}"
            );
        }
        // No lladdr: not usable; other interface: ignored.
        assert_eq!(
            shared.parse(&msg(5, NeighbourState::Reachable, None)),
            Some((key, None))
        );
        assert_eq!(
            shared.parse(&msg(6, NeighbourState::Reachable, Some(mac.clone()))),
            None
        );

        // The generation moves only on real changes.
        let g0 = shared.gen_.load(Ordering::Relaxed);
        shared.apply(RouteNetlinkMessage::NewNeighbour(msg(
            5,
            NeighbourState::Reachable,
            Some(mac.clone()),
        )));
        let g1 = shared.gen_.load(Ordering::Relaxed);
        assert!(g1 > g0);
        shared.apply(RouteNetlinkMessage::NewNeighbour(msg(
            5,
            NeighbourState::Stale,
            Some(mac.clone()),
        )));
        assert_eq!(shared.gen_.load(Ordering::Relaxed), g1);
        shared.apply(RouteNetlinkMessage::NewNeighbour(msg(
            5,
            NeighbourState::Failed,
            Some(mac.clone()),
        )));
        let g2 = shared.gen_.load(Ordering::Relaxed);
        assert!(g2 > g1);
        assert_eq!(shared.len(), 0);
        shared.apply(RouteNetlinkMessage::DelNeighbour(msg(
            5,
            NeighbourState::None,
            None,
        )));
        assert_eq!(shared.gen_.load(Ordering::Relaxed), g2);
    }
}
