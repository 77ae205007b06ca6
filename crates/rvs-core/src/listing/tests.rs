//! Golden tests for `-L` and `-S`: the reference examples (§1.9, §1.10) byte for byte,
//! plus sorting, names and the less common layouts.

use std::net::IpAddr;

use super::*;
use crate::addr::{Af, Netmask, Protocol};
use crate::dest::{FwdMethod, TunConfig, TunCsum, TunType};
use crate::fwmark::FwmarkRule;
use crate::sched::flags::{SCHED1, SCHED2, SCHED3};
use crate::service::{ServiceKey, flags};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn svc(proto: Protocol, addr: &str, port: u16, sched: &str) -> ServiceRow {
    let addr = ip(addr);
    ServiceRow {
        key: ServiceKey::Addr { proto, addr, port },
        sched_name: sched.into(),
        flags: flags::HASHED,
        timeout: 0,
        netmask: Netmask::full(Af::of(&addr)),
        pe_name: None,
        counters: Counters::default(),
        rates: Rates::default(),
        dests: Vec::new(),
    }
}

fn fwm(mark: u32, af: Af, sched: &str) -> ServiceRow {
    ServiceRow {
        key: ServiceKey::Fwmark { af, mark },
        sched_name: sched.into(),
        flags: flags::HASHED,
        timeout: 0,
        netmask: Netmask::full(af),
        pe_name: None,
        counters: Counters::default(),
        rates: Rates::default(),
        dests: Vec::new(),
    }
}

fn dest(addr: &str, port: u16, fwd: FwdMethod, weight: i32) -> DestRow {
    DestRow {
        addr: ip(addr),
        port,
        fwd,
        weight,
        u_threshold: 0,
        l_threshold: 0,
        activeconns: 0,
        inactconns: 0,
        persistconns: 0,
        counters: Counters::default(),
        rates: Rates::default(),
        tun: TunConfig::default(),
    }
}

fn with_conns(mut d: DestRow, active: u32, inactive: u32) -> DestRow {
    d.activeconns = active;
    d.inactconns = inactive;
    d
}

/// The services of the reference `-Ln` example, dests in kernel order (newest first:
/// .12 was added after .11).
fn reference_rows() -> Vec<ServiceRow> {
    let mut web = svc(Protocol::Tcp, "192.168.10.100", 80, "wlc");
    web.dests = vec![
        with_conns(dest("192.168.10.12", 80, FwdMethod::Masq, 3), 0, 7),
        with_conns(dest("192.168.10.11", 80, FwdMethod::Route, 1), 12, 150),
    ];
    let mut dns = svc(Protocol::Udp, "10.0.0.1", 53, "rr");
    dns.flags |= flags::PERSISTENT;
    dns.timeout = 360;
    dns.netmask = Netmask::V4(0xffff_ff00);
    let mut mark = fwm(100, Af::Inet, "sh");
    mark.flags |= SCHED1 | SCHED2;
    // Given out of order: the listing sorts services.
    vec![mark, dns, web]
}

fn opts() -> ListOptions {
    ListOptions::default()
}

#[test]
fn reference_default_listing() {
    let expect = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.10.100:80 wlc
  -> 192.168.10.11:80             Route   1      12         150       
  -> 192.168.10.12:80             Masq    3      0          7         
UDP  10.0.0.1:53 rr persistent 360 mask 255.255.255.0
FWM  100 sh (sh-fallback,sh-port)
";
    assert_eq!(
        render_services(&reference_rows(), &opts(), &Numeric),
        expect
    );
}

#[test]
fn nosort_keeps_kernel_order_and_single_service_has_no_header() {
    let rows = reference_rows();
    let o = ListOptions {
        nosort: true,
        header: false,
        ..opts()
    };
    let expect = "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.10.100:80 wlc
  -> 192.168.10.12:80             Masq    3      0          7         
  -> 192.168.10.11:80             Route   1      12         150       
";
    assert_eq!(render_services(&rows[2..], &o, &Numeric), expect);
    // Whole table unsorted: given order.
    let out = render_services(&rows, &o, &Numeric);
    let firsts: Vec<&str> = out
        .lines()
        .skip(2)
        .filter(|l| !l.starts_with("  ->"))
        .collect();
    assert_eq!(
        firsts,
        [
            "FWM  100 sh (sh-fallback,sh-port)",
            "UDP  10.0.0.1:53 rr persistent 360 mask 255.255.255.0",
            "TCP  192.168.10.100:80 wlc"
        ]
    );
}

