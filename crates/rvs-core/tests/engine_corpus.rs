//! The `engine_process` fuzz corpus, replayed: every file of `fuzz/corpus/engine_process/`
//! goes through the same harness as the fuzz target (`rvs_core::engine::lab::fuzz`), with
//! the same invariants; the committed seeds must reach every forwarding path. A proptest
//! feeds random and mutated inputs through the harness.
//!
//! The seeds are real conversations on the kitchen-sink director, written by
//! `cargo test -p rvs-core --test engine_corpus -- --ignored write_seeds`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use etherparse::PacketBuilder;
use proptest::prelude::*;
use rvs_core::engine::lab::fuzz::{CTRL_INT, CTRL_TIGHT, Harness, ctrl_for, decode, encode};
use rvs_core::engine::lab::{self, CLIENT_MAC, EXT_MAC, INT_MAC, fuzz_frames};
use rvs_core::engine::{Mac, Verdict};
use rvs_core::wire::{self, FrameKind, L4Info};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/engine_process")
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/engine_process exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// A stable name for what a verdict did (the path it took).
fn label(v: &Verdict) -> String {
    match v {
        Verdict::Transmit { kind, .. } | Verdict::Unresolved { kind, .. } => format!("{kind:?}"),
        Verdict::Pass(r) => format!("Pass({})", r.as_str()),
        Verdict::Drop(r) => format!("Drop({})", r.as_str()),
    }
}

// ---------------------------------------------------------------------------------------
// Frame builders.

const EXT: u8 = 0;
const INT: u8 = CTRL_INT;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
    Sctp,
}

/// Phases of a conversation, mapped to TCP flags / SCTP chunk types.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Start,
    StartReply,
    Ack,
    Data,
    Fin,
    Rst,
}

impl Phase {
    fn tcp_flags(self) -> &'static str {
        match self {
            Phase::Start => "S",
            Phase::StartReply => "SA",
            Phase::Ack => "A",
            Phase::Data => "PA",
            Phase::Fin => "FA",
            Phase::Rst => "R",
        }
    }

    fn sctp_chunk(self) -> u8 {
        match self {
            Phase::Start => 1,      // INIT
            Phase::StartReply => 2, // INIT ACK
            Phase::Ack => 10,       // COOKIE ECHO
            Phase::Data => 0,       // DATA
            Phase::Fin => 7,        // SHUTDOWN
            Phase::Rst => 6,        // ABORT
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn frame(
    src_mac: Mac,
    dst_mac: Mac,
    proto: Proto,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    phase: Phase,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac);
    let b = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), ttl),
        _ => panic!("family"),
    };
    let mut out = Vec::new();
    match proto {
        Proto::Tcp => {
            let flags = phase.tcp_flags();
            let mut t = b.tcp(sport, dport, 1000, 64240);
            if flags.contains('S') {
                t = t.syn();
            }
            if flags.contains('A') {
                t = t.ack(1);
            }
            if flags.contains('F') {
                t = t.fin();
            }
            if flags.contains('R') {
                t = t.rst();
            }
            if flags.contains('P') {
                t = t.psh();
            }
            t.write(&mut out, payload).unwrap();
        }
        Proto::Udp => b.udp(sport, dport).write(&mut out, payload).unwrap(),
        Proto::Sctp => {
            let mut s = Vec::new();
            s.extend_from_slice(&sport.to_be_bytes());
            s.extend_from_slice(&dport.to_be_bytes());
            s.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            s.extend_from_slice(&[0; 4]);
            let body = 16 + payload.len().div_ceil(4) * 4;
            s.extend_from_slice(&[phase.sctp_chunk(), 0]);
            s.extend_from_slice(&((4 + body) as u16).to_be_bytes());
            s.extend_from_slice(&[0xab; 16]);
            s.extend_from_slice(payload);
            s.resize(12 + 4 + body, 0);
            let crc = wire::crc32c::sctp_checksum(&s);
            s[8..12].copy_from_slice(&crc.to_le_bytes());
            b.write(&mut out, etherparse::IpNumber::SCTP, &s).unwrap();
        }
    }
    out
}

