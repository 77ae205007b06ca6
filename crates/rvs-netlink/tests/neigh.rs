//! NeighCache against real namespaces (root only).

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{mac_of, pair, privileged};
use rvs_core::engine::{IfaceId, Neighbours};
use rvs_netlink::{NeighCache, link};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Poll `f` every 10 ms for up to `limit`; whether it became true.
fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

#[test]
fn handle_is_send_sync() {
    fn check<T: Send + Sync + Neighbours>() {}
    check::<NeighCache>();
}

#[test]
fn follows_added_and_deleted_entries() {
    if !privileged("follows_added_and_deleted_entries") {
        return;
    }
    let (a, _b) = pair();
    // An entry present before start comes from the dump.
    a.ip(&[
        "neigh",
        "add",
        "198.18.0.50",
        "lladdr",
        "02:00:00:00:00:50",
        "dev",
        "eth0",
    ]);
    a.run(|| {
        let eth0 = link("eth0").unwrap();
        let nc = NeighCache::start(&[(IfaceId(3), eth0.index)]).unwrap();
        let me = IfaceId(3);
        assert_eq!(nc.mac(me, &ip("198.18.0.50")), Some([2, 0, 0, 0, 0, 0x50]));
        // Another interface id does not see it.
        assert_eq!(nc.mac(IfaceId(0), &ip("198.18.0.50")), None);

        let g0 = nc.generation().unwrap();
        let v4 = ip("198.18.0.60");
        let v6 = ip("fd00::60");
        assert_eq!(nc.mac(me, &v4), None);
        common::sh(&[
            "ip",
            "neigh",
            "add",
            "198.18.0.60",
            "lladdr",
            "02:00:00:00:00:60",
            "dev",
            "eth0",
        ]);
        common::sh(&[
            "ip",
            "neigh",
            "add",
            "fd00::60",
            "lladdr",
            "02:00:00:00:06:60",
            "dev",
            "eth0",
        ]);
        assert!(wait_for(Duration::from_secs(1), || nc
            .mac(me, &v4)
            .is_some()));
        assert!(wait_for(Duration::from_secs(1), || nc
            .mac(me, &v6)
            .is_some()));
        assert_eq!(nc.mac(me, &v4), Some([2, 0, 0, 0, 0, 0x60]));
        assert_eq!(nc.mac(me, &v6), Some([2, 0, 0, 0, 6, 0x60]));
        let g1 = nc.generation().unwrap();
        assert!(g1 > g0, "{g0} {g1}");

        // A changed lladdr is seen, with a new generation.
        common::sh(&[
            "ip",
            "neigh",
            "replace",
            "198.18.0.60",
            "lladdr",
            "02:00:00:00:00:61",
            "dev",
            "eth0",
        ]);
        assert!(wait_for(Duration::from_secs(1), || nc.mac(me, &v4)
            == Some([2, 0, 0, 0, 0, 0x61])));
        let g2 = nc.generation().unwrap();
        assert!(g2 > g1);

        common::sh(&["ip", "neigh", "del", "198.18.0.60", "dev", "eth0"]);
        common::sh(&["ip", "neigh", "del", "fd00::60", "dev", "eth0"]);
        assert!(wait_for(Duration::from_secs(1), || nc
            .mac(me, &v4)
            .is_none()
            && nc.mac(me, &v6).is_none()));
        assert!(nc.generation().unwrap() > g2);

        // After stop() nothing changes any more.
        nc.stop();
        nc.stop();
        let g3 = nc.generation().unwrap();
        common::sh(&[
            "ip",
            "neigh",
            "add",
            "198.18.0.70",
            "lladdr",
            "02:00:00:00:00:70",
            "dev",
            "eth0",
        ]);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(nc.mac(me, &ip("198.18.0.70")), None);
        assert_eq!(nc.generation().unwrap(), g3);
    });
}

#[test]
fn resolve_makes_the_kernel_ask() {
    if !privileged("resolve_makes_the_kernel_ask") {
        return;
    }
    let (a, b) = pair();
    let peer_mac = mac_of(&b, "eth0");
    a.run(|| {
        let eth0 = link("eth0").unwrap();
        let nc = NeighCache::start(&[(IfaceId(0), eth0.index)]).unwrap();
        let me = IfaceId(0);
        for peer in [ip("198.18.0.2"), ip("fd00::2")] {
            assert_eq!(nc.mac(me, &peer), None, "{peer}");
            let g = nc.generation().unwrap();
            let t0 = Instant::now();
            nc.resolve(me, peer);
            // Non-blocking: returns long before the answer could be there.
            assert!(t0.elapsed() < Duration::from_millis(50));
            assert!(
                wait_for(Duration::from_secs(1), || nc.mac(me, &peer)
                    == Some(peer_mac)),
                "{peer} not resolved in 1 s"
            );
            assert!(nc.generation().unwrap() > g);
        }
        // A dead address: the kernel tries (INCOMPLETE, never usable); resolve does not
        // block or fail, and an unknown interface is ignored.
        nc.resolve(me, ip("198.18.0.99"));
        nc.resolve(me, ip("198.18.0.99"));
        nc.resolve(IfaceId(5), ip("198.18.0.2"));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(nc.mac(me, &ip("198.18.0.99")), None);
    });
    // The kernel really created an entry for the dead address (probing it).
    let out = std::process::Command::new("ip")
        .args(["-n", &a.name, "neigh", "show", "198.18.0.99"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("198.18.0.99"), "{s:?}");
}
