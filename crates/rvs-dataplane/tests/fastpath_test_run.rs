//! The XDP fast path against the engine (root: BPF_PROG_TEST_RUN).
//!
//! Every golden fixture (crates/rvs/tests/golden/*.case) is replayed step by step. Before
//! each step, every connection the engine holds gets its fast-path entries
//! (`rvs_dataplane::fastpath::entries`, the data plane's one builder); the step's frame
//! then runs through `rvs_xdp` with `BPF_PROG_TEST_RUN` and through `Engine::process`.
//! A frame the fast path takes must give the engine's verdict (XDP_TX when the engine
//! sends it out of the interface it came in on, a DEVMAP redirect otherwise) and the
//! engine's bytes; a frame it does not take must come out of the classifier unchanged
//! (XDP_PASS: no classes are configured). Established frames of installed flows must be
//! taken. A proptest does the same for random established flows and packets.
//!
//! The lab's `ext` is `lo` and `int` another interface of this namespace (test_run needs
//! real ifindexes for the ingress and the DEVMAP; nothing is transmitted).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use aya::programs::{TestRun, TestRunOptions};
use proptest::prelude::*;
use rvs_config::ipvsadm::{self, Invocation};
use rvs_core::Command;
use rvs_core::engine::golden::{self, Case};
use rvs_core::engine::lab::{self, LabNeighbours};
use rvs_core::engine::{Engine, Frame, HEADROOM, IfaceId, TxKind, Verdict};
use rvs_core::time::Time;
use rvs_dataplane::fastpath;
use rvs_xdp::{Classifier, FlowKey, FlowStats};

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const XDP_REDIRECT: u32 = 4;
const SLOT: u32 = 7;

fn privileged(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("RVS_REQUIRE_PRIV").as_deref() == Ok("1") {
        panic!("needs root: {what} (RVS_REQUIRE_PRIV=1)");
    }
    eprintln!("SKIP (needs root): {what}");
    false
}

fn to_command(line: &str) -> Result<Command, String> {
    let args = ipvsadm::split_restore_line(line);
    match ipvsadm::parse("ipvsadm", &args) {
        Ok(Invocation::Command(c)) => Ok(c),
        Ok(_) => Err("not a table command".into()),
        Err(e) => Err(e.message),
    }
}

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid C string.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

/// The BPF side: the loaded program, the lab's interfaces as ifindexes.
struct Bpf {
    c: Classifier,
    ext: u32,
    int: u32,
    installed: Vec<FlowKey>,
}

impl Bpf {
    fn new() -> Self {
        let ext = ifindex("lo");
        let mut others: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lo")
            .collect();
        others.sort();
        let int = others
            .iter()
            .map(|n| ifindex(n))
            .find(|&i| i != 0)
            .expect("a second interface for the DEVMAP");
        let mut c = Classifier::load().unwrap();
        c.add_tx_port(ext).unwrap();
        c.add_tx_port(int).unwrap();
        Bpf {
            c,
            ext,
            int,
            installed: Vec::new(),
        }
    }

    fn ifindex_of(&self, i: IfaceId) -> Option<u32> {
        match i {
            lab::EXT => Some(self.ext),
            lab::INT => Some(self.int),
            _ => None,
        }
    }

    /// Replace the installed flows by the entries of every eligible connection.
    fn sync(&mut self, e: &Engine) {
        for k in std::mem::take(&mut self.installed) {
            self.c.remove_flow(&k).unwrap();
        }
        let ids: Vec<_> = e.director.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            let map = |i: IfaceId| self.ifindex_of(i);
            if let Ok(v) = fastpath::entries(e, id, &LabNeighbours, &map, SLOT) {
                for en in v {
                    self.installed.push(en.key);
                    self.c.set_flow(&en.key, &en.flow).unwrap();
                }
            }
        }
    }

    /// Run a frame arriving on `ingress`: return value, output bytes, fast-path counter
    /// delta, slot counter delta.
    fn run(&mut self, frame: &[u8], ingress: u32) -> (u32, Vec<u8>, u64, FlowStats) {
        let before = (
            self.c.counters().unwrap().fastpath,
            self.c.flow_stats(SLOT).unwrap(),
        );
        let mut out = vec![0u8; frame.len() + 256];
        let mut ctx = [0u8; 24];
        ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        ctx[12..16].copy_from_slice(&ingress.to_ne_bytes());
        let r = self
            .c
            .program()
            .unwrap()
            .test_run(TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                ctx_in: Some(&ctx),
                ..TestRunOptions::default()
            })
            .unwrap();
        out.truncate(r.data_size_out as usize);
        let after = (
            self.c.counters().unwrap().fastpath,
            self.c.flow_stats(SLOT).unwrap(),
        );
        let d = FlowStats {
            pkts_in: after.1.pkts_in - before.1.pkts_in,
            bytes_in: after.1.bytes_in - before.1.bytes_in,
            pkts_out: after.1.pkts_out - before.1.pkts_out,
            bytes_out: after.1.bytes_out - before.1.bytes_out,
        };
        (r.return_value, out, after.0 - before.0, d)
    }
}

