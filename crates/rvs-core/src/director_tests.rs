//! Director behaviour: connections, states, persistence, thresholds, expiry, stats.

use std::net::IpAddr;

use super::*;
use crate::command::{DestConfig, ServiceConfig};
use crate::conn::state::{SctpEvent, TcpFlags};
use crate::fwmark::FwmarkRule;
use crate::rng::SplitMix64;

const VIP: [u8; 4] = [198, 18, 0, 100];

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

fn rs(n: u8) -> IpAddr {
    ip([198, 18, 1, n])
}

fn client(n: u8) -> IpAddr {
    ip([198, 18, 2, n])
}

fn tcp_key(port: u16) -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip(VIP),
        port,
    }
}

fn udp_key(port: u16) -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Udp,
        addr: ip(VIP),
        port,
    }
}

struct T {
    d: Director,
    now: Time,
}

impl T {
    fn new() -> T {
        Self::with(Settings::default())
    }

    fn with(settings: Settings) -> T {
        T {
            d: Director::new(settings, 42, Box::new(SplitMix64(7))),
            now: Time::ZERO,
        }
    }

    fn cmd(&mut self, c: Command) {
        self.d.apply(&c, self.now).expect("command");
    }

    fn svc(&mut self, key: ServiceKey, sched: &str, persistent: Option<u32>) {
        let mut cfg = ServiceConfig::new(key);
        cfg.scheduler = sched.into();
        cfg.persistent = persistent;
        self.cmd(Command::AddService(cfg));
    }

    fn dest(&mut self, key: ServiceKey, n: u8, port: u16, fwd: FwdMethod, w: i32) {
        let mut d = DestConfig::new(rs(n), port);
        d.fwd = fwd;
        d.weight = w;
        self.cmd(Command::AddDest(key, d));
    }

    fn at(&mut self, secs: f64) {
        self.now = Time((secs * 1000.0) as u64);
        self.d.advance(self.now);
    }

    fn pkt(&mut self, src: (IpAddr, u16), dst: (IpAddr, u16), seg: Segment) -> Verdict {
        let p = Packet {
            saddr: src.0,
            sport: src.1,
            daddr: dst.0,
            dport: dst.1,
            seg,
            len: 100,
            fwmark: 0,
        };
        self.d.process(&p, self.now)
    }

    fn syn(&mut self, c: u8, cport: u16, vport: u16) -> Verdict {
        self.pkt(
            (client(c), cport),
            (ip(VIP), vport),
            Segment::Tcp(TcpFlags::SYN),
        )
    }

    fn ack(&mut self, c: u8, cport: u16, vport: u16) -> Verdict {
        self.pkt(
            (client(c), cport),
            (ip(VIP), vport),
            Segment::Tcp(TcpFlags::ACK),
        )
    }

    fn dest_counts(&self, key: ServiceKey, n: u8, port: u16) -> (u32, u32, u32) {
        let sid = self.d.table.find(&key).expect("svc");
        let id = self.d.table.find_dest(sid, &rs(n), port).expect("dest");
        let d = self.d.table.dest(id).expect("dest");
        (d.activeconns, d.inactconns, d.persistconns)
    }
}

fn fwd_dest(v: Verdict) -> Option<(IpAddr, u16)> {
    match v {
        Verdict::Forward { daddr, dport, .. } => Some((daddr, dport)),
        _ => None,
    }
}

#[test]
fn nat_tcp_lifecycle_counts_and_expires() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    t.dest(k, 11, 8080, FwdMethod::Masq, 1);
    let v = t.syn(1, 40000, 80);
    assert_eq!(fwd_dest(v), Some((rs(11), 8080)));
    assert!(matches!(
        v,
        Verdict::Forward {
            new: true,
            fwd: FwdMethod::Masq,
            ..
        }
    ));
    assert_eq!(t.dest_counts(k, 11, 8080), (1, 0, 0), "SYN_RECV is active");
    // The server's SYN+ACK comes back through the director.
    let r = t.pkt(
        (rs(11), 8080),
        (client(1), 40000),
        Segment::Tcp(TcpFlags::SYN_ACK),
    );
    assert!(matches!(r, Verdict::Reply { vport: 80, .. }));
    t.ack(1, 40000, 80);
    let id =
        t.d.conns
            .lookup_in(6, &client(1), 40000, &ip(VIP), 80)
            .expect("conn");
    assert_eq!(
        t.d.conns.get(id).map(|c| c.state),
        Some(state::tcp::ESTABLISHED)
    );
    // Orderly close: client FIN, server FIN, client ACK → TIME_WAIT, inactive.
    t.pkt(
        (client(1), 40000),
        (ip(VIP), 80),
        Segment::Tcp(TcpFlags::FIN_ACK),
    );
    t.pkt(
        (rs(11), 8080),
        (client(1), 40000),
        Segment::Tcp(TcpFlags::FIN_ACK),
    );
    t.ack(1, 40000, 80);
    assert_eq!(
        t.d.conns.get(id).map(|c| c.state),
        Some(state::tcp::TIME_WAIT)
    );
    assert_eq!(t.dest_counts(k, 11, 8080), (0, 1, 0));
    // Stats: one conn, 4 input packets, 2 output packets.
    let sid = t.d.table.find(&k).unwrap();
    let c = t.d.table.service(sid).unwrap().stats.counters();
    assert_eq!((c.conns, c.inpkts, c.outpkts, c.inbytes), (1, 4, 2, 400));
    // TIME_WAIT lasts 120 s.
    t.at(119.9);
    assert_eq!(t.d.conns.len(), 1);
    t.at(120.0);
    assert_eq!(t.d.conns.len(), 0);
    assert_eq!(t.dest_counts(k, 11, 8080), (0, 0, 0));
}

