//! Golden fixtures (`tests/golden/*.case`, format in `rvs_core::engine::golden` and
//! `tests/golden/README.md`).
//!
//! `generated_cases_match_the_stored_files` builds every case here (frames by etherparse),
//! runs it through the engine, checks each verdict against the one written below, each
//! output frame with an independent parser (checksums) and the case's semantic
//! assertions, and compares the result with the stored file. `RVS_BLESS=1 cargo test -p
//! rvs --test golden` rewrites the files instead. `stored_cases_replay_identically` replays
//! the stored files alone.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use common::{check, chunk, echo, icmp4_error, icmp6_error, ip, is_server, quote, sctp, tcp, udp};
use etherparse::{Icmpv4Type, Icmpv6Type, icmpv4::DestUnreachableHeader, icmpv6};
use rvs_config::ipvsadm::{self, Invocation};
use rvs_core::Command;
use rvs_core::engine::golden::{self, Case, Step};
use rvs_core::engine::lab::{CLIENT_MAC, EXT_MAC, INT_MAC, server_mac};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The rule parser `rvs sim` uses: ipvsadm-save syntax → command.
fn to_command(line: &str) -> Result<Command, String> {
    let args = ipvsadm::split_restore_line(line);
    match ipvsadm::parse("ipvsadm", &args) {
        Ok(Invocation::Command(c)) => Ok(c),
        Ok(_) => Err("not a table command".into()),
        Err(e) => Err(e.message),
    }
}