/// The frame's flow key and whether it may take the fast path (TCP without SYN, FIN,
/// RST; UDP; no IPv4 options, no IPv6 extension headers, not a fragment), and its IP
/// length.
fn key_of(frame: &[u8]) -> Option<(FlowKey, bool, u64)> {
    let mut l3 = 14;
    let mut et = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if et == 0x8100 {
        et = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        l3 = 18;
    }
    let p = frame.get(l3..)?;
    let (proto, src, dst, l4, len, plain): (u8, IpAddr, IpAddr, usize, u64, bool) = match et {
        0x0800 if p.len() >= 20 => {
            let s: [u8; 4] = p[12..16].try_into().ok()?;
            let d: [u8; 4] = p[16..20].try_into().ok()?;
            let frag = u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0;
            let len = u16::from_be_bytes([p[2], p[3]]) as u64;
            (p[9], s.into(), d.into(), 20, len, p[0] == 0x45 && !frag)
        }
        0x86dd if p.len() >= 40 => {
            let s: [u8; 16] = p[8..24].try_into().ok()?;
            let d: [u8; 16] = p[24..40].try_into().ok()?;
            let len = 40 + u16::from_be_bytes([p[4], p[5]]) as u64;
            (p[6], s.into(), d.into(), 40, len, true)
        }
        _ => return None,
    };
    let l = p.get(l4..)?;
    if l.len() < 4 {
        return None;
    }
    let sport = u16::from_be_bytes([l[0], l[1]]);
    let dport = u16::from_be_bytes([l[2], l[3]]);
    let ok = match proto {
        6 => l.len() >= 20 && l[13] & 0x07 == 0,
        17 => true,
        _ => false,
    };
    Some((
        FlowKey::new(proto, src, sport, dst, dport)?,
        ok && plain,
        len,
    ))
}

fn process(e: &mut Engine, input: &[u8], ingress: IfaceId, t: u64) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEADROOM + input.len() + 2048];
    buf[HEADROOM..HEADROOM + input.len()].copy_from_slice(input);
    let mut f = Frame::new(&mut buf, HEADROOM, input.len()).unwrap();
    let v = e.process(&mut f, ingress, Time(t), &LabNeighbours);
    (v, f.data().to_vec())
}

/// What one frame did on both sides.
#[derive(Debug, Default)]
struct Tally {
    taken: u64,
    fell_through: u64,
}