/// Addresses and ports of a frame: (src, sport, dst, dport).
fn endpoints(f: &[u8]) -> (IpAddr, u16, IpAddr, u16) {
    let info = wire::parse_frame(f).unwrap();
    let FrameKind::Ip(ip) = info.kind else {
        panic!("not IP")
    };
    let (sp, dp) = match ip.l4info {
        L4Info::Tcp { sport, dport, .. }
        | L4Info::Udp { sport, dport }
        | L4Info::Sctp { sport, dport, .. } => (sport, dport),
        _ => (0, 0),
    };
    (ip.src, sp, ip.dst, dp)
}

/// The IP packet of an Ethernet frame without VLAN tag.
fn ip_of(f: &[u8]) -> &[u8] {
    &f[14..]
}

/// An ICMP error from `src` (MAC `src_mac`, arriving at `dst_mac`) quoting `orig_ip`.
fn icmp_error(src_mac: Mac, dst_mac: Mac, src: IpAddr, orig_ip: &[u8], too_big: bool) -> Vec<u8> {
    let mut out = Vec::new();
    match src {
        IpAddr::V4(s) => {
            let (code, mtu) = if too_big { (4, 1400) } else { (1, 0) };
            wire::icmpv4_unreachable(&mut out, src_mac, dst_mac, None, s, code, mtu, orig_ip)
                .unwrap()
        }
        IpAddr::V6(s) => {
            let (ty, code, mtu) = if too_big { (2, 0, 1400) } else { (1, 3, 0) };
            wire::icmpv6_error(&mut out, src_mac, dst_mac, None, s, ty, code, mtu, orig_ip).unwrap()
        }
    }
    out
}

fn router(v6: bool) -> IpAddr {
    if v6 {
        "fd00::fe".parse().unwrap()
    } else {
        "198.18.0.254".parse().unwrap()
    }
}

fn client(v6: bool, n: u8) -> IpAddr {
    if v6 {
        format!("fd00::{n:x}").parse().unwrap()
    } else {
        format!("198.18.0.{n}").parse().unwrap()
    }
}

fn vip(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(lab::VIP6)
    } else {
        IpAddr::V4(lab::VIP4)
    }
}

// ---------------------------------------------------------------------------------------
// Seed conversations.

/// A recorded sequence of frames through a fresh harness.
struct Seq {
    h: Harness,
    recs: Vec<(u8, Vec<u8>)>,
}

impl Seq {
    fn new() -> Seq {
        Seq {
            h: Harness::new(),
            recs: Vec::new(),
        }
    }

    fn send(&mut self, ctrl: u8, f: Vec<u8>) -> (Verdict, Vec<u8>) {
        let r = self.h.step(ctrl, &f).expect("a frame");
        self.recs.push((ctrl, f));
        r
    }

    fn wait(&mut self, ms: u64) {
        let ctrl = ctrl_for(false, ms);
        assert!(self.h.step(ctrl, &[]).is_none());
        self.recs.push((ctrl, Vec::new()));
    }

    fn bytes(&self) -> Vec<u8> {
        encode(&self.recs)
    }
}

fn is_routed_back(v: &Verdict) -> bool {
    use rvs_core::FwdMethod::{FullNat, Masq};
    use rvs_core::engine::TxKind::Forward;
    matches!(
        v,
        Verdict::Transmit {
            kind: Forward {
                method: Masq | FullNat,
                ..
            },
            ..
        }
    )
}