#[test]
fn dr_uses_input_only_table() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.syn(1, 40000, 80);
    t.ack(1, 40000, 80);
    t.pkt(
        (client(1), 40000),
        (ip(VIP), 80),
        Segment::Tcp(TcpFlags::FIN_ACK),
    );
    let id =
        t.d.conns
            .lookup_in(6, &client(1), 40000, &ip(VIP), 80)
            .unwrap();
    let c = t.d.conns.get(id).unwrap();
    assert_eq!(c.state, state::tcp::FIN_WAIT);
    assert_ne!(c.flags & cf::NOOUTPUT, 0);
    assert_eq!(t.dest_counts(k, 11, 80), (0, 1, 0));
}

#[test]
fn non_syn_without_conn_passes_and_no_dest_is_unreachable() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    assert_eq!(t.ack(1, 1000, 80), Verdict::Pass);
    assert_eq!(t.syn(1, 1000, 80), Verdict::Unreachable);
    assert_eq!(t.syn(1, 1000, 81), Verdict::Pass, "no such service");
    t.dest(k, 11, 80, FwdMethod::Route, 0);
    assert_eq!(t.syn(1, 1000, 80), Verdict::Unreachable, "weight 0 only");
}

#[test]
fn udp_is_always_inactive_and_refreshed() {
    let mut t = T::new();
    let k = udp_key(53);
    t.svc(k, "rr", None);
    t.dest(k, 11, 53, FwdMethod::Masq, 1);
    let p = |t: &mut T| t.pkt((client(1), 5000), (ip(VIP), 53), Segment::Udp);
    assert!(matches!(p(&mut t), Verdict::Forward { new: true, .. }));
    assert_eq!(t.dest_counts(k, 11, 53), (0, 1, 0));
    t.at(200.0);
    assert!(matches!(p(&mut t), Verdict::Forward { new: false, .. }));
    t.at(499.0);
    assert_eq!(t.d.conns.len(), 1, "refreshed at 200 s, lives to 500 s");
    t.at(500.0);
    assert_eq!(t.d.conns.len(), 0);
}

#[test]
fn set_timeouts_changes_new_state_timeouts() {
    let mut t = T::new();
    let k = udp_key(53);
    t.svc(k, "rr", None);
    t.dest(k, 11, 53, FwdMethod::Masq, 1);
    t.cmd(Command::SetTimeouts {
        tcp: 0,
        tcpfin: 0,
        udp: 10,
    });
    t.pkt((client(1), 5000), (ip(VIP), 53), Segment::Udp);
    t.at(9.9);
    assert_eq!(t.d.conns.len(), 1);
    t.at(10.0);
    assert_eq!(t.d.conns.len(), 0);
    assert_eq!(t.d.timeouts.shown(), (900, 120, 10));
}

#[test]
fn one_packet_scheduling_schedules_each_datagram() {
    let mut t = T::new();
    let k = udp_key(53);
    let mut cfg = ServiceConfig::new(k);
    cfg.scheduler = "rr".into();
    cfg.onepacket = true;
    t.cmd(Command::AddService(cfg));
    t.dest(k, 11, 53, FwdMethod::Route, 1);
    t.dest(k, 12, 53, FwdMethod::Route, 1);
    let a = fwd_dest(t.pkt((client(1), 5000), (ip(VIP), 53), Segment::Udp));
    let b = fwd_dest(t.pkt((client(1), 5000), (ip(VIP), 53), Segment::Udp));
    assert_ne!(a, b, "rr alternates per datagram");
    assert_eq!(t.d.conns.len(), 0, "one-packet conns are not kept");
    assert_eq!(t.dest_counts(k, 11, 53), (0, 0, 0));
    let sid = t.d.table.find(&k).unwrap();
    assert_eq!(t.d.table.service(sid).unwrap().stats.counters().conns, 2);
}

#[test]
fn persistence_sticks_and_counts_templates() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", Some(300));
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.dest(k, 12, 80, FwdMethod::Route, 1);
    let first = fwd_dest(t.syn(1, 1000, 80));
    for p in 1001..1010 {
        assert_eq!(fwd_dest(t.syn(1, p, 80)), first, "same client, same dest");
    }
    let other = fwd_dest(t.syn(2, 1000, 80));
    assert_ne!(other, first, "rr gives the next client the other dest");
    assert_eq!(t.d.conns.templates(), 2);
    let n = match first {
        Some((IpAddr::V4(a), _)) => a.octets()[3],
        _ => unreachable!(),
    };
    assert_eq!(t.dest_counts(k, n, 80).2, 1, "one template on the dest");
    assert_eq!(t.dest_counts(k, n, 80).0, 10, "ten SYN_RECV conns");
}