/// Run one frame through both; panics on a difference. True when the fast path took it.
/// `may_skip`: an established frame may be left to userspace.
fn differential(
    bpf: &mut Bpf,
    e: &mut Engine,
    what: &str,
    input: &[u8],
    ingress: IfaceId,
    t: u64,
    may_skip: bool,
) -> bool {
    bpf.sync(e);
    let in_idx = bpf.ifindex_of(ingress).unwrap();
    let (ret, out, hits, stats) = bpf.run(input, in_idx);
    let (v, want) = process(e, input, ingress, t);
    let key = key_of(input);
    let installed = key.is_some_and(|(k, _, _)| bpf.installed.contains(&k));
    if ret == XDP_TX || ret == XDP_REDIRECT {
        let Verdict::Transmit { egress, kind, .. } = v else {
            panic!("{what}: fast path sent it (ret {ret}), the engine said {v:?}");
        };
        let eg = bpf.ifindex_of(egress).unwrap();
        let want_ret = if eg == in_idx { XDP_TX } else { XDP_REDIRECT };
        assert_eq!(ret, want_ret, "{what}: verdict (engine: {v:?})");
        assert_eq!(
            golden::to_hex(&out),
            golden::to_hex(&want),
            "{what}: bytes (engine: {v:?})"
        );
        assert_eq!(hits, 1, "{what}: fastpath counter");
        let (_, _, len) = key.unwrap();
        let reply = matches!(kind, TxKind::Reply { .. });
        let d = if reply {
            (stats.pkts_out, stats.bytes_out, stats.pkts_in)
        } else {
            (stats.pkts_in, stats.bytes_in, stats.pkts_out)
        };
        assert_eq!(d, (1, len, 0), "{what}: slot counters {stats:?}");
        true
    } else {
        assert_eq!(ret, XDP_PASS, "{what}: fell through to the classifier");
        assert_eq!(out, input, "{what}: a frame not taken is unchanged");
        assert_eq!(hits, 0, "{what}");
        assert_eq!(stats, FlowStats::default(), "{what}");
        // An established frame of an installed flow that the engine forwards must have
        // been taken (one whose TTL would expire, or that is answered with ICMP, is not).
        if let (
            Some((_, eligible, _)),
            Verdict::Transmit {
                kind: TxKind::Forward { .. } | TxKind::Reply { .. },
                ..
            },
        ) = (key, v)
        {
            assert!(
                may_skip || !(installed && eligible),
                "{what}: established frame of an installed flow not taken (engine: {v:?})"
            );
        }
        false
    }
}

#[allow(clippy::too_many_arguments)]
#[test]
fn golden_frames_match_the_engine() {
    if !privileged("fast path differential test_run") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rvs/tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "case"))
        .collect();
    files.sort();
    assert!(
        files.len() > 40,
        "golden fixtures found in {}",
        dir.display()
    );
    let mut bpf = Bpf::new();
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    for path in &files {
        let case: Case = golden::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut e = lab::engine();
        for r in &case.rules {
            e.director
                .apply(&to_command(r).unwrap(), Time::ZERO)
                .unwrap();
        }
        for l in &case.local {
            e.fullnat.add_local_address(l.service, l.addr);
        }
        let t = tally.entry(case.name.clone()).or_default();
        for (i, st) in case.steps.iter().enumerate() {
            if st.input.len() < 14 {
                continue; // test_run refuses frames shorter than an Ethernet header
            }
            let ingress = e.routes.by_name(&st.ingress).unwrap();
            let what = format!("{} step {}", case.name, i + 1);
            let mut times = vec![st.time_ms];
            // The same frame once more, now that the step has moved the connection on:
            // a TCP ACK that established it is replayed in the established state.
            if key_of(&st.input).is_some_and(|k| k.1) {
                times.push(st.time_ms + 1);
            }
            for (n, time) in times.into_iter().enumerate() {
                let what = format!("{what}{}", if n > 0 { " (again)" } else { "" });
                if differential(&mut bpf, &mut e, &what, &st.input, ingress, time, false) {
                    t.taken += 1;
                } else {
                    t.fell_through += 1;
                }
            }
        }
    }
    let taken = |n: &str| tally.get(n).map_or(0, |t| t.taken);
    for name in [
        "nat-v4-tcp",
        "nat-v6-tcp",
        "nat-v4-udp",
        "nat-v6-udp",
        "dr-v4-tcp",
        "dr-v6-tcp",
        "dr-v4-udp",
        "dr-v6-udp",
        "fullnat-v4-tcp",
        "fullnat-v6-tcp",
        "fullnat-v4-udp",
        "fullnat-v6-udp",
        "tun-gue-nocsum-v4",
        "tun-gue-nocsum-v6",
        "tun-gre-nocsum-v4",
        "tun-gre-nocsum-v6",
        "tun-gue-csum-v4",
        "tun-gue-csum-v6",
        "tun-gre-csum-v4",
        "tun-gre-csum-v6",
    ] {
        assert!(
            taken(name) > 0,
            "{name}: no frame took the fast path: {tally:?}"
        );
    }
    for name in ["pass-no-service", "malformed-tcp", "fragments-v4"] {
        assert_eq!(taken(name), 0, "{name}");
    }
    let total: u64 = tally.values().map(|t| t.taken).sum();
    eprintln!("fast path took {total} golden frames: {tally:?}");
}

