//! In-place header rewriting with incremental checksum updates (RFC 1624).
//!
//! The functions take the frame's bytes and the offsets found by
//! [`crate::wire::parse_frame`]; they never index out of bounds (a short buffer leaves the
//! frame as it was and reports [`Short`]).

use std::net::IpAddr;

use crate::wire::checksum;
use crate::wire::crc32c::crc32c;
use crate::wire::ipproto;

/// The buffer is shorter than the offsets say (cannot happen after a successful parse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Short;

/// Where one IP packet sits in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPos {
    /// Offset of the IP header.
    pub l3: usize,
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// Offset of the upper-layer header.
    pub l4: usize,
    /// Upper-layer protocol.
    pub proto: u8,
    /// Offset just past the IP packet (may be before the end of a quoted, truncated
    /// packet's buffer region; for an embedded packet it is the end of the quote).
    pub end: usize,
}

fn get(buf: &[u8], at: usize, n: usize) -> Result<&[u8], Short> {
    buf.get(at..at.checked_add(n).ok_or(Short)?).ok_or(Short)
}

fn get_mut(buf: &mut [u8], at: usize, n: usize) -> Result<&mut [u8], Short> {
    buf.get_mut(at..at.checked_add(n).ok_or(Short)?)
        .ok_or(Short)
}

