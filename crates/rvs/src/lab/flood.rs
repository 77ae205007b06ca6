//! `rvs lab flood`: a small-packet UDP generator for benchmarks. Many sockets (one source
//! port each, so a balancer sees many flows), `sendmmsg` batches, a fixed duration.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Datagrams per `sendmmsg` call.
const BATCH: usize = 64;

/// `rvs lab flood` arguments.
#[derive(clap::Args, Debug)]
pub struct FloodArgs {
    /// Destinations, comma separated (socket i sends to destination i mod N).
    dst: String,
    /// Destination port.
    port: u16,
    /// How long to send, in seconds.
    seconds: f64,
    /// Sockets (source ports).
    #[arg(long, default_value_t = 64)]
    sockets: usize,
    /// Payload bytes per datagram.
    #[arg(long, default_value_t = 18)]
    payload: usize,
}

/// Send for `a.seconds`; prints `sent N pps P` (datagrams the kernel accepted).
pub fn main(a: &FloodArgs) -> Result<()> {
    if a.sockets == 0
        || a.sockets > 4096
        || a.payload > 1472
        || !(0.0..=3600.0).contains(&a.seconds)
    {
        bail!("flood: sockets 1..4096, payload ≤ 1472, seconds 0..3600");
    }
    let dsts: Vec<std::net::IpAddr> = a
        .dst
        .split(',')
        .map(|d| d.parse().with_context(|| format!("bad address `{d}'")))
        .collect::<Result<_>>()?;
    let mut socks = Vec::with_capacity(a.sockets);
    for i in 0..a.sockets {
        let dst = SocketAddr::new(dsts[i % dsts.len()], a.port);
        let bind: SocketAddr = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
        let s = UdpSocket::bind(bind).context("bind")?;
        s.connect(dst).with_context(|| format!("connect {dst}"))?;
        s.set_nonblocking(true)?;
        socks.push(s);
    }
    let payload = vec![0x5au8; a.payload];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: mmsghdr is plain data; every header points at the one iovec above (the
    // sockets are connected, so no address), which outlives every sendmmsg call.
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
        .map(|_| {
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = &mut iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let start = Instant::now();
    let end = Duration::from_secs_f64(a.seconds);
    let mut sent: u64 = 0;
    let mut i = 0usize;
    while start.elapsed() < end {
        let fd = socks[i % socks.len()].as_raw_fd();
        i = i.wrapping_add(1);
        // SAFETY: `msgs` holds BATCH initialised headers; fd is an open, connected socket.
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, libc::MSG_DONTWAIT) };
        if n > 0 {
            sent += n as u64;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("sent {sent} pps {:.0}", sent as f64 / secs.max(1e-9));
    Ok(())
}