/// A random established flow and one packet of it.
#[derive(Clone, Debug)]
struct Flowcase {
    /// `-m`, `-g`, `-i` (ipip), `-i --tun-type gue`, `-i --tun-type gre`, FULLNAT.
    method: usize,
    v6: bool,
    udp: bool,
    client: u8,
    cport: u16,
    vport: u16,
    rport: u16,
    /// Server → client (NAT and FULLNAT only).
    reply: bool,
    payload: Vec<u8>,
    ttl: u8,
    tos: u8,
    df: bool,
    tcp_flags: u8,
    csum: u16,
}

const METHODS: [&str; 8] = [
    "-m",
    "-g",
    "-i",
    "-i --tun-type gue --tun-port 6080",
    "-i --tun-type gre",
    "--fullnat",
    "-i --tun-type gue --tun-port 6080 --tun-csum",
    "-i --tun-type gre --tun-csum",
];

fn flowcase() -> impl Strategy<Value = Flowcase> {
    (
        (0..METHODS.len(), any::<bool>(), any::<bool>(), 2u8..=254),
        (1u16.., 1u16.., 1u16.., any::<bool>()),
        (
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..120),
                proptest::collection::vec(any::<u8>(), 0..1460)
            ],
            1u8..=255,
            any::<u8>(),
            any::<bool>(),
        ),
        (
            prop_oneof![
                Just(0x10u8),
                Just(0x18),
                Just(0x30),
                Just(0x11),
                Just(0x12),
                Just(0x14),
                0u8..0x40
            ],
            prop_oneof![
                Just(0u16),
                Just(0xffff),
                Just(1),
                Just(0xfffe),
                any::<u16>()
            ],
        ),
    )
        .prop_map(
            |(
                (method, v6, udp, client),
                (cport, vport, rport, reply),
                (payload, ttl, tos, df),
                (tcp_flags, csum),
            )| Flowcase {
                method,
                v6,
                udp,
                client,
                cport,
                vport,
                rport,
                reply: reply && (method == 0 || method == 5),
                payload,
                ttl,
                tos,
                df,
                tcp_flags,
                csum,
            },
        )
}

fn addr(v6: bool, net: u8, host: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::new(
            0xfd00,
            u16::from(net),
            0,
            0,
            0,
            0,
            0,
            u16::from(host),
        ))
    } else {
        IpAddr::V4(std::net::Ipv4Addr::new(198, 18, net, host))
    }
}

/// An Ethernet frame `src:sport → dst:dport` with raw control over the fields the fast
/// path reads and rewrites (checksums are whatever `csum` says: neither side verifies).
#[allow(clippy::too_many_arguments)]
fn raw_frame(
    smac: [u8; 6],
    dmac: [u8; 6],
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    udp: bool,
    flags: u8,
    fc: &Flowcase,
    csum: u16,
) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    if udp {
        l4.extend_from_slice(&((8 + fc.payload.len()) as u16).to_be_bytes());
        l4.extend_from_slice(&csum.to_be_bytes());
    } else {
        l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0xfa, 0xf0]);
        l4.extend_from_slice(&csum.to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    }
    l4.extend_from_slice(&fc.payload);
    let proto = if udp { 17 } else { 6 };
    let mut f = Vec::new();
    f.extend_from_slice(&dmac);
    f.extend_from_slice(&smac);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00, 0x45, fc.tos]);
            f.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0x12, 0x34]);
            f.extend_from_slice(&(if fc.df { 0x4000u16 } else { 0 }).to_be_bytes());
            f.extend_from_slice(&[fc.ttl, proto, 0xab, 0xcd]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60 | (fc.tos >> 4), fc.tos << 4, 0x12, 0x34]);
            f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            f.extend_from_slice(&[proto, fc.ttl]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => unreachable!(),
    }
    f.extend_from_slice(&l4);
    f
}

/// Set up the flow in a lab engine (rules, then the packets that establish it) and run
/// the case's packet through both implementations. Returns whether XDP took it.
fn run_flowcase(bpf: &mut Bpf, fc: &Flowcase) -> bool {
    let (mut e, pkt, ingress) = setup_flowcase(fc);
    // An IPv4 packet without DF tunnelled in IPv4 needs an IP id: userspace's.
    let may_skip = matches!(fc.method, 2 | 3 | 4 | 6 | 7) && !fc.v6 && !fc.df;
    differential(
        bpf,
        &mut e,
        &format!("{fc:?}"),
        &pkt,
        ingress,
        2000,
        may_skip,
    )
}