#[test]
fn header_size_is_a_parameter() {
    let o = ListOptions {
        conn_tab_size: 1 << 20,
        ..opts()
    };
    let out = render_services(&[], &o, &Numeric);
    assert_eq!(
        out,
        "IP Virtual Server version 1.2.1 (size=1048576)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    );
}

/// The `--stats` example: `-L -t 192.168.10.100:80 --stats` with one dest.
fn stats_row() -> ServiceRow {
    let mut web = svc(Protocol::Tcp, "192.168.10.100", 80, "wlc");
    web.counters = Counters {
        conns: 1234,
        inpkts: 56789,
        outpkts: 0,
        inbytes: 123_456_789,
        outbytes: 98_765_432_100,
    };
    let mut d = dest("192.168.10.11", 80, FwdMethod::Route, 1);
    d.counters = Counters {
        conns: 617,
        inpkts: 28000,
        outpkts: 0,
        inbytes: 61_728_394,
        outbytes: 0,
    };
    web.dests = vec![d];
    web
}

#[test]
fn reference_stats() {
    let o = ListOptions {
        stats: true,
        header: false,
        ..opts()
    };
    let expect = "\
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.168.10.100:80                1234    56789        0  123456K   98765M
  -> 192.168.10.11:80                  617    28000        0 61728394        0
";
    assert_eq!(render_services(&[stats_row()], &o, &Numeric), expect);
}

#[test]
fn reference_stats_exact() {
    let o = ListOptions {
        stats: true,
        exact: true,
        header: false,
        ..opts()
    };
    let out = render_services(&[stats_row()], &o, &Numeric);
    let row = out.lines().nth(2).unwrap();
    assert_eq!(
        row,
        "TCP  192.168.10.100:80                1234    56789        0 123456789 98765432100"
    );
}

#[test]
fn stats_wins_over_rate() {
    let o = ListOptions {
        stats: true,
        rate: true,
        thresholds: true,
        header: false,
        ..opts()
    };
    let out = render_services(&[stats_row()], &o, &Numeric);
    assert!(out.starts_with("Prot LocalAddress:Port               Conns"));
}

#[test]
fn reference_rate() {
    let mut web = svc(Protocol::Tcp, "192.168.10.100", 80, "wlc");
    web.rates = Rates {
        cps: 12,
        inpps: 340,
        outpps: 0,
        inbps: 51234,
        outbps: 0,
    };
    let mut d = dest("192.168.10.11", 80, FwdMethod::Route, 1);
    d.rates = Rates {
        cps: 6,
        inpps: 170,
        outpps: 0,
        inbps: 25617,
        outbps: 0,
    };
    web.dests = vec![d];
    let o = ListOptions {
        rate: true,
        header: false,
        ..opts()
    };
    let expect = "\
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  192.168.10.100:80                  12      340        0    51234        0
  -> 192.168.10.11:80                    6      170        0    25617        0
";
    assert_eq!(
        render_services(std::slice::from_ref(&web), &o, &Numeric),
        expect
    );

    // Dest CPS/PPS are never abbreviated; service rates and dest BPS are.
    let big = Rates {
        cps: 123_456_789,
        inpps: 123_456_789,
        outpps: 0,
        inbps: 123_456_789,
        outbps: 0,
    };
    web.rates = big;
    web.dests[0].rates = big;
    let out = render_services(&[web], &o, &Numeric);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[2],
        "TCP  192.168.10.100:80             123456K  123456K        0  123456K        0"
    );
    assert_eq!(
        lines[3],
        "  -> 192.168.10.11:80             123456789 123456789        0  123456K        0"
    );
}

#[test]
fn thresholds_layout() {
    let mut web = svc(Protocol::Tcp, "192.168.10.100", 80, "wlc");
    let mut d = with_conns(dest("192.168.10.11", 80, FwdMethod::Route, 1), 12, 150);
    d.u_threshold = 100;
    d.l_threshold = 10;
    web.dests = vec![d];
    let o = ListOptions {
        thresholds: true,
        header: false,
        ..opts()
    };
    let expect = "\
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  192.168.10.100:80 wlc
  -> 192.168.10.11:80             100        10         12         150       
";
    assert_eq!(render_services(&[web], &o, &Numeric), expect);
}

