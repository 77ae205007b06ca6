//! The TUN decapsulator through BPF_PROG_TEST_RUN, on frames the director's engine
//! (rvs-core) encapsulates: the output must be the client's packet under the original
//! Ethernet addresses.

mod common;

use aya::programs::{TestRun, TestRunOptions};
use common::*;
use rvs_core::dest::{TunConfig, TunCsum, TunType};
use rvs_core::engine::{Frame, HEADROOM, Verdict, lab};
use rvs_core::{Command, DestConfig, FwdMethod, Protocol, ServiceConfig, ServiceKey, Time};

const GUE_PORT: u16 = 6080;

/// The frame the lab director sends to `rip` for a UDP packet from `client` to `vip`:53
/// with tunnel options `tun`; and the client's frame.
fn encapsulated(vip: &str, client: &str, rip: &str, tun: TunConfig) -> (Vec<u8>, Vec<u8>) {
    let mut e = lab::engine();
    let now = Time(1000);
    let key = ServiceKey::Addr {
        proto: Protocol::Udp,
        addr: ip(vip),
        port: 53,
    };
    e.director
        .apply(&Command::AddService(ServiceConfig::new(key)), now)
        .unwrap();
    let mut d = DestConfig::new(ip(rip), 53);
    d.fwd = FwdMethod::Tunnel;
    d.tun = tun;
    e.director.apply(&Command::AddDest(key, d), now).unwrap();
    let input = ether(&ip_packet(ip(client), ip(vip), 17, 5353, 53, b"query"));
    let mut buf = vec![0u8; HEADROOM + 2048];
    buf[HEADROOM..HEADROOM + input.len()].copy_from_slice(&input);
    let mut f = Frame::new(&mut buf, HEADROOM, input.len()).unwrap();
    let v = e.process(&mut f, lab::EXT, now, &lab::LabNeighbours);
    assert!(
        matches!(v, Verdict::Transmit { .. }),
        "{vip} -> {rip} {tun}: {v}"
    );
    (f.data().to_vec(), input)
}

fn run(ebpf: &mut aya::Ebpf, frame: &[u8]) -> (u32, Vec<u8>) {
    let mut out = vec![0u8; 4096];
    let r = rvs_xdp::decap::program(ebpf)
        .unwrap()
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..TestRunOptions::default()
        })
        .unwrap();
    out.truncate(r.data_size_out as usize);
    (r.return_value, out)
}

/// What the real server should see: the tunnel frame's MACs, the inner family's
/// Ethernet type, the client's IP packet.
fn expected(tunnelled: &[u8], input: &[u8]) -> Vec<u8> {
    let mut x = tunnelled[..12].to_vec();
    x.extend_from_slice(&input[12..]);
    x
}

fn tun(kind: TunType, csum: TunCsum) -> TunConfig {
    TunConfig {
        kind,
        port: if kind == TunType::Gue { GUE_PORT } else { 0 },
        csum,
    }
}

#[test]
fn every_encapsulation_decapsulates_to_the_inner_frame() {
    if !privileged("decap test_run") {
        return;
    }
    let mut ebpf = rvs_xdp::decap::load(&[9999, GUE_PORT]).unwrap();
    let families = [
        ("ipip", "198.18.0.100", "198.18.0.10", "198.18.1.13", 20),
        ("ip6ip6", "fd00::100", "fd00::10", "fd00:1::d", 40),
        ("4in6", "198.18.0.100", "198.18.0.10", "fd00:1::d", 40),
        ("6in4", "fd00::100", "fd00::10", "198.18.1.13", 20),
    ];
    let kinds = [
        (tun(TunType::Ipip, TunCsum::NoCsum), 0),
        (tun(TunType::Gre, TunCsum::NoCsum), 4),
        (tun(TunType::Gre, TunCsum::Csum), 8),
        (tun(TunType::Gue, TunCsum::NoCsum), 12),
        (tun(TunType::Gue, TunCsum::Csum), 12),
        (tun(TunType::Gue, TunCsum::RemCsum), 12),
    ];
    let mut n = 0;
    for (fam, vip, client, rip, outer) in families {
        for (t, encap) in kinds {
            let (tunnelled, input) = encapsulated(vip, client, rip, t);
            assert_eq!(tunnelled.len(), input.len() + outer + encap, "{fam} {t}");
            let (ret, out) = run(&mut ebpf, &tunnelled);
            assert_eq!(ret, XDP_PASS, "{fam} {t}");
            assert_eq!(out, expected(&tunnelled, &input), "{fam} {t}");
            n += 1;
        }
    }
    assert_eq!(n, 24);
}

