//! UDP_CHECK: sends `payload` on a connected UDP socket. An ICMP port unreachable
//! (ECONNREFUSED) is down. Without `require_reply`, silence for the whole timeout is up; with
//! it, a reply is needed, its length within min/max_reply_length (default 0..255, as
//! keepalived) and, when `require_reply` gave bytes, starting with them.

use rvs_config::keepalived::UdpCheck;

use crate::monitor::{ProbeResult, ProbeSpec};

/// Judges a reply.
pub fn judge(u: &UdpCheck, reply: &[u8]) -> ProbeResult {
    let min = u.min_reply_length.unwrap_or(0) as usize;
    let max = u.max_reply_length.unwrap_or(255) as usize;
    if reply.len() < min || reply.len() > max {
        return ProbeResult::Down(format!(
            "reply of {} bytes, expected {min}..={max}",
            reply.len()
        ));
    }
    ProbeResult::Up
}

/// Sends and waits.
pub async fn run(spec: &ProbeSpec, u: &UdpCheck) -> ProbeResult {
    let sock = match super::udp_connect(spec).await {
        Ok(s) => s,
        Err(e) => return super::down("socket", e),
    };
    let payload = u.payload.clone().unwrap_or_default();
    if let Err(e) = sock.send(&payload).await {
        return super::down("send", e);
    }
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(spec.timeout, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => {
            if u.require_reply {
                judge(u, &buf[..n])
            } else {
                ProbeResult::Up
            }
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            ProbeResult::Down("port unreachable".into())
        }
        Ok(Err(e)) => super::down("receive", e),
        Err(_) if u.require_reply => ProbeResult::Down("no reply".into()),
        Err(_) => ProbeResult::Up,
    }
}