#[test]
fn persistence_netmask_groups_clients() {
    let mut t = T::new();
    let k = tcp_key(80);
    let mut cfg = ServiceConfig::new(k);
    cfg.scheduler = "rr".into();
    cfg.persistent = Some(300);
    cfg.netmask = Some(crate::addr::Netmask::V4(0xffff_ff00));
    t.cmd(Command::AddService(cfg));
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.dest(k, 12, 80, FwdMethod::Route, 1);
    let a = fwd_dest(t.syn(1, 1000, 80));
    let b = fwd_dest(t.syn(200, 1000, 80));
    assert_eq!(a, b, "198.18.2.1 and 198.18.2.200 share a /24 template");
    assert_eq!(t.d.conns.templates(), 1);
    let tpl = t.d.conns.iter().find(|(_, c)| c.is_template()).unwrap().1;
    assert_eq!(tpl.caddr, ip([198, 18, 2, 0]));
    assert_eq!(tpl.cport, 0);
}

#[test]
fn template_outlives_timeout_while_controlling_then_rearms_60s() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", Some(100));
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.syn(1, 1000, 80);
    t.ack(1, 1000, 80); // ESTABLISHED: 900 s
    t.at(100.0);
    assert_eq!(t.d.conns.templates(), 1, "still controls a conn");
    let tpl = t.d.conns.iter().find(|(_, c)| c.is_template()).unwrap().1;
    assert_eq!(
        tpl.timeout, 60_000,
        "re-armed template keeps 60 s as its timeout"
    );
    assert_eq!(tpl.state, template_state::ASSURED);
    // Keep the conn alive past several re-arms, then close it (RST → CLOSE, 10 s).
    t.at(500.0);
    t.ack(1, 1000, 80);
    t.pkt(
        (client(1), 1000),
        (ip(VIP), 80),
        Segment::Tcp(TcpFlags::RST),
    );
    t.at(510.0);
    assert_eq!(
        t.d.conns.len(),
        1,
        "conn gone; template waits for its timer"
    );
    t.at(600.0);
    assert_eq!(
        t.d.conns.len(),
        0,
        "template expired within 60 s of its last re-arm"
    );
}

#[test]
fn quiesced_dest_keeps_template_deleted_dest_reschedules() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", Some(300));
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    assert_eq!(fwd_dest(t.syn(1, 1000, 80)), Some((rs(11), 80)));
    t.dest(k, 12, 80, FwdMethod::Route, 1);
    let mut e = DestConfig::new(rs(11), 80);
    e.weight = 0;
    t.cmd(Command::EditDest(k, e));
    assert_eq!(
        fwd_dest(t.syn(1, 1001, 80)),
        Some((rs(11), 80)),
        "template still valid"
    );
    t.cmd(Command::DelDest(k, rs(11), 80));
    assert_eq!(
        fwd_dest(t.syn(1, 1002, 80)),
        Some((rs(12), 80)),
        "template invalid → rescheduled"
    );
    // The old conns to the deleted dest are dropped silently until they time out.
    assert_eq!(
        t.ack(1, 1000, 80),
        Verdict::Drop(DropReason::DestUnavailable)
    );
}

#[test]
fn expire_quiescent_template_reschedules_away_from_weight_zero() {
    let settings = Settings {
        expire_quiescent_template: true,
        ..Settings::default()
    };
    let mut t = T::with(settings);
    let k = tcp_key(80);
    t.svc(k, "rr", Some(300));
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.syn(1, 1000, 80);
    t.dest(k, 12, 80, FwdMethod::Route, 1);
    let mut e = DestConfig::new(rs(11), 80);
    e.weight = 0;
    t.cmd(Command::EditDest(k, e));
    assert_eq!(fwd_dest(t.syn(1, 1001, 80)), Some((rs(12), 80)));
}

#[test]
fn fwmark_persistent_service_one_template_all_ports() {
    let mut t = T::new();
    let fk = ServiceKey::Fwmark {
        af: Af::Inet,
        mark: 100,
    };
    t.cmd(Command::AddFwmarkRule(
        "100 tcp 198.18.0.100 80,443".parse::<FwmarkRule>().unwrap(),
    ));
    t.svc(fk, "rr", Some(600));
    t.dest(fk, 11, 0, FwdMethod::Route, 1);
    t.dest(fk, 12, 0, FwdMethod::Route, 1);
    let a = fwd_dest(t.syn(1, 1000, 80));
    let b = fwd_dest(t.syn(1, 1001, 443));
    assert_eq!(a.map(|x| x.0), b.map(|x| x.0), "one template across ports");
    assert_eq!(a.map(|x| x.1), Some(80), "packet's port kept");
    assert_eq!(b.map(|x| x.1), Some(443));
    assert_eq!(t.syn(1, 1002, 8080), Verdict::Pass, "not classified");
    let tpl = t.d.conns.iter().find(|(_, c)| c.is_template()).unwrap().1;
    assert_eq!(
        (tpl.proto, tpl.vaddr, tpl.vport),
        (0, ip([0, 0, 0, 100]), 0)
    );
}

#[test]
fn port_zero_persistent_service_matches_all_ports() {
    let mut t = T::new();
    let k = tcp_key(0);
    t.svc(k, "rr", Some(360));
    t.dest(k, 11, 0, FwdMethod::Route, 1);
    assert_eq!(fwd_dest(t.syn(1, 1000, 22)), Some((rs(11), 22)));
    assert_eq!(fwd_dest(t.syn(1, 1001, 8443)), Some((rs(11), 8443)));
    assert_eq!(t.d.conns.templates(), 1);
}