#[test]
fn gue_variant_1_is_decapsulated() {
    if !privileged("decap test_run") {
        return;
    }
    let mut ebpf = rvs_xdp::decap::load(&[GUE_PORT]).unwrap();
    for (vip, client, rip, outer) in [
        ("198.18.0.100", "198.18.0.10", "198.18.1.13", 20),
        ("fd00::100", "fd00::10", "fd00:1::d", 40),
    ] {
        let (v0, input) = encapsulated(vip, client, rip, tun(TunType::Gue, TunCsum::NoCsum));
        // Drop the 4-byte GUE header: variant 1 puts the IP header right after UDP.
        let at = 14 + outer + 8;
        let mut v1 = v0[..at].to_vec();
        v1.extend_from_slice(&v0[at + 4..]);
        let (ret, out) = run(&mut ebpf, &v1);
        assert_eq!(ret, XDP_PASS);
        assert_eq!(out, expected(&v0, &input), "{vip}");
    }
}

#[test]
fn other_traffic_passes_unchanged() {
    if !privileged("decap test_run") {
        return;
    }
    let mut ebpf = rvs_xdp::decap::load(&[GUE_PORT]).unwrap();
    let (gue_other_port, _) = {
        let mut e = rvs_xdp::decap::load(&[]).unwrap();
        let (f, i) = encapsulated(
            "198.18.0.100",
            "198.18.0.10",
            "198.18.1.13",
            tun(TunType::Gue, TunCsum::NoCsum),
        );
        // Without the port configured the same frame is not touched.
        assert_eq!(run(&mut e, &f), (XDP_PASS, f.clone()));
        (f, i)
    };
    let mut gre_key = encapsulated(
        "198.18.0.100",
        "198.18.0.10",
        "198.18.1.13",
        tun(TunType::Gre, TunCsum::NoCsum),
    )
    .0;
    gre_key[14 + 20] = 0x20; // K bit: a keyed GRE tunnel is not ours
    let mut gre_v1 = gre_key.clone();
    gre_v1[14 + 20] = 0;
    gre_v1[14 + 20 + 1] = 1; // version 1 (PPTP)
    let mut ipip_mismatch = encapsulated(
        "198.18.0.100",
        "198.18.0.10",
        "198.18.1.13",
        tun(TunType::Ipip, TunCsum::NoCsum),
    )
    .0;
    ipip_mismatch[14 + 9] = 41; // says IPv6 inside, but IPv4 follows
    let mut frag = encapsulated(
        "198.18.0.100",
        "198.18.0.10",
        "198.18.1.13",
        tun(TunType::Ipip, TunCsum::NoCsum),
    )
    .0;
    frag[14 + 6] = 0x20; // more fragments
    let frames: Vec<(&str, Vec<u8>)> = vec![
        ("tcp", frame("198.18.0.2", 5555, "198.18.1.13", 80, 6)),
        ("udp6", frame("fd00::2", 5555, "fd00:1::d", 53, 17)),
        (
            "udp to other port",
            frame("198.18.0.2", 5555, "198.18.1.13", GUE_PORT + 1, 17),
        ),
        ("arp", arp()),
        ("ping", ping("198.18.0.2", "198.18.1.13")),
        (
            "vlan",
            vlan(&frame("198.18.0.2", 5555, "198.18.1.13", 80, 6)),
        ),
        ("gre with key", gre_key),
        ("gre version 1", gre_v1),
        ("ipip family mismatch", ipip_mismatch),
        ("outer fragment", frag),
        ("truncated ipip", gue_other_port[..14 + 20 + 8 + 2].to_vec()),
        ("truncated ipv4", gue_other_port[..14 + 10].to_vec()),
    ];
    for (name, f) in frames {
        assert_eq!(run(&mut ebpf, &f), (XDP_PASS, f.clone()), "{name}");
    }
}

#[test]
fn too_many_gue_ports_is_an_error() {
    // No kernel needed: checked before loading.
    let ports: Vec<u16> = (1..=9).collect();
    assert!(matches!(
        rvs_xdp::decap::load(&ports),
        Err(rvs_xdp::XdpError::TooManyGuePorts(9))
    ));
}