/// What an output frame must look like, beyond valid checksums.
#[derive(Clone, Debug)]
enum Want {
    /// No frame (pass, drop).
    Nothing,
    /// NAT towards the server: destination RIP:rport, source and TTL untouched.
    Nat(&'static str, u16),
    /// NAT/FULLNAT reply to the client: source VIP:vport, destination CIP:cport, TTL − 1.
    Reply(&'static str, u16, &'static str, u16),
    /// DR: bytes from offset 12 identical, MACs to the RS.
    Dr(&'static str),
    /// TUN: outer source, outer destination (the RIP), inner packet identical.
    Tun(&'static str, &'static str),
    /// FULLNAT towards the server: LIP:lport → RIP:rport.
    FullNat(&'static str, u16, &'static str, u16),
    /// TUN with GUE (`Some(port)`) or GRE (`None`): outer source, RIP, checksum on,
    /// inner packet identical.
    Encap(&'static str, &'static str, Option<u16>, bool),
    /// An ICMP message: outer src, dst, type, code, and the quoted packet's
    /// (src, sport, dst, dport) if given.
    Icmp {
        src: &'static str,
        dst: &'static str,
        ty: u8,
        code: u8,
        quote: Option<(&'static str, u16, &'static str, u16)>,
    },
}

/// One step of a case as written here.
struct S {
    note: &'static str,
    iface: &'static str,
    frame: Vec<u8>,
    expect: &'static str,
    want: Want,
}

fn s(
    note: &'static str,
    iface: &'static str,
    frame: Vec<u8>,
    expect: &'static str,
    want: Want,
) -> S {
    S {
        note,
        iface,
        frame,
        expect,
        want,
    }
}

struct Def {
    name: &'static str,
    description: &'static str,
    rules: Vec<String>,
    local: Vec<&'static str>,
    steps: Vec<S>,
}

fn def(name: &'static str, description: &'static str, rules: &[&str], steps: Vec<S>) -> Def {
    Def {
        name,
        description,
        rules: rules.iter().map(|r| r.to_string()).collect(),
        local: vec![],
        steps,
    }
}

impl Def {
    fn case(&self) -> Case {
        Case {
            name: self.name.into(),
            description: self.description.into(),
            rules: self.rules.clone(),
            local: self.local.iter().map(|l| l.parse().unwrap()).collect(),
            steps: self
                .steps
                .iter()
                .enumerate()
                .map(|(i, st)| Step {
                    note: st.note.into(),
                    time_ms: 1000 + 10 * i as u64,
                    ingress: st.iface.into(),
                    input: st.frame.clone(),
                    expect: st.expect.into(),
                    output: None,
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Addresses of the lab (rvs_core::engine::lab).

struct Fam {
    v6: bool,
    vip: &'static str,
    cip: &'static str,
    lip: &'static str,
    gw: &'static str,
}

const V4: Fam = Fam {
    v6: false,
    vip: "198.18.0.100",
    cip: "198.18.0.10",
    lip: "198.18.1.200",
    gw: "198.18.0.254",
};
const V6: Fam = Fam {
    v6: true,
    vip: "fd00::100",
    cip: "fd00::10",
    lip: "fd00:1::c8",
    gw: "fd00::fe",
};

fn fam(v6: bool) -> &'static Fam {
    if v6 { &V6 } else { &V4 }
}

/// `VIP:PORT` as ipvsadm writes it.
fn ep(a: &str, port: u16) -> String {
    if a.contains(':') {
        format!("[{a}]:{port}")
    } else {
        format!("{a}:{port}")
    }
}

fn rip(v6: bool, n: u8) -> &'static str {
    let s = if v6 {
        format!("fd00:1::{n:x}")
    } else {
        format!("198.18.1.{n}")
    };
    Box::leak(s.into_boxed_str())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum M {
    Nat,
    Dr,
    Tun,
    FullNat,
}

impl M {
    fn name(self) -> &'static str {
        match self {
            M::Nat => "nat",
            M::Dr => "dr",
            M::Tun => "tun",
            M::FullNat => "fullnat",
        }
    }
    fn flag(self) -> &'static str {
        match self {
            M::Nat => "-m",
            M::Dr => "-g",
            M::Tun => "-i",
            M::FullNat => "--fullnat",
        }
    }
    /// Real server port: NAT and FULLNAT map the port, DR and TUN cannot.
    fn rport(self, vport: u16) -> u16 {
        match self {
            M::Nat | M::FullNat => vport + 8000,
            M::Dr | M::Tun => vport,
        }
    }
    fn rip(self, v6: bool) -> &'static str {
        rip(
            v6,
            match self {
                M::Nat => 11,
                M::Dr => 12,
                M::Tun => 13,
                M::FullNat => 14,
            },
        )
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn rules(proto: &str, vip: &str, vport: u16, m: M, rip: &str, rport: u16) -> Vec<String> {
    vec![
        format!("-A {proto} {} -s rr", ep(vip, vport)),
        format!(
            "-a {proto} {} -r {} {} -w 1",
            ep(vip, vport),
            ep(rip, rport),
            m.flag()
        ),
    ]
}

/// What a client → server frame of method `m` must become.
fn fwd_want(m: M, f: &Fam, rip: &'static str, rport: u16, lport: u16) -> Want {
    match m {
        M::Nat => Want::Nat(rip, rport),
        M::Dr => Want::Dr(rip),
        M::Tun => Want::Tun(
            if rip.contains(':') {
                "fd00:1::1"
            } else {
                "198.18.1.1"
            },
            rip,
        ),
        M::FullNat => Want::FullNat(f.lip, lport, rip, rport),
    }
}

/// The expected verdict of a forwarded frame.
fn fwd_line(m: M, new: bool) -> &'static str {
    leak(format!(
        "transmit int forward {}{}",
        m.name(),
        if new { " new" } else { "" }
    ))
}

/// A TCP flow: SYN, SYN-ACK (if the method sees replies), ACK with data, FIN, FIN reply.
fn tcp_flow(m: M, v6: bool) -> Def {
    let f = fam(v6);
    let (vport, cport) = (80, 40000);
    let rport = m.rport(vport);
    let r = m.rip(v6);
    let replies = matches!(m, M::Nat | M::FullNat);
    // The server talks to the client (NAT) or to the local address (FULLNAT).
    let (peer, pport) = if m == M::FullNat {
        (f.lip, 1024)
    } else {
        (f.cip, cport)
    };
    let reply = |flags: &str| {
        Want::Reply(f.vip, vport, f.cip, cport).then(tcp(r, rport, peer, pport, flags, b""))
    };
    let mut steps = vec![s(
        "the client's SYN creates the connection",
        "ext",
        tcp(f.cip, cport, f.vip, vport, "S", b""),
        fwd_line(m, true),
        fwd_want(m, f, r, rport, 1024),
    )];
    if replies {
        let (w, fr) = reply("SA");
        steps.push(s(
            "the server's SYN-ACK goes back through the director",
            "int",
            fr,
            leak(format!("transmit ext reply {}", m.name())),
            w,
        ));
    }
    steps.push(s(
        "established: ACK with data",
        "ext",
        tcp(f.cip, cport, f.vip, vport, "AP", b"GET / HTTP/1.0\r\n\r\n"),
        fwd_line(m, false),
        fwd_want(m, f, r, rport, 1024),
    ));
    steps.push(s(
        "the client closes",
        "ext",
        tcp(f.cip, cport, f.vip, vport, "FA", b""),
        fwd_line(m, false),
        fwd_want(m, f, r, rport, 1024),
    ));
    if replies {
        let (w, fr) = reply("FA");
        steps.push(s(
            "the server closes",
            "int",
            fr,
            leak(format!("transmit ext reply {}", m.name())),
            w,
        ));
    }
    let mut d = def(
        leak(format!("{}-{}-tcp", m.name(), if v6 { "v6" } else { "v4" })),
        leak(format!(
            "{} over {}, TCP: a whole flow{}",
            m.name().to_uppercase(),
            if v6 { "IPv6" } else { "IPv4" },
            if replies {
                " (the replies come back through the director)"
            } else {
                " (the server answers the client directly)"
            }
        )),
        &[],
        steps,
    );
    d.rules = rules("-t", f.vip, vport, m, r, rport);
    if m == M::FullNat {
        d.local = vec![f.lip];
    }
    d
}

/// A UDP flow: query, reply (if seen), second query.
fn udp_flow(m: M, v6: bool) -> Def {
    let f = fam(v6);
    let (vport, cport) = (53, 5353);
    let rport = m.rport(vport);
    let r = m.rip(v6);
    let replies = matches!(m, M::Nat | M::FullNat);
    let (peer, pport) = if m == M::FullNat {
        (f.lip, 1024)
    } else {
        (f.cip, cport)
    };
    let mut steps = vec![s(
        "the first datagram creates the connection",
        "ext",
        udp(f.cip, cport, f.vip, vport, b"query one"),
        fwd_line(m, true),
        fwd_want(m, f, r, rport, 1024),
    )];
    if replies {
        steps.push(s(
            "the server's answer",
            "int",
            udp(r, rport, peer, pport, b"answer"),
            leak(format!("transmit ext reply {}", m.name())),
            Want::Reply(f.vip, vport, f.cip, cport),
        ));
    }
    steps.push(s(
        "a second datagram on the same connection",
        "ext",
        udp(f.cip, cport, f.vip, vport, b"query two"),
        fwd_line(m, false),
        fwd_want(m, f, r, rport, 1024),
    ));
    let mut d = def(
        leak(format!("{}-{}-udp", m.name(), if v6 { "v6" } else { "v4" })),
        leak(format!(
            "{} over {}, UDP: datagrams both ways",
            m.name().to_uppercase(),
            if v6 { "IPv6" } else { "IPv4" }
        )),
        &[],
        steps,
    );
    d.rules = rules("-u", f.vip, vport, m, r, rport);
    if m == M::FullNat {
        d.local = vec![f.lip];
    }
    d
}

trait Then {
    fn then(self, frame: Vec<u8>) -> (Want, Vec<u8>);
}
impl Then for Want {
    fn then(self, frame: Vec<u8>) -> (Want, Vec<u8>) {
        (self, frame)
    }
}

fn tun_cross(inner_v6: bool) -> Def {
    let f = fam(inner_v6);
    let r = rip(!inner_v6, 13);
    let outer = if inner_v6 { "198.18.1.1" } else { "fd00:1::1" };
    let mut d = def(
        if inner_v6 {
            "tun-v6-in-v4"
        } else {
            "tun-v4-in-v6"
        },
        if inner_v6 {
            "TUN across families: an IPv6 service, an IPv4 real server (6in4)"
        } else {
            "TUN across families: an IPv4 service, an IPv6 real server (4in6)"
        },
        &[],
        vec![
            s(
                "SYN, encapsulated in the other family",
                "ext",
                tcp(f.cip, 40000, f.vip, 80, "S", b""),
                "transmit int forward tun new",
                Want::Tun(outer, r),
            ),
            s(
                "data",
                "ext",
                tcp(f.cip, 40000, f.vip, 80, "AP", b"hello"),
                "transmit int forward tun",
                Want::Tun(outer, r),
            ),
        ],
    );
    d.rules = rules("-t", f.vip, 80, M::Tun, r, 80);
    d
}

/// TUN with `--tun-type gue` / `gre`, with and without checksums.
fn tun_encap(v6: bool, gue: bool, csum: bool) -> Def {
    let f = fam(v6);
    let r = rip(v6, 13);
    let outer = if v6 { "fd00:1::1" } else { "198.18.1.1" };
    let name = format!(
        "tun-{}-{}-{}",
        if gue { "gue" } else { "gre" },
        if csum { "csum" } else { "nocsum" },
        if v6 { "v6" } else { "v4" }
    );
    let opts = match (gue, csum) {
        (true, true) => "--tun-type gue --tun-port 6080 --tun-csum",
        (true, false) => "--tun-type gue --tun-port 6080 --tun-nocsum",
        (false, true) => "--tun-type gre --tun-csum",
        (false, false) => "--tun-type gre --tun-nocsum",
    };
    let port = gue.then_some(6080);
    let mut d = def(
        Box::leak(name.into_boxed_str()),
        if gue {
            "TUN with GUE: outer IP + UDP to --tun-port + a 4-byte GUE header"
        } else {
            "TUN with GRE: outer IP + GRE (with a checksum when asked)"
        },
        &[],
        vec![
            s(
                "SYN, encapsulated",
                "ext",
                tcp(f.cip, 40000, f.vip, 80, "S", b""),
                "transmit int forward tun new",
                Want::Encap(outer, r, port, csum),
            ),
            s(
                "data",
                "ext",
                tcp(f.cip, 40000, f.vip, 80, "AP", b"hello"),
                "transmit int forward tun",
                Want::Encap(outer, r, port, csum),
            ),
        ],
    );
    d.rules = vec![
        format!("-A -t {} -s rr", ep(f.vip, 80)),
        format!("-a -t {} -r {} -i -w 1 {opts}", ep(f.vip, 80), ep(r, 80)),
    ];
    d
}

fn sctp_flow(m: M, v6: bool) -> Def {
    let f = fam(v6);
    let (vport, cport) = (3868, 5000);
    let rport = m.rport(vport);
    let r = m.rip(v6);
    let mut steps = vec![s(
        "INIT creates the connection",
        "ext",
        sctp(f.cip, cport, f.vip, vport, 0, &chunk::init(1, 0x1111_1111)),
        fwd_line(m, true),
        fwd_want(m, f, r, rport, 0),
    )];
    if m == M::Nat {
        steps.push(s(
            "INIT-ACK from the server",
            "int",
            sctp(
                r,
                rport,
                f.cip,
                cport,
                0x1111_1111,
                &chunk::init(2, 0x2222_2222),
            ),
            "transmit ext reply nat",
            Want::Reply(f.vip, vport, f.cip, cport),
        ));
    }
    steps.push(s(
        "COOKIE-ECHO",
        "ext",
        sctp(
            f.cip,
            cport,
            f.vip,
            vport,
            0x2222_2222,
            &chunk::cookie_echo(),
        ),
        fwd_line(m, false),
        fwd_want(m, f, r, rport, 0),
    ));
    if m == M::Nat {
        steps.push(s(
            "COOKIE-ACK from the server",
            "int",
            sctp(r, rport, f.cip, cport, 0x1111_1111, &chunk::bare(11)),
            "transmit ext reply nat",
            Want::Reply(f.vip, vport, f.cip, cport),
        ));
    }
    steps.push(s(
        "DATA",
        "ext",
        sctp(
            f.cip,
            cport,
            f.vip,
            vport,
            0x2222_2222,
            &chunk::data(b"diameter"),
        ),
        fwd_line(m, false),
        fwd_want(m, f, r, rport, 0),
    ));
    let mut d = def(
        leak(format!(
            "sctp-{}-{}",
            m.name(),
            if v6 { "v6" } else { "v4" }
        )),
        leak(format!(
            "SCTP, {} over {}: the association's start and data; the CRC32c is recomputed \
             when a port changes",
            m.name().to_uppercase(),
            if v6 { "IPv6" } else { "IPv4" }
        )),
        &[],
        steps,
    );
    d.rules = rules("--sctp-service", f.vip, vport, m, r, rport);
    d
}

fn unreach(v6: bool, code: u8) -> (u8, u8) {
    if v6 { (1, code) } else { (3, code) }
}

/// An ICMP(v6) "unreachable" error from `src` to `dst` quoting `q` (v4: IP header + 8).
fn unreach_err(v6: bool, src: &str, dst: &str, host: bool, q: &[u8]) -> Vec<u8> {
    if v6 {
        let code = if host {
            icmpv6::DestUnreachableCode::Address
        } else {
            icmpv6::DestUnreachableCode::Port
        };
        icmp6_error(
            src,
            dst,
            Icmpv6Type::DestinationUnreachable(code),
            &quote(q, 0),
        )
    } else {
        let h = if host {
            DestUnreachableHeader::Host
        } else {
            DestUnreachableHeader::Port
        };
        icmp4_error(
            src,
            dst,
            Icmpv4Type::DestinationUnreachable(h),
            &quote(q, 28),
        )
    }
}

/// ICMP errors about a NAT or FULLNAT connection, both directions.
fn icmp_translated(m: M, v6: bool) -> Def {
    let f = fam(v6);
    let r = m.rip(v6);
    let (vport, cport) = (53, 7000);
    let rport = m.rport(vport);
    let (peer, pport) = if m == M::FullNat {
        (f.lip, 1024)
    } else {
        (f.cip, cport)
    };
    let first = udp(f.cip, cport, f.vip, vport, b"q");
    // A router near the client cannot deliver the director's reply VIP -> CIP.
    let to_client = udp(f.vip, vport, f.cip, cport, b"a");
    // The server cannot deliver to what it saw as the client (CIP or LIP).
    let to_server = udp(peer, pport, r, rport, b"q");
    let host = unreach(v6, if v6 { 3 } else { 1 });
    let port = unreach(v6, if v6 { 4 } else { 3 });
    let (to_srv_src, q_srv) = if m == M::FullNat {
        (f.lip, (r, rport, f.lip, 1024))
    } else {
        (f.gw, (r, rport, f.cip, cport))
    };
    let mut d = def(
        leak(format!(
            "icmp-{}-{}",
            m.name(),
            if v6 { "v6" } else { "v4" }
        )),
        leak(format!(
            "ICMP errors about a {} connection over {}, both ways: a router's host \
             unreachable about a reply goes to the server, the server's port unreachable goes \
             to the client; outer header and quoted packet are translated",
            m.name().to_uppercase(),
            if v6 { "IPv6" } else { "IPv4" }
        )),
        &[],
        vec![
            s(
                "a datagram creates the connection",
                "ext",
                first,
                fwd_line(m, true),
                fwd_want(m, f, r, rport, 1024),
            ),
            s(
                "the client's router: host unreachable, quoting VIP -> CIP",
                "ext",
                unreach_err(v6, f.gw, f.vip, true, &to_client),
                leak(format!("transmit int icmp-to-server {}", m.name())),
                Want::Icmp {
                    src: to_srv_src,
                    dst: r,
                    ty: host.0,
                    code: host.1,
                    quote: Some(q_srv),
                },
            ),
            s(
                "the server: port unreachable, quoting what it received",
                "int",
                unreach_err(v6, r, peer, false, &to_server),
                leak(format!("transmit ext icmp-to-client {}", m.name())),
                Want::Icmp {
                    src: f.vip,
                    dst: f.cip,
                    ty: port.0,
                    code: port.1,
                    quote: Some((f.cip, cport, f.vip, vport)),
                },
            ),
        ],
    );
    d.rules = rules("-u", f.vip, vport, m, r, rport);
    if m == M::FullNat {
        d.local = vec![f.lip];
    }
    d
}

/// ICMP errors about a DR or TUN connection go to the real server unchanged / encapsulated.
fn icmp_passed_on(m: M, v6: bool) -> Def {
    let f = fam(v6);
    let r = m.rip(v6);
    let reply = tcp(f.vip, 80, f.cip, 40000, "SA", b"");
    let err = if v6 {
        icmp6_error(
            f.gw,
            f.vip,
            Icmpv6Type::PacketTooBig { mtu: 1400 },
            &quote(&reply, 0),
        )
    } else {
        icmp4_error(
            f.gw,
            f.vip,
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
                next_hop_mtu: 1400,
            }),
            &quote(&reply, 28),
        )
    };
    let mut d = def(
        leak(format!(
            "icmp-{}-{}",
            m.name(),
            if v6 { "v6" } else { "v4" }
        )),
        leak(format!(
            "ICMP about a {} connection (a router's {} quoting the server's reply VIP -> CIP) \
             is passed on to the real server {}",
            m.name().to_uppercase(),
            if v6 {
                "packet too big"
            } else {
                "fragmentation needed"
            },
            if m == M::Dr {
                "unchanged"
            } else {
                "encapsulated"
            }
        )),
        &[],
        vec![
            s(
                "SYN creates the connection",
                "ext",
                tcp(f.cip, 40000, f.vip, 80, "S", b""),
                fwd_line(m, true),
                fwd_want(m, f, r, 80, 0),
            ),
            s(
                "the router's error",
                "ext",
                err,
                leak(format!("transmit int icmp-to-server {}", m.name())),
                fwd_want(m, f, r, 80, 0),
            ),
        ],
    );
    d.rules = rules("-t", f.vip, 80, m, r, 80);
    d
}

/// Set the IPv4 header checksum of the packet at `l3`.
fn fix4(frame: &mut [u8], l3: usize) {
    frame[l3 + 10] = 0;
    frame[l3 + 11] = 0;
    let ihl = usize::from(frame[l3] & 15) * 4;
    let mut sum = 0u32;
    for c in frame[l3..l3 + ihl.max(20).min(frame.len() - l3)].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// Keep `l4_len` bytes after the IP header (at 34 / 54) and make the IP length agree.
fn cut_l4(mut frame: Vec<u8>, l4_len: usize) -> Vec<u8> {
    if frame[12..14] == [0x86, 0xdd] {
        frame.truncate(54 + l4_len);
        frame[18..20].copy_from_slice(&(l4_len as u16).to_be_bytes());
    } else {
        frame.truncate(34 + l4_len);
        frame[16..18].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
        fix4(&mut frame, 14);
    }
    frame
}

fn arp_request() -> Vec<u8> {
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[198, 18, 0, 10, 0, 0, 0, 0, 0, 0, 198, 18, 0, 100]);
    arp
}

fn tag(frame: &[u8], tci: u16) -> Vec<u8> {
    let mut t = frame[..12].to_vec();
    t.extend_from_slice(&[0x81, 0x00]);
    t.extend_from_slice(&tci.to_be_bytes());
    t.extend_from_slice(&frame[12..]);
    t
}

fn nat_rules() -> Vec<String> {
    let mut r = rules("-t", V4.vip, 80, M::Nat, rip(false, 11), 8080);
    r.extend(rules("-t", V6.vip, 80, M::Nat, rip(true, 11), 8080));
    r.extend(rules("-u", V4.vip, 53, M::Nat, rip(false, 11), 8053));
    r.extend(rules(
        "--sctp-service",
        V4.vip,
        3868,
        M::Nat,
        rip(false, 11),
        3868,
    ));
    r
}

fn with_rules(mut d: Def, r: Vec<String>) -> Def {
    d.rules = r;
    d
}

fn drop_steps(steps: Vec<(&'static str, Vec<u8>, &'static str)>) -> Vec<S> {
    steps
        .into_iter()
        .map(|(note, frame, expect)| s(note, "ext", frame, expect, Want::Nothing))
        .collect()
}

fn malformed() -> Vec<Def> {
    let syn4 = tcp(V4.cip, 40000, V4.vip, 80, "S", b"");
    let syn6 = tcp(V6.cip, 40000, V6.vip, 80, "S", b"");
    let udp4 = udp(V4.cip, 5353, V4.vip, 53, b"query");
    let m = |name, description, steps| {
        with_rules(def(name, description, &[], drop_steps(steps)), nat_rules())
    };
    let set = |mut f: Vec<u8>, at: usize, bytes: &[u8], fix: bool| {
        f[at..at + bytes.len()].copy_from_slice(bytes);
        if fix {
            fix4(&mut f, 14);
        }
        f
    };
    vec![
        m(
            "malformed-ethernet",
            "Frames too short for an Ethernet header are dropped and counted",
            vec![
                ("13 bytes", syn4[..13].to_vec(), "drop truncated-ethernet"),
                ("empty", vec![], "drop truncated-ethernet"),
            ],
        ),
        m(
            "malformed-vlan",
            "An 802.1Q tag cut short is dropped",
            vec![
                (
                    "tag without the inner EtherType",
                    tag(&syn4, 42)[..16].to_vec(),
                    "drop truncated-vlan",
                ),
                (
                    "tagged, IPv4 header cut",
                    tag(&syn4, 42)[..30].to_vec(),
                    "drop truncated-ipv4",
                ),
            ],
        ),
        m(
            "malformed-ipv4-header",
            "IPv4: header cut short, IHL below 5, IHL past the packet, wrong version",
            vec![
                (
                    "IPv4 header cut at 10 bytes",
                    syn4[..24].to_vec(),
                    "drop truncated-ipv4",
                ),
                (
                    "IHL 4",
                    set(syn4.clone(), 14, &[0x44], true),
                    "drop bad-header-len",
                ),
                (
                    "IHL 15 (60 bytes) but only 40 bytes of packet",
                    set(syn4[..54].to_vec(), 14, &[0x4f], true),
                    "drop truncated-ipv4",
                ),
                (
                    "version 6 in an IPv4 EtherType",
                    set(syn4.clone(), 14, &[0x65], true),
                    "drop bad-version",
                ),
            ],
        ),
        m(
            "malformed-ipv4-total-len",
            "IPv4 total length beyond the frame, or below the header length",
            vec![
                (
                    "total length 1000 in a 40-byte packet",
                    set(syn4.clone(), 16, &1000u16.to_be_bytes(), true),
                    "drop bad-total-len",
                ),
                (
                    "total length 19",
                    set(syn4.clone(), 16, &19u16.to_be_bytes(), true),
                    "drop bad-total-len",
                ),
            ],
        ),
        m(
            "malformed-ipv6",
            "IPv6: header cut short, payload length beyond the frame",
            vec![
                (
                    "IPv6 header cut at 30 bytes",
                    syn6[..44].to_vec(),
                    "drop truncated-ipv6",
                ),
                (
                    "payload length 100 with 20 bytes present",
                    set(syn6.clone(), 18, &100u16.to_be_bytes(), false),
                    "drop bad-total-len",
                ),
            ],
        ),
        m(
            "malformed-tcp",
            "TCP: header cut short, data offset below 5 or past the segment",
            vec![
                (
                    "TCP header of 10 bytes",
                    cut_l4(syn4.clone(), 10),
                    "drop truncated-tcp",
                ),
                (
                    "data offset 4",
                    set(syn4.clone(), 46, &[0x42], false),
                    "drop bad-data-offset",
                ),
                (
                    "data offset 15 in a 20-byte segment",
                    set(syn4.clone(), 46, &[0xf2], false),
                    "drop bad-data-offset",
                ),
                (
                    "IPv6: TCP header of 12 bytes",
                    cut_l4(syn6.clone(), 12),
                    "drop truncated-tcp",
                ),
            ],
        ),
        m(
            "malformed-udp",
            "UDP: header cut short, length below 8 or past the datagram",
            vec![
                (
                    "UDP header of 6 bytes",
                    cut_l4(udp4.clone(), 6),
                    "drop truncated-udp",
                ),
                (
                    "UDP length 7",
                    set(udp4.clone(), 38, &7u16.to_be_bytes(), false),
                    "drop bad-udp-len",
                ),
                (
                    "UDP length 200 in a 13-byte datagram",
                    set(udp4.clone(), 38, &200u16.to_be_bytes(), false),
                    "drop bad-udp-len",
                ),
            ],
        ),
        m(
            "malformed-icmp",
            "ICMP: header cut short; an error whose quoted packet is cut short",
            vec![
                (
                    "ICMP of 4 bytes",
                    cut_l4(echo(V4.cip, V4.vip), 4),
                    "drop truncated-icmp",
                ),
                (
                    "port unreachable quoting 10 bytes",
                    icmp4_error(
                        V4.gw,
                        V4.vip,
                        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port),
                        &quote(&syn4, 10),
                    ),
                    "drop truncated-inner",
                ),
                (
                    "ICMPv6 of 4 bytes",
                    cut_l4(echo(V6.cip, V6.vip), 4),
                    "drop truncated-icmp",
                ),
            ],
        ),
        m(
            "malformed-sctp",
            "SCTP: common header cut short",
            vec![(
                "SCTP header of 8 bytes",
                cut_l4(sctp(V4.cip, 5000, V4.vip, 3868, 0, &chunk::init(1, 1)), 8),
                "drop truncated-sctp",
            )],
        ),
    ]
}

fn defs() -> Vec<Def> {
    let mut v = Vec::new();
    for m in [M::Nat, M::Dr, M::Tun, M::FullNat] {
        for v6 in [false, true] {
            v.push(tcp_flow(m, v6));
            v.push(udp_flow(m, v6));
        }
    }
    v.push(tun_cross(false));
    v.push(tun_cross(true));
    for v6 in [false, true] {
        for (gue, csum) in [(true, false), (true, true), (false, false), (false, true)] {
            v.push(tun_encap(v6, gue, csum));
        }
    }
    v.push(sctp_flow(M::Nat, false));
    v.push(sctp_flow(M::Nat, true));
    v.push(sctp_flow(M::Dr, false));
    for v6 in [false, true] {
        v.push(icmp_translated(M::Nat, v6));
        v.push(icmp_translated(M::FullNat, v6));
    }
    v.push(icmp_passed_on(M::Dr, false));
    v.push(icmp_passed_on(M::Tun, false));
    v.push(icmp_passed_on(M::Dr, true));
    v.push(icmp_passed_on(M::Tun, true));

    // TUN and the MTU.
    let tun4 = rules("-t", V4.vip, 80, M::Tun, rip(false, 13), 80);
    let big4 = tcp(V4.cip, 40000, V4.vip, 80, "A", &[7u8; 1460]);
    let mut big4_nodf = big4.clone();
    big4_nodf[14 + 6] &= !0x40;
    fix4(&mut big4_nodf, 14);
    v.push(with_rules(
        def(
            "tun-v4-frag-needed",
            "TUN, IPv4: a 1500-byte packet with DF cannot take the 20-byte outer header: the \
             director answers fragmentation needed with MTU 1480; without DF it is dropped \
             (the engine does not fragment)",
            &[],
            vec![
                s(
                    "SYN",
                    "ext",
                    tcp(V4.cip, 40000, V4.vip, 80, "S", b""),
                    "transmit int forward tun new",
                    Want::Tun("198.18.1.1", rip(false, 13)),
                ),
                s(
                    "a full-size segment with DF",
                    "ext",
                    big4,
                    "transmit ext icmp too-big mtu 1480",
                    Want::Icmp {
                        src: V4.vip,
                        dst: V4.cip,
                        ty: 3,
                        code: 4,
                        quote: Some((V4.cip, 40000, V4.vip, 80)),
                    },
                ),
                s(
                    "the same without DF",
                    "ext",
                    big4_nodf,
                    "drop too-big",
                    Want::Nothing,
                ),
            ],
        ),
        tun4,
    ));
    v.push(with_rules(
        def(
            "tun-v6-packet-too-big",
            "TUN, IPv6: a 1500-byte packet cannot take the 40-byte outer header: the director \
             answers packet too big with MTU 1460, quoting as much as fits in 1280 bytes",
            &[],
            vec![
                s(
                    "SYN",
                    "ext",
                    tcp(V6.cip, 40000, V6.vip, 80, "S", b""),
                    "transmit int forward tun new",
                    Want::Tun("fd00:1::1", rip(true, 13)),
                ),
                s(
                    "a full-size segment",
                    "ext",
                    tcp(V6.cip, 40000, V6.vip, 80, "A", &[7u8; 1440]),
                    "transmit ext icmp too-big mtu 1460",
                    Want::Icmp {
                        src: V6.vip,
                        dst: V6.cip,
                        ty: 2,
                        code: 0,
                        quote: Some((V6.cip, 40000, V6.vip, 80)),
                    },
                ),
            ],
        ),
        rules("-t", V6.vip, 80, M::Tun, rip(true, 13), 80),
    ));

    // No dest.
    for f in [&V4, &V6] {
        let (ty, code) = unreach(f.v6, if f.v6 { 4 } else { 3 });
        v.push(def(
            if f.v6 { "no-dest-v6" } else { "no-dest-v4" },
            if f.v6 {
                "A service without real servers: ICMPv6 port unreachable from the VIP, for TCP too"
            } else {
                "A service without real servers: ICMP port unreachable from the VIP, for TCP too"
            },
            &[
                leak(format!("-A -t {} -s rr", ep(f.vip, 80))),
                leak(format!("-A -u {} -s rr", ep(f.vip, 53))),
            ],
            vec![
                s(
                    "TCP SYN",
                    "ext",
                    tcp(f.cip, 40000, f.vip, 80, "S", b""),
                    "transmit ext icmp port-unreachable",
                    Want::Icmp {
                        src: f.vip,
                        dst: f.cip,
                        ty,
                        code,
                        quote: Some((f.cip, 40000, f.vip, 80)),
                    },
                ),
                s(
                    "UDP",
                    "ext",
                    udp(f.cip, 5353, f.vip, 53, b"q"),
                    "transmit ext icmp port-unreachable",
                    Want::Icmp {
                        src: f.vip,
                        dst: f.cip,
                        ty,
                        code,
                        quote: Some((f.cip, 5353, f.vip, 53)),
                    },
                ),
            ],
        ));
    }

    // Frames for the local stack.
    v.push(with_rules(
        def(
            "pass-tcp-without-conn",
            "A TCP segment without SYN and without a connection cannot start one: local stack",
            &[],
            vec![
                s(
                    "ACK to the VIP",
                    "ext",
                    tcp(V4.cip, 40001, V4.vip, 80, "A", b""),
                    "pass not-conn-start",
                    Want::Nothing,
                ),
                s(
                    "RST to the VIP",
                    "ext",
                    tcp(V4.cip, 40001, V4.vip, 80, "R", b""),
                    "pass not-conn-start",
                    Want::Nothing,
                ),
                s(
                    "IPv6 FIN to the VIP",
                    "ext",
                    tcp(V6.cip, 40001, V6.vip, 80, "FA", b""),
                    "pass not-conn-start",
                    Want::Nothing,
                ),
            ],
        ),
        nat_rules(),
    ));
    v.push(with_rules(
        def(
            "pass-no-service",
            "Traffic matching no service goes to the local stack",
            &[],
            vec![
                s(
                    "SSH to the director",
                    "ext",
                    tcp(V4.cip, 40002, "198.18.0.1", 22, "S", b""),
                    "pass no-service",
                    Want::Nothing,
                ),
                s(
                    "the VIP, another port",
                    "ext",
                    tcp(V4.cip, 40002, V4.vip, 443, "S", b""),
                    "pass no-service",
                    Want::Nothing,
                ),
                s(
                    "UDP to the VIP, another port",
                    "ext",
                    udp(V4.cip, 40002, V4.vip, 54, b"x"),
                    "pass no-service",
                    Want::Nothing,
                ),
                s(
                    "IPv6 to the director",
                    "ext",
                    udp(V6.cip, 40002, "fd00::1", 53, b"x"),
                    "pass no-service",
                    Want::Nothing,
                ),
            ],
        ),
        nat_rules(),
    ));
    v.push(with_rules(
        def(
            "pass-arp-and-echo",
            "ARP and ICMP echo requests to the VIP go to the local stack",
            &[],
            vec![
                s(
                    "ARP who-has the VIP",
                    "ext",
                    arp_request(),
                    "pass not-ip",
                    Want::Nothing,
                ),
                s(
                    "ping the VIP",
                    "ext",
                    echo(V4.cip, V4.vip),
                    "pass protocol",
                    Want::Nothing,
                ),
                s(
                    "ping6 the VIP",
                    "ext",
                    echo(V6.cip, V6.vip),
                    "pass protocol",
                    Want::Nothing,
                ),
            ],
        ),
        nat_rules(),
    ));
    v.push(with_rules(
        def(
            "icmp-unknown-passed",
            "An ICMP error quoting a packet of no known connection goes to the local stack",
            &[],
            vec![s(
                "port unreachable about an unknown flow",
                "ext",
                icmp4_error(
                    V4.gw,
                    V4.vip,
                    Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port),
                    &quote(&udp(V4.vip, 53, V4.cip, 9999, b"x"), 28),
                ),
                "pass no-service",
                Want::Nothing,
            )],
        ),
        nat_rules(),
    ));