#[test]
fn persistent_conn_layout() {
    let mut web = svc(Protocol::Tcp, "192.168.10.100", 80, "wlc");
    web.flags |= flags::PERSISTENT;
    web.timeout = 360;
    let mut d = with_conns(dest("192.168.10.11", 80, FwdMethod::Route, 1), 12, 150);
    d.persistconns = 4;
    web.dests = vec![d];
    let o = ListOptions {
        persistent_conn: true,
        header: false,
        ..opts()
    };
    let expect = "\
Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  192.168.10.100:80 wlc persistent 360
  -> 192.168.10.11:80             1         4           12         150       
";
    assert_eq!(render_services(&[web], &o, &Numeric), expect);
}

#[test]
fn tun_info_layout() {
    let mut web = svc(Protocol::Tcp, "192.168.10.100", 80, "rr");
    let mut gue = with_conns(dest("192.168.10.11", 80, FwdMethod::Tunnel, 1), 12, 150);
    gue.tun = TunConfig {
        kind: TunType::Gue,
        port: 6080,
        csum: TunCsum::Csum,
    };
    let masq = with_conns(dest("192.168.10.12", 80, FwdMethod::Masq, 3), 0, 7);
    web.dests = vec![masq, gue];
    let o = ListOptions {
        tun_info: true,
        header: false,
        ..opts()
    };
    let expect = "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn
TCP  192.168.10.100:80 rr
  -> 192.168.10.11:80             Tunnel  gue:6080:+c   1      12         150       
  -> 192.168.10.12:80             Masq    n/a           3      0          7         
";
    assert_eq!(render_services(&[web], &o, &Numeric), expect);
}

#[test]
fn service_line_options() {
    let mut a = svc(Protocol::Udp, "10.0.0.2", 5060, "rr");
    a.flags |= flags::PERSISTENT | flags::ONEPACKET;
    a.timeout = 600;
    a.pe_name = Some("sip".into());
    // pe only inside the persistent block; ops always.
    let mut b = svc(Protocol::Udp, "10.0.0.3", 53, "rr");
    b.flags |= flags::ONEPACKET;
    b.pe_name = Some("sip".into());
    let mut c = svc(Protocol::Sctp, "10.0.0.4", 9, "wrr");
    c.flags |= SCHED1 | SCHED3;
    // sh ignores flag-3: an empty group is still printed.
    let mut d = svc(Protocol::Tcp, "10.0.0.5", 0, "sh");
    d.flags |= SCHED3 | flags::PERSISTENT;
    d.timeout = 360;
    let mut e = svc(Protocol::Tcp, "2001:db8::1", 443, "mh");
    e.flags |= SCHED2 | flags::PERSISTENT;
    e.timeout = 360;
    e.netmask = Netmask::V6(64);
    let o = ListOptions {
        header: false,
        ..opts()
    };
    let out = render_services(&[a, b, c, d, e], &o, &Numeric);
    let lines: Vec<&str> = out.lines().skip(2).collect();
    assert_eq!(
        lines,
        [
            "TCP  10.0.0.5:0 sh () persistent 360",
            "UDP  10.0.0.2:5060 rr persistent 600 pe sip ops",
            "UDP  10.0.0.3:53 rr ops",
            "SCTP 10.0.0.4:9 wrr (flag-1,flag-3)",
            "TCP  [2001:db8::1]:443 mh (mh-port) persistent 360 mask 64",
        ]
    );
}

