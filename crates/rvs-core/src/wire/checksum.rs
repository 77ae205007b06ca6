//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! All `u16` values are the host numbers of big-endian fields (`u16::from_be_bytes`).
//! A partial sum is a `u32` that is only meaningful modulo 0xffff (ones' complement): add
//! partial sums freely with `wrapping_add`-free `+` as long as fewer than 65536 of them are
//! added, then [`fold`] or [`finish`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Sum `data` as 16-bit big-endian words (an odd last byte is padded with zero) into a
/// ones'-complement partial sum.
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w: [u8; 8] = c.try_into().unwrap_or([0; 8]);
        let v = u64::from_be_bytes(w);
        acc += (v >> 48) + ((v >> 32) & 0xffff) + ((v >> 16) & 0xffff) + (v & 0xffff);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    // End-around carry at 32 bits keeps the value modulo 0xffff.
    while acc >> 32 != 0 {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    acc as u32
}

/// Fold the carries of a partial sum into 16 bits (not complemented).
#[inline]
pub fn fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The checksum to store for a partial sum: `!fold(sum)`.
#[inline]
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// Partial sum of the IPv4 pseudo-header (RFC 793 / 768).
#[inline]
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u32) -> u32 {
    let s = src.to_bits();
    let d = dst.to_bits();
    (s >> 16)
        + (s & 0xffff)
        + (d >> 16)
        + (d & 0xffff)
        + u32::from(proto)
        + (len >> 16)
        + (len & 0xffff)
}

/// Partial sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
#[inline]
pub fn pseudo_v6(src: &Ipv6Addr, dst: &Ipv6Addr, proto: u8, len: u32) -> u32 {
    let mut acc: u32 = u32::from(proto) + (len >> 16) + (len & 0xffff);
    for w in src.segments().iter().chain(dst.segments().iter()) {
        acc += u32::from(*w);
    }
    acc
}

/// Partial sum of the pseudo-header for either family. If the families differ (a caller
/// bug) the addresses are each summed in their own form, which gives a wrong but
/// well-defined result.
#[inline]
pub fn pseudo(src: &IpAddr, dst: &IpAddr, proto: u8, len: u32) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_v4(*s, *d, proto, len),
        (IpAddr::V6(s), IpAddr::V6(d)) => pseudo_v6(s, d, proto, len),
        _ => {
            let a = addr_sum(src);
            let b = addr_sum(dst);
            a + b + u32::from(proto) + (len >> 16) + (len & 0xffff)
        }
    }
}

fn addr_sum(a: &IpAddr) -> u32 {
    match a {
        IpAddr::V4(a) => sum(&a.octets()),
        IpAddr::V6(a) => sum(&a.octets()),
    }
}

/// RFC 1624 eqn 3: `HC' = ~(~HC + ~m + m')`, for one 16-bit field changing from `old` to
/// `new` under the stored checksum `csum`.
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    let s = u32::from(!csum) + u32::from(!old) + u32::from(new);
    !fold(s)
}

/// [`update16`] for a 32-bit field (two 16-bit words).
#[inline]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let s = u32::from(!csum)
        + u32::from(!(old >> 16) as u16)
        + u32::from(!(old as u16))
        + (new >> 16)
        + (new & 0xffff);
    !fold(s)
}

/// [`update16`] for any even-length byte change, such as an IPv4 or IPv6 address
/// (`old.len() == new.len()`, even). Extra bytes of the longer slice and an odd last byte
/// are ignored.
#[inline]
pub fn update_bytes(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut s = u32::from(!csum);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        s += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        s += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    !fold(s)
}

/// UDP over IPv4: [`update16`] where a stored 0 means "no checksum" and stays 0, and a
/// result of 0 is stored as 0xffff (RFC 768). Over IPv6 use [`update16_udp6`].
#[inline]
pub fn update16_udp(csum: u16, old: u16, new: u16) -> u16 {
    if csum == 0 {
        return 0;
    }
    match update16(csum, old, new) {
        0 => 0xffff,
        c => c,
    }
}

