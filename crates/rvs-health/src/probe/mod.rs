//! One async probe per checker kind: [`run`] takes a [`ProbeSpec`] and says whether the
//! real server passes. The driver bounds each run with `tokio::time::timeout`; probes that
//! must wait a full timeout to decide (UDP_CHECK without a reply, MISC_CHECK's kill) use
//! `spec.timeout` themselves.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use rvs_config::keepalived::CheckerKind;
use socket2::{Domain, Protocol, Socket, Type};

use crate::monitor::{ProbeResult, ProbeSpec};

pub mod dns;
pub mod http;
pub mod misc;
pub mod ping;
pub mod smtp;
pub mod tcp;
pub mod udp;

/// Runs the probe `spec` describes.
pub async fn run(spec: &ProbeSpec) -> ProbeResult {
    match &spec.kind {
        CheckerKind::Tcp => tcp::run(spec).await,
        CheckerKind::Http(h) => http::run(spec, h, false).await,
        CheckerKind::Ssl(h) => http::run(spec, h, true).await,
        CheckerKind::Misc(m) => misc::run(spec, m).await,
        CheckerKind::Dns(d) => dns::run(spec, d).await,
        CheckerKind::Smtp(s) => smtp::run(spec, s).await,
        CheckerKind::Ping => ping::run(spec).await,
        CheckerKind::Udp(u) => udp::run(spec, u).await,
        CheckerKind::File(_) | CheckerKind::Bfd(_) => ProbeResult::Up,
    }
}

/// A non-blocking socket for `spec.target` with `bind_if` (SO_BINDTODEVICE), `fwmark`
/// (SO_MARK) and `bindto`/`bind_port` applied.
pub(crate) fn socket(spec: &ProbeSpec, ty: Type, proto: Option<Protocol>) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(spec.target), ty, proto)?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    if let Some(dev) = &spec.bind_if {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    if let Some(m) = spec.fwmark {
        s.set_mark(m)?;
    }
    if spec.bindto.is_some() || spec.bind_port.is_some() {
        let any = match spec.target.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let ip = spec.bindto.unwrap_or(any);
        if spec.bind_port.is_some() {
            s.set_reuse_address(true)?;
        }
        s.bind(&SocketAddr::new(ip, spec.bind_port.unwrap_or(0)).into())?;
    }
    Ok(s)
}

/// A TCP connection to `spec.target` with the socket options applied.
pub(crate) async fn tcp_connect(spec: &ProbeSpec) -> io::Result<tokio::net::TcpStream> {
    let s = socket(spec, Type::STREAM, Some(Protocol::TCP))?;
    let sock = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(s));
    sock.connect(spec.target).await
}

/// A connected UDP socket to `spec.target` with the socket options applied.
pub(crate) async fn udp_connect(spec: &ProbeSpec) -> io::Result<tokio::net::UdpSocket> {
    let s = socket(spec, Type::DGRAM, Some(Protocol::UDP))?;
    let u = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(s))?;
    u.connect(spec.target).await?;
    Ok(u)
}

/// `Down` with an I/O error as the reason.
pub(crate) fn down(what: &str, e: impl std::fmt::Display) -> ProbeResult {
    ProbeResult::Down(format!("{what}: {e}"))
}

/// A 16-bit value that differs from call to call (DNS ids, ICMP ids): not secret, only
/// unlikely to repeat.
pub(crate) fn nonce16() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    (h.finish() & 0xffff) as u16
}
