//! Interfaces, addresses and routes, followed live.
//!
//! [`RouteWatch::start`] subscribes to `RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR`,
//! `RTNLGRP_IPV6_IFADDR`, `RTNLGRP_IPV4_ROUTE` and `RTNLGRP_IPV6_ROUTE`; a background
//! thread waits for events and, [`DEBOUNCE`] after the first one of a burst (the events
//! of the burst are coalesced), rebuilds the whole table with [`build_routes`]. When the
//! result differs from the last one delivered (interfaces, addresses, MTU, MAC, routes or
//! ifindexes), it goes to the caller's callback; what changed is logged at debug level.
//!
//! Rebuilding instead of applying each event keeps exactly one definition of the table
//! (that of [`build_routes`]: best metric, connected subnets left out, ...). A director
//! has tens of routes; a rebuild is two small dumps per interface plus one per family.
//!
//! Lost events (`ENOBUFS`: the socket's receive buffer overflowed) cause a rebuild right
//! away. A failed rebuild (an interface gone, a dump refused) is logged at warn level,
//! the previous table stays, and the rebuild is tried again [`RETRY`] later (or at the
//! next event).

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};
use rvs_core::engine::{IfaceId, Interface, Routes};

use crate::NetlinkError;
use crate::link::build_routes;
use crate::neigh::{parse_all, set_sockopt};

/// Events are coalesced for this long after the first one before the table is rebuilt.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// A failed rebuild is tried again after this long.
pub const RETRY: Duration = Duration::from_secs(1);

/// How long the background thread waits before looking at the stop flag again.
const POLL: Duration = Duration::from_millis(100);

/// Receive buffer of the event socket (beyond it events are lost, and a rebuild done).
const RCVBUF: usize = 1 << 20;

/// Datagrams read in one go before the thread looks at its clock and stop flag again.
const DRAIN_MAX: usize = 256;

/// What [`RouteWatch`] calls with each changed table: the [`Routes`] and the ifindex of
/// each [`IfaceId`], as [`build_routes`] returns them. Runs on the watch's thread.
pub type OnChange = Box<dyn Fn(Routes, Vec<(IfaceId, u32)>) + Send>;

/// The multicast groups followed.
const GROUPS: [u32; 5] = [
    libc::RTNLGRP_LINK,
    libc::RTNLGRP_IPV4_IFADDR,
    libc::RTNLGRP_IPV6_IFADDR,
    libc::RTNLGRP_IPV4_ROUTE,
    libc::RTNLGRP_IPV6_ROUTE,
];

/// A background thread rebuilding [`Routes`] whenever the kernel's interfaces, addresses
/// or routes change (see the module documentation).
pub struct RouteWatch {
    names: Vec<String>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RouteWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteWatch")
            .field("interfaces", &self.names)
            .field("stopped", &self.stop.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RouteWatch {
    /// Follow the interfaces `names` (as [`build_routes`] reads them) and the main table.
    ///
    /// `installed` and `ids` are what the caller already uses (normally its own
    /// [`build_routes`] result): `on_change` is called only with tables that differ from
    /// the last one it got, starting from that one. Right after subscribing, the thread
    /// rebuilds once, so a change between the caller's build and the subscription is not
    /// missed. Acts in the calling thread's network namespace (the thread inherits it).
    pub fn start(
        names: &[String],
        installed: &Routes,
        ids: &[(IfaceId, u32)],
        on_change: OnChange,
    ) -> Result<Arc<RouteWatch>, NetlinkError> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, 0))?;
        for g in GROUPS {
            sock.add_membership(g)?;
        }
        set_sockopt(&sock, libc::SO_RCVBUF, RCVBUF as libc::c_int)?;
        sock.set_non_blocking(true)?;

