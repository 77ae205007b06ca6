//! PING_CHECK: one ICMP (IPv4) or ICMPv6 echo request; up on the matching echo reply.
//! Uses an unprivileged ping socket when the system allows it (`net.ipv4.ping_group_range`),
//! else a raw socket (root / CAP_NET_RAW).

use std::io::Read;
use std::net::SocketAddr;

use socket2::{Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use crate::monitor::{ProbeResult, ProbeSpec};

/// The Internet checksum.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request (`v6`: ICMPv6, whose checksum the kernel fills in).
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"rvs-health-ping!");
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// Whether `pkt` (an ICMP message; raw IPv4 sockets deliver the IP header too, `ip_header`)
/// is the reply to our request. Ping sockets rewrite the id, so it is only compared on raw
/// sockets.
pub fn is_reply(pkt: &[u8], v6: bool, ip_header: bool, id: Option<u16>, seq: u16) -> bool {
    let icmp = if ip_header {
        let Some(first) = pkt.first() else {
            return false;
        };
        let ihl = usize::from(first & 0xf) * 4;
        match pkt.get(ihl..) {
            Some(p) => p,
            None => return false,
        }
    } else {
        pkt
    };
    if icmp.len() < 8 || icmp[0] != if v6 { 129 } else { 0 } {
        return false;
    }
    let got_id = u16::from_be_bytes([icmp[4], icmp[5]]);
    let got_seq = u16::from_be_bytes([icmp[6], icmp[7]]);
    got_seq == seq && id.is_none_or(|i| i == got_id)
}

fn open(spec: &ProbeSpec, proto: Protocol) -> std::io::Result<(Socket, bool)> {
    match super::socket(spec, Type::DGRAM, Some(proto)) {
        Ok(s) => Ok((s, false)),
        Err(_) => super::socket(spec, Type::RAW, Some(proto)).map(|s| (s, true)),
    }
}

async fn ping(spec: &ProbeSpec) -> std::io::Result<ProbeResult> {
    let v6 = spec.target.is_ipv6();
    let proto = if v6 {
        Protocol::ICMPV6
    } else {
        Protocol::ICMPV4
    };
    let (sock, raw) = open(spec, proto)?;
    let dst = SocketAddr::new(spec.target.ip(), 0);
    sock.connect(&dst.into())?;
    // SAFETY: the Socket owns its descriptor, which stays open and the same until the
    // AsyncFd (which owns the Socket) is dropped.
    let fd =
        unsafe { AsyncFd::register(sock) }.map_err(|e| std::io::Error::other(e.to_string()))?;
    let id = super::nonce16();
    let seq = super::nonce16();
    let req = echo_request(v6, id, seq);
    loop {
        let mut g = fd.writable().await?;
        match g.try_io(|s| s.get_ref().send(&req)) {
            Ok(r) => {
                r?;
                break;
            }
            Err(_would_block) => continue,
        }
    }
    let mut buf = [0u8; 2048];
    for _ in 0..10_000 {
        let mut g = fd.readable().await?;
        match g.try_io(|s| s.get_ref().read(&mut buf)) {
            Ok(Ok(n)) => {
                if is_reply(&buf[..n], v6, raw && !v6, raw.then_some(id), seq) {
                    return Ok(ProbeResult::Up);
                }
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Ok(ProbeResult::Down("destination unreachable".into()));
            }
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(ProbeResult::Down("no matching echo reply".into()))
}

/// Sends the echo request and waits for the reply (the driver's timeout ends the wait).
pub async fn run(spec: &ProbeSpec) -> ProbeResult {
    match ping(spec).await {
        Ok(r) => r,
        Err(e) => super::down("ICMP echo", e),
    }
}