#[test]
fn upper_threshold_overloads_and_lower_clears_classic() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    let mut d = DestConfig::new(rs(11), 80);
    d.u_threshold = 2;
    t.cmd(Command::AddDest(k, d));
    t.dest(k, 12, 80, FwdMethod::Route, 1);
    let mut got = Vec::new();
    for p in 0..6 {
        got.push(fwd_dest(t.syn(1, 1000 + p, 80)).map(|x| x.0));
    }
    let to11 = got.iter().filter(|g| **g == Some(rs(11))).count();
    assert_eq!(
        to11, 2,
        "dest 11 takes no more than u_threshold conns: {got:?}"
    );
    let sid = t.d.table.find(&k).unwrap();
    let id11 = t.d.table.find_dest(sid, &rs(11), 80).unwrap();
    assert!(t.d.table.dest(id11).unwrap().overload);
    // Reset one conn on 11: conns 1, 1*4 < 2*3 → cleared when it expires (CLOSE 10 s).
    let c =
        t.d.conns
            .iter()
            .find(|(_, c)| c.daddr == rs(11))
            .map(|(_, c)| c.cport)
            .unwrap();
    t.ack(1, c, 80);
    t.pkt((client(1), c), (ip(VIP), 80), Segment::Tcp(TcpFlags::RST));
    t.at(9.9);
    assert!(
        t.d.table.dest(id11).unwrap().overload,
        "still 2 conns until CLOSE expires"
    );
    t.at(10.0);
    assert!(!t.d.table.dest(id11).unwrap().overload);
}

#[test]
fn conn_reuse_reschedules_time_wait() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    t.dest(k, 11, 80, FwdMethod::Masq, 1);
    t.dest(k, 12, 80, FwdMethod::Masq, 1);
    let first = fwd_dest(t.syn(1, 1000, 80)).unwrap();
    t.ack(1, 1000, 80);
    t.pkt(
        (client(1), 1000),
        (ip(VIP), 80),
        Segment::Tcp(TcpFlags::RST),
    );
    let again = t.syn(1, 1000, 80);
    assert!(matches!(again, Verdict::Forward { new: true, .. }));
    assert_ne!(fwd_dest(again).unwrap(), first, "rescheduled by rr");
    assert_eq!(t.d.conns.len(), 1);
}

#[test]
fn expire_nodest_conn_flushes_on_delete() {
    let settings = Settings {
        expire_nodest_conn: true,
        ..Settings::default()
    };
    let mut t = T::with(settings);
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.syn(1, 1000, 80);
    t.syn(1, 1001, 80);
    assert_eq!(t.d.conns.len(), 2);
    t.cmd(Command::DelDest(k, rs(11), 80));
    assert_eq!(t.d.conns.len(), 0);
}

#[test]
fn deleted_dest_revives_from_trash_with_counters() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.syn(1, 1000, 80);
    t.cmd(Command::DelDest(k, rs(11), 80));
    t.dest(k, 11, 80, FwdMethod::Route, 5);
    let sid = t.d.table.find(&k).unwrap();
    let id = t.d.table.find_dest(sid, &rs(11), 80).unwrap();
    let d = t.d.table.dest(id).unwrap();
    assert_eq!(d.stats.counters().conns, 1, "stats revived");
    assert_eq!(d.activeconns, 1, "its live conn counts again");
    assert_eq!(d.weight, 5);
    assert_eq!(
        t.ack(1, 1000, 80),
        Verdict::Forward {
            conn: t.d.conns.lookup_in(6, &client(1), 1000, &ip(VIP), 80),
            dest: id,
            fwd: FwdMethod::Route,
            daddr: rs(11),
            dport: 80,
            new: false,
        }
    );
}

#[test]
fn dest_of_a_deleted_service_revives_when_the_service_comes_back() {
    // The kernel's trash lookup matches the service identity (protocol, VIP, port), not
    // the service object: -D then -A/-a of the same service revives the dest's counters.
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    t.svc(tcp_key(81), "rr", None);
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.syn(1, 1000, 80);
    t.cmd(Command::DelService(k));
    t.svc(k, "wrr", None);
    t.dest(k, 11, 80, FwdMethod::Route, 2);
    let sid = t.d.table.find(&k).unwrap();
    let id = t.d.table.find_dest(sid, &rs(11), 80).unwrap();
    assert_eq!(t.d.table.dest(id).unwrap().stats.counters().conns, 1);
    assert!(t.d.table.trash().is_empty());
    // The same address under another service is a new dest.
    t.dest(tcp_key(81), 11, 80, FwdMethod::Route, 1);
    let sid81 = t.d.table.find(&tcp_key(81)).unwrap();
    let id81 = t.d.table.find_dest(sid81, &rs(11), 80).unwrap();
    assert_ne!(id81, id);
}

#[test]
fn trash_stays_consistent_over_repeated_flush_and_restore() {
    let mut t = T::new();
    for round in 0..5u8 {
        for port in 80..90u16 {
            t.svc(tcp_key(port), "rr", None);
            for n in 11..21u8 {
                t.dest(tcp_key(port), n, port, FwdMethod::Route, 1);
            }
        }
        // Every dest of the previous round was revived, none duplicated.
        assert!(t.d.table.trash().is_empty(), "round {round}");
        assert_eq!(t.d.table.dests.len(), 100, "round {round}");
        // Delete in an order that moves entries around inside the trash.
        for port in (80..90u16).rev() {
            if port % 2 == 0 {
                t.cmd(Command::DelDest(tcp_key(port), rs(15), port));
            }
            t.cmd(Command::DelService(tcp_key(port)));
        }
        assert_eq!(t.d.table.trash().len(), 100);
    }
}