    // 802.1Q.
    let r11 = rip(false, 11);
    v.push(with_rules(
        def(
            "vlan-nat-v4",
            "802.1Q-tagged frames: the tag is kept as it came, both ways",
            &[],
            vec![
                s(
                    "tagged SYN (VLAN 42, PCP 5)",
                    "ext",
                    tag(&tcp(V4.cip, 40000, V4.vip, 80, "S", b""), 0xa02a),
                    "transmit int forward nat new",
                    Want::Nat(r11, 8080),
                ),
                s(
                    "tagged SYN-ACK (VLAN 7)",
                    "int",
                    tag(&tcp(r11, 8080, V4.cip, 40000, "SA", b""), 7),
                    "transmit ext reply nat",
                    Want::Reply(V4.vip, 80, V4.cip, 40000),
                ),
            ],
        ),
        nat_rules(),
    ));
    // UDP without checksum.
    let mut z = udp(V4.cip, 5353, V4.vip, 53, b"no checksum");
    z[40..42].fill(0);
    let mut zr = udp(r11, 8053, V4.cip, 5353, b"none here either");
    zr[40..42].fill(0);
    let mut zf = udp(V4.cip, 5354, V4.vip, 53, b"fullnat");
    zf[40..42].fill(0);
    let mut zrules = nat_rules();
    zrules.push("-A -u 198.18.0.101:53 -s rr".into());
    zrules.push("-a -u 198.18.0.101:53 -r 198.18.1.14:8053 --fullnat -w 1".into());
    let mut zf2 = zf.clone();
    zf2[30..34].copy_from_slice(&[198, 18, 0, 101]);
    fix4(&mut zf2, 14);
    let mut zd = def(
        "udp-zero-checksum",
        "UDP over IPv4 with checksum 0 (none): NAT and FULLNAT keep it 0",
        &[],
        vec![
            s(
                "NAT, client to server",
                "ext",
                z,
                "transmit int forward nat new",
                Want::Nat(r11, 8053),
            ),
            s(
                "NAT, the reply",
                "int",
                zr,
                "transmit ext reply nat",
                Want::Reply(V4.vip, 53, V4.cip, 5353),
            ),
            s(
                "FULLNAT, client to server",
                "ext",
                zf2,
                "transmit int forward fullnat new",
                Want::FullNat(V4.lip, 1024, rip(false, 14), 8053),
            ),
        ],
    );
    zd.rules = zrules;
    zd.local = vec![V4.lip];
    v.push(zd);
    // TTL, fragments.
    let mut ttl1 = tcp(r11, 8080, V4.cip, 40000, "SA", b"");
    ttl1[22] = 1;
    fix4(&mut ttl1, 14);
    v.push(with_rules(
        def(
            "nat-reply-ttl-expired",
            "A NAT reply arriving with TTL 1 cannot be routed on: the local stack answers \
             time exceeded",
            &[],
            vec![
                s(
                    "SYN",
                    "ext",
                    tcp(V4.cip, 40000, V4.vip, 80, "S", b""),
                    "transmit int forward nat new",
                    Want::Nat(r11, 8080),
                ),
                s(
                    "SYN-ACK with TTL 1",
                    "int",
                    ttl1,
                    "pass ttl-expired",
                    Want::Nothing,
                ),
            ],
        ),
        nat_rules(),
    ));
    let frag = |dst: &str| {
        let mut f = udp(V4.cip, 1, dst, 53, &[0; 64]);
        f[20] = 0x20; // MF, offset 0
        fix4(&mut f, 14);
        f
    };
    v.push(with_rules(
        def(
            "fragments-v4",
            "IP fragments: dropped when addressed to a VIP (no reassembly), else local stack",
            &[],
            vec![
                s(
                    "first fragment to the VIP",
                    "ext",
                    frag(V4.vip),
                    "drop fragment",
                    Want::Nothing,
                ),
                s(
                    "first fragment to the director",
                    "ext",
                    frag("198.18.0.1"),
                    "pass fragment",
                    Want::Nothing,
                ),
            ],
        ),
        nat_rules(),
    ));
    v.extend(malformed());
    v
}