        let stop = Arc::new(AtomicBool::new(false));
        let follower = Follower {
            names: names.to_vec(),
            sock,
            current: Snapshot::of(installed, ids),
            on_change,
        };
        let s2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("rvs-routes".into())
            .spawn(move || follower.run(&s2))?;
        tracing::debug!(interfaces = ?names, "route watch started");
        Ok(Arc::new(RouteWatch {
            names: names.to_vec(),
            stop,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// Stop the background thread; once this returns, `on_change` is not called again.
    /// Idempotent. Must not be called from `on_change` itself.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::error!("route watch thread panicked");
        }
    }
}

impl Drop for RouteWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What of a table the engine sees, for comparing two builds.
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    ifaces: Vec<Interface>,
    routes: Vec<(IpAddr, u8, IfaceId, Option<IpAddr>)>,
    ids: Vec<(IfaceId, u32)>,
}

impl Snapshot {
    fn of(routes: &Routes, ids: &[(IfaceId, u32)]) -> Snapshot {
        Snapshot {
            ifaces: routes.interfaces().map(|(_, i)| i.clone()).collect(),
            routes: routes.routes().collect(),
            ids: ids.to_vec(),
        }
    }
}

/// The differences between two snapshots, one line each (empty: same table).
fn changes(old: &Snapshot, new: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let n = old.ifaces.len().max(new.ifaces.len());
    for i in 0..n {
        match (old.ifaces.get(i), new.ifaces.get(i)) {
            (Some(a), Some(b)) => {
                if a.mac != b.mac {
                    out.push(format!("{}: mac {:02x?} -> {:02x?}", b.name, a.mac, b.mac));
                }
                if a.mtu != b.mtu {
                    out.push(format!("{}: mtu {} -> {}", b.name, a.mtu, b.mtu));
                }
                if a.v4 != b.v4 || a.v6 != b.v6 {
                    out.push(format!(
                        "{}: addresses {:?} {:?} -> {:?} {:?}",
                        b.name, a.v4, a.v6, b.v4, b.v6
                    ));
                }
                if a.name != b.name {
                    out.push(format!("interface {i}: name {} -> {}", a.name, b.name));
                }
            }
            (Some(a), None) => out.push(format!("interface {} gone", a.name)),
            (None, Some(b)) => out.push(format!("interface {} new", b.name)),
            (None, None) => {}
        }
    }
    if old.ids != new.ids {
        out.push(format!("ifindexes {:?} -> {:?}", old.ids, new.ids));
    }
    for r in &old.routes {
        if !new.routes.contains(r) {
            out.push(format!("route removed: {}", show_route(r)));
        }
    }
    for r in &new.routes {
        if !old.routes.contains(r) {
            out.push(format!("route added: {}", show_route(r)));
        }
    }
    if out.is_empty() && old != new {
        // Same routes in another order (cannot happen with a sorted table; be safe).
        out.push("route order changed".into());
    }
    out
}

fn show_route(r: &(IpAddr, u8, IfaceId, Option<IpAddr>)) -> String {
    match r.3 {
        Some(gw) => format!("{}/{} via {gw} iface {}", r.0, r.1, r.2.0),
        None => format!("{}/{} iface {}", r.0, r.1, r.2.0),
    }
}

/// The background thread's state.
struct Follower {
    names: Vec<String>,
    sock: Socket,
    current: Snapshot,
    on_change: OnChange,
}

