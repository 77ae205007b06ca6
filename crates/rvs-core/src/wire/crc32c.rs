//! CRC32c (Castagnoli, reflected polynomial 0x82F63B78), table-driven, for SCTP (RFC 9260
//! appendix A / RFC 3309).

/// The byte-wise lookup table, built at compile time.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// Feed `data` into a running (pre-inverted) CRC state.
#[inline]
fn update(mut state: u32, data: &[u8]) -> u32 {
    for &b in data {
        state = TABLE[((state ^ u32::from(b)) & 0xff) as usize] ^ (state >> 8);
    }
    state
}

/// The CRC32c of `data` (initial value and final XOR 0xffffffff).
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    !update(!0, data)
}

/// The SCTP checksum of a whole SCTP packet (common header + chunks), computed with the
/// checksum field (bytes 8..12) taken as zero. SCTP stores the result little-endian in
/// bytes 8..12 (`value.to_le_bytes()`), as RFC 4960 appendix B and Linux do. A packet
/// shorter than 12 bytes is summed as if padded with zeros to 12.
pub fn sctp_checksum(packet: &[u8]) -> u32 {
    let head = packet.get(..8).unwrap_or(packet);
    let mut s = update(!0, head);
    if head.len() < 8 {
        s = update(s, &[0u8; 8][..8 - head.len()]);
    }
    s = update(s, &[0u8; 4]);
    s = update(s, packet.get(12..).unwrap_or(&[]));
    !s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3720_vectors() {
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let asc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&asc), 0x46DD_794E);
        let desc: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&desc), 0x113F_DB5C);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[]), 0);
    }

    #[test]
    fn sctp_checksum_ignores_field() {
        let mut p = [0u8; 16];
        p[0] = 0x13;
        p[12] = 1;
        let a = sctp_checksum(&p);
        p[8..12].copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(sctp_checksum(&p), a);
        p[8..12].fill(0);
        assert_eq!(crc32c(&p), a);
    }

    #[test]
    fn sctp_checksum_short_input() {
        assert_eq!(
            sctp_checksum(&[1, 2, 3]),
            crc32c(&[1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        );
    }
}
