//! The worker loop over fake ports carrying real frames.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use etherparse::PacketBuilder;
use rvs_core::Protocol;
use rvs_core::command::{Command, DestConfig, ServiceConfig};
use rvs_core::dest::FwdMethod;
use rvs_core::engine::lab::{self, CLIENT_MAC, EXT, EXT_MAC, INT, INT_MAC};
use rvs_core::engine::{HEADROOM, IfaceId, Mac, Neighbours};
use rvs_core::service::ServiceKey;
use rvs_core::time::Time;

use super::*;
use crate::xsk::{XskBuf, XskPort};

struct FakeBuf {
    data: Vec<u8>,
    start: usize,
    len: usize,
}

impl XskBuf for FakeBuf {
    fn buffer(&mut self) -> (&mut [u8], usize, usize) {
        (&mut self.data, self.start, self.len)
    }
    fn set_frame(&mut self, start: usize, len: usize) {
        self.start = start;
        self.len = len;
    }
}

#[derive(Default)]
struct FakePort {
    inbox: VecDeque<Vec<u8>>,
    queued: Vec<Vec<u8>>,
    sent: Vec<Vec<u8>>,
    in_place: usize,
    copies: usize,
    released: usize,
    tx_room: Option<usize>,
    fd: Option<RawFd>,
}

impl XskPort for FakePort {
    type Buf = FakeBuf;
    fn recv(&mut self, out: &mut Vec<FakeBuf>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(f) = self.inbox.pop_front() else {
                break;
            };
            let mut data = vec![0xEE; HEADROOM + f.len() + 64];
            data[HEADROOM..HEADROOM + f.len()].copy_from_slice(&f);
            out.push(FakeBuf {
                data,
                start: HEADROOM,
                len: f.len(),
            });
            n += 1;
        }
        n
    }
    fn send(&mut self, mut buf: FakeBuf) -> Result<(), FakeBuf> {
        if self.tx_room == Some(self.queued.len()) {
            return Err(buf);
        }
        self.in_place += 1;
        self.queued.push(buf.bytes().to_vec());
        Ok(())
    }
    fn send_copy(&mut self, bytes: &[u8]) -> bool {
        if self.tx_room == Some(self.queued.len()) {
            return false;
        }
        self.copies += 1;
        self.queued.push(bytes.to_vec());
        true
    }
    fn release(&mut self, _buf: FakeBuf) {
        self.released += 1;
    }
    fn flush(&mut self) -> std::io::Result<(usize, usize)> {
        let n = self.queued.len();
        self.sent.append(&mut self.queued);
        Ok((n, 0))
    }
    fn complete(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn fd(&self) -> Option<RawFd> {
        self.fd
    }
}

/// Neighbours the test controls, recording resolve requests.
#[derive(Default)]
struct FakeNeigh {
    macs: Mutex<Vec<(IpAddr, Mac)>>,
    generation: AtomicU64,
    resolves: Mutex<Vec<(IfaceId, IpAddr)>>,
}