/// A client talks to `vip:vport`; NAT/FULLNAT servers answer; then ICMP errors both ways
/// and a close. `skip` other clients start first, so the scheduler picks another dest.
fn conversation(proto: Proto, vip: IpAddr, vport: u16, cip: IpAddr, cport: u16, skip: u8) -> Seq {
    let mut s = Seq::new();
    for n in 0..skip {
        let other = client(vip.is_ipv6(), 200 + n);
        s.send(
            EXT,
            frame(
                CLIENT_MAC,
                EXT_MAC,
                proto,
                other,
                cport,
                vip,
                vport,
                Phase::Start,
                64,
                b"",
            ),
        );
    }
    let c = |phase, payload: &[u8]| {
        frame(
            CLIENT_MAC, EXT_MAC, proto, cip, cport, vip, vport, phase, 64, payload,
        )
    };
    let (v, fwd) = s.send(EXT, c(Phase::Start, b""));
    let routed_back = is_routed_back(&v);
    let transmitted = matches!(v, Verdict::Transmit { .. });
    // What the server sees: RIP:rport, and who it answers (CIP or LIP).
    let server_reply = |phase, payload: &[u8], ttl| {
        let (src, sport, dst, dport) = endpoints(&fwd);
        frame(
            lab::server_mac(&dst),
            INT_MAC,
            proto,
            dst,
            dport,
            src,
            sport,
            phase,
            ttl,
            payload,
        )
    };
    let mut reply_out = None;
    if routed_back {
        let (_, out) = s.send(INT, server_reply(Phase::StartReply, b"", 64));
        reply_out = Some(out);
    }
    s.send(ctrl_for(false, 100), c(Phase::Ack, b""));
    s.send(EXT, c(Phase::Data, b"GET / HTTP/1.0\r\n\r\n"));
    if routed_back {
        s.send(
            INT,
            server_reply(Phase::Data, b"HTTP/1.0 200 OK\r\n\r\n", 64),
        );
        // A reply whose TTL would expire goes to the local stack.
        s.send(INT, server_reply(Phase::Data, b"x", 1));
    }
    // A router on the client side cannot deliver a reply: the error goes to the server.
    let to_client = match reply_out {
        Some(out) => ip_of(&out).to_vec(),
        None => {
            let f = frame(
                lab::server_mac(&cip),
                CLIENT_MAC,
                proto,
                vip,
                vport,
                cip,
                cport,
                Phase::StartReply,
                63,
                b"",
            );
            ip_of(&f).to_vec()
        }
    };
    s.send(
        EXT,
        icmp_error(
            CLIENT_MAC,
            EXT_MAC,
            router(vip.is_ipv6()),
            &to_client,
            false,
        ),
    );
    // The server cannot deliver to the client address it saw: the error goes back.
    if transmitted && fwd.get(12..14) == Some(&[0x08, 0x00])
        || fwd.get(12..14) == Some(&[0x86, 0xdd])
    {
        let (src, _, dst, _) = endpoints(&fwd);
        if routed_back && src.is_ipv6() == dst.is_ipv6() {
            s.send(
                INT,
                icmp_error(lab::server_mac(&dst), INT_MAC, dst, ip_of(&fwd), false),
            );
        }
    }
    s.send(ctrl_for(false, 1000), c(Phase::Fin, b""));
    if routed_back {
        s.send(INT, server_reply(Phase::Fin, b"", 64));
    }
    s.send(EXT, c(Phase::Ack, b""));
    s.wait(120_000);
    // The same client port again after expiry, then reset.
    s.send(EXT, c(Phase::Start, b""));
    s.send(EXT, c(Phase::Rst, b""));
    s
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |name: String, s: Seq| out.push((name, s.bytes()));
    // Every address-keyed service, twice (the schedulers alternate between dests).
    for svc in lab::sink_services() {
        let rvs_core::ServiceKey::Addr { proto, addr, port } = svc.key else {
            continue;
        };
        let p = match proto {
            rvs_core::Protocol::Tcp => Proto::Tcp,
            rvs_core::Protocol::Udp => Proto::Udp,
            rvs_core::Protocol::Sctp => Proto::Sctp,
        };
        let fam = if addr.is_ipv6() { 6 } else { 4 };
        let name = format!("{p:?}{fam}-{port}").to_lowercase();
        for (i, n) in [10u8, 11].into_iter().enumerate() {
            add(
                format!("conv-{name}-{i}"),
                conversation(
                    p,
                    addr,
                    port,
                    client(addr.is_ipv6(), n),
                    40000 + u16::from(n),
                    i as u8,
                ),
            );
        }
    }
    // The fwmark service: UDP to the classified address.
    for n in [10u8, 11] {
        let fm = IpAddr::V4(lab::FWMARK_VIP4);
        add(
            format!("conv-fwmark-{n}"),
            conversation(Proto::Udp, fm, 5005, client(false, n), 5000, n - 10),
        );
    }
    // Persistence: one client, several connections, then after the template expires.
    for v6 in [false, true] {
        let mut s = Seq::new();
        let (proto, port) = if v6 {
            (Proto::Udp, 443)
        } else {
            (Proto::Tcp, 443)
        };
        for (i, wait) in [0u64, 1000, 400_000].into_iter().enumerate() {
            if wait > 0 {
                s.wait(wait);
            }
            let cip = client(v6, 20);
            s.send(
                EXT,
                frame(
                    CLIENT_MAC,
                    EXT_MAC,
                    proto,
                    cip,
                    41000 + i as u16,
                    vip(v6),
                    port,
                    Phase::Start,
                    64,
                    b"",
                ),
            );
        }
        add(format!("persist-{}", if v6 { 6 } else { 4 }), s);
    }
    // FULLNAT port exhaustion: many clients on one RIP.
    {
        let mut s = Seq::new();
        for n in 0..20u8 {
            let f = frame(
                CLIENT_MAC,
                EXT_MAC,
                Proto::Tcp,
                client(false, 30 + n),
                42000,
                vip(false),
                83,
                Phase::Start,
                64,
                b"",
            );
            s.send(EXT, f);
        }
        add("fullnat-exhaust".into(), s);
    }
    // TUN: a packet too big to encapsulate, with and without DF; tight buffers.
    for v6 in [false, true] {
        let mut s = Seq::new();
        let big = vec![0x5a; 1460];
        let f = frame(
            CLIENT_MAC,
            EXT_MAC,
            Proto::Tcp,
            client(v6, 12),
            43000,
            vip(v6),
            82,
            Phase::Start,
            64,
            &big[..if v6 { 1440 } else { 1460 }],
        );
        s.send(EXT, f.clone());
        let mut nodf = f.clone();
        if !v6 {
            nodf[20] &= !0x40; // clear DF
            let c = u16::from_be_bytes([nodf[24], nodf[25]]);
            // DF is 0x4000 in flags/fragment word: adjust the header checksum (RFC 1624).
            let sum = u32::from(!c) + 0xbfff + u32::from(0xffffu16);
            let sum = (sum & 0xffff) + (sum >> 16);
            let sum = (sum & 0xffff) + (sum >> 16);
            nodf[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        }
        s.send(EXT, nodf);
        s.send(CTRL_TIGHT, f);
        s.send(
            CTRL_TIGHT,
            frame(
                CLIENT_MAC,
                EXT_MAC,
                Proto::Tcp,
                client(v6, 13),
                43001,
                vip(v6),
                82,
                Phase::Start,
                64,
                b"",
            ),
        );
        s.send(
            CTRL_TIGHT,
            frame(
                CLIENT_MAC,
                EXT_MAC,
                Proto::Tcp,
                client(v6, 13),
                43001,
                vip(v6),
                8000,
                Phase::Start,
                64,
                b"",
            ),
        );
        add(format!("tun-big-{}", if v6 { 6 } else { 4 }), s);
    }
    // Odds and ends: ARP, echo, fragment, VLAN, malformed, unknown neighbour, ACK
    // without connection, no-dest service.
    {
        let mut s = Seq::new();
        let syn = |port, n| {
            frame(
                CLIENT_MAC,
                EXT_MAC,
                Proto::Tcp,
                client(false, n),
                44000,
                vip(false),
                port,
                Phase::Start,
                64,
                b"",
            )
        };
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&CLIENT_MAC);
        arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        arp.extend_from_slice(&CLIENT_MAC);
        arp.extend_from_slice(&[198, 18, 0, 10, 0, 0, 0, 0, 0, 0, 198, 18, 0, 100]);
        s.send(EXT, arp);
        let mut echo = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, EXT_MAC)
            .ipv4([198, 18, 0, 10], [198, 18, 0, 100], 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut echo, b"ping")
            .unwrap();
        s.send(EXT, echo);
        let mut frag = syn(80, 10);
        frag[20] |= 0x20; // MF
        s.send(EXT, frag);
        let mut vlan = syn(80, 11);
        vlan.splice(12..12, [0x81, 0x00, 0x00, 0x2a]);
        s.send(EXT, vlan);
        let whole = syn(80, 12);
        s.send(EXT, whole[..40].to_vec());
        s.send(EXT, syn(8000, 13));
        let ack = frame(
            CLIENT_MAC,
            EXT_MAC,
            Proto::Tcp,
            client(false, 14),
            44000,
            vip(false),
            80,
            Phase::Ack,
            64,
            b"",
        );
        s.send(EXT, ack);
        // A client outside the lab's neighbours (routed via the gateway): the reply's next
        // hop is the gateway 198.18.0.254, which the lab knows.
        let far = frame(
            CLIENT_MAC,
            EXT_MAC,
            Proto::Udp,
            "203.0.113.9".parse().unwrap(),
            44001,
            vip(false),
            53,
            Phase::Start,
            64,
            b"q",
        );
        s.send(EXT, far);
        add("misc".into(), s);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Tests.

/// Writes the seeds into `fuzz/corpus/engine_process/` (replacing earlier seeds).
#[test]
#[ignore = "writes fuzz/corpus/engine_process; run by hand after changing the seeds"]
fn write_seeds() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("seed-")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    for (name, bytes) in seeds() {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}

#[test]
fn corpus_replays_without_violating_an_invariant() {
    let files = corpus();
    assert!(files.len() >= 20, "only {} corpus files", files.len());
    let mut seen = BTreeSet::new();
    for (name, data) in &files {
        // The panic message (printed by the hook) says what failed; this says where.
        assert!(
            std::panic::catch_unwind(|| fuzz_frames(data)).is_ok(),
            "corpus file {name} violates an invariant"
        );
        let mut h = Harness::new();
        for (ctrl, f) in decode(data) {
            if let Some((v, _)) = h.step(ctrl, f) {
                seen.insert(label(&v));
            }
        }
    }
    // The committed seeds reach every forwarding path.
    for want in [
        "Forward { method: Masq, new: true }",
        "Forward { method: Masq, new: false }",
        "Forward { method: Route, new: true }",
        "Forward { method: Tunnel, new: true }",
        "Forward { method: FullNat, new: true }",
        "Forward { method: FullNat, new: false }",
        "Reply { method: Masq }",
        "Reply { method: FullNat }",
        "IcmpToServer { method: Masq }",
        "IcmpToServer { method: FullNat }",
        "IcmpToServer { method: Route }",
        "IcmpToServer { method: Tunnel }",
        "IcmpToClient { method: Masq }",
        "IcmpToClient { method: FullNat }",
        "IcmpAnswer(PortUnreachable)",
        "Pass(not-ip)",
        "Pass(ttl-expired)",
        "Pass(not-conn-start)",
        "Drop(fragment)",
        "Drop(fullnat-ports-exhausted)",
    ] {
        assert!(
            seen.contains(want),
            "no seed reaches {want}; seen: {seen:#?}"
        );
    }
    assert!(
        seen.iter().any(|s| s.starts_with("IcmpAnswer(TooBig")),
        "no seed reaches TooBig; seen: {seen:#?}"
    );
}

#[test]
fn committed_seeds_are_current() {
    let files = corpus();
    for (name, bytes) in seeds() {
        let file = format!("seed-{name}");
        let got = files.iter().find(|(n, _)| *n == file).map(|(_, b)| b);
        assert_eq!(
            got,
            Some(&bytes),
            "{file} is missing or stale: run `cargo test -p rvs-core --test engine_corpus -- --ignored write_seeds`"
        );
    }
}

/// Flip, insert or cut bytes of a seed.
fn mutate(mut data: Vec<u8>, ops: &[(u16, u8, u8)]) -> Vec<u8> {
    for &(pos, op, val) in ops {
        if data.is_empty() {
            data.push(val);
            continue;
        }
        let i = usize::from(pos) % data.len();
        match op % 4 {
            0 => data[i] ^= val | 1,
            1 => data[i] = val,
            2 => data.insert(i, val),
            _ => data.truncate(i.max(1)),
        }
    }
    data
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_keep_the_invariants(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz_frames(&data);
    }

    #[test]
    fn mutated_seeds_keep_the_invariants(
        pick in any::<prop::sample::Index>(),
        ops in proptest::collection::vec((any::<u16>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let files = corpus();
        let (_, data) = &files[pick.index(files.len())];
        fuzz_frames(&mutate(data.clone(), &ops));
    }

    /// Mutations inside one frame, keeping the record structure (so the frames after it
    /// still run on the state it left).
    #[test]
    fn mutated_frames_keep_the_invariants(
        pick in any::<prop::sample::Index>(),
        frame in any::<prop::sample::Index>(),
        ops in proptest::collection::vec((any::<u16>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        let files = corpus();
        let (_, data) = &files[pick.index(files.len())];
        let mut recs: Vec<(u8, Vec<u8>)> =
            decode(data).into_iter().map(|(c, f)| (c, f.to_vec())).collect();
        prop_assume!(!recs.is_empty());
        let i = frame.index(recs.len());
        recs[i].1 = mutate(std::mem::take(&mut recs[i].1), &ops);
        fuzz_frames(&encode(&recs));
    }
}
