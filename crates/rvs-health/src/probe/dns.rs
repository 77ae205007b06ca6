//! DNS_CHECK: one UDP query (recursion desired) of `type`/`name`; answers with another id
//! or without the QR bit are ignored (keepalived keeps reading); the first matching answer
//! decides: RCODE 0 = up, anything else = down.

use rvs_config::keepalived::DnsCheck;

use crate::monitor::{ProbeResult, ProbeSpec};

/// The numeric type of a DNS_CHECK `type` keyword.
pub fn qtype(name: &str) -> u16 {
    match name {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        _ => 6, // SOA, keepalived's default
    }
}

/// The query packet: header (id, RD, one question) and the question, class IN.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(32 + name.len());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    p.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        p.push(l.len() as u8);
        p.extend_from_slice(l);
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes()); // IN
    p
}

/// What one received datagram means for query `id`: `None` = not our answer, keep
/// waiting; `Some(result)` = decided.
pub fn judge(id: u16, answer: &[u8]) -> Option<ProbeResult> {
    if answer.len() < 12 || u16::from_be_bytes([answer[0], answer[1]]) != id {
        return None;
    }
    let flags = u16::from_be_bytes([answer[2], answer[3]]);
    if flags & 0x8000 == 0 {
        return None;
    }
    match flags & 0xf {
        0 => Some(ProbeResult::Up),
        rc => Some(ProbeResult::Down(format!("DNS answer with rcode {rc}"))),
    }
}

/// Sends the query and waits for the answer.
pub async fn run(spec: &ProbeSpec, d: &DnsCheck) -> ProbeResult {
    let sock = match super::udp_connect(spec).await {
        Ok(s) => s,
        Err(e) => return super::down("socket", e),
    };
    let id = super::nonce16();
    if let Err(e) = sock.send(&query(id, &d.name, qtype(&d.qtype))).await {
        return super::down("send", e);
    }
    let mut buf = [0u8; 768];
    loop {
        match sock.recv(&mut buf).await {
            Ok(n) => {
                if let Some(r) = judge(id, &buf[..n]) {
                    return r;
                }
            }
            Err(e) => return super::down("receive", e),
        }
    }
}
