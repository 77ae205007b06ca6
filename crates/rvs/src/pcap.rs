//! Classic libpcap files: read (both byte orders, microsecond and nanosecond timestamps)
//! and write (microsecond, little-endian). Ethernet link type only; pcapng is refused with
//! the command that converts it.

use std::io::Write;

/// Microsecond-timestamp magic number.
const MAGIC_US: u32 = 0xa1b2_c3d4;
/// Nanosecond-timestamp magic number.
const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// First four bytes of a pcapng file (Section Header Block type).
const PCAPNG: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// `LINKTYPE_ETHERNET`.
const LINKTYPE_ETHERNET: u32 = 1;
/// Size of the file header.
const FILE_HEADER: usize = 24;
/// Size of a record header.
const RECORD_HEADER: usize = 16;
/// Snapshot length the writer declares (and truncates records to).
pub const SNAPLEN: u32 = 262_144;

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The captured bytes (the Ethernet frame, perhaps cut at the snapshot length).
    pub data: Vec<u8>,
    /// Length of the packet on the wire (≥ `data.len()` when it was cut).
    pub orig_len: u32,
}

/// Why a pcap file could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum PcapError {
    /// Fewer bytes than a file header.
    #[error("not a pcap file: {0} bytes is too short for the 24-byte pcap file header")]
    TooShort(usize),
    /// A pcapng file.
    #[error("pcapng is not supported; convert with: editcap -F pcap IN OUT")]
    PcapNg,
    /// Unknown magic number.
    #[error("not a pcap file: unknown magic number 0x{0:08x}")]
    BadMagic(u32),
    /// A link type other than Ethernet.
    #[error("link type {0} ({name}) is not supported; only Ethernet (1) is", name = linktype_name(*.0))]
    LinkType(u32),
    /// A record header cut short by the end of the file (records count from 1).
    #[error("record {record} is truncated: its 16-byte header has only {left} bytes")]
    TruncatedHeader {
        /// Record number, from 1.
        record: usize,
        /// Bytes left in the file.
        left: usize,
    },
    /// A record's data cut short by the end of the file (records count from 1).
    #[error(
        "record {record} is truncated: it has {caplen} captured bytes but only {left} are left in the file"
    )]
    TruncatedData {
        /// Record number, from 1.
        record: usize,
        /// The record's captured length.
        caplen: u32,
        /// Bytes left in the file.
        left: usize,
    },
}

/// Name of a link type, for error messages.
fn linktype_name(lt: u32) -> &'static str {
    match lt {
        0 => "BSD loopback",
        1 => "Ethernet",
        101 => "raw IP",
        105 => "IEEE 802.11",
        113 => "Linux cooked capture (tcpdump -i any)",
        127 => "802.11 radiotap",
        228 => "raw IPv4",
        229 => "raw IPv6",
        276 => "Linux cooked capture v2 (tcpdump -i any)",
        _ => "unknown",
    }
}

/// Byte order of a file.
#[derive(Clone, Copy)]
enum Order {
    Le,
    Be,
}

impl Order {
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self {
            Order::Le => u32::from_le_bytes(w),
            Order::Be => u32::from_be_bytes(w),
        }
    }
}

/// Parse a whole classic pcap file.
pub fn read(bytes: &[u8]) -> Result<Vec<Record>, PcapError> {
    if bytes.len() >= 4 && bytes[..4] == PCAPNG {
        return Err(PcapError::PcapNg);
    }
    if bytes.len() < FILE_HEADER {
        return Err(PcapError::TooShort(bytes.len()));
    }
    let le = Order::Le.u32(bytes, 0);
    let be = Order::Be.u32(bytes, 0);
    let (order, nanos) = if le == MAGIC_US {
        (Order::Le, false)
    } else if le == MAGIC_NS {
        (Order::Le, true)
    } else if be == MAGIC_US {
        (Order::Be, false)
    } else if be == MAGIC_NS {
        (Order::Be, true)
    } else {
        return Err(PcapError::BadMagic(be));
    };
    let linktype = order.u32(bytes, 20);
    if linktype != LINKTYPE_ETHERNET {
        return Err(PcapError::LinkType(linktype));
    }
    let mut out = Vec::new();
    let mut at = FILE_HEADER;
    while at < bytes.len() {
        let record = out.len() + 1;
        let left = bytes.len() - at;
        if left < RECORD_HEADER {
            return Err(PcapError::TruncatedHeader { record, left });
        }
        let sec = u64::from(order.u32(bytes, at));
        let frac = u64::from(order.u32(bytes, at + 4));
        let caplen = order.u32(bytes, at + 8);
        let orig_len = order.u32(bytes, at + 12);
        at += RECORD_HEADER;
        let left = bytes.len() - at;
        let data = match usize::try_from(caplen) {
            Ok(n) if n <= left => &bytes[at..at + n],
            _ => {
                return Err(PcapError::TruncatedData {
                    record,
                    caplen,
                    left,
                });
            }
        };
        at += data.len();
        let ts_ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        out.push(Record {
            ts_ns,
            data: data.to_vec(),
            orig_len,
        });
    }
    Ok(out)
}

