//! Snapshot tests of every listing mode over a rich table: IPv4, IPv6, fwmark (also a mark
//! ≥ 2^31), persistence with netmasks, scheduler flags, thresholds, every forwarding method
//! and tunnel type, addresses whose 32-bit compare wraps, and counters that cross the
//! K/M/G/T abbreviations. The table is built and listed through the same executor rvsd
//! runs; traffic goes through the director's packet path so counters, rates and the
//! connection table are real.
//!
//! The expected output is `tests/golden/listings.txt`. `UPDATE_GOLDEN=1 cargo test -p
//! rvs-control --test snapshots` rewrites it; review the diff against reference §1.9.

use std::net::IpAddr;

use rvs_control::exec;
use rvs_core::conn::state::{Segment, TcpFlags};
use rvs_core::director::Packet;
use rvs_core::{Director, Settings, SplitMix64, Time};

const RULES: &str = "\
-A -t 198.18.1.100:80 -s wlc
-a -t 198.18.1.100:80 -r 198.18.1.11:80 -g -w 3
-a -t 198.18.1.100:80 -r 198.18.1.12:80 -g -w 1 -x 100 -y 50
-A -t 198.18.1.100:443 -s sh -b sh-fallback,sh-port -p 600 -M 255.255.255.0
-a -t 198.18.1.100:443 -r 198.18.2.11:8443 -m -w 2
-a -t 198.18.1.100:443 -r 198.18.2.12:8443 --fullnat -w 1
-A -u 198.18.1.100:53 -s rr -o
-a -u 198.18.1.100:53 -r 198.18.3.11:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum
-a -u 198.18.1.100:53 -r 198.18.3.12:53 -i -w 1 --tun-type gre --tun-csum
-a -u 198.18.1.100:53 -r 198.18.3.13:53 -i -w 1
-A -t 10.0.0.1:80 -s lc
-a -t 10.0.0.1:80 -r 10.0.0.11:80 -m -w 0
-A -t [fd00:1::100]:80 -s mh -b mh-port
-a -t [fd00:1::100]:80 -r [fd00:1::11]:80 -g -w 5
-a -t [fd00:1::100]:80 -r 198.18.1.13:80 -i -w 1
-A -f 100 -s wrr -p
-a -f 100 -r 198.18.1.11 -g -w 1
-A -f 4294967295 -s rr
-A -f 7 -6 -s lblc -p 120 -M 64
-a -f 7 -6 -r fd00:1::12 -g -w 1
";

/// The listing modes, as ipvsadm argument lines.
const MODES: &[&str] = &[
    "-Ln",
    "-Ln --stats",
    "-Ln --stats --exact",
    "-Ln --rate",
    "-Ln --rate --exact",
    "-Ln --thresholds",
    "-Ln --persistent-conn",
    "-Ln --tun-info",
    "-Ln --nosort",
    "-Ln -t 198.18.1.100:443",
    "-Ln -f 7 -6 --stats",
    "-Lnc",
    "-Lnc --persistent-conn",
    "-Sn",
    "-L --timeout",
    "-L --daemon",
];

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

fn packet(src: &str, sport: u16, dst: &str, dport: u16, seg: Segment, len: u32) -> Packet {
    Packet {
        saddr: ip(src),
        sport,
        daddr: ip(dst),
        dport,
        seg,
        len,
        fwmark: 0,
    }
}

/// A director with [`RULES`] and some traffic.
fn loaded() -> Director {
    let mut d = Director::new(Settings::default(), 1, Box::new(SplitMix64(7)));
    let o = exec::run(&mut d, "ipvsadm", &args("-R"), Some(RULES), Time::ZERO);
    assert_eq!(o.reply.exit_code, 0, "{:?}", o.reply);
    let mut now = Time::ZERO;
    // 40 TCP connections to :80, each with one huge "packet" so that bytes reach T.
    for i in 0..40u16 {
        let client = format!("198.18.0.{}", 2 + i % 8);
        let syn = Segment::Tcp(TcpFlags::SYN);
        d.process(
            &packet(&client, 40000 + i, "198.18.1.100", 80, syn, 60),
            now,
        );
        let ack = Segment::Tcp(TcpFlags::ACK);
        for _ in 0..600 {
            d.process(
                &packet(&client, 40000 + i, "198.18.1.100", 80, ack, u32::MAX),
                now,
            );
        }
    }
    // Persistent NAT service: one client, two connections, one template.
    for port in [50000, 50001] {
        let syn = Segment::Tcp(TcpFlags::SYN);
        d.process(
            &packet("198.18.0.9", port, "198.18.1.100", 443, syn, 60),
            now,
        );
    }
    // UDP one-packet scheduling.
    d.process(
        &packet("198.18.0.3", 5353, "198.18.1.100", 53, Segment::Udp, 80),
        now,
    );
    // IPv6.
    let syn = Segment::Tcp(TcpFlags::SYN);
    d.process(&packet("fd00::2", 41000, "fd00:1::100", 80, syn, 80), now);
    // Let the estimator run (every 2 s) so that rates are non-zero.
    for _ in 0..3 {
        now = Time(now.0 + 2000);
        d.advance(now);
    }
    d
}

fn render_all(d: &mut Director) -> String {
    let mut out = String::new();
    for mode in MODES {
        let o = exec::run(d, "ipvsadm", &args(mode), None, Time(6000));
        out.push_str(&format!("== ipvsadm {mode} (exit {})\n", o.reply.exit_code));
        out.push_str(&o.reply.stdout);
        out.push_str(&o.reply.stderr);
    }
    for file in exec::PROC_FILES {
        out.push_str(&format!("== /proc/net/{file}\n"));
        out.push_str(&exec::proc_file(d, file).expect("known file"));
    }
    out
}

#[test]
fn every_listing_mode_matches_its_snapshot() {
    let mut d = loaded();
    let got = render_all(&mut d);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/listings.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    if got != want {
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            if g != w {
                panic!("line {}:\n got: {g:?}\nwant: {w:?}", i + 1);
            }
        }
        panic!(
            "lengths differ: got {} lines, want {}",
            got.lines().count(),
            want.lines().count()
        );
    }
}

#[test]
fn save_output_restores_to_the_same_table() {
    let mut d = loaded();
    let saved = exec::run(&mut d, "ipvsadm", &args("-Sn"), None, Time::ZERO)
        .reply
        .stdout;
    // The mark 4294967295 is saved as `-f -1`, which ipvsadm cannot restore either (§1.9).
    let (bad, good): (Vec<&str>, Vec<&str>) = saved.lines().partition(|l| l.contains("-f -1 "));
    assert_eq!(bad, ["-A -f -1 -s rr"]);
    let good: String = good.iter().flat_map(|l| [*l, "\n"]).collect();
    let mut e = Director::new(Settings::default(), 1, Box::new(SplitMix64(1)));
    let o = exec::run(&mut e, "ipvsadm", &args("-R"), Some(&saved), Time::ZERO);
    assert_eq!(
        (o.reply.exit_code, o.reply.stderr.as_str()),
        (2, "invalid fwmark value `-1' specified\n")
    );
    let o = exec::run(&mut e, "ipvsadm", &args("-C"), None, Time::ZERO);
    assert_eq!(o.reply.exit_code, 0);
    let o = exec::run(&mut e, "ipvsadm", &args("-R"), Some(&good), Time::ZERO);
    assert_eq!(o.reply, rvs_control::Reply::ok(""));
    let again = exec::run(&mut e, "ipvsadm", &args("-Sn"), None, Time::ZERO)
        .reply
        .stdout;
    assert_eq!(good, again);
}