#[test]
fn sort_uses_wrapping_compare() {
    let mut a = svc(Protocol::Tcp, "10.0.0.1", 80, "wlc");
    a.dests = vec![
        dest("10.0.0.1", 80, FwdMethod::Masq, 1),
        dest("192.168.0.1", 80, FwdMethod::Masq, 1),
        dest("10.0.0.1", 8080, FwdMethod::Masq, 1),
    ];
    let b = svc(Protocol::Tcp, "192.168.0.1", 80, "wlc");
    let big = fwm(0x8000_0001, Af::Inet, "wlc");
    let all_ones = fwm(u32::MAX, Af::Inet, "rr");
    let small = fwm(100, Af::Inet6, "wlc");
    let v6 = svc(Protocol::Tcp, "2001:db8::1", 80, "wlc");
    let o = ListOptions {
        header: false,
        ..opts()
    };
    // Note: 100 - (2^31 + 1) also wraps negative, so FWM 100 < FWM 2^31+1 < TCP < FWM 100
    // is a cycle; the order below is what the glibc-shaped merge sort gives for this input.
    let out = render_services(&[small, v6, a, b, all_ones, big], &o, &Numeric);
    let expect = "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
FWM  -2147483647 wlc
FWM  -1 rr
TCP  192.168.0.1:80 wlc
TCP  10.0.0.1:80 wlc
  -> 192.168.0.1:80               Masq    1      0          0         
  -> 10.0.0.1:80                  Masq    1      0          0         
  -> 10.0.0.1:8080                Masq    1      0          0         
TCP  [2001:db8::1]:80 wlc
FWM  100 IPv6 wlc
";
    assert_eq!(out, expect);
}

#[test]
fn ipv6_names_are_not_cut() {
    let mut s = svc(
        Protocol::Tcp,
        "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1",
        8080,
        "wlc",
    );
    s.dests = vec![with_conns(
        dest(
            "2001:db8:aaaa:bbbb:cccc:dddd:eeee:11",
            8080,
            FwdMethod::Masq,
            1,
        ),
        1,
        2,
    )];
    let o = ListOptions {
        stats: true,
        header: false,
        ..opts()
    };
    let out = render_services(&[s], &o, &Numeric);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[2],
        "TCP  [2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:8080        0        0        0        0        0"
    );
    assert_eq!(
        lines[3],
        "  -> [2001:db8:aaaa:bbbb:cccc:dddd:eeee:11]:8080        0        0        0        0        0"
    );
}

/// Stand-in for reverse DNS and /etc/services.
struct Table;

impl Names for Table {
    fn host(&self, addr: &IpAddr) -> Option<String> {
        match addr.to_string().as_str() {
            "192.168.10.100" => Some("www.example.com".into()),
            "192.168.10.11" => Some("real-server-number-eleven.example.com".into()),
            "198.18.0.100" => Some("a-rather-long-virtual-host.example.com".into()),
            "2001:db8::1" => Some("v6.example.com".into()),
            _ => None,
        }
    }

    fn service(&self, port: u16, proto: Protocol) -> Option<String> {
        match (port, proto) {
            (80, Protocol::Tcp) => Some("http".into()),
            _ => None,
        }
    }
}

#[test]
fn names_and_ipv4_cuts() {
    let mut web = svc(Protocol::Tcp, "192.168.10.100", 80, "wlc");
    web.dests = vec![
        with_conns(dest("192.168.10.11", 80, FwdMethod::Route, 1), 12, 150),
        dest("192.168.10.12", 80, FwdMethod::Masq, 3),
    ];
    let long = svc(Protocol::Tcp, "198.18.0.100", 80, "rr");
    let v6 = svc(Protocol::Tcp, "2001:db8::1", 80, "rr");
    // Fwmark dests: no protocol, so no port names.
    let mut mark = fwm(5, Af::Inet, "rr");
    mark.dests = vec![dest("192.168.10.12", 80, FwdMethod::Route, 1)];
    let o = ListOptions {
        header: false,
        ..opts()
    };
    let out = render_services(&[web, long, v6, mark], &o, &Table);
    let expect = "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  www.example.com:http wlc
  -> real-server-number-eleven.ex Route   1      12         150       
  -> 192.168.10.12:http           Masq    3      0          0         
TCP  a-rather-long-virtual-host.e rr
TCP  [v6.example.com]:http rr
FWM  5 rr
  -> 192.168.10.12:80             Route   1      0          0         
";
    assert_eq!(out, expect);
    // 33 bytes: "TCP  " + 28.
    assert_eq!("TCP  a-rather-long-virtual-host.e".len(), 33);
}

fn save_rows() -> Vec<ServiceRow> {
    let mut rows = reference_rows();
    // Thresholds are not saved.
    rows[2].dests[1].u_threshold = 100;
    rows[2].dests[1].l_threshold = 10;
    let mut tun = dest("10.0.0.11", 53, FwdMethod::Tunnel, 1);
    tun.tun = TunConfig::default();
    rows[1].dests = vec![tun];
    rows.push(fwm(200, Af::Inet6, "wlc"));
    rows
}