#[test]
fn unreferenced_trash_is_freed_after_120s() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.cmd(Command::DelDest(k, rs(11), 80));
    assert_eq!(t.d.table.trash().len(), 1);
    t.at(119.0);
    assert_eq!(t.d.table.trash().len(), 1);
    t.at(180.0);
    assert_eq!(t.d.table.trash().len(), 0);
}

#[test]
fn sctp_nat_association() {
    let mut t = T::new();
    let k = ServiceKey::Addr {
        proto: Protocol::Sctp,
        addr: ip(VIP),
        port: 3868,
    };
    t.svc(k, "rr", None);
    t.dest(k, 11, 3868, FwdMethod::Masq, 1);
    let c = (client(1), 5000);
    let v = (ip(VIP), 3868);
    let r = (rs(11), 3868);
    assert!(matches!(
        t.pkt(c, v, Segment::Sctp(SctpEvent::Data)),
        Verdict::Pass
    ));
    assert!(matches!(
        t.pkt(c, v, Segment::Sctp(SctpEvent::Init)),
        Verdict::Forward { .. }
    ));
    t.pkt(r, c, Segment::Sctp(SctpEvent::InitAck));
    t.pkt(c, v, Segment::Sctp(SctpEvent::CookieEcho));
    t.pkt(r, c, Segment::Sctp(SctpEvent::CookieAck));
    assert_eq!(
        t.dest_counts(k, 11, 3868),
        (1, 0, 0),
        "ESTABLISHED is active"
    );
}

#[test]
fn estimator_reports_rates() {
    let mut t = T::new();
    let k = udp_key(53);
    t.svc(k, "rr", None);
    t.dest(k, 11, 53, FwdMethod::Masq, 1);
    // 50 new flows per second for 80 s.
    for s in 0..80u64 {
        for i in 0..50u16 {
            t.now = Time(s * 1000 + u64::from(i) * 20);
            t.pkt(
                (client((s / 20) as u8), 1000 + (s as u16 % 20) * 50 + i),
                (ip(VIP), 53),
                Segment::Udp,
            );
        }
    }
    t.at(80.0);
    let sid = t.d.table.find(&k).unwrap();
    let r = t.d.table.service(sid).unwrap().stats.rates();
    assert_eq!(r.cps, 50);
    assert_eq!(r.inpps, 50);
    assert_eq!(r.inbps, 5000);
    t.cmd(Command::Zero(None));
    assert_eq!(t.d.table.service(sid).unwrap().stats.rates().cps, 0);
    assert_eq!(t.d.table.service(sid).unwrap().stats.counters().conns, 0);
}

#[test]
fn edit_service_drops_persistence() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", Some(300));
    t.cmd(Command::EditService(ServiceConfig::new(k)));
    let sid = t.d.table.find(&k).unwrap();
    let s = t.d.table.service(sid).unwrap();
    assert!(!s.is_persistent());
    assert_eq!(s.sched_name, "wlc");
}

#[test]
fn errors_match_ipvsadm_kinds() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    let mut cfg = ServiceConfig::new(k);
    cfg.scheduler = "rr".into();
    assert_eq!(
        t.d.apply(&Command::AddService(cfg.clone()), t.now),
        Err(OpError::ServiceExists)
    );
    cfg.scheduler = "nope".into();
    assert_eq!(
        t.d.apply(
            &Command::AddService(ServiceConfig {
                key: tcp_key(81),
                ..cfg
            }),
            t.now
        ),
        Err(OpError::SchedulerNotFound)
    );
    assert_eq!(
        t.d.apply(&Command::DelService(tcp_key(82)), t.now),
        Err(OpError::NoSuchService)
    );
    let d = DestConfig::new(rs(11), 80);
    assert_eq!(
        t.d.apply(&Command::AddDest(tcp_key(82), d), t.now),
        Err(OpError::ServiceNotDefined)
    );
    assert_eq!(
        t.d.apply(&Command::EditDest(k, d), t.now),
        Err(OpError::NoSuchDest)
    );
    t.cmd(Command::AddDest(k, d));
    assert_eq!(
        t.d.apply(&Command::AddDest(k, d), t.now),
        Err(OpError::DestExists)
    );
    let bad = DestConfig {
        u_threshold: 5,
        l_threshold: 6,
        ..d
    };
    assert_eq!(
        t.d.apply(&Command::EditDest(k, bad), t.now),
        Err(OpError::OutOfRange)
    );
    assert_eq!(
        t.d.apply(&Command::AddService(ServiceConfig::new(tcp_key(0))), t.now),
        Err(OpError::ZeroPort)
    );
}

#[test]
fn expiry_does_not_scan_live_connections() {
    // 20k long-lived conns and a stream of short ones: advancing time touches only due
    // timers, so the heap never holds more than a small multiple of the live conns.
    let mut t = T::new();
    let k = udp_key(53);
    t.svc(k, "rr", None);
    t.dest(k, 11, 53, FwdMethod::Route, 1);
    for i in 0..20_000u32 {
        let c = ip([198, 18, 3 + (i >> 8) as u8 % 200, i as u8]);
        t.pkt((c, 1000 + (i % 50_000) as u16), (ip(VIP), 53), Segment::Udp);
    }
    assert_eq!(t.d.conns.len(), 20_000);
    t.at(299.0);
    assert_eq!(t.d.conns.len(), 20_000);
    t.at(300.0);
    assert_eq!(t.d.conns.len(), 0);
}

