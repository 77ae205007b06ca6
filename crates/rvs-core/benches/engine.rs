//! Criterion benchmarks of the packet engine: nanoseconds per frame of an established
//! connection, per forwarding method (target: ≤ 80 ns for DR and NAT), and a new
//! connection's first frame.
//!
//! Run with `cargo bench -p rvs-core --bench engine` (part of `make bench`). Each iteration
//! copies the 54-byte input frame into the buffer (as a data plane reads a new frame)
//! and processes it; the copy is part of the measured time.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use etherparse::PacketBuilder;
use rvs_core::command::{DestConfig, ServiceConfig};
use rvs_core::engine::{Engine, Frame, HEADROOM, IfaceId, StaticNeighbours, Verdict, lab};
use rvs_core::{Command, FwdMethod, Protocol, ServiceKey, Time};

use rvs_core::engine::lab::{CLIENT_MAC, EXT_MAC};

fn client(i: u32) -> ([u8; 4], u16) {
    ([198, 18, 0, 2 + (i % 250) as u8], 1024 + (i / 250) as u16)
}

fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, syn: bool, dmac: [u8; 6]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, dmac)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 1, 64240);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut v = Vec::new();
    b.write(&mut v, &[]).expect("frame");
    v
}

struct Bench {
    e: Engine,
    n: StaticNeighbours,
    buf: Vec<u8>,
}

impl Bench {
    fn run(&mut self, frame: &[u8], now: Time) -> Verdict {
        let len = frame.len();
        self.buf[HEADROOM..HEADROOM + len].copy_from_slice(frame);
        let Ok(mut f) = Frame::new(&mut self.buf, HEADROOM, len) else {
            panic!("frame");
        };
        self.e.process(&mut f, IfaceId(0), now, &self.n)
    }
}

/// An engine with one TCP service 198.18.0.100:80 → 10 dests with `fwd`, and `conns`
/// established connections (three-way handshake done).
fn setup(fwd: FwdMethod, conns: u32) -> (Bench, Vec<Vec<u8>>) {
    // The lab topology (rvs_core::engine::lab); neighbours from a hash table.
    let mut e = lab::engine();
    e.fullnat
        .add_local_address(None, "198.18.1.200".parse().expect("ip"));
    let key = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: IpAddr::from([198, 18, 0, 100]),
        port: 80,
    };
    let mut cfg = ServiceConfig::new(key);
    cfg.scheduler = "wlc".into();
    e.director
        .apply(&Command::AddService(cfg), Time::ZERO)
        .expect("svc");
    let mut n = StaticNeighbours::default();
    for i in 0..=255u8 {
        n.insert(IpAddr::from([198, 18, 0, i]), CLIENT_MAC);
        n.insert(IpAddr::from([198, 18, 1, i]), [2, 0, 0, 0, 1, i]);
    }
    for i in 0..10u8 {
        let mut d = DestConfig::new(IpAddr::from([198, 18, 1, 10 + i]), 8080);
        d.fwd = fwd;
        e.director
            .apply(&Command::AddDest(key, d), Time::ZERO)
            .expect("dest");
    }
    let mut b = Bench {
        e,
        n,
        buf: vec![0u8; HEADROOM + 2048],
    };
    let mut acks = Vec::new();
    for i in 0..conns {
        let (c, p) = client(i);
        let v = b.run(&tcp(c, p, [198, 18, 0, 100], 80, true, EXT_MAC), Time(1));
        assert!(matches!(v, Verdict::Transmit { .. }), "{v}");
        let ack = tcp(c, p, [198, 18, 0, 100], 80, false, EXT_MAC);
        b.run(&ack, Time(2));
        acks.push(ack);
    }
    (b, acks)
}

fn bench_established(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_established");
    g.throughput(Throughput::Elements(1));
    for (name, fwd) in [
        ("dr", FwdMethod::Route),
        ("nat", FwdMethod::Masq),
        ("tun", FwdMethod::Tunnel),
        ("fullnat", FwdMethod::FullNat),
    ] {
        for conns in [1u32, 10_000] {
            let (mut b, acks) = setup(fwd, conns);
            // Visit the connections in a scattered order (stride 7919, a prime), without a
            // division in the measured loop.
            let order: Vec<&[u8]> = (0..acks.len())
                .map(|k| acks[(k * 7919) % acks.len()].as_slice())
                .collect();
            let mut i = 0usize;
            g.bench_with_input(BenchmarkId::new(name, conns), &conns, |bch, _| {
                bch.iter(|| {
                    i += 1;
                    if i == order.len() {
                        i = 0;
                    }
                    black_box(b.run(order[i], Time(3)))
                })
            });
        }
    }
    g.finish();
}

fn bench_new(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_new_conn");
    for (name, fwd) in [("dr", FwdMethod::Route), ("nat", FwdMethod::Masq)] {
        let (mut b, _) = setup(fwd, 0);
        let syns: Vec<Vec<u8>> = (0..60_000)
            .map(|i| {
                let (c, p) = client(i);
                tcp(c, p, [198, 18, 0, 100], 80, true, EXT_MAC)
            })
            .collect();
        let mut i = 0usize;
        let mut now = 1000u64;
        g.bench_function(name, |bch| {
            bch.iter(|| {
                // A new client each time; time moves so SYN_RECV conns expire (60 s)
                // before a client comes round again.
                i = (i + 1) % syns.len();
                now += 2;
                black_box(b.run(&syns[i], Time(now)))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_established, bench_new);
criterion_main!(benches);
