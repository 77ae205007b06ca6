//! Master and backup together, without sockets: a master director's traffic is synced
//! into a backup director, which then carries the connections on.

use std::net::IpAddr;

use rvs_core::conn::flags as cf;
use rvs_core::conn::state::{Segment, TcpFlags, tcp};
use rvs_core::director::{Packet, Verdict};
use rvs_core::{
    Command, DestConfig, Director, FwdMethod, Protocol, ServiceConfig, ServiceKey, Settings,
    SplitMix64, Time,
};
use rvs_sync::master::FLUSH_TIME;
use rvs_sync::{Backup, Master, MasterConfig};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const VIP: &str = "198.18.0.100";

fn key() -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: ip(VIP),
        port: 80,
    }
}

fn director(persistent: Option<u32>, fwd: FwdMethod) -> Director {
    let mut d = Director::new(Settings::default(), 1, Box::new(SplitMix64(1)));
    let mut s = ServiceConfig::new(key());
    s.scheduler = "wlc".into();
    s.persistent = persistent;
    d.apply(&Command::AddService(s), Time::ZERO).unwrap();
    for rs in ["198.18.1.11", "198.18.1.12"] {
        let mut c = DestConfig::new(ip(rs), 80);
        c.fwd = fwd;
        c.weight = 1;
        d.apply(&Command::AddDest(key(), c), Time::ZERO).unwrap();
    }
    d
}

struct Pair {
    m: Director,
    b: Director,
    master: Master,
    backup: Backup,
    now: Time,
}

impl Pair {
    fn new(persistent: Option<u32>, fwd: FwdMethod) -> Pair {
        let mut m = director(persistent, fwd);
        m.set_sync_master(true);
        Pair {
            m,
            b: director(persistent, fwd),
            master: Master::new(MasterConfig::default()),
            backup: Backup::new(0, 3),
            now: Time::ZERO,
        }
    }

    fn pkt(&mut self, cport: u16, flags: TcpFlags) -> Verdict {
        let p = Packet {
            saddr: ip("198.18.2.1"),
            sport: cport,
            daddr: ip(VIP),
            dport: 80,
            seg: Segment::Tcp(flags),
            len: 60,
            fwmark: 0,
        };
        self.now = self.now + rvs_core::time::Dur(10);
        let v = self.m.process(&p, self.now);
        let ev = self.m.take_sync_events();
        self.master.on_events(&mut self.m.conns, &ev, self.now);
        v
    }

    /// Send whatever the master has, at once, to the backup. Returns the message count.
    fn deliver(&mut self) -> usize {
        let msgs = self.master.flush();
        for m in &msgs {
            self.backup.on_datagram(&mut self.b, m);
        }
        msgs.len()
    }

    fn open(&mut self, cport: u16) -> Verdict {
        let v = self.pkt(cport, TcpFlags::SYN);
        self.pkt(cport, TcpFlags::ACK);
        self.pkt(cport, TcpFlags::ACK);
        v
    }
}

fn dest_of(v: Verdict) -> (IpAddr, u16) {
    match v {
        Verdict::Forward { daddr, dport, .. } => (daddr, dport),
        other => panic!("not forwarded: {other:?}"),
    }
}