#[test]
fn listings_reflect_live_state() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", Some(360));
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    t.dest(k, 12, 80, FwdMethod::Masq, 3);
    t.syn(1, 40000, 80);
    t.at(1.5);
    let list = t.d.render_list(&crate::listing::ListOptions::default());
    assert_eq!(
        list,
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  198.18.0.100:80 rr persistent 360\n  \
         -> 198.18.1.11:80               Route   1      0          0         \n  \
         -> 198.18.1.12:80               Masq    3      1          0         \n"
    );
    let conns = t.d.render_conns();
    assert_eq!(
        conns,
        "IPVS connection entries\n\
         pro expire state       source             virtual            destination\n\
         TCP 05:58  NONE        198.18.2.1:0       198.18.0.100:80    198.18.1.12:80\n\
         TCP 00:58  SYN_RECV    198.18.2.1:40000   198.18.0.100:80    198.18.1.12:80\n"
    );
    let save = t.d.render_save();
    assert_eq!(
        save,
        "-A -t 198.18.0.100:80 -s rr -p 360\n\
         -a -t 198.18.0.100:80 -r 198.18.1.11:80 -g -w 1\n\
         -a -t 198.18.0.100:80 -r 198.18.1.12:80 -m -w 3\n"
    );
}

mod invariants {
    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Syn(u8, u16),
        Ack(u8, u16),
        Fin(u8, u16),
        Rst(u8, u16),
        Reply(u8, u16),
        Udp(u8, u16),
        Weight(u8, i32),
        Del(u8),
        Add(u8, i32),
        Sched(usize),
        Wait(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        let c = 0u8..6;
        let p = 1000u16..1006;
        prop_oneof![
            (c.clone(), p.clone()).prop_map(|(c, p)| Op::Syn(c, p)),
            (c.clone(), p.clone()).prop_map(|(c, p)| Op::Ack(c, p)),
            (c.clone(), p.clone()).prop_map(|(c, p)| Op::Fin(c, p)),
            (c.clone(), p.clone()).prop_map(|(c, p)| Op::Rst(c, p)),
            (c.clone(), p.clone()).prop_map(|(c, p)| Op::Reply(c, p)),
            (c, p).prop_map(|(c, p)| Op::Udp(c, p)),
            (11u8..15, 0i32..4).prop_map(|(n, w)| Op::Weight(n, w)),
            (11u8..15).prop_map(Op::Del),
            (11u8..15, 0i32..4).prop_map(|(n, w)| Op::Add(n, w)),
            (0usize..crate::sched::NAMES.len()).prop_map(Op::Sched),
            (0u32..200_000).prop_map(Op::Wait),
        ]
    }