/// Read a big-endian u16.
pub fn rd16(buf: &[u8], at: usize) -> Result<u16, Short> {
    let b = get(buf, at, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

/// Write a big-endian u16.
pub fn wr16(buf: &mut [u8], at: usize, v: u16) -> Result<(), Short> {
    get_mut(buf, at, 2)?.copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Offset of the source (or destination) address within an IP header.
fn addr_at(pos: &IpPos, src: bool) -> (usize, usize) {
    match (pos.v6, src) {
        (false, true) => (pos.l3 + 12, 4),
        (false, false) => (pos.l3 + 16, 4),
        (true, true) => (pos.l3 + 8, 16),
        (true, false) => (pos.l3 + 24, 16),
    }
}

/// Offset of the L4 checksum covering the pseudo-header, if the protocol has one.
fn pseudo_csum_at(pos: &IpPos) -> Option<usize> {
    match pos.proto {
        ipproto::TCP => Some(pos.l4 + 16),
        ipproto::UDP => Some(pos.l4 + 6),
        ipproto::ICMPV6 => Some(pos.l4 + 2),
        _ => None,
    }
}

fn addr_bytes(a: &IpAddr) -> ([u8; 16], usize) {
    let mut out = [0u8; 16];
    match a {
        IpAddr::V4(v) => {
            out[..4].copy_from_slice(&v.octets());
            (out, 4)
        }
        IpAddr::V6(v) => {
            out.copy_from_slice(&v.octets());
            (out, 16)
        }
    }
}

/// Replace the source or destination address, fixing the IPv4 header checksum and the
/// L4 checksum's pseudo-header part. `l4_csum`: whether the L4 checksum field is present
/// in the buffer (false for quoted packets whose L4 header is cut short).
#[inline]
pub fn set_addr(
    buf: &mut [u8],
    pos: &IpPos,
    src: bool,
    new: &IpAddr,
    l4_csum: bool,
) -> Result<(), Short> {
    if let (false, IpAddr::V4(v4)) = (pos.v6, new) {
        return set_addr4(buf, pos, src, u32::from(*v4), l4_csum);
    }
    let (at, n) = addr_at(pos, src);
    let (nb, nlen) = addr_bytes(new);
    if nlen != n {
        return Err(Short);
    }
    let mut old = [0u8; 16];
    old[..n].copy_from_slice(get(buf, at, n)?);
    if old[..n] == nb[..n] {
        return Ok(());
    }
    get_mut(buf, at, n)?.copy_from_slice(&nb[..n]);
    if !pos.v6 {
        let c = rd16(buf, pos.l3 + 10)?;
        wr16(
            buf,
            pos.l3 + 10,
            checksum::update_bytes(c, &old[..n], &nb[..n]),
        )?;
    }
    if l4_csum
        && let Some(at) = pseudo_csum_at(pos)
        && let Ok(c) = rd16(buf, at)
    {
        {
            let v = if pos.proto == ipproto::UDP && !pos.v6 {
                checksum::update_bytes_udp(c, &old[..n], &nb[..n])
            } else if pos.proto == ipproto::UDP {
                checksum::update_bytes_udp6(c, &old[..n], &nb[..n])
            } else {
                checksum::update_bytes(c, &old[..n], &nb[..n])
            };
            wr16(buf, at, v)?;
        }
    }
    Ok(())
}

/// [`set_addr`] for IPv4, in 32-bit arithmetic.
#[inline]
fn set_addr4(buf: &mut [u8], pos: &IpPos, src: bool, new: u32, l4_csum: bool) -> Result<(), Short> {
    let (at, _) = addr_at(pos, src);
    let field = get_mut(buf, at, 4)?;
    let old = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
    if old == new {
        return Ok(());
    }
    field.copy_from_slice(&new.to_be_bytes());
    let c = rd16(buf, pos.l3 + 10)?;
    wr16(buf, pos.l3 + 10, checksum::update32(c, old, new))?;
    if l4_csum
        && let Some(at) = pseudo_csum_at(pos)
        && let Ok(c) = rd16(buf, at)
    {
        let v = if pos.proto == ipproto::UDP {
            checksum::update32_udp(c, old, new)
        } else {
            checksum::update32(c, old, new)
        };
        wr16(buf, at, v)?;
    }
    Ok(())
}

/// Replace the source or destination address *and* port: [`set_addr`] then [`set_port`],
/// with IPv4 TCP/UDP done in one pass and one checksum update.
#[inline(always)]
pub fn set_endpoint(
    buf: &mut [u8],
    pos: &IpPos,
    src: bool,
    addr: &IpAddr,
    port: u16,
) -> Result<(), Short> {
    if let (false, IpAddr::V4(a), ipproto::TCP | ipproto::UDP) = (pos.v6, addr, pos.proto) {
        return set_endpoint4(buf, pos, src, u32::from(*a), port);
    }
    set_addr(buf, pos, src, addr, true)?;
    set_port(buf, pos, src, port, true)
}

/// [`set_endpoint`] for IPv4 TCP and UDP: the address with the IPv4 header checksum, then
/// port and address folded into one L4 checksum update.
#[inline(always)]
fn set_endpoint4(
    buf: &mut [u8],
    pos: &IpPos,
    src: bool,
    addr: u32,
    port: u16,
) -> Result<(), Short> {
    let udp = pos.proto == ipproto::UDP;
    let seg = buf.get_mut(pos.l3..).ok_or(Short)?;
    let (ip, rest) = seg
        .split_at_mut_checked(pos.l4.checked_sub(pos.l3).ok_or(Short)?)
        .ok_or(Short)?;
    let ip = ip.first_chunk_mut::<20>().ok_or(Short)?;
    // TCP's checksum is at 16..18, UDP's at 6..8 (the parse checked both headers).
    let l4 = rest.first_chunk_mut::<8>().ok_or(Short)?;
    let at = if src { 12 } else { 16 };
    let old_a = u32::from_be_bytes([ip[at], ip[at + 1], ip[at + 2], ip[at + 3]]);
    ip[at..at + 4].copy_from_slice(&addr.to_be_bytes());
    let c = u16::from_be_bytes([ip[10], ip[11]]);
    ip[10..12].copy_from_slice(&checksum::update32(c, old_a, addr).to_be_bytes());
    let pa = if src { 0 } else { 2 };
    let old_p = u16::from_be_bytes([l4[pa], l4[pa + 1]]);
    l4[pa..pa + 2].copy_from_slice(&port.to_be_bytes());
    let cs = if udp {
        rest.get_mut(6..8).ok_or(Short)?
    } else {
        rest.get_mut(16..18).ok_or(Short)?
    };
    let c = u16::from_be_bytes([cs[0], cs[1]]);
    if udp && c == 0 {
        // UDP over IPv4 without a checksum stays without one.
        return Ok(());
    }
    let sum = u32::from(!c)
        + u32::from(!(old_a >> 16) as u16)
        + u32::from(!(old_a as u16))
        + (addr >> 16)
        + (addr & 0xffff)
        + u32::from(!old_p)
        + u32::from(port);
    let mut v = !checksum::fold(sum);
    if udp && v == 0 {
        v = 0xffff;
    }
    cs.copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Replace the source or destination port of TCP/UDP/SCTP, fixing the L4 checksum
/// (TCP/UDP incrementally; SCTP's CRC32c is recomputed when `sctp_crc` is set, which it
/// must not be for a quoted, truncated packet).
#[inline]
pub fn set_port(
    buf: &mut [u8],
    pos: &IpPos,
    src: bool,
    new: u16,
    l4_csum: bool,
) -> Result<(), Short> {
    let at = pos.l4 + if src { 0 } else { 2 };
    let old = rd16(buf, at)?;
    if old == new {
        return Ok(());
    }
    wr16(buf, at, new)?;
    if !l4_csum {
        return Ok(());
    }
    match pos.proto {
        ipproto::TCP => {
            let c = rd16(buf, pos.l4 + 16)?;
            wr16(buf, pos.l4 + 16, checksum::update16(c, old, new))?;
        }
        ipproto::UDP => {
            let c = rd16(buf, pos.l4 + 6)?;
            let v = if pos.v6 {
                checksum::update16_udp6(c, old, new)
            } else {
                checksum::update16_udp(c, old, new)
            };
            wr16(buf, pos.l4 + 6, v)?;
        }
        ipproto::SCTP => sctp_fill(buf, pos)?,
        _ => {}
    }
    Ok(())
}

/// Recompute an SCTP packet's CRC32c over `l4..end`.
pub fn sctp_fill(buf: &mut [u8], pos: &IpPos) -> Result<(), Short> {
    get_mut(buf, pos.l4 + 8, 4)?.fill(0);
    let crc = crc32c(buf.get(pos.l4..pos.end).ok_or(Short)?);
    get_mut(buf, pos.l4 + 8, 4)?.copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Decrement the TTL / hop limit. `false` when it would reach zero (nothing changed).
pub fn dec_ttl(buf: &mut [u8], pos: &IpPos) -> Result<bool, Short> {
    if pos.v6 {
        let hl = get_mut(buf, pos.l3 + 7, 1)?;
        if hl[0] <= 1 {
            return Ok(false);
        }
        hl[0] -= 1;
        return Ok(true);
    }
    let old = rd16(buf, pos.l3 + 8)?;
    let ttl = (old >> 8) as u8;
    if ttl <= 1 {
        return Ok(false);
    }
    let new = old - 0x100;
    wr16(buf, pos.l3 + 8, new)?;
    let c = rd16(buf, pos.l3 + 10)?;
    wr16(buf, pos.l3 + 10, checksum::update16(c, old, new))?;
    Ok(true)
}

/// Fill the Ethernet destination and source MACs.
pub fn set_macs(buf: &mut [u8], dst: &[u8; 6], src: &[u8; 6]) -> Result<(), Short> {
    get_mut(buf, 0, 6)?.copy_from_slice(dst);
    get_mut(buf, 6, 6)?.copy_from_slice(src);
    Ok(())
}

/// Recompute an IPv4 header checksum from scratch (header of `ihl` bytes at `l3`).
pub fn ipv4_fill(buf: &mut [u8], l3: usize, ihl: usize) -> Result<(), Short> {
    wr16(buf, l3 + 10, 0)?;
    let c = checksum::finish(checksum::sum(get(buf, l3, ihl)?));
    wr16(buf, l3 + 10, c)
}

/// Recompute an ICMP (v4) or ICMPv6 checksum over `l4..end` from scratch.
pub fn icmp_fill(buf: &mut [u8], pos: &IpPos) -> Result<(), Short> {
    wr16(buf, pos.l4 + 2, 0)?;
    let body = buf.get(pos.l4..pos.end).ok_or(Short)?;
    let mut s = checksum::sum(body);
    if pos.v6 {
        let (sa, _) = addr_at(pos, true);
        let (da, _) = addr_at(pos, false);
        let src = get(buf, sa, 16)?;
        let dst = get(buf, da, 16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(src);
        let mut b = [0u8; 16];
        b.copy_from_slice(dst);
        s += checksum::pseudo_v6(
            &a.into(),
            &b.into(),
            ipproto::ICMPV6,
            (pos.end - pos.l4) as u32,
        );
    }
    wr16(buf, pos.l4 + 2, checksum::finish(s))
}
