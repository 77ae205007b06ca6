//! The classifier through BPF_PROG_TEST_RUN: every rule, hit and miss.
//!
//! test_run frames arrive on `lo`, queue 0. A hit with no (ifindex, queue) slot counts
//! `no_xsk`; with a slot that holds no socket, bpf_redirect_map returns its fallback
//! (XDP_PASS) and counts `redirect_failed`. The tests register such an empty slot and
//! read the per-rule counters to tell hits from misses.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aya::programs::{TestRun, TestRunOptions};
use common::*;
use rvs_xdp::{Classes, Classifier, ClassifierCounters, FwmarkClass};

fn classes() -> Classes {
    Classes {
        services: BTreeSet::from([
            (ip("198.18.1.100"), 6, 80),
            (ip("198.18.1.100"), 132, 80),
            (ip("fd00:1::100"), 17, 9000),
            (ip("198.18.1.101"), 6, 0),
        ]),
        replies: BTreeSet::from([
            (ip("198.18.2.11"), 6, 8080),
            (ip("fd00:2::11"), 6, 8080),
            (ip("198.18.2.21"), 17, 0),
        ]),
        locals: BTreeMap::from([
            (ip("198.18.2.2"), (40000, 50000)),
            (ip("fd00:2::2"), (40000, 50000)),
        ]),
        fwmark: vec![
            FwmarkClass {
                proto: 6,
                prefix: ip("198.18.4.0"),
                plen: 24,
                ports: vec![(80, 80), (443, 443), (8000, 8080)],
            },
            FwmarkClass {
                proto: 0,
                prefix: ip("fd00:4::"),
                plen: 64,
                ports: vec![],
            },
        ],
        hosts: BTreeSet::from([ip("198.18.2.1"), ip("fd00:2::1"), ip("198.18.1.2")]),
    }
}

struct Harness {
    c: Classifier,
}

fn lo() -> u32 {
    // SAFETY: valid C string.
    unsafe { libc::if_nametoindex(c"lo".as_ptr()) }
}

impl Harness {
    fn new(with_slot: bool) -> Self {
        let mut c = Classifier::load().unwrap();
        c.set_classes(&classes()).unwrap();
        if with_slot {
            c.register_empty_slot(lo(), 0).unwrap();
        }
        Harness { c }
    }

    fn run(&mut self, frame: &[u8]) -> (u32, ClassifierCounters) {
        let before = self.c.counters().unwrap();
        let r = self
            .c
            .program()
            .unwrap()
            .test_run(TestRunOptions {
                data_in: Some(frame),
                ..TestRunOptions::default()
            })
            .unwrap();
        let after = self.c.counters().unwrap();
        (r.return_value, delta(&before, &after))
    }
}