// ---------------------------------------------------------------------------------------
// Checks.

fn in_vlan(frame: &[u8]) -> Option<u16> {
    (frame.len() >= 16 && frame[12..14] == [0x81, 0x00])
        .then(|| u16::from_be_bytes([frame[14], frame[15]]))
}

/// The quoted packet of an ICMP error: (src, sport, dst, dport).
fn quoted(out: &[u8], l3: usize, v6: bool) -> (IpAddr, u16, IpAddr, u16) {
    if v6 {
        let q = &out[l3 + 48..];
        let a = |o: usize| IpAddr::from(<[u8; 16]>::try_from(&q[o..o + 16]).unwrap());
        let p = |o: usize| u16::from_be_bytes([q[40 + o], q[41 + o]]);
        (a(8), p(0), a(24), p(2))
    } else {
        let q = &out[l3 + 28..];
        let ihl = usize::from(q[0] & 15) * 4;
        let a = |o: usize| IpAddr::from(<[u8; 4]>::try_from(&q[o..o + 4]).unwrap());
        let p = |o: usize| u16::from_be_bytes([q[ihl + o], q[ihl + 1 + o]]);
        (a(12), p(0), a(16), p(2))
    }
}

/// The semantic assertions of one step.
fn check_want(want: &Want, input: &[u8], out: Option<&[u8]>) -> Result<(), String> {
    let out = match (want, out) {
        (Want::Nothing, None) => return Ok(()),
        (Want::Nothing, Some(_)) => return Err("a frame came out".into()),
        (_, None) => return Err("no frame came out".into()),
        (_, Some(o)) => o,
    };
    let o = check(out)?;
    let ensure = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what}: {o:?}"))
        }
    };
    ensure(o.vlan == in_vlan(input), "VLAN tag kept")?;
    let i = check(input).map_err(|e| format!("input: {e}"))?;
    match want {
        Want::Nothing => unreachable!(),
        Want::Nat(r, rport) => {
            let r = ip(r);
            ensure((o.dst, o.dport) == (r, *rport), "dst = RIP:rport")?;
            ensure((o.src, o.sport) == (i.src, i.sport), "src untouched")?;
            ensure(o.ttl == i.ttl, "TTL kept")?;
            ensure((o.dst_mac, o.src_mac) == (server_mac(&r), INT_MAC), "MACs")?;
        }
        Want::Reply(v, vport, c, cport) => {
            ensure((o.src, o.sport) == (ip(v), *vport), "src = VIP:vport")?;
            ensure((o.dst, o.dport) == (ip(c), *cport), "dst = CIP:cport")?;
            ensure(o.ttl == i.ttl - 1, "TTL - 1")?;
            ensure((o.dst_mac, o.src_mac) == (CLIENT_MAC, EXT_MAC), "MACs")?;
        }
        Want::Dr(r) => {
            ensure(out[12..] == input[12..], "bytes from 12 identical")?;
            ensure(
                (o.dst_mac, o.src_mac) == (server_mac(&ip(r)), INT_MAC),
                "MACs",
            )?;
        }
        Want::Tun(src, r) => {
            let r = ip(r);
            ensure((o.src, o.dst) == (ip(src), r), "outer src/dst")?;
            let overhead = if r.is_ipv6() { 40 } else { 20 };
            ensure(out.len() == input.len() + overhead, "length + outer header")?;
            ensure(
                out[i.l3 + overhead..] == input[i.l3..],
                "inner packet identical",
            )?;
            ensure(
                out[..i.l3 - 2] == {
                    let mut m = server_mac(&r).to_vec();
                    m.extend_from_slice(&INT_MAC);
                    m.extend_from_slice(&input[12..i.l3 - 2]);
                    m
                },
                "MACs and tag",
            )?;
            ensure(o.ttl == i.ttl, "outer TTL = inner TTL")?;
            ensure(o.inner.is_some(), "inner parsed")?;
        }
        Want::Encap(src, r, port, csum) => {
            let r = ip(r);
            ensure((o.src, o.dst) == (ip(src), r), "outer src/dst")?;
            let ip_len = if r.is_ipv6() { 40 } else { 20 };
            let encap = match (port, csum) {
                (Some(_), _) => 12,
                (None, true) => 8,
                (None, false) => 4,
            };
            let e = i.l3 + ip_len;
            ensure(
                out.len() == input.len() + ip_len + encap,
                "length + outer headers",
            )?;
            ensure(out[e + encap..] == input[i.l3..], "inner packet identical")?;
            let inner_proto = if i.src.is_ipv6() { 41 } else { 4 };
            match port {
                Some(p) => {
                    ensure(o.proto == 17, "outer protocol UDP")?;
                    ensure(o.dport == *p, "UDP to --tun-port")?;
                    ensure((32768..=60999).contains(&o.sport), "UDP source port")?;
                    ensure(
                        out[e + 8..e + 12] == [0, inner_proto, 0, 0],
                        "GUE header: version 0, no options, inner protocol",
                    )?;
                    let c = u16::from_be_bytes([out[e + 6], out[e + 7]]);
                    ensure((c != 0) == *csum, "UDP checksum present iff --tun-csum")?;
                }
                None => {
                    ensure(o.proto == 47, "outer protocol GRE")?;
                    ensure(o.inner.is_some(), "inner parsed")?;
                    ensure((out[e] & 0x80 != 0) == *csum, "GRE C bit iff --tun-csum")?;
                }
            }
            ensure(o.ttl == i.ttl, "outer TTL = inner TTL")?;
            ensure((o.dst_mac, o.src_mac) == (server_mac(&r), INT_MAC), "MACs")?;
        }
        Want::FullNat(l, lport, r, rport) => {
            let r = ip(r);
            ensure((o.src, o.sport) == (ip(l), *lport), "src = LIP:lport")?;
            ensure((o.dst, o.dport) == (r, *rport), "dst = RIP:rport")?;
            ensure((o.dst_mac, o.src_mac) == (server_mac(&r), INT_MAC), "MACs")?;
        }
        Want::Icmp {
            src,
            dst,
            ty,
            code,
            quote,
        } => {
            let d = ip(dst);
            ensure((o.src, o.dst) == (ip(src), d), "outer src/dst")?;
            ensure(o.icmp == Some((*ty, *code)), "ICMP type/code")?;
            let mac = if is_server(&d) {
                server_mac(&d)
            } else {
                CLIENT_MAC
            };
            ensure(o.dst_mac == mac, "destination MAC")?;
            if let Some((qs, qsp, qd, qdp)) = quote {
                let q = quoted(out, o.l3, d.is_ipv6());
                ensure(
                    q == (ip(qs), *qsp, ip(qd), *qdp),
                    &format!("quoted packet {q:?}"),
                )?;
            }
        }
    }
    Ok(())
}