#[test]
fn third_packet_syncs_and_backup_carries_the_connection() {
    let mut p = Pair::new(None, FwdMethod::Route);
    let first = dest_of(p.pkt(40000, TcpFlags::SYN));
    p.pkt(40000, TcpFlags::ACK);
    // Two packets: below the threshold, nothing to send.
    assert_eq!(p.deliver(), 0);
    p.pkt(40000, TcpFlags::ACK);
    assert_eq!(p.deliver(), 1);
    assert_eq!(p.backup.stats.created, 1);
    let (_, c) = p.b.conns.iter().next().expect("synced conn");
    assert_eq!(c.flags & cf::SYNC, cf::SYNC);
    assert_eq!(c.state, tcp::ESTABLISHED);
    assert_eq!(c.timeout, 900_000);
    assert_eq!((c.daddr, c.dport), first);
    assert_eq!(c.in_pkts, 3);
    // `/proc/net/ip_vs_conn_sync` marks it SYNC on the backup, LOCAL on the master.
    let proc_b = rvs_core::listing::render_proc_ip_vs_conn_sync(&p.b.conn_rows());
    assert!(proc_b.contains(" ESTABLISHED SYNC   "), "{proc_b}");
    let proc_m = rvs_core::listing::render_proc_ip_vs_conn_sync(&p.m.conn_rows());
    assert!(proc_m.contains(" ESTABLISHED LOCAL  "), "{proc_m}");
    // Counted active on the same real server of the backup.
    let d = p.b.table.dest(c.dest.unwrap()).unwrap();
    assert_eq!((d.addr, d.activeconns, d.inactconns), (first.0, 1, 0));
    // The backup, taking over, forwards the next packet of the stream to that server
    // instead of scheduling it anew.
    let pkt = Packet {
        saddr: ip("198.18.2.1"),
        sport: 40000,
        daddr: ip(VIP),
        dport: 80,
        seg: Segment::Tcp(TcpFlags::ACK),
        len: 60,
        fwmark: 0,
    };
    let v = p.b.process(&pkt, Time(1000));
    match v {
        Verdict::Forward {
            daddr, dport, new, ..
        } => {
            assert_eq!((daddr, dport), first);
            assert!(!new);
        }
        other => panic!("backup did not forward: {other:?}"),
    }
}

#[test]
fn period_resyncs_every_50_packets() {
    let mut p = Pair::new(None, FwdMethod::Route);
    p.open(40000);
    assert_eq!(p.master.stats.entries, 1);
    for _ in 4..53 {
        p.pkt(40000, TcpFlags::ACK);
    }
    assert_eq!(p.master.stats.entries, 1, "packets 4..=52 are not synced");
    p.pkt(40000, TcpFlags::ACK); // the 53rd: 53 % 50 == 3
    assert_eq!(p.master.stats.entries, 2);
}

#[test]
fn state_change_is_sent_at_once_and_moves_counts_on_the_backup() {
    let mut p = Pair::new(None, FwdMethod::Route);
    let (rs, _) = dest_of(p.open(40000));
    p.deliver();
    // Client FIN: DR input-only table, ESTABLISHED -> FIN_WAIT, synced at packet 4.
    p.pkt(40000, TcpFlags::FIN_ACK);
    assert_eq!(p.master.stats.entries, 2);
    p.deliver();
    assert_eq!(p.backup.stats.updated, 1);
    let (_, c) = p.b.conns.iter().next().unwrap();
    assert_eq!(c.state, tcp::FIN_WAIT);
    assert_eq!(c.flags & cf::INACTIVE, cf::INACTIVE);
    assert_eq!(c.timeout, 120_000);
    let d = p.b.table.dest(c.dest.unwrap()).unwrap();
    assert_eq!((d.addr, d.activeconns, d.inactconns), (rs, 0, 1));
}

#[test]
fn persistence_template_travels_with_its_connection() {
    let mut p = Pair::new(Some(300), FwdMethod::Masq);
    let (rs, _) = dest_of(p.open(40000));
    p.deliver();
    assert_eq!(p.backup.stats.created, 2);
    assert_eq!(p.b.conns.templates(), 1);
    let t =
        p.b.conns
            .iter()
            .map(|(_, c)| c)
            .find(|c| c.is_template())
            .unwrap();
    assert_eq!((t.daddr, t.timeout, t.cport), (rs, 300_000, 0));
    let d = p.b.table.dest(t.dest.unwrap()).unwrap();
    assert_eq!(d.persistconns, 1);
    // A new connection of the same client on the backup sticks to the synced template.
    let pkt = Packet {
        saddr: ip("198.18.2.1"),
        sport: 40001,
        daddr: ip(VIP),
        dport: 80,
        seg: Segment::Tcp(TcpFlags::SYN),
        len: 60,
        fwmark: 0,
    };
    assert_eq!(dest_of(p.b.process(&pkt, Time(1000))).0, rs);
}

#[test]
fn unknown_service_is_counted_and_not_installed() {
    let mut p = Pair::new(None, FwdMethod::Route);
    p.b.apply(&Command::DelService(key()), Time::ZERO).unwrap();
    p.open(40000);
    p.deliver();
    assert_eq!(p.backup.stats.no_dest, 1);
    assert!(p.b.conns.is_empty());
}