fn delta(b: &ClassifierCounters, a: &ClassifierCounters) -> ClassifierCounters {
    ClassifierCounters {
        seen: a.seen - b.seen,
        not_ours: a.not_ours - b.not_ours,
        malformed: a.malformed - b.malformed,
        fragments: a.fragments - b.fragments,
        hit_service: a.hit_service - b.hit_service,
        hit_reply: a.hit_reply - b.hit_reply,
        hit_local: a.hit_local - b.hit_local,
        hit_fwmark: a.hit_fwmark - b.hit_fwmark,
        hit_icmp: a.hit_icmp - b.hit_icmp,
        no_xsk: a.no_xsk - b.no_xsk,
        redirected: a.redirected - b.redirected,
        redirect_failed: a.redirect_failed - b.redirect_failed,
        fastpath: a.fastpath - b.fastpath,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    Service,
    Reply,
    Local,
    Fwmark,
    Icmp,
    NotOurs,
    Malformed,
    Fragment,
}

fn check(h: &mut Harness, name: &str, frame: &[u8], want: Want) {
    let (ret, d) = h.run(frame);
    assert_eq!(
        ret, XDP_PASS,
        "{name}: verdict (fallback of an empty slot is PASS)"
    );
    assert_eq!(d.seen, 1, "{name}: seen");
    let got = [
        (d.hit_service, Want::Service),
        (d.hit_reply, Want::Reply),
        (d.hit_local, Want::Local),
        (d.hit_fwmark, Want::Fwmark),
        (d.hit_icmp, Want::Icmp),
        (d.not_ours, Want::NotOurs),
        (d.malformed, Want::Malformed),
        (d.fragments, Want::Fragment),
    ];
    let hit: Vec<Want> = got.iter().filter(|g| g.0 > 0).map(|g| g.1).collect();
    assert_eq!(hit, vec![want], "{name}: counters {d:?}");
    let is_hit = matches!(
        want,
        Want::Service | Want::Reply | Want::Local | Want::Fwmark | Want::Icmp
    );
    assert_eq!(
        d.redirect_failed,
        u64::from(is_hit),
        "{name}: redirect attempted"
    );
    assert_eq!(d.no_xsk, 0, "{name}");
}

#[test]
fn every_rule_hits_and_misses() {
    if !privileged("classifier test_run") {
        return;
    }
    let mut h = Harness::new(true);
    use Want::*;
    let cases: Vec<(&str, Vec<u8>, Want)> = vec![
        // services
        (
            "tcp to vip:80",
            frame("198.18.0.2", 5555, "198.18.1.100", 80, 6),
            Service,
        ),
        (
            "sctp to vip:80",
            frame("198.18.0.2", 5555, "198.18.1.100", 80, 132),
            Service,
        ),
        (
            "udp6 to vip:9000",
            frame("fd00::2", 5555, "fd00:1::100", 9000, 17),
            Service,
        ),
        (
            "tcp to port-0 service",
            frame("198.18.0.2", 5555, "198.18.1.101", 12345, 6),
            Service,
        ),
        (
            "tcp to vip:81",
            frame("198.18.0.2", 5555, "198.18.1.100", 81, 6),
            NotOurs,
        ),
        (
            "udp to vip:80",
            frame("198.18.0.2", 5555, "198.18.1.100", 80, 17),
            NotOurs,
        ),
        (
            "udp to port-0 tcp service",
            frame("198.18.0.2", 5555, "198.18.1.101", 80, 17),
            NotOurs,
        ),
        (
            "udp6 to vip:9001",
            frame("fd00::2", 5555, "fd00:1::100", 9001, 17),
            NotOurs,
        ),
        (
            "ssh to director",
            frame("198.18.0.2", 5555, "198.18.1.2", 22, 6),
            NotOurs,
        ),
        // replies
        (
            "reply from rip:8080",
            frame("198.18.2.11", 8080, "198.18.0.2", 5555, 6),
            Reply,
        ),
        (
            "reply6 from rip:8080",
            frame("fd00:2::11", 8080, "fd00::2", 5555, 6),
            Reply,
        ),
        (
            "rip:8080 answering the director itself (a health check)",
            frame("198.18.2.11", 8080, "198.18.2.1", 40123, 6),
            NotOurs,
        ),
        (
            "rip6:8080 answering the director itself",
            frame("fd00:2::11", 8080, "fd00:2::1", 40123, 6),
            NotOurs,
        ),
        (
            "from rip:8081",
            frame("198.18.2.11", 8081, "198.18.0.2", 5555, 6),
            NotOurs,
        ),
        (
            "reply from a port-0 nat dest, any port",
            frame("198.18.2.21", 5353, "198.18.0.2", 5555, 17),
            Reply,
        ),
        (
            "tcp from a port-0 udp nat dest",
            frame("198.18.2.21", 5353, "198.18.0.2", 5555, 6),
            NotOurs,
        ),
        (
            "udp from rip:8080",
            frame("198.18.2.11", 8080, "198.18.0.2", 5555, 17),
            NotOurs,
        ),
        // locals
        (
            "to lip:45000",
            frame("198.18.2.11", 8080, "198.18.2.2", 45000, 6),
            Reply,
        ),
        (
            "to lip:45000 from other",
            frame("198.18.2.12", 80, "198.18.2.2", 45000, 6),
            Local,
        ),
        (
            "to lip:40000 (lo)",
            frame("198.18.2.12", 80, "198.18.2.2", 40000, 17),
            Local,
        ),
        (
            "to lip:50000 (hi)",
            frame("198.18.2.12", 80, "198.18.2.2", 50000, 132),
            Local,
        ),
        (
            "to lip:39999",
            frame("198.18.2.12", 80, "198.18.2.2", 39999, 6),
            NotOurs,
        ),
        (
            "to lip:50001",
            frame("198.18.2.12", 80, "198.18.2.2", 50001, 6),
            NotOurs,
        ),
        (
            "to lip6:45000",
            frame("fd00:2::12", 80, "fd00:2::2", 45000, 6),
            Local,
        ),
        (
            "to lip6:22",
            frame("fd00:2::12", 80, "fd00:2::2", 22, 6),
            NotOurs,
        ),
        // fwmark
        (
            "fwmark v4 port 80",
            frame("198.18.0.2", 5555, "198.18.4.77", 80, 6),
            Fwmark,
        ),
        (
            "fwmark v4 range",
            frame("198.18.0.2", 5555, "198.18.4.1", 8050, 6),
            Fwmark,
        ),
        (
            "fwmark v4 range end",
            frame("198.18.0.2", 5555, "198.18.4.255", 8080, 6),
            Fwmark,
        ),
        (
            "fwmark v4 port 8081",
            frame("198.18.0.2", 5555, "198.18.4.77", 8081, 6),
            NotOurs,
        ),
        (
            "fwmark v4 udp",
            frame("198.18.0.2", 5555, "198.18.4.77", 80, 17),
            NotOurs,
        ),
        (
            "fwmark v4 outside",
            frame("198.18.0.2", 5555, "198.18.5.77", 80, 6),
            NotOurs,
        ),
        (
            "fwmark v6 any",
            frame("fd00::2", 5555, "fd00:4::9", 53, 17),
            Fwmark,
        ),
        (
            "fwmark v6 sctp",
            frame("fd00::2", 5555, "fd00:4::ffff", 1, 132),
            Fwmark,
        ),
        (
            "fwmark v6 outside",
            frame("fd00::2", 5555, "fd00:4:0:1::9", 53, 17),
            NotOurs,
        ),
        // ICMP errors
        (
            "icmp about vip:80 -> client",
            icmp_error(
                "198.18.0.1",
                "198.18.1.100",
                &ip_packet(ip("198.18.1.100"), ip("198.18.0.2"), 6, 80, 5555, b""),
            ),
            Icmp,
        ),
        (
            "icmp about port-0 service source",
            icmp_error(
                "198.18.0.1",
                "198.18.1.101",
                &ip_packet(ip("198.18.1.101"), ip("198.18.0.2"), 6, 7777, 5555, b""),
            ),
            Icmp,
        ),
        (
            "icmp about packet to rip:8080",
            icmp_error(
                "198.18.2.11",
                "198.18.0.2",
                &ip_packet(ip("198.18.0.2"), ip("198.18.2.11"), 6, 5555, 8080, b""),
            ),
            Icmp,
        ),
        (
            "icmp about the director's own packet to rip:8080",
            icmp_error(
                "198.18.2.11",
                "198.18.2.1",
                &ip_packet(ip("198.18.2.1"), ip("198.18.2.11"), 6, 40123, 8080, b""),
            ),
            NotOurs,
        ),
        (
            "icmp about packet to vip:80",
            icmp_error(
                "198.18.1.50",
                "198.18.0.2",
                &ip_packet(ip("198.18.0.2"), ip("198.18.1.100"), 6, 5555, 80, b""),
            ),
            Icmp,
        ),
        (
            "icmp about packet from lip",
            icmp_error(
                "198.18.2.11",
                "198.18.2.2",
                &ip_packet(ip("198.18.2.2"), ip("198.18.2.11"), 17, 41000, 9000, b""),
            ),
            Icmp,
        ),
        (
            "icmp6 about packet from lip6",
            icmp_error(
                "fd00:2::11",
                "fd00:2::2",
                &ip_packet(ip("fd00:2::2"), ip("fd00:2::11"), 6, 41000, 8080, b""),
            ),
            Icmp,
        ),
        (
            "icmp6 about vip6:9000",
            icmp_error(
                "fd00::1",
                "fd00:1::100",
                &ip_packet(ip("fd00:1::100"), ip("fd00::2"), 17, 9000, 5555, b""),
            ),
            Icmp,
        ),
        (
            "icmp about unrelated flow",
            icmp_error(
                "198.18.0.1",
                "198.18.1.2",
                &ip_packet(ip("198.18.1.2"), ip("198.18.0.2"), 6, 22, 5555, b""),
            ),
            NotOurs,
        ),
        (
            "icmp about lip port out of range",
            icmp_error(
                "198.18.2.11",
                "198.18.2.2",
                &ip_packet(ip("198.18.2.2"), ip("198.18.2.11"), 17, 22, 9000, b""),
            ),
            NotOurs,
        ),
        ("ping to vip", ping("198.18.0.2", "198.18.1.100"), NotOurs),
        // L2 and header walking
        ("arp", arp(), NotOurs),
        (
            "vlan tcp to vip:80",
            vlan(&frame("198.18.0.2", 5555, "198.18.1.100", 80, 6)),
            Service,
        ),
        (
            "vlan tcp to vip:81",
            vlan(&frame("198.18.0.2", 5555, "198.18.1.100", 81, 6)),
            NotOurs,
        ),
        (
            "ipv6 hop-by-hop to vip6:9000",
            with_hop_by_hop(&frame("fd00::2", 5555, "fd00:1::100", 9000, 17)),
            Service,
        ),
        (
            "ipv6 hop-by-hop to vip6:9001",
            with_hop_by_hop(&frame("fd00::2", 5555, "fd00:1::100", 9001, 17)),
            NotOurs,
        ),
        // malformed
        // (test_run refuses frames shorter than an Ethernet header.)
        (
            "truncated ipv4",
            frame("198.18.0.2", 5555, "198.18.1.100", 80, 6)[..24].to_vec(),
            Malformed,
        ),
        (
            "truncated tcp ports",
            frame("198.18.0.2", 5555, "198.18.1.100", 80, 6)[..14 + 20 + 2].to_vec(),
            Malformed,
        ),
        (
            "truncated ipv6",
            frame("fd00::2", 5555, "fd00:1::100", 9000, 17)[..14 + 30].to_vec(),
            Malformed,
        ),
        (
            "truncated vlan",
            vlan(&frame("198.18.0.2", 5555, "198.18.1.100", 80, 6))[..16].to_vec(),
            Malformed,
        ),
    ];
    for (name, f, want) in &cases {
        check(&mut h, name, f, *want);
    }

    // A non-first IPv4 fragment has no ports.
    let mut f = frame("198.18.0.2", 5555, "198.18.1.100", 80, 6);
    f[14 + 6..14 + 8].copy_from_slice(&0x0010u16.to_be_bytes());
    check(&mut h, "non-first fragment", &f, Want::Fragment);
}

#[test]
fn no_socket_registered_passes() {
    if !privileged("classifier test_run") {
        return;
    }
    let mut h = Harness::new(false);
    let (ret, d) = h.run(&frame("198.18.0.2", 5555, "198.18.1.100", 80, 6));
    assert_eq!(ret, XDP_PASS);
    assert_eq!((d.hit_service, d.no_xsk, d.redirect_failed), (1, 1, 0));
    assert_eq!(d.passed(), 1);
}

#[test]
fn set_classes_removes_what_is_gone() {
    if !privileged("classifier test_run") {
        return;
    }
    let mut h = Harness::new(true);
    let vip80 = frame("198.18.0.2", 5555, "198.18.1.100", 80, 6);
    let fw = frame("198.18.0.2", 5555, "198.18.4.77", 80, 6);
    let lip = frame("198.18.2.12", 80, "198.18.2.2", 45000, 6);
    assert_eq!(h.run(&vip80).1.hit_service, 1);
    assert_eq!(h.run(&fw).1.hit_fwmark, 1);
    assert_eq!(h.run(&lip).1.hit_local, 1);

    let mut less = classes();
    less.services.remove(&(ip("198.18.1.100"), 6, 80));
    less.fwmark.remove(0);
    less.locals.insert(ip("198.18.2.2"), (1, 2));
    h.c.set_classes(&less).unwrap();
    assert_eq!(h.run(&vip80).1.not_ours, 1, "service removed");
    assert_eq!(h.run(&fw).1.not_ours, 1, "fwmark class removed");
    assert_eq!(h.run(&lip).1.not_ours, 1, "local range changed");
    // The other fwmark class moved to entry 0 and still works.
    assert_eq!(
        h.run(&frame("fd00::2", 1, "fd00:4::9", 53, 17))
            .1
            .hit_fwmark,
        1
    );

    h.c.set_classes(&Classes::default()).unwrap();
    for f in [&vip80, &fw, &lip, &frame("fd00::2", 1, "fd00:4::9", 53, 17)] {
        assert_eq!(h.run(f).1.not_ours, 1);
    }
    h.c.set_classes(&classes()).unwrap();
    assert_eq!(h.run(&vip80).1.hit_service, 1, "back again");
}

#[test]
fn many_fwmark_ranges_span_entries() {
    if !privileged("classifier test_run") {
        return;
    }
    let mut h = Harness::new(true);
    let mut c = Classes::default();
    c.fwmark.push(FwmarkClass {
        proto: 17,
        prefix: ip("198.18.6.0"),
        plen: 23,
        ports: (0..20).map(|i| (1000 + i * 10, 1000 + i * 10)).collect(),
    });
    h.c.set_classes(&c).unwrap();
    assert_eq!(
        h.run(&frame("198.18.0.2", 1, "198.18.7.1", 1190, 17))
            .1
            .hit_fwmark,
        1
    );
    assert_eq!(
        h.run(&frame("198.18.0.2", 1, "198.18.7.1", 1000, 17))
            .1
            .hit_fwmark,
        1
    );
    assert_eq!(
        h.run(&frame("198.18.0.2", 1, "198.18.7.1", 1191, 17))
            .1
            .not_ours,
        1
    );
    assert_eq!(
        h.run(&frame("198.18.0.2", 1, "198.18.8.1", 1000, 17))
            .1
            .not_ours,
        1
    );
}