/// The engine with the case's flow established, the case's packet and its ingress.
fn setup_flowcase(fc: &Flowcase) -> (Engine, Vec<u8>, IfaceId) {
    let mut e = lab::engine();
    let (vip, cip, rip) = (
        addr(fc.v6, 0, 100),
        addr(fc.v6, 0, fc.client),
        addr(fc.v6, 1, 20),
    );
    let p = if fc.udp { "-u" } else { "-t" };
    let sa = |a: IpAddr, port: u16| std::net::SocketAddr::new(a, port).to_string();
    let rules = [
        format!("-A {p} {} -s rr", sa(vip, fc.vport)),
        format!(
            "-a {p} {} -r {} {} -w 1",
            sa(vip, fc.vport),
            sa(rip, fc.rport),
            METHODS[fc.method]
        ),
    ];
    for r in &rules {
        e.director
            .apply(&to_command(r).unwrap(), Time::ZERO)
            .unwrap();
    }
    e.fullnat.add_local_address(None, addr(fc.v6, 1, 200));
    let nat = fc.method == 0 || fc.method == 5;
    let cm = lab::CLIENT_MAC;
    let sm = lab::server_mac(&rip);
    let c2s = |flags: u8| {
        raw_frame(
            cm,
            lab::EXT_MAC,
            cip,
            fc.cport,
            vip,
            fc.vport,
            fc.udp,
            flags,
            fc,
            0x1111,
        )
    };
    // Establish: UDP's first packet; TCP's handshake as the director sees it.
    let setup = c2s(0x02);
    process(&mut e, &setup, lab::EXT, 1000);
    let id = e.director.conns.iter().map(|(id, _)| id).next();
    if !fc.udp {
        if nat {
            let (laddr, lport) = match (fc.method, id) {
                (5, Some(id)) => e.fullnat.get(id).unwrap(),
                _ => (cip, fc.cport),
            };
            let sa = raw_frame(
                sm,
                lab::INT_MAC,
                rip,
                fc.rport,
                laddr,
                lport,
                false,
                0x12,
                fc,
                7,
            );
            process(&mut e, &sa, lab::INT, 1001);
        }
        process(&mut e, &c2s(0x10), lab::EXT, 1002);
    }
    let pkt = if fc.reply {
        let id = id.expect("a connection");
        let (laddr, lport) = if fc.method == 5 {
            e.fullnat.get(id).unwrap()
        } else {
            (cip, fc.cport)
        };
        raw_frame(
            sm,
            lab::INT_MAC,
            rip,
            fc.rport,
            laddr,
            lport,
            fc.udp,
            fc.tcp_flags,
            fc,
            fc.csum,
        )
    } else {
        raw_frame(
            cm,
            lab::EXT_MAC,
            cip,
            fc.cport,
            vip,
            fc.vport,
            fc.udp,
            fc.tcp_flags,
            fc,
            fc.csum,
        )
    };
    let ingress = if fc.reply { lab::INT } else { lab::EXT };
    (e, pkt, ingress)
}

