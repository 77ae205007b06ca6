//! RouteWatch against a real namespace (root only).

mod common;

use std::net::IpAddr;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::{pair_with_prefix, privileged, sh};
use rvs_core::engine::{Hop, IfaceId, Routes};
use rvs_netlink::{RouteWatch, build_routes};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

type Update = (Routes, Vec<(IfaceId, u32)>);

/// Receive updates for up to `limit` until one satisfies `f`; that one and how long it
/// took.
fn wait_update(
    rx: &Receiver<Update>,
    limit: Duration,
    f: impl Fn(&Routes) -> bool,
) -> Option<(Routes, Duration)> {
    let t0 = Instant::now();
    while let Some(left) = limit.checked_sub(t0.elapsed()) {
        match rx.recv_timeout(left) {
            Ok((r, _)) if f(&r) => return Some((r, t0.elapsed())),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn handle_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<RouteWatch>();
}

#[test]
fn follows_routes_addresses_and_mtu() {
    if !privileged("follows_routes_addresses_and_mtu") {
        return;
    }
    let (a, _b) = pair_with_prefix("rvsw");
    a.run(|| {
        let names = vec!["eth0".to_string()];
        let (routes, ids) = build_routes(&names).unwrap();
        assert_eq!(routes.lookup(&ip("198.18.9.5")), None);
        let (tx, rx) = channel::<Update>();
        let watch = RouteWatch::start(
            &names,
            &routes,
            &ids,
            Box::new(move |r, ids| {
                let _ = tx.send((r, ids));
            }),
        )
        .unwrap();
        // Nothing changed since our build: no callback.
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());

        // A route through a gateway on eth0's subnet.
        sh(&["ip", "route", "add", "198.18.9.0/24", "via", "198.18.0.2"]);
        let want = Hop {
            iface: IfaceId(0),
            next_hop: ip("198.18.0.2"),
        };
        let (r, took) = wait_update(&rx, Duration::from_secs(1), |r| {
            r.lookup(&ip("198.18.9.5")) == Some(want)
        })
        .expect("no update with the new route within 1 s");
        eprintln!("route update after {took:?}");
        assert_eq!(r.lookup(&ip("198.18.8.5")), None);

        sh(&["ip", "-6", "route", "add", "fd00:9::/64", "via", "fd00::2"]);
        let want6 = Hop {
            iface: IfaceId(0),
            next_hop: ip("fd00::2"),
        };
        wait_update(&rx, Duration::from_secs(1), |r| {
            r.lookup(&ip("fd00:9::5")) == Some(want6)
        })
        .expect("no update with the new IPv6 route within 1 s");

        // A new address on eth0: the interface has it, and its subnet is connected.
        sh(&["ip", "addr", "add", "198.18.5.1/24", "dev", "eth0"]);
        let (r, _) = wait_update(&rx, Duration::from_secs(1), |r| {
            r.iface(IfaceId(0))
                .unwrap()
                .v4
                .contains(&("198.18.5.1".parse().unwrap(), 24))
        })
        .expect("no update with the new address within 1 s");
        assert_eq!(
            r.lookup(&ip("198.18.5.7")),
            Some(Hop {
                iface: IfaceId(0),
                next_hop: ip("198.18.5.7")
            })
        );
        // The route added before is still there.
        assert_eq!(r.lookup(&ip("198.18.9.5")), Some(want));

        // MTU.
        sh(&["ip", "link", "set", "eth0", "mtu", "1400"]);
        wait_update(&rx, Duration::from_secs(1), |r| {
            r.iface(IfaceId(0)).unwrap().mtu == 1400
        })
        .expect("no update with mtu 1400 within 1 s");

        // A deleted route goes away.
        sh(&["ip", "route", "del", "198.18.9.0/24"]);
        wait_update(&rx, Duration::from_secs(1), |r| {
            r.lookup(&ip("198.18.9.5")).is_none()
        })
        .expect("no update without the route within 1 s");

        // Events about other interfaces rebuild the same table: no callback.
        sh(&[
            "ip", "link", "add", "other0", "type", "veth", "peer", "name", "other1",
        ]);
        sh(&["ip", "link", "set", "other0", "up"]);
        sh(&["ip", "addr", "add", "198.18.77.1/24", "dev", "other0"]);
        assert!(
            rx.recv_timeout(Duration::from_millis(400)).is_err(),
            "callback for a change on another interface"
        );

        // After stop(), no more callbacks.
        watch.stop();
        watch.stop();
        sh(&["ip", "route", "add", "198.18.10.0/24", "via", "198.18.0.2"]);
        sh(&["ip", "link", "set", "eth0", "mtu", "1300"]);
        std::thread::sleep(Duration::from_millis(400));
        assert!(rx.try_recv().is_err(), "callback after stop");
    });
}

#[test]
fn coalesces_a_burst_into_few_callbacks() {
    if !privileged("coalesces_a_burst_into_few_callbacks") {
        return;
    }
    let (a, _b) = pair_with_prefix("rvsw");
    a.run(|| {
        let names = vec!["eth0".to_string()];
        let (routes, ids) = build_routes(&names).unwrap();
        let (tx, rx) = channel::<Update>();
        let _watch = RouteWatch::start(
            &names,
            &routes,
            &ids,
            Box::new(move |r, ids| {
                let _ = tx.send((r, ids));
            }),
        )
        .unwrap();
        // Six `ip route add` runs back to back: a burst of events spread over a few
        // milliseconds each, within about one debounce window.
        let t_burst = Instant::now();
        for i in 0..6 {
            sh(&[
                "ip",
                "route",
                "add",
                &format!("198.19.{i}.0/24"),
                "via",
                "198.18.0.2",
            ]);
        }
        eprintln!("burst took {:?}", t_burst.elapsed());
        let t0 = Instant::now();
        let mut seen = 0;
        let mut complete = false;
        while t0.elapsed() < Duration::from_millis(1500) {
            if let Ok((r, _)) = rx.recv_timeout(Duration::from_millis(50)) {
                seen += 1;
                complete = r.routes().count() == 6;
            }
        }
        assert!(complete, "the last table lacks routes");
        eprintln!("{seen} callbacks");
        // One window (two or three if the burst outlasted one); without coalescing each
        // command's events make their own rebuild.
        assert!(seen <= 3, "{seen} callbacks for one burst");
    });
}