#[test]
fn syncid_filter() {
    let mut p = Pair::new(None, FwdMethod::Route);
    p.master = Master::new(MasterConfig {
        syncid: 9,
        ..MasterConfig::default()
    });
    p.backup = Backup::new(8, 3);
    p.open(40000);
    p.deliver();
    assert_eq!(p.backup.stats.other_syncid, 1);
    assert!(p.b.conns.is_empty());
    // syncid 0 on the backup takes every master.
    p.backup = Backup::new(0, 3);
    p.pkt(40000, TcpFlags::FIN_ACK);
    p.deliver();
    assert_eq!(p.backup.stats.created, 1);
}

#[test]
fn partial_message_waits_at_most_two_seconds() {
    let mut p = Pair::new(None, FwdMethod::Route);
    p.open(40000);
    let t0 = p.now;
    assert_eq!(p.master.poll_transmit(t0), None);
    assert_eq!(p.master.next_deadline(), Some(t0 + FLUSH_TIME));
    let m = p
        .master
        .poll_transmit(t0 + FLUSH_TIME)
        .expect("flushed after 2 s");
    assert_eq!(m[4], 1);
    assert_eq!(p.master.poll_transmit(t0 + FLUSH_TIME), None);
}

#[test]
fn many_connections_batch_into_full_messages() {
    let mut p = Pair::new(None, FwdMethod::Route);
    for i in 0..100 {
        p.open(20000 + i);
    }
    // 40 entries of 36 bytes fill a 1472-byte message.
    let mut sizes = Vec::new();
    while let Some(m) = p.master.poll_transmit(p.now) {
        sizes.push(m[4]);
        p.backup.on_datagram(&mut p.b, &m);
    }
    assert_eq!(sizes, vec![40, 40]);
    p.deliver();
    assert_eq!(p.backup.stats.created, 100);
    assert_eq!(p.b.conns.len(), 100);
}

#[test]
fn both_roles_at_once() {
    // One director is master for its own traffic and backup for a peer's.
    let mut p = Pair::new(None, FwdMethod::Route);
    let mut peer = Pair::new(None, FwdMethod::Route);
    peer.open(50000);
    for m in peer.master.flush() {
        p.backup.on_datagram(&mut p.m, &m);
    }
    p.open(40000);
    p.deliver();
    assert_eq!(p.m.conns.len(), 2);
    // Only its own connection went out as master.
    assert_eq!(p.backup.stats.created, 2);
    assert_eq!(p.b.conns.len(), 1);
    assert_eq!(p.master.stats.entries, 1);
    p.master.gc(&p.m.conns);
    assert_eq!(p.master.tracked(), 1);
}

#[test]
fn the_log_is_off_unless_a_master_runs() {
    let mut p = Pair::new(None, FwdMethod::Route);
    p.m.set_sync_master(false);
    p.pkt(40000, TcpFlags::SYN);
    p.pkt(40000, TcpFlags::ACK);
    assert!(p.m.take_sync_events().is_empty());
    p.m.set_sync_master(true);
    let pkt = Packet {
        saddr: ip("198.18.2.1"),
        sport: 40000,
        daddr: ip(VIP),
        dport: 80,
        seg: Segment::Tcp(TcpFlags::ACK),
        len: 60,
        fwmark: 0,
    };
    p.m.process(&pkt, Time(5000));
    let ev = p.m.take_sync_events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].1, 3, "the third input packet of the connection");
    assert_eq!(p.m.sync_events_dropped(), 0);
}

