//! Bytes per connection at 1M connections, measured with a counting allocator.
//!
//! `cargo bench -p rvs-core --bench memory` prints the live heap bytes the director holds
//! per connection after 1,000,000 established TCP connections (IPv4, NAT), and the
//! breakdown that `ConnTable::allocated_bytes` reports.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use rvs_core::command::{DestConfig, ServiceConfig};
use rvs_core::conn::state::{Segment, TcpFlags};
use rvs_core::director::Packet;
use rvs_core::{Command, Director, FwdMethod, Protocol, ServiceKey, Settings, SplitMix64, Time};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: p was allocated by System with layout l.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: p was allocated by System with layout l.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    const N: u32 = 1_000_000;
    let vip = IpAddr::from([198, 18, 0, 100]);
    let key = ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: vip,
        port: 80,
    };
    let mut d = Director::new(Settings::default(), 1, Box::new(SplitMix64(1)));
    let mut cfg = ServiceConfig::new(key);
    cfg.scheduler = "wlc".into();
    d.apply(&Command::AddService(cfg), Time::ZERO).expect("svc");
    for i in 0..100u8 {
        let mut dc = DestConfig::new(IpAddr::from([198, 18, 1, i]), 80);
        dc.fwd = FwdMethod::Masq;
        d.apply(&Command::AddDest(key, dc), Time::ZERO)
            .expect("dest");
    }
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..N {
        let saddr = IpAddr::from([198, 19, (i >> 16) as u8, (i >> 8) as u8]);
        let sport = 1024 + (i & 0xff) as u16;
        for seg in [TcpFlags::SYN, TcpFlags::ACK] {
            let p = Packet {
                saddr,
                sport,
                daddr: vip,
                dport: 80,
                seg: Segment::Tcp(seg),
                len: 60,
                fwmark: 0,
            };
            d.process(&p, Time::ZERO);
        }
    }
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(d.conns.len(), N as usize);
    let per = (after - before) as f64 / f64::from(N);
    println!("connections: {}", d.conns.len());
    println!("heap bytes held for them: {}", after - before);
    println!("bytes per connection: {per:.1}");
    println!(
        "conn table allocated_bytes/conn: {:.1} (entries + index + timers)",
        d.conns.allocated_bytes() as f64 / f64::from(N)
    );
    println!(
        "size_of::<Conn>() = {}",
        std::mem::size_of::<rvs_core::conn::Conn>()
    );
}