/// Writes a microsecond little-endian pcap file, link type Ethernet, snapshot length
/// [`SNAPLEN`].
#[derive(Debug)]
pub struct Writer<W: Write> {
    w: W,
}

impl<W: Write> Writer<W> {
    /// Write the file header.
    pub fn new(mut w: W) -> std::io::Result<Self> {
        let mut h = [0u8; FILE_HEADER];
        h[0..4].copy_from_slice(&MAGIC_US.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        w.write_all(&h)?;
        Ok(Writer { w })
    }

    /// Write one record stamped `ts_ns` nanoseconds after the epoch (kept to the
    /// microsecond). Frames longer than [`SNAPLEN`] are cut, keeping their full length as
    /// the original length. Times past 2106 (beyond 32-bit seconds) are refused.
    pub fn write(&mut self, ts_ns: u64, data: &[u8]) -> std::io::Result<()> {
        let sec = u32::try_from(ts_ns / 1_000_000_000).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "pcap timestamp beyond 32-bit seconds",
            )
        })?;
        let usec = ((ts_ns % 1_000_000_000) / 1000) as u32;
        let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let cap = orig.min(SNAPLEN);
        let mut h = [0u8; RECORD_HEADER];
        h[0..4].copy_from_slice(&sec.to_le_bytes());
        h[4..8].copy_from_slice(&usec.to_le_bytes());
        h[8..12].copy_from_slice(&cap.to_le_bytes());
        h[12..16].copy_from_slice(&orig.to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(&data[..cap as usize])
    }

    /// Flush and hand back the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as tcpdump writes it on x86 (LE, µs, snaplen 262144, Ethernet), then one
    /// 4-byte record at 1700000000.123456 whose wire length was 60.
    const TCPDUMP_LE: &[u8] = &[
        0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, //
        0x00, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, //
        0x00, 0xf1, 0x53, 0x65, 0x40, 0xe2, 0x01, 0x00, 0x04, 0, 0, 0, 0x3c, 0, 0, 0, //
        0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn reads_literal_le_file() {
        let r = read(TCPDUMP_LE).unwrap();
        assert_eq!(
            r,
            vec![Record {
                ts_ns: 1_700_000_000_123_456_000,
                data: vec![0xde, 0xad, 0xbe, 0xef],
                orig_len: 60,
            }]
        );
    }

    #[test]
    fn writer_produces_the_literal_bytes() {
        let mut w = Writer::new(Vec::new()).unwrap();
        // The nanoseconds below a microsecond are dropped.
        w.write(1_700_000_000_123_456_789, &[0xde, 0xad, 0xbe, 0xef])
            .unwrap();
        let mut bytes = w.finish().unwrap();
        // The writer records the captured length as the wire length.
        assert_eq!(bytes[36], 4);
        bytes[36] = 0x3c;
        assert_eq!(bytes, TCPDUMP_LE);
    }

    #[test]
    fn round_trip() {
        let frames: Vec<(u64, Vec<u8>)> = vec![
            (0, vec![]),
            (1_000, vec![1; 14]),
            (5_000_000_001_000, (0..=255).collect()),
            (
                u64::from(u32::MAX) * 1_000_000_000 + 999_999_000,
                vec![7; 1514],
            ),
        ];
        let mut w = Writer::new(Vec::new()).unwrap();
        for (t, d) in &frames {
            w.write(*t, d).unwrap();
        }
        let bytes = w.finish().unwrap();
        let back = read(&bytes).unwrap();
        assert_eq!(back.len(), frames.len());
        for (r, (t, d)) in back.iter().zip(&frames) {
            assert_eq!(r.ts_ns, *t);
            assert_eq!(&r.data, d);
            assert_eq!(r.orig_len as usize, d.len());
        }
        assert_eq!(
            read(&Writer::new(Vec::new()).unwrap().finish().unwrap()).unwrap(),
            vec![]
        );
    }

    #[test]
    fn writer_cuts_at_snaplen_and_refuses_far_future() {
        let big = vec![3u8; SNAPLEN as usize + 10];
        let mut w = Writer::new(Vec::new()).unwrap();
        w.write(1, &big).unwrap();
        let e = w
            .write((u64::from(u32::MAX) + 1) * 1_000_000_000, &[1])
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let back = read(&w.finish().unwrap()).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].data.len(), SNAPLEN as usize);
        assert_eq!(back[0].orig_len, SNAPLEN + 10);
    }

    #[test]
    fn writer_passes_io_errors() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::Error::other("disk full"))
            }
        }
        assert!(Writer::new(Full).is_err());
        let mut w = Writer { w: Full };
        assert!(w.write(0, &[1]).is_err());
        assert!(w.finish().is_err());
    }

    /// The same file big-endian with nanosecond timestamps.
    fn be_ns() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC_NS.to_be_bytes());
        b.extend_from_slice(&2u16.to_be_bytes());
        b.extend_from_slice(&4u16.to_be_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65535u32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        for (sec, ns, data, orig) in [
            (10u32, 5u32, &[1u8, 2, 3][..], 3u32),
            (11, 999_999_999, &[4; 2], 1500),
        ] {
            b.extend_from_slice(&sec.to_be_bytes());
            b.extend_from_slice(&ns.to_be_bytes());
            b.extend_from_slice(&(data.len() as u32).to_be_bytes());
            b.extend_from_slice(&orig.to_be_bytes());
            b.extend_from_slice(data);
        }
        b
    }

    #[test]
    fn big_endian_nanoseconds() {
        let r = read(&be_ns()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].ts_ns, 10_000_000_005);
        assert_eq!(r[0].data, vec![1, 2, 3]);
        assert_eq!(r[0].orig_len, 3);
        assert_eq!(r[1].ts_ns, 11_999_999_999);
        // orig_len > caplen: the captured bytes are kept.
        assert_eq!(r[1].data, vec![4, 4]);
        assert_eq!(r[1].orig_len, 1500);
    }

    #[test]
    fn big_endian_microseconds_and_le_nanoseconds() {
        let mut b = be_ns();
        b[..4].copy_from_slice(&MAGIC_US.to_be_bytes());
        assert_eq!(read(&b).unwrap()[0].ts_ns, 10_000_005_000);
        let mut l = TCPDUMP_LE.to_vec();
        l[..4].copy_from_slice(&MAGIC_NS.to_le_bytes());
        assert_eq!(read(&l).unwrap()[0].ts_ns, 1_700_000_000_000_123_456);
    }

    #[test]
    fn pcapng_is_refused_with_the_fix() {
        let ng = [
            0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a,
        ];
        let e = read(&ng).unwrap_err();
        assert_eq!(e, PcapError::PcapNg);
        assert_eq!(
            e.to_string(),
            "pcapng is not supported; convert with: editcap -F pcap IN OUT"
        );
    }

    #[test]
    fn short_and_bad_magic() {
        assert_eq!(read(&[]).unwrap_err(), PcapError::TooShort(0));
        assert_eq!(
            read(&TCPDUMP_LE[..23]).unwrap_err(),
            PcapError::TooShort(23)
        );
        let mut b = TCPDUMP_LE.to_vec();
        b[..4].copy_from_slice(b"GIF8");
        let e = read(&b).unwrap_err();
        assert_eq!(e, PcapError::BadMagic(0x4749_4638));
        assert!(e.to_string().contains("0x47494638"), "{e}");
    }

    #[test]
    fn link_type_is_named() {
        let mut b = TCPDUMP_LE.to_vec();
        b[20] = 113;
        let e = read(&b).unwrap_err();
        assert_eq!(e, PcapError::LinkType(113));
        assert_eq!(
            e.to_string(),
            "link type 113 (Linux cooked capture (tcpdump -i any)) is not supported; only Ethernet (1) is"
        );
        b[20] = 200;
        assert!(
            read(&b)
                .unwrap_err()
                .to_string()
                .starts_with("link type 200 (unknown)")
        );
    }

    #[test]
    fn truncation_names_the_record() {
        let mut two = TCPDUMP_LE.to_vec();
        two.extend_from_slice(&TCPDUMP_LE[24..]);
        assert_eq!(read(&two).unwrap().len(), 2);
        // Header of record 2 cut.
        let e = read(&two[..two.len() - 10]).unwrap_err();
        assert_eq!(
            e,
            PcapError::TruncatedHeader {
                record: 2,
                left: 10
            }
        );
        assert_eq!(
            e.to_string(),
            "record 2 is truncated: its 16-byte header has only 10 bytes"
        );
        // Data of record 2 cut.
        let e = read(&two[..two.len() - 1]).unwrap_err();
        assert_eq!(
            e,
            PcapError::TruncatedData {
                record: 2,
                caplen: 4,
                left: 3
            }
        );
        assert!(e.to_string().starts_with("record 2 is truncated"), "{e}");
        // Data of record 1 cut.
        let e = read(&TCPDUMP_LE[..41]).unwrap_err();
        assert_eq!(
            e,
            PcapError::TruncatedData {
                record: 1,
                caplen: 4,
                left: 1
            }
        );
        // A huge caplen is a truncation, not a panic.
        let mut b = TCPDUMP_LE.to_vec();
        b[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            read(&b).unwrap_err(),
            PcapError::TruncatedData {
                record: 1,
                caplen: u32::MAX,
                left: 4
            }
        );
    }
}