impl FakeNeigh {
    fn insert(&self, a: IpAddr, mac: Mac) {
        self.macs.lock().unwrap().push((a, mac));
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl Neighbours for FakeNeigh {
    fn mac(&self, _iface: IfaceId, addr: &IpAddr) -> Option<Mac> {
        let m = self.macs.lock().unwrap();
        m.iter().find(|(a, _)| a == addr).map(|(_, m)| *m)
    }
    fn generation(&self) -> Option<u64> {
        Some(self.generation.load(Ordering::SeqCst))
    }
}

impl Resolver for FakeNeigh {
    fn resolve(&self, iface: IfaceId, addr: IpAddr) {
        self.resolves.lock().unwrap().push((iface, addr));
    }
}

const VIP: &str = "198.18.0.100";
const RS: &str = "198.18.1.11";
/// A DR real server on the client side's LAN (egress = ingress).
const RS_EXT: &str = "198.18.0.50";
const RS_MAC: Mac = [0x02, 0, 0, 0, 0x01, 11];
const RS_EXT_MAC: Mac = [0x02, 0, 0, 0, 0x01, 50];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn udp(src: &str, sport: u16, dst: &str, dport: u16, macs: (Mac, Mac)) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (ip(src), ip(dst)) else {
        panic!("v4 only")
    };
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(s.octets(), d.octets(), 64)
        .udp(sport, dport)
        .write(&mut out, b"hello")
        .unwrap();
    out
}

fn client_udp(dport: u16) -> Vec<u8> {
    udp("198.18.0.2", 40000, VIP, dport, (CLIENT_MAC, EXT_MAC))
}

/// UDP VIP:9000 → DR RS (on int); UDP VIP:9001 → DR RS_EXT (on ext);
/// UDP VIP:9002 → NAT RS:9002.
fn engine() -> Engine {
    let mut e = lab::engine();
    let now = Time(1);
    for (port, rs, fwd) in [
        (9000, RS, FwdMethod::Route),
        (9001, RS_EXT, FwdMethod::Route),
        (9002, RS, FwdMethod::Masq),
    ] {
        let key = ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: ip(VIP),
            port,
        };
        let mut s = ServiceConfig::new(key);
        s.scheduler = "rr".into();
        e.director.apply(&Command::AddService(s), now).unwrap();
        let mut d = DestConfig::new(ip(rs), port);
        d.fwd = fwd;
        e.director.apply(&Command::AddDest(key, d), now).unwrap();
    }
    e
}

struct Rig {
    w: Worker<FakePort>,
    neigh: Arc<FakeNeigh>,
    engine: Arc<Mutex<Engine>>,
    counters: Arc<WorkerCounters>,
}

fn rig() -> Rig {
    let neigh = Arc::new(FakeNeigh::default());
    neigh.insert(ip(RS), RS_MAC);
    neigh.insert(ip(RS_EXT), RS_EXT_MAC);
    neigh.insert(ip("198.18.0.2"), CLIENT_MAC);
    rig_with(neigh)
}