#[test]
fn reference_save() {
    let expect = "\
-A -t 192.168.10.100:80 -s wlc
-a -t 192.168.10.100:80 -r 192.168.10.11:80 -g -w 1
-a -t 192.168.10.100:80 -r 192.168.10.12:80 -m -w 3
-A -u 10.0.0.1:53 -s rr -p 360 -M 255.255.255.0
-a -u 10.0.0.1:53 -r 10.0.0.11:53 -i -w 1 --tun-type ipip
-A -f 100 -s sh -b sh-fallback,sh-port
-A -f 200 -6 -s wlc
";
    assert_eq!(render_save(&save_rows(), &[], &Numeric), expect);
}

#[test]
fn save_extensions_and_details() {
    let rules: Vec<FwmarkRule> = vec![
        "100 tcp 198.18.0.100 80,443".parse().unwrap(),
        "200 any fd00::/64".parse().unwrap(),
    ];
    let mut a = svc(Protocol::Sctp, "10.0.0.9", 3868, "wrr");
    a.flags |= flags::ONEPACKET | flags::PERSISTENT | SCHED2;
    a.timeout = 60;
    a.pe_name = Some("sip".into());
    let mut gue = dest("10.0.0.21", 3868, FwdMethod::Tunnel, 2);
    gue.tun = TunConfig {
        kind: TunType::Gue,
        port: 6080,
        csum: TunCsum::RemCsum,
    };
    let mut gre = dest("10.0.0.22", 3868, FwdMethod::Tunnel, 2);
    gre.tun = TunConfig {
        kind: TunType::Gre,
        port: 0,
        csum: TunCsum::Csum,
    };
    a.dests = vec![
        gre,
        gue,
        dest("10.0.0.23", 3868, FwdMethod::FullNat, 5),
        dest("10.0.0.24", 3868, FwdMethod::Local, 0),
    ];
    let mut b = svc(Protocol::Tcp, "2001:db8::1", 80, "rr");
    b.flags |= flags::PERSISTENT;
    b.timeout = 360;
    b.netmask = Netmask::V6(64);
    b.dests = vec![dest("2001:db8::11", 80, FwdMethod::Masq, 1)];
    let c = fwm(u32::MAX, Af::Inet, "wlc");
    let out = render_save(&[a, b, c], &rules, &Numeric);
    let expect = "\
--add-fwmark-rule 100 tcp 198.18.0.100 80,443
--add-fwmark-rule 200 any fd00::/64
-A -f -1 -s wlc
-A --sctp-service 10.0.0.9:3868 -s wrr -p 60 --pe sip -o -b flag-2
-a --sctp-service 10.0.0.9:3868 -r 10.0.0.21:3868 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum
-a --sctp-service 10.0.0.9:3868 -r 10.0.0.22:3868 -i -w 2 --tun-type gre --tun-csum
-a --sctp-service 10.0.0.9:3868 -r 10.0.0.23:3868 --fullnat -w 5
-a --sctp-service 10.0.0.9:3868 -r 10.0.0.24:3868 -g -w 0
-A -t [2001:db8::1]:80 -s rr -p 360 -M 64
-a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -m -w 1
";
    // AF_INET (2) sorts before AF_INET6 (10) before the protocol is compared.
    assert_eq!(out, expect);
}

#[test]
fn save_with_names_is_not_cut() {
    let mut web = svc(Protocol::Tcp, "192.168.10.100", 80, "wlc");
    web.dests = vec![dest("192.168.10.11", 80, FwdMethod::Route, 1)];
    let out = render_save(&[web], &[], &Table);
    assert_eq!(
        out,
        "-A -t www.example.com:http -s wlc\n\
         -a -t www.example.com:http -r real-server-number-eleven.example.com:http -g -w 1\n"
    );
}

#[test]
fn save_pe_without_persistence_and_empty_flag_group() {
    let mut s = svc(Protocol::Udp, "10.0.0.3", 53, "sh");
    s.pe_name = Some("sip".into());
    s.flags |= SCHED3;
    assert_eq!(
        render_save(&[s], &[], &Numeric),
        "-A -u 10.0.0.3:53 -s sh --pe sip -b \n"
    );
}