fn stored() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "case"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn generated_cases_match_the_stored_files() {
    let bless = std::env::var_os("RVS_BLESS").is_some_and(|v| v == "1");
    let defs = defs();
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    for d in &defs {
        assert!(names.insert(d.name), "case {} defined twice", d.name);
        let mut case = d.case();
        let results = golden::run(&case, to_command).unwrap_or_else(|e| panic!("{}: {e}", d.name));
        for (k, (st, r)) in d.steps.iter().zip(&results).enumerate() {
            if st.expect != r.verdict {
                failures.push(format!(
                    "{} step {}: expected `{}`, got `{}`",
                    d.name,
                    k + 1,
                    st.expect,
                    r.verdict
                ));
                continue;
            }
            if let Err(e) = check_want(&st.want, &st.frame, r.output.as_deref()) {
                failures.push(format!("{} step {} ({}): {e}", d.name, k + 1, st.note));
            }
        }
        case.bless(&results);
        let text = case.to_text();
        let path = dir().join(format!("{}.case", d.name));
        if bless {
            std::fs::write(&path, &text).unwrap();
        } else {
            match std::fs::read_to_string(&path) {
                Ok(t) if t == text => {}
                Ok(t) => {
                    let m = golden::parse(&t)
                        .map(|c| c.mismatches(&results))
                        .unwrap_or_else(|e| vec![e.to_string()]);
                    failures.push(format!(
                        "{}: differs from {} ({m:?}); RVS_BLESS=1 to rewrite",
                        d.name,
                        path.display()
                    ));
                }
                Err(e) => {
                    failures.push(format!("{}: {e}; RVS_BLESS=1 to write it", path.display()))
                }
            }
        }
    }
    for (name, _) in stored() {
        if !names.contains(name.as_str()) {
            if bless {
                std::fs::remove_file(dir().join(format!("{name}.case"))).unwrap();
            } else {
                failures.push(format!("{name}.case is not generated by any case here"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(defs.len() >= 35, "{} cases", defs.len());
}

#[test]
fn stored_cases_replay_identically() {
    let all = stored();
    assert!(all.len() >= 35, "only {} stored cases", all.len());
    let mut failures = Vec::new();
    for (name, text) in &all {
        let case = golden::parse(text).unwrap_or_else(|e| panic!("{name}.case: {e}"));
        assert_eq!(&case.name, name, "{name}.case names itself");
        assert_eq!(
            &case.to_text(),
            text,
            "{name}.case round-trips through parse/to_text"
        );
        let results = golden::run(&case, to_command).unwrap_or_else(|e| panic!("{name}: {e}"));
        for m in case.mismatches(&results) {
            failures.push(format!("{name}: {m}"));
        }
        for (k, st) in case.steps.iter().enumerate() {
            let transmitted = st.expect.starts_with("transmit ");
            if transmitted != st.output.is_some() {
                failures.push(format!("{name} step {}: output iff transmitted", k + 1));
            }
            if let Some(o) = &st.output
                && let Err(e) = check(o)
            {
                failures.push(format!("{name} step {}: {e}", k + 1));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn coverage_of_the_stored_cases() {
    let all: Vec<Case> = stored()
        .iter()
        .map(|(_, t)| golden::parse(t).unwrap())
        .collect();
    let verdicts: BTreeSet<String> = all
        .iter()
        .flat_map(|c| c.steps.iter().map(|s| s.expect.clone()))
        .collect();
    for want in [
        "transmit int forward nat new",
        "transmit ext reply nat",
        "transmit int forward dr new",
        "transmit int forward tun new",
        "transmit int forward fullnat new",
        "transmit ext reply fullnat",
        "transmit int icmp-to-server nat",
        "transmit ext icmp-to-client nat",
        "transmit int icmp-to-server fullnat",
        "transmit ext icmp-to-client fullnat",
        "transmit int icmp-to-server dr",
        "transmit int icmp-to-server tun",
        "transmit ext icmp port-unreachable",
        "transmit ext icmp too-big mtu 1480",
        "transmit ext icmp too-big mtu 1460",
        "pass not-conn-start",
        "pass no-service",
        "pass not-ip",
        "pass protocol",
        "drop truncated-ethernet",
        "drop truncated-vlan",
        "drop truncated-ipv4",
        "drop truncated-ipv6",
        "drop bad-header-len",
        "drop bad-total-len",
        "drop truncated-tcp",
        "drop bad-data-offset",
        "drop truncated-udp",
        "drop bad-udp-len",
        "drop truncated-icmp",
        "drop truncated-sctp",
    ] {
        assert!(verdicts.contains(want), "no case expects `{want}`");
    }
}

#[test]
fn the_checker_catches_corruption() {
    // The independent checker must fail on a bad checksum at each layer, or the golden
    // checks above prove nothing.
    let good = tcp(V4.cip, 1, V4.vip, 80, "S", b"");
    check(&good).unwrap();
    for (at, what) in [(24, "IPv4"), (50, "TCP")] {
        let mut bad = good.clone();
        bad[at] ^= 0x55;
        assert!(check(&bad).is_err(), "{what} corruption not caught");
    }
    let mut u = udp(V6.cip, 1, V6.vip, 53, b"x");
    u[54 + 6] ^= 1;
    assert!(check(&u).is_err(), "UDPv6 checksum");
    let mut sc = sctp(V4.cip, 1, V4.vip, 3868, 0, &chunk::init(1, 1));
    check(&sc).unwrap();
    let n = sc.len();
    sc[n - 1] ^= 1;
    assert!(check(&sc).is_err(), "SCTP CRC32c");
    let mut e = echo(V6.cip, V6.vip);
    let n = e.len();
    e[n - 1] ^= 1;
    assert!(check(&e).is_err(), "ICMPv6 checksum");
    // Known CRC32c check value ("123456789").
    assert_eq!(common::crc32c(b"123456789"), 0xE306_9283);
}