fn rig_with(neigh: Arc<FakeNeigh>) -> Rig {
    let engine = Arc::new(Mutex::new(engine()));
    let counters = Arc::new(WorkerCounters::default());
    let w = Worker::new(
        vec![(EXT, FakePort::default()), (INT, FakePort::default())],
        Arc::clone(&engine),
        neigh.clone(),
        WorkerConfig {
            batch: 64,
            hold_ms: 1000,
        },
        Arc::clone(&counters),
    );
    Rig {
        w,
        neigh,
        engine,
        counters,
    }
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Rig {
    fn inject(&mut self, port: usize, frame: Vec<u8>) {
        self.w.ports_mut()[port].1.inbox.push_back(frame);
    }
    fn port(&self, i: usize) -> &FakePort {
        &self.w.ports()[i].1
    }
}

#[test]
fn forwarded_frame_goes_out_of_the_egress_port_with_macs() {
    let mut r = rig();
    let f = client_udp(9000);
    r.inject(0, f.clone());
    assert_eq!(r.w.step(Time(10)), 1);
    let int = r.port(1);
    assert_eq!(int.sent.len(), 1, "sent on int");
    assert_eq!(int.copies, 1, "copied across interfaces");
    let out = &int.sent[0];
    assert_eq!(&out[0..6], &RS_MAC, "dst MAC = real server");
    assert_eq!(&out[6..12], &INT_MAC, "src MAC = int");
    // DR: the IP packet is unchanged.
    assert_eq!(&out[12..], &f[12..]);
    assert!(r.port(0).sent.is_empty());
    assert_eq!(r.port(0).released, 1, "ingress buffer given back");
    assert_eq!(get(&r.counters.rx), 1);
    assert_eq!(get(&r.counters.tx), 1);
    assert_eq!(get(&r.counters.tx_copied), 1);
}

#[test]
fn same_interface_transmits_in_place() {
    let mut r = rig();
    r.inject(0, client_udp(9001));
    r.w.step(Time(10));
    let ext = r.port(0);
    assert_eq!((ext.in_place, ext.copies, ext.released), (1, 0, 0));
    assert_eq!(ext.sent.len(), 1);
    assert_eq!(&ext.sent[0][0..6], &RS_EXT_MAC);
    assert_eq!(&ext.sent[0][6..12], &EXT_MAC);
    assert!(r.port(1).sent.is_empty());
}

#[test]
fn nat_request_and_reply() {
    let mut r = rig();
    r.inject(0, client_udp(9002));
    r.w.step(Time(10));
    let out = r.port(1).sent[0].clone();
    // Destination rewritten to the real server.
    assert_eq!(&out[30..34], &[198, 18, 1, 11]);
    // The reply RS:9002 -> client comes back on int and leaves on ext from the VIP.
    let reply = udp(RS, 9002, "198.18.0.2", 40000, (RS_MAC, INT_MAC));
    r.inject(1, reply);
    r.w.step(Time(20));
    let back = &r.port(0).sent[0];
    assert_eq!(&back[0..6], &CLIENT_MAC);
    assert_eq!(&back[6..12], &EXT_MAC);
    assert_eq!(&back[26..30], &[198, 18, 0, 100], "source = VIP");
}

#[test]
fn unresolved_frames_are_held_then_sent_when_the_mac_appears() {
    let mut r = rig_with(Arc::new(FakeNeigh::default()));
    r.inject(0, client_udp(9000));
    r.inject(0, client_udp(9000));
    r.w.step(Time(10));
    assert_eq!(r.w.held_frames(), 2);
    assert!(r.port(1).sent.is_empty());
    assert_eq!(get(&r.counters.held), 2);
    assert_eq!(r.port(0).released, 2, "held frames are copies");
    assert!(r.neigh.resolves.lock().unwrap().contains(&(INT, ip(RS))));
    // Still unknown a bit later: still held.
    r.w.step(Time(500));
    assert_eq!(r.w.held_frames(), 2);
    assert!(
        r.w.poll_timeout(Time(500)) <= 10,
        "recheck soon while holding"
    );
    r.neigh.insert(ip(RS), RS_MAC);
    r.w.step(Time(600));
    assert_eq!(r.w.held_frames(), 0);
    let int = r.port(1);
    assert_eq!(int.sent.len(), 2);
    for f in &int.sent {
        assert_eq!(&f[0..6], &RS_MAC);
        assert_eq!(&f[6..12], &INT_MAC);
    }
    assert_eq!(get(&r.counters.held_sent), 2);
    assert_eq!(get(&r.counters.held_dropped), 0);
}

#[test]
fn unresolved_frames_are_dropped_after_hold() {
    let mut r = rig_with(Arc::new(FakeNeigh::default()));
    r.inject(0, client_udp(9000));
    r.w.step(Time(10));
    r.w.step(Time(1009));
    assert_eq!(r.w.held_frames(), 1);
    r.w.step(Time(1010));
    assert_eq!(r.w.held_frames(), 0);
    assert_eq!(get(&r.counters.held_dropped), 1);
    // The MAC appearing later sends nothing.
    r.neigh.insert(ip(RS), RS_MAC);
    r.w.step(Time(1100));
    assert!(r.port(1).sent.is_empty());
    assert_eq!(get(&r.counters.held_sent), 0);
}

#[test]
fn hold_queue_per_hop_is_bounded() {
    let mut r = rig_with(Arc::new(FakeNeigh::default()));
    for _ in 0..HOLD_PER_HOP + 5 {
        r.inject(0, client_udp(9000));
    }
    r.w.step(Time(10));
    r.w.step(Time(11));
    assert_eq!(r.w.held_frames(), HOLD_PER_HOP);
    assert_eq!(get(&r.counters.held_dropped), 5);
}

#[test]
fn passed_frames_are_counted_and_dropped() {
    let mut r = rig();
    // No service on port 7.
    r.inject(0, client_udp(7));
    r.w.step(Time(10));
    assert_eq!(get(&r.counters.passed_in_userspace), 1);
    assert_eq!(r.port(0).released, 1);
    assert!(r.port(0).sent.is_empty() && r.port(1).sent.is_empty());
    assert_eq!(r.engine.lock().unwrap().counters.passed, 1);
}

#[test]
fn dropped_frames_are_counted() {
    let mut r = rig();
    r.inject(0, vec![0u8; 10]); // runt: malformed
    r.w.step(Time(10));
    assert_eq!(get(&r.counters.dropped), 1);
    assert_eq!(r.port(0).released, 1);
    assert_eq!(r.engine.lock().unwrap().counters.dropped_total(), 1);
}

#[test]
fn full_transmit_queue_counts_failures() {
    let mut r = rig();
    r.w.ports_mut()[1].1.tx_room = Some(1);
    r.inject(0, client_udp(9000));
    r.inject(0, client_udp(9000));
    r.w.step(Time(10));
    assert_eq!(r.port(1).sent.len(), 1);
    assert_eq!(get(&r.counters.tx_failed), 1);
    assert_eq!(r.port(0).released, 2);
}

#[test]
fn idle_ticks_advance_the_engine() {
    let mut r = rig();
    assert_eq!(r.w.step(Time(50)), 0);
    assert_eq!(get(&r.counters.idle_ticks), 0, "not a tick yet");
    r.w.step(Time(100));
    assert_eq!(get(&r.counters.idle_ticks), 1);
    assert_eq!(r.engine.lock().unwrap().director.now(), Time(100));
    assert_eq!(r.w.poll_timeout(Time(130)), 70);
    r.w.step(Time(250));
    assert_eq!(r.engine.lock().unwrap().director.now(), Time(250));
    // Traffic postpones the tick.
    r.inject(0, client_udp(9000));
    r.w.step(Time(300));
    r.w.step(Time(350));
    assert_eq!(get(&r.counters.idle_ticks), 2);
}

#[test]
fn run_sleeps_when_idle_and_wakes_on_readable_fd() {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let engine = Arc::new(Mutex::new(engine()));
    let counters = Arc::new(WorkerCounters::default());
    let neigh = Arc::new(FakeNeigh::default());
    let port = FakePort {
        fd: Some(fds[0]),
        ..Default::default()
    };
    let w = Worker::new(
        vec![(EXT, port)],
        Arc::clone(&engine),
        neigh,
        WorkerConfig {
            batch: 64,
            hold_ms: 1000,
        },
        Arc::clone(&counters),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let start = std::time::Instant::now();
    let s2 = Arc::clone(&stop);
    let t = std::thread::spawn(move || {
        let clock = move || Time(start.elapsed().as_millis() as u64);
        w.run(&s2, &clock);
    });
    std::thread::sleep(std::time::Duration::from_millis(450));
    let idle_rounds = get(&counters.rounds);
    // Make the fd readable: poll returns at once every round (a busy fd is not idle).
    // SAFETY: writing one byte from a valid buffer to the pipe's write end.
    assert_eq!(unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) }, 1);
    std::thread::sleep(std::time::Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    let busy_rounds = get(&counters.rounds) - idle_rounds;
    // Idle: one round per ~100 ms tick, not a spin.
    assert!((3..=8).contains(&idle_rounds), "idle rounds {idle_rounds}");
    assert!(get(&counters.idle_ticks) >= 3);
    assert!(
        busy_rounds > 10,
        "readable fd wakes the loop: {busy_rounds}"
    );
    assert!(engine.lock().unwrap().director.now() >= Time(300));
    // SAFETY: closing the descriptors this test opened.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
}

#[test]
fn the_hook_runs_once_per_period_on_the_engine() {
    struct Rec(Arc<std::sync::Mutex<(Vec<u64>, usize)>>);
    impl crate::worker::EngineHook for Rec {
        fn periodic(&mut self, _e: &mut Engine, now: Time) {
            self.0.lock().unwrap().0.push(now.0);
        }
        fn frame_seen(&mut self, frame: &[u8]) {
            assert!(frame.len() > 14);
            self.0.lock().unwrap().1 += 1;
        }
    }
    let r = rig();
    let log = Arc::new(std::sync::Mutex::new((Vec::new(), 0)));
    let mut w = r.w.with_hook(200, Box::new(Rec(Arc::clone(&log))));
    w.ports_mut()[0].1.inbox.push_back(client_udp(53));
    w.ports_mut()[0].1.inbox.push_back(client_udp(53));
    for t in [1000, 1100, 1199, 1200, 1399, 1400, 1500] {
        w.step(Time(t));
    }
    let log = log.lock().unwrap();
    assert_eq!(log.0, vec![1000, 1200, 1400]);
    assert_eq!(log.1, 2, "every received frame is shown to the hook");
}
