//! Criterion benchmarks of rvs-core: scheduling, new connections, established lookups.
//!
//! Run with `make bench` (or `cargo bench -p rvs-core --bench core`). Results and how to
//! read them are in bench/RESULTS.md.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rvs_core::command::{DestConfig, ServiceConfig};
use rvs_core::conn::state::{Segment, TcpFlags};
use rvs_core::director::{Packet, Verdict};
use rvs_core::sched::{self, SchedRequest};
use rvs_core::table::ServiceTable;
use rvs_core::{Command, Director, FwdMethod, Protocol, ServiceKey, Settings, SplitMix64, Time};

const VIP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 100));

fn key() -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: VIP,
        port: 80,
    }
}

fn rs(i: u32) -> IpAddr {
    IpAddr::from([198, 18, 16 + (i >> 8) as u8, i as u8])
}

fn client(i: u32) -> (IpAddr, u16) {
    (
        IpAddr::from([198, 19, (i >> 16) as u8, (i >> 8) as u8]),
        1024 + (i & 0xff) as u16,
    )
}

/// A table with one service of `n` dests with varied weights and connection counts.
fn table(sched: &str, n: u32, settings: &Settings) -> ServiceTable {
    let mut t = ServiceTable::default();
    let mut cfg = ServiceConfig::new(key());
    cfg.scheduler = sched.to_string();
    t.add_service(&cfg, settings).expect("service");
    let mut rng = SplitMix64(5);
    for i in 0..n {
        let mut d = DestConfig::new(rs(i), 80);
        d.weight = 1 + (rng.next_u64() % 8) as i32;
        let id = t.add_dest(&key(), &d, settings).expect("dest");
        let d = t.dest_mut(id).expect("dest");
        d.activeconns = (rng.next_u64() % 1000) as u32;
        d.inactconns = (rng.next_u64() % 5000) as u32;
    }
    t
}

fn bench_schedulers(c: &mut Criterion) {
    let settings = Settings::default();
    let mut g = c.benchmark_group("schedule");
    for name in sched::NAMES {
        for n in [10u32, 100, 1000] {
            let mut t = table(name, n, &settings);
            let sid = t.find(&key()).expect("svc");
            let mut s = t
                .service_mut(sid)
                .and_then(|s| s.scheduler.take())
                .expect("scheduler");
            let mut rng = SplitMix64(9);
            let mut i = 0u32;
            g.bench_with_input(BenchmarkId::new(*name, n), &n, |b, _| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let (ca, cp) = client(i);
                    let req = SchedRequest {
                        proto: Protocol::Tcp,
                        saddr: ca,
                        sport: cp,
                        daddr: VIP,
                        dport: 80,
                        now: Time(u64::from(i)),
                    };
                    let svc = t.service(sid).expect("svc");
                    black_box(s.schedule(t.view(svc, &settings), &req, &mut rng))
                })
            });
        }
    }
    g.finish();
}

fn director(sched: &str, n: u32) -> Director {
    let mut d = Director::new(Settings::default(), 3, Box::new(SplitMix64(3)));
    let mut cfg = ServiceConfig::new(key());
    cfg.scheduler = sched.to_string();
    d.apply(&Command::AddService(cfg), Time::ZERO).expect("svc");
    for i in 0..n {
        let mut dc = DestConfig::new(rs(i), 80);
        dc.fwd = FwdMethod::Masq;
        dc.weight = 1 + (i % 8) as i32;
        d.apply(&Command::AddDest(key(), dc), Time::ZERO)
            .expect("dest");
    }
    d
}

fn syn(i: u32) -> Packet {
    let (ca, cp) = client(i);
    Packet {
        saddr: ca,
        sport: cp,
        daddr: VIP,
        dport: 80,
        seg: Segment::Tcp(TcpFlags::SYN),
        len: 60,
        fwmark: 0,
    }
}

/// A new connection end to end: lookup miss, service lookup, wlc over N dests, conn
/// insert, state transition, counters. Time advances 1 ms per connection, so in steady
/// state one SYN_RECV conn (60 s) expires per new one and the table holds ~60k conns.
fn bench_new_conn(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_conn");
    for n in [10u32, 100, 1000] {
        let mut d = director("wlc", n);
        let mut i = 0u32;
        g.bench_with_input(BenchmarkId::new("wlc", n), &n, |b, _| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let v = d.process(&syn(i), Time(u64::from(i)));
                debug_assert!(matches!(v, Verdict::Forward { new: true, .. }));
                black_box(v)
            })
        });
    }
    g.finish();
}

/// Packets of established connections, uniformly random among 100k and 1M: the
/// conn-table lookup alone, and the whole per-packet path (lookup, state machine, timer
/// refresh, counters).
fn bench_established(c: &mut Criterion) {
    let mut g = c.benchmark_group("established");
    for (conns, label) in [(100_000u32, "100k"), (1_000_000, "1M")] {
        let mut d = director("rr", 100);
        for i in 0..conns {
            let v = d.process(&syn(i), Time::ZERO);
            assert!(matches!(v, Verdict::Forward { new: true, .. }));
            let mut p = syn(i);
            p.seg = Segment::Tcp(TcpFlags::ACK);
            d.process(&p, Time::ZERO);
        }
        let mut rng = SplitMix64(11);
        g.bench_function(BenchmarkId::new("lookup_in", label), |b| {
            b.iter(|| {
                let i = (rng.next_u64() % u64::from(conns)) as u32;
                let (ca, cp) = client(i);
                black_box(d.conns.lookup_in(6, &ca, cp, &VIP, 80))
            })
        });
        g.bench_function(BenchmarkId::new("process_ack", label), |b| {
            b.iter(|| {
                let i = (rng.next_u64() % u64::from(conns)) as u32;
                let mut p = syn(i);
                p.seg = Segment::Tcp(TcpFlags::ACK);
                black_box(d.process(&p, Time(1)))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(30);
    targets = bench_schedulers, bench_new_conn, bench_established
}
criterion_main!(benches);