    /// Recount every dest's active/inactive/persistent connections from the conn table.
    fn check_counts(d: &Director) {
        let mut want: std::collections::HashMap<DestId, (u32, u32, u32)> = Default::default();
        for (_, c) in d.conns.iter() {
            let Some(id) = c.dest else { continue };
            let e = want.entry(id).or_default();
            if c.is_template() {
                e.2 += 1;
            } else if c.is_inactive() {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
            if let Some(ct) = c.control {
                assert!(
                    d.conns.get(ct).is_some_and(|t| t.is_template()),
                    "dangling control"
                );
            }
        }
        for (id, dest) in d.table.dests.iter() {
            let got = (dest.activeconns, dest.inactconns, dest.persistconns);
            assert_eq!(
                got,
                want.get(&id).copied().unwrap_or_default(),
                "{:?}",
                dest.addr
            );
        }
        for (tid, t) in d.conns.iter().filter(|(_, c)| c.is_template()) {
            let n = d
                .conns
                .iter()
                .filter(|(_, c)| c.control == Some(tid))
                .count();
            assert_eq!(n as u32, t.n_control, "template n_control");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn bookkeeping_survives_any_sequence(
            persistent in proptest::bool::ANY,
            nat in proptest::bool::ANY,
            ops in proptest::collection::vec(op(), 1..120),
        ) {
            let mut t = T::new();
            let k = tcp_key(80);
            let uk = udp_key(53);
            let fwd = if nat { FwdMethod::Masq } else { FwdMethod::Route };
            t.svc(k, "wlc", persistent.then_some(30));
            t.svc(uk, "rr", persistent.then_some(30));
            for n in 11..15 {
                t.dest(k, n, 80, fwd, 1);
                t.dest(uk, n, 53, fwd, 1);
            }
            for o in ops {
                let seg = |f| Segment::Tcp(f);
                match o {
                    Op::Syn(c, p) => { t.pkt((client(c), p), (ip(VIP), 80), seg(TcpFlags::SYN)); }
                    Op::Ack(c, p) => { t.pkt((client(c), p), (ip(VIP), 80), seg(TcpFlags::ACK)); }
                    Op::Fin(c, p) => { t.pkt((client(c), p), (ip(VIP), 80), seg(TcpFlags::FIN_ACK)); }
                    Op::Rst(c, p) => { t.pkt((client(c), p), (ip(VIP), 80), seg(TcpFlags::RST)); }
                    Op::Reply(c, p) => {
                        let dst = t.d.conns.lookup_in(6, &client(c), p, &ip(VIP), 80)
                            .and_then(|id| t.d.conns.get(id)).map(|c| (c.daddr, c.dport));
                        if let Some(src) = dst {
                            t.pkt(src, (client(c), p), seg(TcpFlags::ACK));
                        }
                    }
                    Op::Udp(c, p) => { t.pkt((client(c), p), (ip(VIP), 53), Segment::Udp); }
                    Op::Weight(n, w) => {
                        let mut d = DestConfig::new(rs(n), 80);
                        d.fwd = fwd;
                        d.weight = w;
                        let _ = t.d.apply(&Command::EditDest(k, d), t.now);
                    }
                    Op::Del(n) => { let _ = t.d.apply(&Command::DelDest(k, rs(n), 80), t.now); }
                    Op::Add(n, w) => {
                        let mut d = DestConfig::new(rs(n), 80);
                        d.fwd = fwd;
                        d.weight = w;
                        let _ = t.d.apply(&Command::AddDest(k, d), t.now);
                    }
                    Op::Sched(i) => {
                        let mut cfg = ServiceConfig::new(k);
                        cfg.scheduler = crate::sched::NAMES[i].into();
                        cfg.persistent = persistent.then_some(30);
                        t.d.apply(&Command::EditService(cfg), t.now).expect("edit");
                    }
                    Op::Wait(ms) => { t.now = Time(t.now.0 + u64::from(ms)); t.d.advance(t.now); }
                }
                check_counts(&t.d);
            }
            // Everything expires eventually and every count returns to zero.
            t.now = Time(t.now.0 + 3_600_000);
            t.d.advance(t.now);
            prop_assert_eq!(t.d.conns.len(), 0);
            check_counts(&t.d);
        }
    }
}

#[test]
fn ipv6_nat_with_prefix_persistence() {
    let mut t = T::new();
    let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
    let k = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: v6("fd00::100"),
        port: 443,
    };
    let mut cfg = ServiceConfig::new(k);
    cfg.scheduler = "rr".into();
    cfg.persistent = Some(120);
    cfg.netmask = Some(crate::addr::Netmask::V6(64));
    t.cmd(Command::AddService(cfg));
    for n in ["fd00::1:11", "fd00::1:12"] {
        let mut d = DestConfig::new(v6(n), 8443);
        d.fwd = FwdMethod::Masq;
        t.cmd(Command::AddDest(k, d));
    }
    let syn = |t: &mut T, c: &str, p| {
        t.pkt(
            (v6(c), p),
            (v6("fd00::100"), 443),
            Segment::Tcp(TcpFlags::SYN),
        )
    };
    let a = fwd_dest(syn(&mut t, "fd00:0:0:2::1", 1000));
    let b = fwd_dest(syn(&mut t, "fd00:0:0:2::ffff", 1001));
    let c = fwd_dest(syn(&mut t, "fd00:0:0:3::1", 1002));
    assert_eq!(a, b, "same /64, same dest");
    assert_ne!(a, c, "another /64 is scheduled anew (rr)");
    assert_eq!(a.map(|x| x.1), Some(8443));
    let (rip, rport) = a.unwrap();
    let r = t.pkt(
        (rip, rport),
        (v6("fd00:0:0:2::1"), 1000),
        Segment::Tcp(TcpFlags::SYN_ACK),
    );
    assert!(matches!(r, Verdict::Reply { vport: 443, .. }), "{r:?}");
    let tpl =
        t.d.conns
            .iter()
            .find(|(_, c)| c.is_template() && c.daddr == rip)
            .unwrap()
            .1;
    assert_eq!(tpl.caddr, v6("fd00:0:0:2::"));
}

#[test]
fn table_errors_come_in_kernel_order() {
    // do_ip_vs_set_ctl looks the service up first: EEXIST / ESRCH win over a bad scheduler.
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    let mut bad = ServiceConfig::new(k);
    bad.scheduler = "nosuch".into();
    assert_eq!(
        t.d.apply(&Command::AddService(bad.clone()), t.now),
        Err(OpError::ServiceExists)
    );
    bad.key = tcp_key(81);
    assert_eq!(
        t.d.apply(&Command::EditService(bad), t.now),
        Err(OpError::NoSuchService)
    );
    // ip_vs_edit_dest does not check the address: a missing dest is ENOENT.
    let mut d = DestConfig::new(ip([224, 0, 0, 1]), 80);
    assert_eq!(
        t.d.apply(&Command::EditDest(k, d), t.now),
        Err(OpError::NoSuchDest)
    );
    assert_eq!(
        t.d.apply(&Command::AddDest(k, d), t.now),
        Err(OpError::Invalid)
    );
    d.addr = rs(1);
    t.cmd(Command::AddDest(k, d));
    assert_eq!(
        t.d.apply(&Command::AddDest(k, d), t.now),
        Err(OpError::DestExists)
    );
}

#[test]
fn fast_path_traffic_refreshes_and_counts_like_packets() {
    let mut t = T::new();
    let k = udp_key(53);
    t.svc(k, "rr", None);
    t.dest(k, 11, 53, FwdMethod::Masq, 1);
    let p = |t: &mut T| t.pkt((client(1), 5000), (ip(VIP), 53), Segment::Udp);
    assert!(matches!(p(&mut t), Verdict::Forward { new: true, .. }));
    let (id, _) = t.d.conns.iter().next().unwrap();
    // Traffic seen outside the engine at 200 s keeps the flow alive to 500 s.
    t.at(200.0);
    t.d.touch_conn(id, t.now);
    t.at(499.0);
    assert_eq!(t.d.conns.len(), 1, "touched at 200 s, lives to 500 s");
    // A touch never shortens the timer.
    t.d.touch_conn(id, Time(1000));
    t.at(500.0);
    assert_eq!(t.d.conns.len(), 0);

    let sid = t.d.table.find(&k).unwrap();
    let did = t.d.table.find_dest(sid, &rs(11), 53).unwrap();
    let before = (
        t.d.stats.counters(),
        t.d.table.dest(did).unwrap().stats.counters(),
        t.d.table.service(sid).unwrap().stats.counters(),
    );
    t.d.account_bulk(did, 3, 300, 2, 1000);
    let after = (
        t.d.stats.counters(),
        t.d.table.dest(did).unwrap().stats.counters(),
        t.d.table.service(sid).unwrap().stats.counters(),
    );
    for (b, a) in [
        (before.0, after.0),
        (before.1, after.1),
        (before.2, after.2),
    ] {
        assert_eq!((a.inpkts - b.inpkts, a.inbytes - b.inbytes), (3, 300));
        assert_eq!(
            (a.outpkts - b.outpkts, a.outbytes - b.outbytes, a.conns),
            (2, 1000, b.conns)
        );
    }
}

#[test]
fn adopted_connections_behave_like_established_ones() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", None);
    t.dest(k, 11, 8080, FwdMethod::Masq, 1);
    let est = crate::conn::state::tcp::ESTABLISHED;
    let adopt = |t: &mut T, port: u16| {
        t.d.adopt_conn(
            &k,
            6,
            (client(1), port),
            (ip(VIP), 80),
            (rs(11), 8080),
            est,
            Time(1000),
        )
    };
    t.at(1.0);
    let id = adopt(&mut t, 5000).expect("adopted");
    assert!(adopt(&mut t, 5000).is_none(), "exists already");
    assert_eq!(
        t.dest_counts(k, 11, 8080),
        (1, 0, 0),
        "an active connection"
    );
    let c = t.d.conns.get(id).unwrap();
    assert_eq!((c.state, c.daddr, c.dport), (est, rs(11), 8080));
    assert_eq!(t.d.stats.counters().conns, 0, "not counted as new");
    // Its packets are forwarded like any established connection's.
    assert_eq!(fwd_dest(t.ack(1, 5000, 80)), Some((rs(11), 8080)));
    // Unknown dest or service: nothing.
    assert!(
        t.d.adopt_conn(
            &k,
            6,
            (client(2), 1),
            (ip(VIP), 80),
            (rs(12), 8080),
            est,
            Time(0)
        )
        .is_none()
    );
    assert!(
        t.d.adopt_conn(
            &tcp_key(81),
            6,
            (client(2), 1),
            (ip(VIP), 81),
            (rs(11), 8080),
            est,
            Time(0)
        )
        .is_none()
    );
    // It expires with the ESTABLISHED timeout (15 min) from its last packet (at 1 s).
    t.at(900.5);
    assert!(t.d.conns.get(id).is_some());
    t.at(901.5);
    assert!(t.d.conns.get(id).is_none());
}