#[test]
fn one_drain_sends_a_connection_once() {
    // A whole short connection logged before one drain: the force (state change) and the
    // packet-count rule both select it, but it goes out once, in its latest state.
    let mut p = Pair::new(None, FwdMethod::Route);
    let mut events = Vec::new();
    for f in [
        TcpFlags::SYN,
        TcpFlags::ACK,
        TcpFlags::ACK,
        TcpFlags::FIN_ACK,
    ] {
        let pkt = Packet {
            saddr: ip("198.18.2.1"),
            sport: 40000,
            daddr: ip(VIP),
            dport: 80,
            seg: Segment::Tcp(f),
            len: 60,
            fwmark: 0,
        };
        p.now = p.now + rvs_core::time::Dur(10);
        p.m.process(&pkt, p.now);
        events.extend(p.m.take_sync_events());
    }
    assert_eq!(events.len(), 4);
    p.master.on_events(&mut p.m.conns, &events, p.now);
    assert_eq!(p.master.stats.entries, 1);
    p.deliver();
    let (_, c) = p.b.conns.iter().next().unwrap();
    assert_eq!(c.state, tcp::FIN_WAIT);
}

#[test]
fn fullnat_source_travels_and_is_claimed_on_the_backup() {
    use rvs_core::engine::FullNat;
    let mut p = Pair::new(None, FwdMethod::FullNat);
    let lip: IpAddr = ip("198.18.2.2");
    // Three packets, logged, drained with the master's FULLNAT source table at hand.
    let mut events = Vec::new();
    let mut first = None;
    for f in [TcpFlags::SYN, TcpFlags::ACK, TcpFlags::ACK] {
        let pkt = Packet {
            saddr: ip("198.18.0.2"),
            sport: 40000,
            daddr: ip(VIP),
            dport: 80,
            seg: Segment::Tcp(f),
            len: 60,
            fwmark: 0,
        };
        p.now = p.now + rvs_core::time::Dur(10);
        let v = p.m.process(&pkt, p.now);
        first.get_or_insert(dest_of(v));
        events.extend(p.m.take_sync_events());
    }
    let (rs, rport) = first.unwrap();
    p.master
        .on_events_with(&mut p.m.conns, &events, p.now, &|_| Some((lip, 41000)));
    let msgs = p.master.flush();
    assert_eq!(msgs.len(), 1);
    let d = rvs_sync::wire::decode(&msgs[0]).unwrap();
    assert_eq!(d.conns[0].fullnat, Some((lip, 41000)));
    assert_eq!(d.conns[0].flags & 7, 5, "FULLNAT's forwarding code");
    // The backup installs the entry and claims its source: the real server's replies to
    // LIP:41000 find the synced connection.
    let mut fnat = FullNat::new();
    p.backup.on_datagram_with(&mut p.b, &msgs[0], &mut |id, c| {
        if let Some((l, port)) = c.fullnat {
            assert!(fnat.claim(id, c.protocol, &c.daddr, c.dport, l, port));
        }
    });
    let id = fnat
        .lookup_reply(6, &rs, rport, &lip, 41000)
        .expect("claimed");
    let c = p.b.conns.get(id).unwrap();
    assert_eq!((c.cport, c.daddr, c.flags & 7), (40000, rs, 5));
}