#[test]
fn proc_ip_vs_matches_the_kernel_formats() {
    let mut web = svc(Protocol::Tcp, "192.168.10.100", 80, "wlc");
    web.dests.push(with_conns(
        dest("192.168.10.11", 80, FwdMethod::Route, 1),
        12,
        150,
    ));
    let mut dns = svc(Protocol::Udp, "10.0.0.1", 53, "rr");
    dns.flags |= flags::ONEPACKET | flags::PERSISTENT;
    dns.timeout = 360;
    dns.netmask = Netmask::V4(0xffff_ff00);
    let mut v6 = svc(Protocol::Tcp, "2001:db8::1", 443, "sh");
    v6.flags |= flags::PERSISTENT;
    v6.timeout = 60;
    v6.netmask = Netmask::V6(64);
    v6.dests.push(dest("2001:db8::11", 443, FwdMethod::Masq, 2));
    let mark = fwm(100, Af::Inet, "wrr");
    // Table order puts the fwmark service first; the kernel walks addresses first.
    let got = render_proc_ip_vs(&[mark, web, dns, v6]);
    let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C0A80A64:0050 wlc  
  -> C0A80A0B:0050      Route   1      12         150       
UDP  0A000001:0035 rr ops  persistent 360000 FFFFFF00
TCP  [2001:0db8:0000:0000:0000:0000:0000:0001]:01BB sh persistent 60000 40000000
  -> [2001:0db8:0000:0000:0000:0000:0000:0011]:01BB      Masq    2      0          0         
FWM  00000064 wrr 
";
    assert_eq!(got, want);
}

#[test]
fn proc_ip_vs_conn_and_sync_and_stats() {
    let rows = [
        ConnRow {
            proto: "TCP",
            expires_secs: 897,
            state: "ESTABLISHED",
            caddr: ip("10.1.2.3"),
            cport: 51234,
            vaddr: ip("192.168.10.100"),
            vport: 80,
            daddr: ip("192.168.10.11"),
            dport: 80,
            pe_name: None,
            pe_data: None,
            synced: false,
        },
        ConnRow {
            proto: "UDP",
            expires_secs: 299,
            state: "UDP",
            caddr: ip("fd00::2"),
            cport: 40000,
            vaddr: ip("fd00:1::100"),
            vport: 53,
            daddr: ip("fd00:1::11"),
            dport: 53,
            pe_name: Some("sip".into()),
            pe_data: Some("call-1".into()),
            synced: true,
        },
    ];
    assert_eq!(
        render_proc_ip_vs_conn(&rows),
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
TCP 0A010203 C822 C0A80A64 0050 C0A80A0B 0050 ESTABLISHED     897\n\
UDP fd00:0000:0000:0000:0000:0000:0000:0002 9C40 fd00:0001:0000:0000:0000:0000:0000:0100 0035 \
fd00:0001:0000:0000:0000:0000:0000:0011 0035 UDP             299 sip call-1\n"
    );
    assert_eq!(
        render_proc_ip_vs_conn_sync(&rows[..1]),
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\n\
TCP 0A010203 C822 C0A80A64 0050 C0A80A0B 0050 ESTABLISHED LOCAL      897\n"
    );
    // The second row came from a sync master.
    assert!(
        render_proc_ip_vs_conn_sync(&rows).ends_with(" 0035 UDP         SYNC       299\n"),
        "{}",
        render_proc_ip_vs_conn_sync(&rows)
    );
    let mut a = svc(Protocol::Tcp, "192.168.10.100", 80, "wlc");
    a.counters = Counters {
        conns: 10,
        inpkts: 255,
        outpkts: 0,
        inbytes: 0x1_0000_0000,
        outbytes: 1,
    };
    let mut b = svc(Protocol::Udp, "10.0.0.1", 53, "rr");
    b.counters.conns = 6;
    b.rates.inbps = 4096;
    let (c, r) = totals(&[a, b]);
    assert_eq!(
        render_proc_ip_vs_stats(&c, &r),
        "   Total Incoming Outgoing         Incoming         Outgoing\n\
\x20  Conns  Packets  Packets            Bytes            Bytes\n\
\x20     10       FF        0        100000000                1\n\
\n\
\x20Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n\
\x20      0        0        0             1000                0\n"
    );
}