#[test]
fn random_established_flows_match_the_engine() {
    if !privileged("fast path proptest through test_run") {
        return;
    }
    let bpf = std::cell::RefCell::new(Bpf::new());
    let taken = std::cell::Cell::new(0u32);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 1500,
        ..ProptestConfig::default()
    });
    runner
        .run(&flowcase(), |fc| {
            if run_flowcase(&mut bpf.borrow_mut(), &fc) {
                taken.set(taken.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    // Most random packets are established ones the fast path must take.
    assert!(taken.get() > 500, "only {} of 1500 taken", taken.get());
}

fn simple_case(method: usize, v6: bool, udp: bool, reply: bool) -> Flowcase {
    Flowcase {
        method,
        v6,
        udp,
        client: 10,
        cport: 40000,
        vport: 80,
        rport: 8080,
        reply: reply && (method == 0 || method == 5),
        payload: b"hello".to_vec(),
        ttl: 64,
        tos: 0x10,
        df: true,
        tcp_flags: 0x18,
        csum: 0x1234,
    }
}

#[test]
fn a_flow_case_of_each_method_is_taken() {
    if !privileged("fast path test_run") {
        return;
    }
    let mut bpf = Bpf::new();
    for method in 0..METHODS.len() {
        for v6 in [false, true] {
            for udp in [false, true] {
                for reply in [false, true] {
                    let fc = simple_case(method, v6, udp, reply);
                    assert!(run_flowcase(&mut bpf, &fc), "not taken: {fc:?}");
                }
            }
        }
    }
}

/// ns per packet inside BPF (`BPF_PROG_TEST_RUN` with `repeat`, the kernel's average),
/// for the shared LRU hash rvs uses and for the per-CPU LRU hash variant. A measurement:
/// `cargo test -p rvs-dataplane --test fastpath_test_run ns_per_packet -- --ignored
/// --nocapture` (results in docs/xdp.md).
///
/// test_run reuses the rewritten frame from one repetition to the next, so a NAT or
/// FULLNAT frame would miss its entry after the first run: a second entry, keyed by the
/// rewritten frame, rewrites it back (the same work), and the runs alternate. Replies
/// (TTL minus one each run) and tunnels (the frame grows) cannot be repeated this way.
#[test]
#[ignore = "measurement; run on a quiet machine"]
fn ns_per_packet() {
    if !privileged("fast path ns/packet") {
        return;
    }
    const REPEAT: u32 = 2_000_000;
    let cases = [
        ("DR v4 TCP", simple_case(1, false, false, false)),
        ("NAT v4 TCP in", simple_case(0, false, false, false)),
        ("NAT v4 UDP in", simple_case(0, false, true, false)),
        ("FULLNAT v4 TCP in", simple_case(5, false, false, false)),
        ("DR v6 TCP", simple_case(1, true, false, false)),
        ("NAT v6 TCP in", simple_case(0, true, false, false)),
    ];
    let mut bpf = Bpf::new();
    let mut pc = percpu::Variant::load(bpf.ext, bpf.int);
    for (name, fc) in &cases {
        let (e, pkt, ingress) = setup_flowcase(fc);
        bpf.sync(&e);
        let in_idx = bpf.ifindex_of(ingress).unwrap();
        // The way back: the rewritten frame's key, restoring the original addresses.
        let (k1, _, _) = key_of(&pkt).unwrap();
        let f1 = bpf.c.flow(&k1).unwrap();
        let (ret, out, _, _) = bpf.run(&pkt, in_idx);
        assert!(ret == XDP_TX || ret == XDP_REDIRECT, "{name}: taken");
        let (k2, _, _) = key_of(&out).unwrap();
        let mut entries = vec![(k1, f1)];
        if k2 != k1 {
            let back = rvs_xdp::Flow {
                new_src: k1.src,
                new_sport_be: k1.sport_be,
                new_dst: k1.dst,
                new_dport_be: k1.dport_be,
                last_seen: 0,
                ..f1
            };
            bpf.c.set_flow(&k2, &back).unwrap();
            bpf.installed.push(k2);
            entries.push((k2, back));
        }
        let mut ctx = [0u8; 24];
        ctx[4..8].copy_from_slice(&(pkt.len() as u32).to_ne_bytes());
        ctx[12..16].copy_from_slice(&in_idx.to_ne_bytes());
        let opts = || TestRunOptions {
            data_in: Some(&pkt),
            ctx_in: Some(&ctx),
            repeat: REPEAT,
            ..TestRunOptions::default()
        };
        let before = bpf.c.counters().unwrap().fastpath;
        let shared = bpf.c.program().unwrap().test_run(opts()).unwrap();
        let hits = bpf.c.counters().unwrap().fastpath - before;
        assert_eq!(
            hits,
            u64::from(REPEAT),
            "{name}: every run took the fast path"
        );
        pc.install(&entries);
        let per_cpu = pc.program().test_run(opts()).unwrap();
        assert_eq!(per_cpu.return_value, shared.return_value, "{name}");
        println!(
            "{name:<20} shared LRU hash {:>4} ns/packet   per-CPU LRU hash {:>4} ns/packet",
            shared.duration.as_nanos(),
            per_cpu.duration.as_nanos()
        );
    }
}

mod percpu {
    //! The program built with `-DRVS_FLOWS_PERCPU` (rvs_flows as an LRU per-CPU hash), for
    //! the measurement only.
    use super::*;
    use aya::maps::{DevMapHash, MapData, PerCpuHashMap, PerCpuValues};
    use aya::programs::Xdp;
    use aya::util::nr_cpus;

    pub struct Variant {
        ebpf: aya::Ebpf,
        flows: PerCpuHashMap<MapData, FlowKey, rvs_xdp::Flow>,
    }

    impl Variant {
        pub fn load(ext: u32, int: u32) -> Self {
            let mut ebpf = aya::Ebpf::load(rvs_xdp::RVS_XDP_PERCPU_OBJ).unwrap();
            let p: &mut Xdp = ebpf.program_mut("rvs_xdp").unwrap().try_into().unwrap();
            p.load().unwrap();
            let mut tx: DevMapHash<MapData> =
                DevMapHash::try_from(ebpf.take_map("rvs_tx_ports").unwrap()).unwrap();
            tx.insert(ext, ext, None, 0).unwrap();
            tx.insert(int, int, None, 0).unwrap();
            std::mem::forget(tx); // the map stays with the program
            let flows = PerCpuHashMap::try_from(ebpf.take_map("rvs_flows").unwrap()).unwrap();
            Variant { ebpf, flows }
        }

        pub fn install(&mut self, entries: &[(FlowKey, rvs_xdp::Flow)]) {
            let n = nr_cpus().unwrap();
            for (k, f) in entries {
                let vals = PerCpuValues::try_from(vec![*f; n]).unwrap();
                self.flows.insert(*k, vals, 0).unwrap();
            }
        }

        pub fn program(&mut self) -> &mut Xdp {
            self.ebpf
                .program_mut("rvs_xdp")
                .unwrap()
                .try_into()
                .unwrap()
        }
    }
}

/// The same traffic counted by the engine alone, and by the fast path plus the engine
/// with `FastSync` merging the XDP counters: `--stats` (dest, service, totals) identical.
#[test]
fn stats_through_the_fast_path_equal_the_engines() {
    if !privileged("fast path stats test_run") {
        return;
    }
    use rvs_dataplane::fastsync::FastSync;
    for method in [0usize, 1, 3, 5] {
        for udp in [false, true] {
            let fc = simple_case(method, false, udp, false);
            let (mut alone, _, _) = setup_flowcase(&fc);
            let (mut fast, _, _) = setup_flowcase(&fc);
            let mut bpf = Bpf::new();
            let mut sync = FastSync::new(true);
            let map = |i: IfaceId| match i {
                lab::EXT => Some(bpf.ext),
                lab::INT => Some(bpf.int),
                _ => None,
            };
            let (ext, int) = (bpf.ext, bpf.int);
            let r = sync.sync(&mut fast, &mut bpf.c, &LabNeighbours, &map, Time(1500));
            assert!(r.installed > 0, "method {method}: installed {r:?}");
            // 40 requests and (NAT, FULLNAT) 40 answers of growing sizes.
            let nat = method == 0 || method == 5;
            let mut taken = 0;
            for n in 0..40u16 {
                let mut c = fc.clone();
                c.payload = vec![0x55; usize::from(n) * 7];
                let mut frames = vec![(setup_flowcase_packet(&mut alone, &c, false), lab::EXT)];
                if nat {
                    frames.push((setup_flowcase_packet(&mut alone, &c, true), lab::INT));
                }
                for (f, ing) in frames {
                    process(&mut alone, &f, ing, 2000 + u64::from(n));
                    let idx = if ing == lab::EXT { ext } else { int };
                    let (ret, _, _, _) = bpf.run(&f, idx);
                    if ret == XDP_TX || ret == XDP_REDIRECT {
                        taken += 1;
                    } else {
                        process(&mut fast, &f, ing, 2000 + u64::from(n));
                    }
                }
            }
            let want = if nat { 80 } else { 40 };
            assert_eq!(taken, want, "method {method} udp {udp}: all taken");
            let map = |i: IfaceId| match i {
                lab::EXT => Some(ext),
                lab::INT => Some(int),
                _ => None,
            };
            let r = sync.sync(&mut fast, &mut bpf.c, &LabNeighbours, &map, Time(3000));
            assert_eq!(r.merged_pkts, want as u64, "{r:?}");
            let view = |e: &Engine| {
                let (_, s) = e.director.table.services().next().unwrap();
                let d: Vec<_> = s
                    .dests
                    .iter()
                    .filter_map(|id| e.director.table.dest(*id))
                    .map(|d| d.stats.counters())
                    .collect();
                (e.director.stats.counters(), s.stats.counters(), d)
            };
            assert_eq!(view(&fast), view(&alone), "method {method} udp {udp}");
        }
    }
}

/// The case's packet (forward or reply) for an engine where the flow is established.
fn setup_flowcase_packet(e: &mut Engine, fc: &Flowcase, reply: bool) -> Vec<u8> {
    let (vip, cip, rip) = (
        addr(fc.v6, 0, 100),
        addr(fc.v6, 0, fc.client),
        addr(fc.v6, 1, 20),
    );
    if reply {
        let id = e.director.conns.iter().map(|(id, _)| id).next().unwrap();
        let (laddr, lport) = if fc.method == 5 {
            e.fullnat.get(id).unwrap()
        } else {
            (cip, fc.cport)
        };
        raw_frame(
            lab::server_mac(&rip),
            lab::INT_MAC,
            rip,
            fc.rport,
            laddr,
            lport,
            fc.udp,
            0x18,
            fc,
            fc.csum,
        )
    } else {
        raw_frame(
            lab::CLIENT_MAC,
            lab::EXT_MAC,
            cip,
            fc.cport,
            vip,
            fc.vport,
            fc.udp,
            0x18,
            fc,
            fc.csum,
        )
    }
}

/// Out of the ingress interface: XDP_TX, or with `NO_TX` a DEVMAP redirect (same bytes);
/// an egress missing from the DEVMAP leaves the frame to userspace, untouched.
#[test]
fn no_tx_redirects_back_out_of_the_ingress() {
    if !privileged("fast path NO_TX test_run") {
        return;
    }
    let mut bpf = Bpf::new();
    let (e, pkt, ingress) = setup_flowcase(&simple_case(1, false, false, false));
    bpf.sync(&e);
    let in_idx = bpf.ifindex_of(ingress).unwrap();
    let (k, _, _) = key_of(&pkt).unwrap();
    let mut f = bpf.c.flow(&k).unwrap();
    f.egress = in_idx;
    bpf.c.set_flow(&k, &f).unwrap();
    let (ret, tx_out, _, _) = bpf.run(&pkt, in_idx);
    assert_eq!(ret, XDP_TX);
    f.ops |= rvs_xdp::ops::NO_TX;
    bpf.c.set_flow(&k, &f).unwrap();
    let (ret, redir_out, _, _) = bpf.run(&pkt, in_idx);
    assert_eq!(ret, XDP_REDIRECT);
    assert_eq!(redir_out, tx_out);
    bpf.c.remove_tx_port(in_idx).unwrap();
    let (ret, out, hits, _) = bpf.run(&pkt, in_idx);
    assert_eq!((ret, hits), (XDP_PASS, 0));
    assert_eq!(out, pkt);
}

/// A UDP checksum over IPv6 that the rewrite brings to 0 must be written as 0xffff (0
/// means "no checksum" and is invalid over IPv6): the input checksum is chosen so that
/// the engine's result is exactly that case, for NAT and FULLNAT in both directions, and
/// the XDP program must write the same bytes.
#[test]
fn udp6_checksum_that_comes_out_zero_is_written_as_ffff_by_both() {
    if !privileged("fast path test_run") {
        return;
    }
    // Ethernet + IPv6 + the UDP checksum's offset.
    const CSUM_AT: usize = 14 + 40 + 6;
    let out_csum = |fc: &Flowcase| {
        let (mut e, pkt, ingress) = setup_flowcase(fc);
        let (_, out) = process(&mut e, &pkt, ingress, 2000);
        u16::from_be_bytes([out[CSUM_AT], out[CSUM_AT + 1]])
    };
    let mut bpf = Bpf::new();
    for method in [0, 5] {
        for reply in [false, true] {
            let base = simple_case(method, true, true, reply);
            // The rewrite adds a constant: out(c) moves with c, so the zero is near
            // c0 - out(c0).
            let o0 = out_csum(&base);
            let guess = base.csum.wrapping_sub(o0);
            let fc = (0..8u16)
                .flat_map(|i| [guess.wrapping_add(i), guess.wrapping_sub(i)])
                .map(|c| Flowcase {
                    csum: c,
                    ..base.clone()
                })
                .find(|fc| fc.csum != 0 && out_csum(fc) == 0xffff)
                .unwrap_or_else(|| panic!("no input checksum gives a zero for {base:?}"));
            assert!(run_flowcase(&mut bpf, &fc), "not taken: {fc:?}");
        }
    }
}