#[test]
fn the_conn_watch_logs_creation_state_changes_and_deletion_only() {
    let mut t = T::new();
    let k = tcp_key(80);
    t.svc(k, "rr", Some(300));
    let g0 = t.d.config_generation();
    t.dest(k, 11, 80, FwdMethod::Route, 1);
    assert!(
        t.d.config_generation() > g0,
        "a command moves the generation"
    );
    let mut out = vec![];
    // Off: nothing is logged.
    t.syn(1, 40000, 80);
    assert!(!t.d.take_conn_changes(&mut out));
    assert!(out.is_empty());
    t.d.watch_conns(true);
    t.syn(2, 40000, 80);
    let id =
        t.d.conns
            .lookup_in(6, &client(2), 40000, &ip(VIP), 80)
            .expect("conn");
    t.d.take_conn_changes(&mut out);
    // Created, then SYN_RECV: the template is not logged.
    assert!(!out.is_empty() && out.iter().all(|c| *c == id), "{out:?}");
    t.ack(2, 40000, 80);
    t.d.take_conn_changes(&mut out);
    assert_eq!(out, vec![id], "ESTABLISHED");
    // Data in the same state: nothing.
    for _ in 0..5 {
        t.ack(2, 40000, 80);
    }
    t.d.take_conn_changes(&mut out);
    assert!(out.is_empty(), "{out:?}");
    t.pkt(
        (client(2), 40000),
        (ip(VIP), 80),
        Segment::Tcp(TcpFlags::FIN_ACK),
    );
    t.d.take_conn_changes(&mut out);
    assert_eq!(out, vec![id], "FIN_WAIT");
    // Expiry deletes it (the handle no longer resolves).
    t.at(1000.0);
    t.d.take_conn_changes(&mut out);
    assert!(out.contains(&id), "{out:?}");
    assert!(t.d.conns.get(id).is_none());
    // Slices of the table by slot.
    t.syn(3, 40000, 80);
    let found: Vec<_> = (0..t.d.conns.slots())
        .filter_map(|i| t.d.conns.at_slot(i).map(|(id, _)| id))
        .collect();
    assert_eq!(found.len(), t.d.conns.len());
    t.d.watch_conns(false);
    t.syn(4, 40000, 80);
    assert!(!t.d.take_conn_changes(&mut out) && out.is_empty());
}