#[test]
fn fwmark_persistent_service_syncs_conn_and_template() {
    use rvs_core::fwmark::FwmarkRule;
    let fk = ServiceKey::Fwmark {
        af: rvs_core::Af::Inet,
        mark: 100,
    };
    let mk = || {
        let mut d = Director::new(Settings::default(), 1, Box::new(SplitMix64(1)));
        let rule = "100 tcp 198.18.0.100 80,443".parse::<FwmarkRule>().unwrap();
        d.apply(&Command::AddFwmarkRule(rule), Time::ZERO).unwrap();
        let mut s = ServiceConfig::new(fk);
        s.scheduler = "wlc".into();
        s.persistent = Some(600);
        d.apply(&Command::AddService(s), Time::ZERO).unwrap();
        for rs in ["198.18.1.11", "198.18.1.12"] {
            let mut c = DestConfig::new(ip(rs), 0);
            c.fwd = FwdMethod::Route;
            c.weight = 1;
            d.apply(&Command::AddDest(fk, c), Time::ZERO).unwrap();
        }
        d
    };
    let mut m = mk();
    let mut b = mk();
    m.set_sync_master(true);
    let mut master = Master::new(MasterConfig::default());
    let mut backup = Backup::new(0, 3);
    let mut now = Time::ZERO;
    let mut rs = None;
    for f in [TcpFlags::SYN, TcpFlags::ACK, TcpFlags::ACK] {
        now = now + rvs_core::time::Dur(10);
        let pkt = Packet {
            saddr: ip("198.18.2.1"),
            sport: 40000,
            daddr: ip(VIP),
            dport: 443,
            seg: Segment::Tcp(f),
            len: 60,
            fwmark: 0,
        };
        rs.get_or_insert(dest_of(m.process(&pkt, now)).0);
        let ev = m.take_sync_events();
        master.on_events(&mut m.conns, &ev, now);
    }
    for msg in master.flush() {
        backup.on_datagram(&mut b, &msg);
    }
    assert_eq!(
        (backup.stats.created, backup.stats.no_dest),
        (2, 0),
        "{:?}",
        backup.stats
    );
    let t = b
        .conns
        .iter()
        .map(|(_, c)| c)
        .find(|c| c.is_template())
        .unwrap();
    assert_eq!(
        (t.proto, t.vaddr, t.fwmark, t.daddr),
        (0, ip("0.0.0.100"), 100, rs.unwrap())
    );
    // On the backup, another port of the same client sticks to the template's server.
    let pkt = Packet {
        saddr: ip("198.18.2.1"),
        sport: 40001,
        daddr: ip(VIP),
        dport: 80,
        seg: Segment::Tcp(TcpFlags::SYN),
        len: 60,
        fwmark: 0,
    };
    assert_eq!(dest_of(b.process(&pkt, Time(1000))).0, rs.unwrap());
}

#[test]
fn the_log_keeps_only_what_the_send_rules_can_pick() {
    let mut p = Pair::new(None, FwdMethod::Route);
    let mut logged = Vec::new();
    let send = |p: &mut Pair, f: TcpFlags| {
        let pkt = Packet {
            saddr: ip("198.18.2.1"),
            sport: 40000,
            daddr: ip(VIP),
            dport: 80,
            seg: Segment::Tcp(f),
            len: 60,
            fwmark: 0,
        };
        p.now = p.now + rvs_core::time::Dur(10);
        p.m.process(&pkt, p.now);
        p.m.take_sync_events()
            .iter()
            .map(|e| e.1)
            .collect::<Vec<u32>>()
    };
    logged.extend(send(&mut p, TcpFlags::SYN)); // state change
    logged.extend(send(&mut p, TcpFlags::ACK)); // state change
    for _ in 3..=60 {
        logged.extend(send(&mut p, TcpFlags::ACK));
    }
    logged.extend(send(&mut p, TcpFlags::FIN_ACK)); // state change, packet 61
    assert_eq!(logged, vec![1, 2, 3, 53, 61]);
}

#[test]
fn fast_path_touches_refresh_the_backup() {
    // A connection whose packets after the handshake go through the XDP fast path: the
    // count rule never sees its 3rd packet, the fast path's touches sync it instead.
    let mut p = Pair::new(None, FwdMethod::Route);
    p.pkt(40000, TcpFlags::SYN);
    p.pkt(40000, TcpFlags::ACK);
    assert_eq!(
        p.master.stats.entries, 0,
        "ESTABLISHED at packet 2: not yet"
    );
    let id = p.m.conns.iter().next().unwrap().0;
    let touch = |p: &mut Pair, secs: u64| {
        let now = Time(secs * 1000);
        p.m.advance(now);
        p.m.touch_conn(id, now);
        let ev = p.m.take_sync_events();
        assert_eq!(ev, vec![(id, rvs_core::director::SYNC_REFRESH)]);
        p.master.on_events(&mut p.m.conns, &ev, now);
        p.master.stats.entries
    };
    assert_eq!(touch(&mut p, 1), 1, "never synced: sent at the first touch");
    assert_eq!(touch(&mut p, 2), 1);
    assert_eq!(
        touch(&mut p, 400),
        1,
        "less than half of 900 s since the last sync"
    );
    assert_eq!(touch(&mut p, 452), 2, "half the timeout passed: sent again");
    p.deliver();
    let (_, c) = p.b.conns.iter().next().unwrap();
    assert_eq!((c.state, c.timeout), (tcp::ESTABLISHED, 900_000));
}
