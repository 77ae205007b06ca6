//! link / routes / build_routes / addresses against real namespaces (root only).

mod common;

use std::net::IpAddr;

use common::{Netns, mac_of, pair, privileged};
use rvs_core::engine::{Hop, IfaceId};
use rvs_netlink::{NetlinkError, add_address, build_routes, del_address, link, routes};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn link_reads_mac_mtu_addresses() {
    if !privileged("link_reads_mac_mtu_addresses") {
        return;
    }
    let (a, _b) = pair();
    a.ip(&["link", "set", "eth0", "mtu", "1400"]);
    a.ip(&["addr", "add", "198.18.0.100/32", "dev", "eth0"]);
    let mac = mac_of(&a, "eth0");
    let l = a.run(|| link("eth0")).unwrap();
    assert_eq!(l.name, "eth0");
    assert_eq!(l.mac, mac);
    assert_eq!(l.mtu, 1400);
    assert!(l.index > 0);
    assert!(l.rx_queues >= 1);
    assert_eq!(
        l.v4,
        vec![
            ("198.18.0.1".parse().unwrap(), 24),
            ("198.18.0.100".parse().unwrap(), 32)
        ]
    );
    // The link-local address is left out.
    assert_eq!(l.v6, vec![("fd00::1".parse().unwrap(), 64)]);
    match a.run(|| link("nope0")) {
        Err(NetlinkError::NoSuchInterface(n)) => assert_eq!(n, "nope0"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn routes_and_build_routes() {
    if !privileged("routes_and_build_routes") {
        return;
    }
    let (a, _b) = pair();
    // A second interface (a veth) that must stay out of build_routes(["eth0"]).
    a.ip(&[
        "link", "add", "dum0", "type", "veth", "peer", "name", "dum1",
    ]);
    a.ip(&["link", "set", "dum1", "up"]);
    a.ip(&["addr", "add", "198.19.5.1/24", "dev", "dum0"]);
    a.ip(&["link", "set", "dum0", "up"]);
    a.ip(&["route", "add", "198.19.0.0/24", "via", "198.18.0.2"]);
    a.ip(&["route", "add", "default", "via", "198.18.0.254"]);
    a.ip(&["-6", "route", "add", "fd00:9::/48", "via", "fd00::2"]);
    a.ip(&["-6", "route", "add", "default", "via", "fd00::fe"]);
    a.ip(&["route", "add", "198.19.7.0/24", "dev", "dum0"]);

    let (all, eth0) = a.run(|| (routes().unwrap(), link("eth0").unwrap()));
    let has = |dst: &str, plen: u8, gw: Option<&str>| {
        all.iter().any(|r| {
            r.dst == ip(dst) && r.plen == plen && r.oif == eth0.index && r.gateway == gw.map(ip)
        })
    };
    assert!(has("198.19.0.0", 24, Some("198.18.0.2")), "{all:?}");
    assert!(has("0.0.0.0", 0, Some("198.18.0.254")), "{all:?}");
    assert!(has("fd00:9::", 48, Some("fd00::2")), "{all:?}");
    assert!(has("::", 0, Some("fd00::fe")), "{all:?}");
    // The connected route is in routes() (a raw view of the table).
    assert!(has("198.18.0.0", 24, None), "{all:?}");

    let (r, ids) = a.run(|| build_routes(&["eth0".to_string()])).unwrap();
    assert_eq!(ids, vec![(IfaceId(0), eth0.index)]);
    assert_eq!(r.interfaces().count(), 1);
    assert_eq!(r.iface(IfaceId(0)).unwrap().mac, eth0.mac);
    let hop = |d: &str| r.lookup(&ip(d));
    let via = |gw: &str| {
        Some(Hop {
            iface: IfaceId(0),
            next_hop: ip(gw),
        })
    };
    assert_eq!(hop("198.19.0.9"), via("198.18.0.2"));
    assert_eq!(hop("203.0.113.1"), via("198.18.0.254"));
    assert_eq!(hop("198.18.0.77"), via("198.18.0.77"));
    assert_eq!(hop("fd00:9:0:1::5"), via("fd00::2"));
    assert_eq!(hop("2001:db8::1"), via("fd00::fe"));
    assert_eq!(hop("fd00::42"), via("fd00::42"));
    // Routes through dum0 are not there: 198.19.7.0/24 falls to the default route.
    assert_eq!(hop("198.19.7.1"), via("198.18.0.254"));
    // Only routes, no connected duplicates: 2 v4 + 2 v6.
    assert_eq!(
        r.routes().count(),
        4,
        "{:?}",
        r.routes().collect::<Vec<_>>()
    );

    // Both interfaces, in the given order.
    let (r, ids) = a
        .run(|| build_routes(&["dum0".to_string(), "eth0".to_string()]))
        .unwrap();
    assert_eq!(ids[1], (IfaceId(1), eth0.index));
    assert_eq!(r.lookup(&ip("198.19.7.1")).unwrap().iface, IfaceId(0));
    assert_eq!(r.lookup(&ip("198.19.5.9")).unwrap().iface, IfaceId(0));
    assert_eq!(hop("198.19.0.9"), via("198.18.0.2"));
    assert_eq!(
        r.lookup(&ip("198.19.0.9")),
        Some(Hop {
            iface: IfaceId(1),
            next_hop: ip("198.18.0.2")
        })
    );

    assert!(matches!(
        a.run(|| build_routes(&["eth0".to_string(), "nope1".to_string()])),
        Err(NetlinkError::NoSuchInterface(_))
    ));
}

#[test]
fn address_round_trip() {
    if !privileged("address_round_trip") {
        return;
    }
    let a = Netns::new();
    a.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    a.ip(&["link", "set", "eth1", "up"]);
    a.ip(&["link", "set", "eth0", "up"]);
    let v4 = ip("198.18.1.100");
    let v6 = ip("fd00:1::100");
    a.run(|| {
        assert!(add_address("eth0", v4, 32).unwrap());
        assert!(!add_address("eth0", v4, 32).unwrap());
        assert!(add_address("eth0", v6, 128).unwrap());
        assert!(!add_address("eth0", v6, 128).unwrap());
        let l = link("eth0").unwrap();
        assert!(l.v4.contains(&("198.18.1.100".parse().unwrap(), 32)));
        assert!(l.v6.contains(&("fd00:1::100".parse().unwrap(), 128)));
        assert!(del_address("eth0", v4, 32).unwrap());
        assert!(!del_address("eth0", v4, 32).unwrap());
        assert!(del_address("eth0", v6, 128).unwrap());
        assert!(!del_address("eth0", v6, 128).unwrap());
        let l = link("eth0").unwrap();
        assert!(l.v4.is_empty(), "{:?}", l.v4);
        assert!(l.v6.is_empty(), "{:?}", l.v6);
        assert!(matches!(
            add_address("eth0", v4, 33),
            Err(NetlinkError::BadPrefixLen { .. })
        ));
        assert!(matches!(
            add_address("nope0", v4, 32),
            Err(NetlinkError::NoSuchInterface(_))
        ));
    });
    // IPv6 added without DAD: not tentative.
    a.run(|| assert!(add_address("eth0", v6, 64).unwrap()));
    let out = std::process::Command::new("ip")
        .args(["-n", &a.name, "-6", "addr", "show", "dev", "eth0"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s.lines().find(|l| l.contains("fd00:1::100")).unwrap();
    assert!(!line.contains("tentative"), "{line}");
    assert!(line.contains("nodad"), "{line}");
}

#[test]
fn works_from_inside_a_tokio_runtime() {
    if !privileged("works_from_inside_a_tokio_runtime") {
        return;
    }
    let (a, _b) = pair();
    let l = a.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { link("eth0") })
    });
    assert_eq!(l.unwrap().v4, vec![("198.18.0.1".parse().unwrap(), 24)]);
}
