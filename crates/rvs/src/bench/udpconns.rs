//! `rvs bench udp-conns`: creates many UDP connections in a director cheaply. Datagram i
//! (of `from..to`) comes from source address `base + i / PORTS_PER_ADDR`, source port
//! `FIRST_PORT + i % PORTS_PER_ADDR`, so every index is its own 5-tuple (and its own IPVS
//! UDP connection until the UDP timeout). Sent through a raw IPv4 socket (IP_HDRINCL), so
//! the client needs neither the addresses nor a socket per port.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::time::Duration;

use anyhow::{Result, bail};

/// Source ports per source address.
pub const PORTS_PER_ADDR: u32 = 50_000;
/// First source port.
pub const FIRST_PORT: u32 = 10_000;

/// `rvs bench udp-conns` arguments.
#[derive(clap::Args, Debug)]
pub struct UdpConnsArgs {
    /// Destination address (IPv4).
    pub dst: Ipv4Addr,
    /// Destination port.
    pub port: u16,
    /// First tuple index.
    #[arg(long, default_value_t = 0)]
    pub from: u32,
    /// One past the last tuple index.
    #[arg(long)]
    pub to: u32,
    /// First source address (tuple i uses base + i / 50000).
    #[arg(long, default_value = "198.18.0.100")]
    pub base: Ipv4Addr,
    /// Datagrams between 1 ms pauses (pacing, so the director's rings keep up).
    #[arg(long, default_value_t = 256)]
    pub burst: u32,
}

/// Source address and port of tuple `i`.
pub fn tuple(base: Ipv4Addr, i: u32) -> (Ipv4Addr, u16) {
    let a = u32::from(base).wrapping_add(i / PORTS_PER_ADDR);
    // FIRST_PORT + (i % 50000) < 65536.
    let p = (FIRST_PORT + i % PORTS_PER_ADDR) as u16;
    (Ipv4Addr::from(a), p)
}

/// An IPv4 (no options, DF, TTL 64) + UDP packet carrying `payload`, with its header
/// checksum; the UDP checksum is computed when `udp_checksum`, else left 0 (none, allowed
/// over IPv4).
pub fn ipv4_udp(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
    udp_checksum: bool,
) -> Vec<u8> {
    use rvs_core::wire::checksum;
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let ip = checksum::finish(checksum::sum(&p[..20]));
    p[10..12].copy_from_slice(&ip.to_be_bytes());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&(udp_len as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    if udp_checksum {
        let sum = checksum::pseudo_v4(src, dst, 17, udp_len as u32) + checksum::sum(&p[20..]);
        let u = match checksum::finish(sum) {
            0 => 0xffff,
            u => u,
        };
        p[26..28].copy_from_slice(&u.to_be_bytes());
    }
    p
}

/// An IPv4 + UDP datagram (8-byte payload) with both checksums.
pub fn datagram(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> [u8; 36] {
    let mut p = [0u8; 36];
    p.copy_from_slice(&ipv4_udp(src, sport, dst, dport, b"rvsbench", true));
    p
}

/// Sends tuples `from..to`; returns how many the kernel accepted.
pub fn run(a: &UdpConnsArgs) -> Result<u64> {
    if a.to < a.from || a.burst == 0 {
        bail!("udp-conns: need from <= to and burst > 0");
    }
    // SAFETY: plain socket(2); the descriptor is owned right after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        bail!(
            "raw socket (needs CAP_NET_RAW): {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(a.dst).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut sent = 0u64;
    for i in a.from..a.to {
        let (src, sport) = tuple(a.base, i);
        let p = datagram(src, sport, a.dst, a.port);
        loop {
            // SAFETY: p and sa are valid for the call; the socket is open.
            let n = unsafe {
                libc::sendto(
                    sock.as_raw_fd(),
                    p.as_ptr().cast(),
                    p.len(),
                    0,
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                sent += 1;
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOBUFS) || e.raw_os_error() == Some(libc::EAGAIN) {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            bail!("sendto: {e}");
        }
        if (i - a.from + 1).is_multiple_of(a.burst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_are_distinct_and_in_range() {
        let base = Ipv4Addr::new(198, 18, 0, 100);
        assert_eq!(tuple(base, 0), (base, 10_000));
        assert_eq!(tuple(base, 49_999), (base, 59_999));
        assert_eq!(
            tuple(base, 50_000),
            (Ipv4Addr::new(198, 18, 0, 101), 10_000)
        );
        assert_eq!(
            tuple(base, 999_999),
            (Ipv4Addr::new(198, 18, 0, 119), 59_999)
        );
    }

    #[test]
    fn datagram_checksums_verify() {
        let p = datagram(
            Ipv4Addr::new(198, 18, 0, 100),
            10_000,
            Ipv4Addr::new(198, 18, 1, 100),
            9000,
        );
        let h = etherparse::Ipv4HeaderSlice::from_slice(&p).unwrap();
        assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
        let u = etherparse::UdpHeaderSlice::from_slice(&p[20..]).unwrap();
        let want = u
            .to_header()
            .calc_checksum_ipv4(&h.to_header(), &p[28..])
            .unwrap();
        assert_eq!(u.checksum(), want);
        assert_eq!(u.destination_port(), 9000);
        // The one's-complement sum over header and pseudo-header folds to zero.
        use rvs_core::wire::checksum;
        let sum = checksum::sum(&p[12..20]) + 17 + 16 + checksum::sum(&p[20..]);
        assert_eq!(checksum::finish(sum), 0);
    }
}
