//! `rvs sim --pcap`: the real binary on a "kitchen sink" capture (every method, IPv4 and
//! IPv6), its report, and its output checked by tshark with checksum validation on.
//!
//! Without tshark the tshark part is skipped loudly, unless `RVS_REQUIRE_PRIV=1` (CI),
//! where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{check, chunk, echo, sctp, tcp, udp};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvs-simpcap-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// libpcap bytes (microsecond timestamps, little-endian) with the given link type.
fn pcap(frames: &[Vec<u8>], linktype: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&linktype.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        // One frame every 10 ms.
        let us = 10_000 * i as u32;
        b.extend_from_slice(&(1_700_000_000 + us / 1_000_000).to_le_bytes());
        b.extend_from_slice(&(us % 1_000_000).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    b
}

/// The frames of a libpcap file (as the binary writes it: microsecond, little-endian).
fn read_pcap(b: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(&b[..4], &0xa1b2_c3d4u32.to_le_bytes(), "pcap magic");
    assert_eq!(
        u32::from_le_bytes(b[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut at = 24;
    let mut out = Vec::new();
    while at < b.len() {
        let n = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(b[at + 16..at + 16 + n].to_vec());
        at += 16 + n;
    }
    out
}

/// A DNS query (`answer`: its response without records) for example.com A, so that tshark's
/// DNS dissector finds nothing malformed.
fn dns(id: u16, answer: bool) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(if answer { &[0x81, 0x80] } else { &[0x01, 0x00] });
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    m
}

const RULES: &str = "\
# one service per method and family
-A -t 198.18.0.100:80 -s rr
-a -t 198.18.0.100:80 -r 198.18.1.11:8080 -m -w 1
-A -t 198.18.0.101:80 -s rr
-a -t 198.18.0.101:80 -r 198.18.1.12:80 -g -w 1
-A -u 198.18.0.102:53 -s rr
-a -u 198.18.0.102:53 -r 198.18.1.13:53 -i -w 1
-A -t 198.18.0.103:80 -s rr
-a -t 198.18.0.103:80 -r 198.18.1.14:8080 --fullnat -w 1
-A --sctp-service 198.18.0.100:3868 -s rr
-a --sctp-service 198.18.0.100:3868 -r 198.18.1.11:3869 -m -w 1
-A -t 198.18.0.104:80 -s rr
-a -t 198.18.0.104:80 -r [fd00:1::d]:80 -i -w 1
-A -t 198.18.0.105:80 -s rr
-A -u [fd00::100]:53 -s rr
-a -u [fd00::100]:53 -r [fd00:1::b]:8053 -m -w 1
-A -t [fd00::101]:80 -s rr
-a -t [fd00::101]:80 -r [fd00:1::c]:80 -g -w 1
-A -t [fd00::102]:80 -s rr
-a -t [fd00::102]:80 -r [fd00:1::d]:80 -i -w 1
-A -u [fd00::103]:53 -s rr
-a -u [fd00::103]:53 -r [fd00:1::e]:8053 --fullnat -w 1
";

/// The input frames and the report line each must give.
fn kitchen_sink() -> Vec<(Vec<u8>, &'static str)> {
    let c4 = "198.18.0.10";
    let c6 = "fd00::10";
    vec![
        (
            tcp(c4, 40000, "198.18.0.100", 80, "S", b""),
            "transmit int forward nat new: tcp 198.18.0.10:40000 > 198.18.1.11:8080 [S]",
        ),
        (
            tcp("198.18.1.11", 8080, c4, 40000, "SA", b""),
            "transmit ext reply nat: tcp 198.18.0.100:80 > 198.18.0.10:40000 [S.]",
        ),
        (
            tcp(
                c4,
                40000,
                "198.18.0.100",
                80,
                "AP",
                b"GET / HTTP/1.0\r\n\r\n",
            ),
            "transmit int forward nat: tcp 198.18.0.10:40000 > 198.18.1.11:8080 [P.]",
        ),
        (
            tcp(c4, 40001, "198.18.0.101", 80, "S", b""),
            "transmit int forward dr new: tcp 198.18.0.10:40001 > 198.18.0.101:80 [S]",
        ),
        (
            udp(c4, 5353, "198.18.0.102", 53, &dns(1, false)),
            "transmit int forward tun new: ipip 198.18.1.1 > 198.18.1.13 (udp 198.18.0.10:5353 > 198.18.0.102:53)",
        ),
        (
            tcp(c4, 40002, "198.18.0.103", 80, "S", b""),
            "transmit int forward fullnat new: tcp 198.18.1.200:1024 > 198.18.1.14:8080 [S]",
        ),
        (
            tcp("198.18.1.14", 8080, "198.18.1.200", 1024, "SA", b""),
            "transmit ext reply fullnat: tcp 198.18.0.103:80 > 198.18.0.10:40002 [S.]",
        ),
        (
            sctp(c4, 5000, "198.18.0.100", 3868, 0, &chunk::init(1, 7)),
            "transmit int forward nat new: sctp 198.18.0.10:5000 > 198.18.1.11:3869",
        ),
        (
            sctp("198.18.1.11", 3869, c4, 5000, 7, &chunk::init(2, 9)),
            "transmit ext reply nat: sctp 198.18.0.100:3868 > 198.18.0.10:5000",
        ),
        (
            tcp(c4, 40003, "198.18.0.104", 80, "S", b""),
            "transmit int forward tun new: ipip fd00:1::1 > fd00:1::d (tcp 198.18.0.10:40003 > 198.18.0.104:80 [S])",
        ),
        (
            tcp(c4, 40004, "198.18.0.105", 80, "S", b""),
            "transmit ext icmp port-unreachable: icmp 198.18.0.105 > 198.18.0.10 type 3 code 3",
        ),
        (
            udp(c6, 5353, "fd00::100", 53, &dns(2, false)),
            "transmit int forward nat new: udp [fd00::10]:5353 > [fd00:1::b]:8053",
        ),
        (
            udp("fd00:1::b", 8053, c6, 5353, &dns(2, true)),
            "transmit ext reply nat: udp [fd00::100]:53 > [fd00::10]:5353",
        ),
        (
            tcp(c6, 40001, "fd00::101", 80, "S", b""),
            "transmit int forward dr new: tcp [fd00::10]:40001 > [fd00::101]:80 [S]",
        ),
        (
            tcp(c6, 40002, "fd00::102", 80, "S", b""),
            "transmit int forward tun new: ipip fd00:1::1 > fd00:1::d (tcp [fd00::10]:40002 > [fd00::102]:80 [S])",
        ),
        (
            udp(c6, 5354, "fd00::103", 53, &dns(3, false)),
            "transmit int forward fullnat new: udp [fd00:1::c8]:1024 > [fd00:1::e]:8053",
        ),
        (
            udp("fd00:1::e", 8053, "fd00:1::c8", 1024, &dns(3, true)),
            "transmit ext reply fullnat: udp [fd00::103]:53 > [fd00::10]:5354",
        ),
        (
            common::icmp4_error(
                "198.18.1.11",
                c4,
                etherparse::Icmpv4Type::DestinationUnreachable(
                    etherparse::icmpv4::DestUnreachableHeader::Port,
                ),
                &common::quote(&tcp(c4, 40000, "198.18.1.11", 8080, "AP", b"x"), 28),
            ),
            "transmit ext icmp-to-client nat: icmp 198.18.0.100 > 198.18.0.10 type 3 code 3",
        ),
        (
            tcp(c6, 40002, "fd00::102", 80, "A", &[7u8; 1440]),
            "transmit ext icmp too-big mtu 1460: icmp6 fd00::102 > fd00::10 type 2 code 0",
        ),
        (
            tcp(c4, 40009, "198.18.0.100", 80, "A", b""),
            "pass not-conn-start: tcp 198.18.0.10:40009 > 198.18.0.100:80 [.]",
        ),
        (
            echo(c6, "fd00::100"),
            "pass protocol: icmp6 fd00::10 > fd00::100 type 128 code 0",
        ),
        (
            tcp(c4, 40000, "198.18.0.100", 80, "S", b"")[..30].to_vec(),
            "drop truncated-ipv4: malformed",
        ),
    ]
}

const IFACES: [&str; 4] = [
    "--iface",
    "ext=02:00:00:00:00:01,198.18.0.1/24,fd00::1/64",
    "--iface",
    "int=02:00:00:00:00:02,198.18.1.1/24,fd00:1::1/64",
];

fn neigh_args(skip: &str) -> Vec<String> {
    let mut v = Vec::new();
    for (ip, mac) in [
        ("198.18.0.10", "02:00:00:00:00:10"),
        ("fd00::10", "02:00:00:00:00:10"),
        ("198.18.1.11", "02:00:00:00:01:0b"),
        ("198.18.1.12", "02:00:00:00:01:0c"),
        ("198.18.1.13", "02:00:00:00:01:0d"),
        ("198.18.1.14", "02:00:00:00:01:0e"),
        ("fd00:1::b", "02:00:00:00:01:0b"),
        ("fd00:1::c", "02:00:00:00:01:0c"),
        ("fd00:1::d", "02:00:00:00:01:0d"),
        ("fd00:1::e", "02:00:00:00:01:0e"),
    ] {
        if ip != skip {
            v.push("--neigh".into());
            v.push(format!("{ip}={mac}"));
        }
    }
    v
}

/// Run `rvs sim --pcap` on `input` in `d`; returns the output and OUT's path.
fn sim(d: &Path, input: &[u8], skip_neigh: &str) -> (Output, PathBuf) {
    let rules = d.join("rules");
    let inp = d.join("in.pcap");
    let out = d.join("out.pcap");
    std::fs::write(&rules, RULES).unwrap();
    std::fs::write(&inp, input).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rvs"))
        .arg("sim")
        .arg("--rules")
        .arg(&rules)
        .arg("--pcap")
        .arg(&inp)
        .arg("--out")
        .arg(&out)
        .args(IFACES)
        .args(neigh_args(skip_neigh))
        .args([
            "--local-address",
            "198.18.1.200",
            "--local-address",
            "fd00:1::c8",
        ])
        .output()
        .unwrap();
    (o, out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// tshark's prefs that turn on every checksum check.
const TSHARK_PREFS: [&str; 8] = [
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "tcp.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
    "-o",
    "sctp.checksum:CRC 32c",
];

/// Frames tshark finds malformed, with an error-level expert item, or with a bad
/// checksum (ICMP and ICMPv6 checksums are always checked). In an ICMP error, the quoted
/// TCP/UDP checksum is not counted: the quote is cut (to IP header + 8 bytes, or to 1280
/// bytes for ICMPv6) and tshark, checking what is left, calls it bad; the ICMP checksum
/// covers the quote and the quoted IPv4 header checksum is still checked.
const BAD: &str = "_ws.malformed || \
    (_ws.expert.severity == \"Error\" && !icmp && !icmpv6) || \
    ip.checksum.status == \"Bad\" || sctp.checksum.status == \"Bad\" || \
    icmp.checksum.status == \"Bad\" || icmpv6.checksum.status == \"Bad\" || \
    ((tcp.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\") && !icmp && !icmpv6)";

/// Run tshark on `path`: (number of frames, numbers of the bad ones). `None` without tshark.
fn tshark(path: &Path) -> Option<(usize, Vec<String>)> {
    let run = |filter: Option<&str>| {
        let mut c = Command::new("tshark");
        c.arg("-n").arg("-r").arg(path).args(TSHARK_PREFS);
        if let Some(f) = filter {
            c.args(["-Y", f]);
        }
        c.args(["-T", "fields", "-e", "frame.number"]);
        c.output()
    };
    let all = match run(None) {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("tshark: {e}"),
    };
    assert!(all.status.success(), "tshark failed: {}", text(&all.stderr));
    let bad = run(Some(BAD)).unwrap();
    assert!(
        bad.status.success(),
        "tshark -Y failed: {}",
        text(&bad.stderr)
    );
    let n = text(&all.stdout).lines().count();
    let bad = text(&bad.stdout).lines().map(str::to_string).collect();
    Some((n, bad))
}

fn tshark_missing() {
    let required = std::env::var_os("RVS_REQUIRE_PRIV").is_some_and(|v| v == "1");
    assert!(
        !required,
        "tshark is not installed and RVS_REQUIRE_PRIV=1: install it (scripts/deps)"
    );
    eprintln!("\n!!! tshark not found: SKIPPING the tshark checks of rvs sim --pcap !!!\n");
}

#[test]
fn kitchen_sink_report_output_and_tshark() {
    let d = tmpdir("sink");
    let cases = kitchen_sink();
    let frames: Vec<Vec<u8>> = cases.iter().map(|(f, _)| f.clone()).collect();
    let (o, out) = sim(&d, &pcap(&frames, 1), "");
    assert!(o.status.success(), "rvs sim failed: {}", text(&o.stderr));
    let report = text(&o.stdout);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines.len(),
        cases.len(),
        "one line per input frame:\n{report}"
    );
    for (i, ((_, want), got)) in cases.iter().zip(&lines).enumerate() {
        assert_eq!(*got, format!("{} {want}", i + 1), "frame {}", i + 1);
    }
    let transmitted = cases
        .iter()
        .filter(|(_, w)| w.starts_with("transmit"))
        .count();
    let written = read_pcap(&std::fs::read(&out).unwrap());
    assert_eq!(written.len(), transmitted, "frames in OUT");
    for (i, f) in written.iter().enumerate() {
        check(f).unwrap_or_else(|e| panic!("output frame {}: {e}", i + 1));
    }
    match tshark(&out) {
        None => tshark_missing(),
        Some((n, bad)) => {
            assert_eq!(n, transmitted, "tshark reads every frame");
            assert!(
                bad.is_empty(),
                "tshark flags frames {bad:?} of {}",
                out.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_tshark_filter_catches_bad_frames() {
    let d = tmpdir("corrupt");
    let good = tcp("198.18.0.10", 1, "198.18.0.100", 80, "S", b"");
    let mut bad_tcp = good.clone();
    bad_tcp[50] ^= 0x55; // TCP checksum
    let mut bad_ip = good.clone();
    bad_ip[24] ^= 0x55; // IPv4 header checksum
    let mut bad_udp = udp("fd00::10", 1, "fd00::100", 53, b"x");
    bad_udp[54 + 6] ^= 1;
    let mut bad_sctp = sctp(
        "198.18.0.10",
        1,
        "198.18.0.100",
        3868,
        0,
        &chunk::init(1, 1),
    );
    bad_sctp[34 + 8] ^= 1;
    let mut bad_icmp6 = echo("fd00::10", "fd00::100");
    let n = bad_icmp6.len();
    bad_icmp6[n - 1] ^= 1;
    let cut = good[..40].to_vec(); // total length says 40, 26 bytes present
    let err = |q: &[u8]| {
        common::icmp4_error(
            "198.18.0.254",
            "198.18.0.100",
            etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Host,
            ),
            &common::quote(q, 28),
        )
    };
    let good_err = err(&good);
    let mut bad_err = good_err.clone();
    bad_err[36] ^= 1; // ICMP checksum
    let mut bad_quote = good.clone();
    bad_quote[24] ^= 0x55; // the quoted IPv4 header checksum
    let bad_quote = err(&bad_quote);
    let frames = vec![
        good, bad_tcp, bad_ip, bad_udp, bad_sctp, bad_icmp6, cut, good_err, bad_err, bad_quote,
    ];
    let p = d.join("bad.pcap");
    std::fs::write(&p, pcap(&frames, 1)).unwrap();
    match tshark(&p) {
        None => tshark_missing(),
        Some((n, bad)) => {
            assert_eq!(n, 10);
            assert_eq!(
                bad,
                ["2", "3", "4", "5", "6", "7", "9", "10"],
                "only frames 1 and 8 are good"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_unknown_neighbour_is_an_error_naming_it() {
    let d = tmpdir("neigh");
    let syn = tcp("198.18.0.10", 40000, "198.18.0.100", 80, "S", b"");
    let (o, _) = sim(&d, &pcap(&[syn], 1), "198.18.1.11");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    let e = text(&o.stderr);
    assert!(e.contains("unknown neighbour 198.18.1.11"), "{e}");
    assert!(e.contains("--neigh 198.18.1.11="), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn pcapng_and_non_ethernet_inputs_are_refused() {
    let d = tmpdir("formats");
    // A pcapng section header block.
    let mut ng = 0x0a0d_0d0au32.to_le_bytes().to_vec();
    ng.extend_from_slice(&28u32.to_le_bytes());
    ng.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    ng.extend_from_slice(&[1, 0, 0, 0]);
    ng.extend_from_slice(&[0xff; 8]);
    ng.extend_from_slice(&28u32.to_le_bytes());
    let (o, _) = sim(&d, &ng, "");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("pcapng is not supported"),
        "{}",
        text(&o.stderr)
    );
    // Raw IP (link type 101).
    let syn = tcp("198.18.0.10", 40000, "198.18.0.100", 80, "S", b"");
    let (o, _) = sim(&d, &pcap(&[syn[14..].to_vec()], 101), "");
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(
        e.contains("link type 101") && e.contains("only Ethernet"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// The options of the example replay, one per line (`make demo` passes them).
fn example_args() -> String {
    let mut args: Vec<String> = IFACES.iter().map(|s| s.to_string()).collect();
    args.extend(neigh_args(""));
    args.extend(
        [
            "--local-address",
            "198.18.1.200",
            "--local-address",
            "fd00:1::c8",
        ]
        .map(String::from),
    );
    let mut out = String::new();
    for pair in args.chunks(2) {
        out.push_str(&pair.join(" "));
        out.push('\n');
    }
    out
}

/// `examples/pcap/` (the capture `make demo` replays) holds exactly this test's rules,
/// frames and options; `RVS_BLESS=1` rewrites them.
#[test]
fn the_example_capture_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pcap");
    let frames: Vec<Vec<u8>> = kitchen_sink().into_iter().map(|(f, _)| f).collect();
    let files = [
        ("rules.txt", RULES.as_bytes().to_vec()),
        ("in.pcap", pcap(&frames, 1)),
        ("args", example_args().into_bytes()),
    ];
    for (name, want) in files {
        let path = dir.join(name);
        if std::env::var_os("RVS_BLESS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &want).unwrap();
        }
        let got = std::fs::read(&path).unwrap_or_default();
        assert!(
            got == want,
            "{} is stale: run RVS_BLESS=1 cargo test -p rvs --test sim_pcap",
            path.display()
        );
    }
}