/// UDP over IPv6: [`update16`] with a result of 0 stored as 0xffff — a zero UDP checksum
/// means "none" and is invalid over IPv6 (RFC 8200 §8.1: receivers drop it), while a full
/// recompute would give 0xffff.
#[inline]
pub fn update16_udp6(csum: u16, old: u16, new: u16) -> u16 {
    match update16(csum, old, new) {
        0 => 0xffff,
        c => c,
    }
}

/// UDP over IPv6: [`update_bytes`] with the zero rule of [`update16_udp6`].
#[inline]
pub fn update_bytes_udp6(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    match update_bytes(csum, old, new) {
        0 => 0xffff,
        c => c,
    }
}

/// UDP over IPv4: [`update_bytes`] with the zero rules of [`update16_udp`].
#[inline]
pub fn update_bytes_udp(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    if csum == 0 {
        return 0;
    }
    match update_bytes(csum, old, new) {
        0 => 0xffff,
        c => c,
    }
}

/// UDP over IPv4: [`update32`] with the zero rules of [`update16_udp`].
#[inline]
pub fn update32_udp(csum: u16, old: u32, new: u32) -> u16 {
    if csum == 0 {
        return 0;
    }
    match update32(csum, old, new) {
        0 => 0xffff,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d)), 0xddf2);
        assert_eq!(finish(sum(&d)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn long_buffer_folds_carries() {
        let d = vec![0xffu8; 70_001];
        // 35000 words of 0xffff plus 0xff00: ones' complement of that is 0x00ff.
        assert_eq!(finish(sum(&d)), !fold(0xff00 + 0xffff));
        assert_eq!(fold(sum(&d)), 0xff00);
    }

    #[test]
    fn ipv4_header_example() {
        // A classic IPv4 header whose checksum is 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(finish(sum(&h)), 0xb861);
    }

    #[test]
    fn update16_matches_recompute() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        // Decrement TTL (the TTL/protocol word).
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let c = update16(0xb861, old, new);
        h[10] = 0;
        h[11] = 0;
        assert_eq!(c, finish(sum(&h)));
    }

    #[test]
    fn update_bytes_address_change() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let body = [1u8, 2, 3, 4, 5];
        let c = finish(pseudo_v4(src, dst, 6, 5) + sum(&body));
        let nsrc = Ipv4Addr::new(192, 168, 77, 3);
        let c2 = update_bytes(c, &src.octets(), &nsrc.octets());
        assert_eq!(c2, finish(pseudo_v4(nsrc, dst, 6, 5) + sum(&body)));
        let c3 = update32(c, src.to_bits(), nsrc.to_bits());
        assert_eq!(c3, c2);
    }

    #[test]
    fn udp_zero_rules() {
        assert_eq!(update16_udp(0, 0x1234, 0x9999), 0);
        assert_eq!(update_bytes_udp(0, &[1, 2], &[3, 4]), 0);
        assert_eq!(update32_udp(0, 1, 2), 0);
        // A change that makes the folded sum 0xffff (checksum 0) is stored as 0xffff.
        // csum 0x0001 means fold(sum) == 0xfffe; adding 1 gives 0xffff -> checksum 0.
        assert_eq!(update16(0x0001, 0x0000, 0x0001), 0x0000);
        assert_eq!(update16_udp(0x0001, 0x0000, 0x0001), 0xffff);
        assert_eq!(update16(0x0001, 0x0000, 0x0001), 0x0000);
        assert_eq!(update16_udp6(0x0001, 0x0000, 0x0001), 0xffff);
        assert_eq!(update_bytes_udp6(0x0001, &[0, 0], &[0, 1]), 0xffff);
        assert_eq!(update_bytes_udp(0x0001, &[0, 0], &[0, 1]), 0xffff);
    }

    #[test]
    fn pseudo_v6_matches_bytes() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "fe80::abcd:1".parse().unwrap();
        let mut ph = Vec::new();
        ph.extend_from_slice(&s.octets());
        ph.extend_from_slice(&d.octets());
        ph.extend_from_slice(&70000u32.to_be_bytes());
        ph.extend_from_slice(&[0, 0, 0, 17]);
        assert_eq!(fold(pseudo_v6(&s, &d, 17, 70000)), fold(sum(&ph)));
        assert_eq!(
            fold(pseudo(&IpAddr::V6(s), &IpAddr::V6(d), 17, 70000)),
            fold(sum(&ph))
        );
    }
}