impl Follower {
    fn run(mut self, stop: &AtomicBool) {
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        // Check once right away (see `RouteWatch::start`).
        let mut due = Some(Instant::now());
        let mut events = 0usize;
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if let Some(t) = due
                && now >= t
            {
                due = if self.rebuild(events) {
                    None
                } else {
                    Some(Instant::now() + RETRY)
                };
                events = 0;
                continue;
            }
            let wait = due.map_or(POLL, |t| t.saturating_duration_since(now).min(POLL));
            match wait_readable(&self.sock, wait) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "route watch: poll failed");
                    std::thread::sleep(POLL);
                    continue;
                }
            }
            for _ in 0..DRAIN_MAX {
                buf.clear();
                match self.sock.recv(&mut buf, libc::MSG_DONTWAIT) {
                    Ok(_) => {
                        let msgs = parse_all(&buf);
                        tracing::trace!(?msgs, "route watch: events");
                        events += msgs.len();
                        // The first event of a burst starts the debounce window.
                        due.get_or_insert_with(|| Instant::now() + DEBOUNCE);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        tracing::warn!("route watch: events lost (ENOBUFS); rebuilding");
                        due = Some(Instant::now());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "route watch: event socket failed; routes frozen");
                        return;
                    }
                }
            }
        }
    }

    /// Rebuild; hand a changed table to the callback. False if the rebuild failed.
    fn rebuild(&mut self, events: usize) -> bool {
        let (routes, ids) = match build_routes(&self.names) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "route watch: rebuild failed; previous routes kept");
                return false;
            }
        };
        let snap = Snapshot::of(&routes, &ids);
        let diff = changes(&self.current, &snap);
        if diff.is_empty() {
            tracing::trace!(events, "route watch: no change");
            return true;
        }
        for c in &diff {
            tracing::debug!(change = %c, "route watch: changed");
        }
        self.current = snap;
        (self.on_change)(routes, ids);
        true
    }
}

/// Wait up to `timeout` for the socket to become readable.
fn wait_readable(sock: &Socket, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    match rc {
        0 => Ok(false),
        n if n > 0 => Ok(true),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, mtu: u32, v4: &[(&str, u8)]) -> Interface {
        Interface {
            name: name.into(),
            mac: [2, 0, 0, 0, 0, 1],
            mtu,
            v4: v4.iter().map(|(a, l)| (a.parse().unwrap(), *l)).collect(),
            v6: Vec::new(),
        }
    }

    fn table(mtu: u32, v4: &[(&str, u8)], routes: &[(&str, u8, &str)]) -> Routes {
        let mut r = Routes::default();
        let id = r.add_interface(iface("eth0", mtu, v4));
        for (p, l, gw) in routes {
            r.add_route(p.parse().unwrap(), *l, id, Some(gw.parse().unwrap()))
                .unwrap();
        }
        r
    }

    #[test]
    fn changes_names_what_changed() {
        let ids = [(IfaceId(0), 4)];
        let base = Snapshot::of(&table(1500, &[("198.18.0.1", 24)], &[]), &ids);
        assert!(changes(&base, &base.clone()).is_empty());

        let mtu = Snapshot::of(&table(1400, &[("198.18.0.1", 24)], &[]), &ids);
        assert_eq!(changes(&base, &mtu), vec!["eth0: mtu 1500 -> 1400"]);

        let addr = Snapshot::of(
            &table(1500, &[("198.18.0.1", 24), ("198.18.2.1", 24)], &[]),
            &ids,
        );
        let d = changes(&base, &addr);
        assert_eq!(d.len(), 1);
        assert!(d[0].starts_with("eth0: addresses") && d[0].contains("198.18.2.1"));

        let route = Snapshot::of(
            &table(
                1500,
                &[("198.18.0.1", 24)],
                &[("198.18.9.0", 24, "198.18.0.2")],
            ),
            &ids,
        );
        assert_eq!(
            changes(&base, &route),
            vec!["route added: 198.18.9.0/24 via 198.18.0.2 iface 0"]
        );
        assert_eq!(
            changes(&route, &base),
            vec!["route removed: 198.18.9.0/24 via 198.18.0.2 iface 0"]
        );

        let reindexed = Snapshot::of(&table(1500, &[("198.18.0.1", 24)], &[]), &[(IfaceId(0), 9)]);
        assert_eq!(changes(&base, &reindexed).len(), 1);

        let mut two = table(1500, &[("198.18.0.1", 24)], &[]);
        two.add_interface(iface("eth1", 1500, &[]));
        let two = Snapshot::of(&two, &[(IfaceId(0), 4), (IfaceId(1), 5)]);
        let d = changes(&base, &two);
        assert!(d.contains(&"interface eth1 new".to_string()), "{d:?}");
        assert!(changes(&two, &base).contains(&"interface eth1 gone".to_string()));
    }
}
