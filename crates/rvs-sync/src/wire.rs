//! Sync messages on the wire (`ip_vs_sync.c`): version 1 encode/decode, version 0 decode.
//!
//! Version 1 message: an 8-byte header `0 | syncid | size be16 | nr_conns | version=1 |
//! spare be16 = 0`, then `nr_conns` entries, each starting on a 4-byte boundary (zero
//! padding between entries, none after the last). An entry is a fixed part (36 bytes for
//! IPv4, 72 for IPv6) followed by parameters `type u8 | len u8 | data`:
//!
//! | type | data |
//! |---|---|
//! | 1 `SEQ_DATA` | 24 bytes: in_seq then out_seq, each `init_seq, delta, previous_delta` be32 |
//! | 2 `PE_DATA` | persistence-engine data (1..=255 bytes) |
//! | 3 `PE_NAME` | persistence-engine name (1..=16 bytes), only after `PE_DATA` |
//! | 0x60 rvs `FULLNAT` | the FULLNAT local address then local port be16 (6 or 18 bytes) |
//!
//! A type with bit 0x40 set is optional: a receiver that does not know it skips it. rvs's
//! FULLNAT parameter uses 0x60, which kernels mask to the unknown type 0x20 and skip, so
//! kernel backups accept rvs masters' messages unchanged.
//!
//! Version 0 (receive only): a 4-byte header `nr_conns | syncid | size be16` and 24-byte
//! IPv4 entries, each followed by 24 bytes of sequence data when its flags carry
//! `IN_SEQ`/`OUT_SEQ`. Those bytes are a raw copy of the kernel struct: host byte order of
//! the sending master, read here as little-endian (x86 and arm64 masters).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// Version 0 header length.
pub const V0_HEADER_LEN: usize = 4;
/// Version 0 entry length without sequence data.
pub const V0_ENTRY_LEN: usize = 24;
/// Version 0 sequence data length.
pub const V0_SEQ_LEN: usize = 24;
/// Version 1 header length.
pub const V1_HEADER_LEN: usize = 8;
/// Version 1 IPv4 entry length without parameters.
pub const V1_ENTRY_V4_LEN: usize = 36;
/// Version 1 IPv6 entry length without parameters.
pub const V1_ENTRY_V6_LEN: usize = 72;
/// The version number in a v1 header.
pub const SYNC_PROTO_VER: u8 = 1;

/// Parameter type: TCP sequence adjustments.
pub const OPT_SEQ_DATA: u8 = 1;
/// Parameter type: persistence-engine data.
pub const OPT_PE_DATA: u8 = 2;
/// Parameter type: persistence-engine name.
pub const OPT_PE_NAME: u8 = 3;
/// Bit marking a parameter optional (`IPVS_OPT_F_PARAM`).
pub const OPT_F_OPTIONAL: u8 = 0x40;
/// rvs's parameter: FULLNAT local address and port (optional, kernels skip it).
pub const OPT_RVS_FULLNAT: u8 = 0x60;
/// Longest persistence-engine data (`IP_VS_PEDATA_MAXLEN`).
pub const PE_DATA_MAXLEN: usize = 255;
/// Longest persistence-engine name (`IP_VS_PENAME_MAXLEN`).
pub const PE_NAME_MAXLEN: usize = 16;
/// Length of the sequence data parameter.
pub const SEQ_DATA_LEN: usize = 24;
/// The low 12 bits of `ver_size`: the entry length.
const SVER_MASK: u16 = 0x0fff;
/// Most entries one message can count (`nr_conns` is one byte).
pub const MAX_ENTRIES: usize = 255;

/// Connection flag bits the protocol cares about (uapi `IP_VS_CONN_F_*`).
pub mod flags {
    /// Forwarding method mask.
    pub const FWD_MASK: u32 = 0x0007;
    /// Created by the sync daemon.
    pub const SYNC: u32 = 0x0020;
    /// Hashed (never sent).
    pub const HASHED: u32 = 0x0040;
    /// No output packets seen yet.
    pub const NOOUTPUT: u32 = 0x0080;
    /// Counted inactive.
    pub const INACTIVE: u32 = 0x0100;
    /// Output sequence adjusted.
    pub const OUT_SEQ: u32 = 0x0200;
    /// Input sequence adjusted.
    pub const IN_SEQ: u32 = 0x0400;
    /// Both sequence bits.
    pub const SEQ_MASK: u32 = IN_SEQ | OUT_SEQ;
    /// Client port unknown.
    pub const NO_CPORT: u32 = 0x0800;
    /// Persistence template.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling.
    pub const ONE_PACKET: u32 = 0x2000;
    /// What a backup keeps of received flags (`IP_VS_CONN_F_BACKUP_MASK`).
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
    /// What a backup updates on an existing entry (`IP_VS_CONN_F_BACKUP_UPD_MASK`).
    pub const BACKUP_UPD_MASK: u32 = INACTIVE | SEQ_MASK;
}

/// One direction's TCP sequence adjustment (`struct ip_vs_seq`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Seq {
    /// Sequence number where the adjustment starts.
    pub init_seq: u32,
    /// Delta applied from `init_seq` on.
    pub delta: u32,
    /// Delta applied before `init_seq`.
    pub previous_delta: u32,
}

/// The sequence data parameter: input then output adjustments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqData {
    /// Client → server.
    pub in_seq: Seq,
    /// Server → client.
    pub out_seq: Seq,
}

/// One synced connection or template, as carried by a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConn {
    /// IP protocol number (0 for fwmark templates).
    pub protocol: u8,
    /// `IP_VS_CONN_F_*` flags as sent (v0 carries only the low 16 bits).
    pub flags: u32,
    /// Protocol state (templates: 0 none, 1 assured).
    pub state: u16,
    /// Client port.
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// Real-server port.
    pub dport: u16,
    /// Firewall mark the connection was created with (v0: 0).
    pub fwmark: u32,
    /// The full timeout of the current state in seconds (v0: 0, "use the local table").
    pub timeout: u32,
    /// Client address (masked client network for templates).
    pub caddr: IpAddr,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Real-server address.
    pub daddr: IpAddr,
    /// Sequence adjustments.
    pub seq: Option<SeqData>,
    /// Persistence-engine data.
    pub pe_data: Option<Vec<u8>>,
    /// Persistence-engine name (sent only with `pe_data`).
    pub pe_name: Option<Vec<u8>>,
    /// rvs: FULLNAT local address and port.
    pub fullnat: Option<(IpAddr, u16)>,
}

/// Message format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// The legacy format (`sync_version=0`).
    V0,
    /// The current format.
    V1,
}

/// Why a message could not be built.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// Client, virtual and real-server addresses are not all of one family.
    #[error("addresses of one entry must be all IPv4 or all IPv6")]
    MixedFamily,
    /// PE data empty or longer than 255 bytes.
    #[error("persistence-engine data must be 1..=255 bytes, not {0}")]
    PeDataLength(usize),
    /// PE name empty or longer than 16 bytes.
    #[error("persistence-engine name must be 1..=16 bytes, not {0}")]
    PeNameLength(usize),
    /// A PE name without PE data (the kernel never sends one).
    #[error("persistence-engine name without data")]
    PeNameWithoutData,
    /// The FULLNAT local address is of another family than the entry.
    #[error("FULLNAT local address of another family than the connection")]
    FullnatFamily,
}

/// Why (the rest of) a received message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum DecodeError {
    /// Shorter than a v0 header.
    #[error("message header too short")]
    HeaderTooShort,
    /// The header's size is not the datagram's length.
    #[error("bogus message size {header} (datagram has {actual} bytes)")]
    SizeMismatch {
        /// Size in the header.
        header: u16,
        /// Bytes received.
        actual: usize,
    },
    /// An entry runs past the end of the datagram.
    #[error("entry runs past the end of the message")]
    EntryTruncated,
    /// An entry's version (top 4 bits of `ver_size`) is not 0.
    #[error("unknown entry version {0}")]
    EntryVersion(u16),
    /// An entry type other than 0 (IPv4) or with bit 0 (IPv6).
    #[error("unknown entry type {0:#x}")]
    EntryType(u8),
    /// An entry's size is smaller than its fixed part.
    #[error("entry size too small for its address family")]
    EntryTooShort,
    /// A parameter header does not fit in the entry.
    #[error("truncated parameter header")]
    ParamHeader,
    /// A parameter of length 0 or running past the entry.
    #[error("bad parameter length")]
    ParamLength,
    /// A sequence parameter of the wrong length, or twice.
    #[error("bad sequence parameter")]
    SeqParam,
    /// PE data twice.
    #[error("bad persistence-engine data parameter")]
    PeDataParam,
    /// PE name longer than 16 bytes, or twice.
    #[error("bad persistence-engine name parameter")]
    PeNameParam,
}

/// Why one entry was skipped while the rest of its message was still read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Error)]
pub enum SkipReason {
    /// A parameter type the receiver does not know and that is not marked optional.
    #[error("unknown mandatory parameter {0}")]
    UnknownParam(u8),
    /// PE data without a PE name.
    #[error("persistence-engine data without a name")]
    PeDataWithoutName,
    /// rvs's FULLNAT parameter of a wrong length or family, or twice.
    #[error("bad FULLNAT parameter")]
    BadFullnat,
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Format.
    pub version: Version,
    /// The master's sync id.
    pub syncid: u8,
    /// Entries read, in message order.
    pub conns: Vec<SyncConn>,
    /// Entries skipped (the message went on).
    pub skipped: Vec<SkipReason>,
    /// Set when decoding stopped early: the entries after the bad one were dropped.
    pub dropped_rest: Option<DecodeError>,
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn v4(b: &[u8], at: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]))
}

fn v6(b: &[u8], at: usize) -> IpAddr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    IpAddr::V6(Ipv6Addr::from(a))
}

fn seq_be(b: &[u8], at: usize) -> Seq {
    Seq {
        init_seq: be32(b, at),
        delta: be32(b, at + 4),
        previous_delta: be32(b, at + 8),
    }
}

fn seq_le(b: &[u8], at: usize) -> Seq {
    Seq {
        init_seq: le32(b, at),
        delta: le32(b, at + 4),
        previous_delta: le32(b, at + 8),
    }
}

/// Decode one datagram (`ip_vs_process_message`): the header is checked (length, size),
/// then the version is detected (v1 when reserved = 0, version = 1 and spare = 0) and the
/// entries read with the kernel's rules for skipping one entry or dropping the rest.
/// Sync-id filtering and protocol/state checks are the backup's business.
pub fn decode(buf: &[u8]) -> Result<Decoded, DecodeError> {
    if buf.len() < V0_HEADER_LEN {
        return Err(DecodeError::HeaderTooShort);
    }
    let size = be16(buf, 2);
    if usize::from(size) != buf.len() {
        return Err(DecodeError::SizeMismatch {
            header: size,
            actual: buf.len(),
        });
    }
    let syncid = buf[1];
    if buf.len() >= V1_HEADER_LEN && buf[0] == 0 && buf[5] == SYNC_PROTO_VER && be16(buf, 6) == 0 {
        Ok(decode_v1(buf, syncid))
    } else {
        Ok(decode_v0(buf, syncid))
    }
}

fn decode_v0(buf: &[u8], syncid: u8) -> Decoded {
    let mut d = Decoded {
        version: Version::V0,
        syncid,
        conns: Vec::new(),
        skipped: Vec::new(),
        dropped_rest: None,
    };
    let mut p = V0_HEADER_LEN;
    for _ in 0..buf[0] {
        if p + V0_ENTRY_LEN > buf.len() {
            d.dropped_rest = Some(DecodeError::EntryTruncated);
            break;
        }
        let e = &buf[p..p + V0_ENTRY_LEN];
        let fl = u32::from(be16(e, 20));
        let seq = if fl & flags::SEQ_MASK != 0 {
            if p + V0_ENTRY_LEN + V0_SEQ_LEN > buf.len() {
                d.dropped_rest = Some(DecodeError::EntryTruncated);
                break;
            }
            let s = p + V0_ENTRY_LEN;
            p += V0_ENTRY_LEN + V0_SEQ_LEN;
            Some(SeqData {
                in_seq: seq_le(buf, s),
                out_seq: seq_le(buf, s + 12),
            })
        } else {
            p += V0_ENTRY_LEN;
            None
        };
        d.conns.push(SyncConn {
            protocol: e[1],
            flags: fl,
            state: be16(e, 22),
            cport: be16(e, 2),
            vport: be16(e, 4),
            dport: be16(e, 6),
            fwmark: 0,
            timeout: 0,
            caddr: v4(e, 8),
            vaddr: v4(e, 12),
            daddr: v4(e, 16),
            seq,
            pe_data: None,
            pe_name: None,
            fullnat: None,
        });
    }
    d
}

/// One v1 entry's outcome.
enum Entry {
    Conn(SyncConn),
    Skip(SkipReason),
}

fn decode_v1(buf: &[u8], syncid: u8) -> Decoded {
    let mut d = Decoded {
        version: Version::V1,
        syncid,
        conns: Vec::new(),
        skipped: Vec::new(),
        dropped_rest: None,
    };
    let mut next = V1_HEADER_LEN;
    for _ in 0..buf[4] {
        let p = next;
        if p + V1_ENTRY_V4_LEN > buf.len() {
            d.dropped_rest = Some(DecodeError::EntryTruncated);
            break;
        }
        let ver_size = be16(buf, p + 2);
        let size = usize::from(ver_size & SVER_MASK);
        let end = p + size;
        if end > buf.len() {
            d.dropped_rest = Some(DecodeError::EntryTruncated);
            break;
        }
        if ver_size >> 12 != 0 {
            d.dropped_rest = Some(DecodeError::EntryVersion(ver_size >> 12));
            break;
        }
        match decode_entry(&buf[p..end]) {
            Ok(Entry::Conn(c)) => d.conns.push(c),
            Ok(Entry::Skip(r)) => d.skipped.push(r),
            Err(e) => {
                d.dropped_rest = Some(e);
                break;
            }
        }
        next = p + ((size + 3) & !3);
    }
    d
}

/// One v1 entry (`ip_vs_proc_sync_conn`), `e` spanning exactly its `size` bytes.
fn decode_entry(e: &[u8]) -> Result<Entry, DecodeError> {
    let ty = e.first().copied().ok_or(DecodeError::EntryTooShort)?;
    let ipv6 = ty & 1 != 0;
    let fixed = if ipv6 {
        V1_ENTRY_V6_LEN
    } else if ty == 0 {
        V1_ENTRY_V4_LEN
    } else {
        return Err(DecodeError::EntryType(ty));
    };
    if fixed > e.len() {
        return Err(DecodeError::EntryTooShort);
    }
    let (caddr, vaddr, daddr) = if ipv6 {
        (v6(e, 24), v6(e, 40), v6(e, 56))
    } else {
        (v4(e, 24), v4(e, 28), v4(e, 32))
    };
    let mut c = SyncConn {
        protocol: e[1],
        flags: be32(e, 4),
        state: be16(e, 8),
        cport: be16(e, 10),
        vport: be16(e, 12),
        dport: be16(e, 14),
        fwmark: be32(e, 16),
        timeout: be32(e, 20),
        caddr,
        vaddr,
        daddr,
        seq: None,
        pe_data: None,
        pe_name: None,
        fullnat: None,
    };
    let mut p = fixed;
    let mut bad_fullnat = false;
    while p < e.len() {
        if p + 2 > e.len() {
            return Err(DecodeError::ParamHeader);
        }
        let (ptype, plen) = (e[p], usize::from(e[p + 1]));
        p += 2;
        if plen == 0 || p + plen > e.len() {
            return Err(DecodeError::ParamLength);
        }
        let data = &e[p..p + plen];
        match ptype & !OPT_F_OPTIONAL {
            OPT_SEQ_DATA => {
                if plen != SEQ_DATA_LEN || c.seq.is_some() {
                    return Err(DecodeError::SeqParam);
                }
                c.seq = Some(SeqData {
                    in_seq: seq_be(data, 0),
                    out_seq: seq_be(data, 12),
                });
            }
            OPT_PE_DATA => {
                if c.pe_data.is_some() {
                    return Err(DecodeError::PeDataParam);
                }
                c.pe_data = Some(data.to_vec());
            }
            OPT_PE_NAME => {
                if plen > PE_NAME_MAXLEN || c.pe_name.is_some() {
                    return Err(DecodeError::PeNameParam);
                }
                c.pe_name = Some(data.to_vec());
            }
            _ if ptype == OPT_RVS_FULLNAT => {
                let laddr = match (plen, ipv6) {
                    (6, false) => Some(v4(data, 0)),
                    (18, true) => Some(v6(data, 0)),
                    _ => None,
                };
                match laddr {
                    Some(a) if c.fullnat.is_none() => {
                        c.fullnat = Some((a, be16(data, plen - 2)));
                    }
                    _ => bad_fullnat = true,
                }
            }
            _ => {
                if ptype & OPT_F_OPTIONAL == 0 {
                    return Ok(Entry::Skip(SkipReason::UnknownParam(ptype)));
                }
            }
        }
        p += plen;
    }
    if c.pe_data.is_some() && c.pe_name.is_none() {
        return Ok(Entry::Skip(SkipReason::PeDataWithoutName));
    }
    if c.pe_data.is_none() {
        // A name without data means nothing to the kernel (it looks the engine up only
        // for data): ignored.
        c.pe_name = None;
    }
    if bad_fullnat {
        return Ok(Entry::Skip(SkipReason::BadFullnat));
    }
    Ok(Entry::Conn(c))
}

fn family_v6(c: &SyncConn) -> Result<bool, EncodeError> {
    match (c.caddr, c.vaddr, c.daddr) {
        (IpAddr::V4(_), IpAddr::V4(_), IpAddr::V4(_)) => Ok(false),
        (IpAddr::V6(_), IpAddr::V6(_), IpAddr::V6(_)) => Ok(true),
        _ => Err(EncodeError::MixedFamily),
    }
}

/// The encoded length of one v1 entry (without padding), checking that it can be sent.
pub fn entry_len(c: &SyncConn) -> Result<usize, EncodeError> {
    let ipv6 = family_v6(c)?;
    let mut len = if ipv6 {
        V1_ENTRY_V6_LEN
    } else {
        V1_ENTRY_V4_LEN
    };
    if c.seq.is_some() {
        len += 2 + SEQ_DATA_LEN;
    }
    match (&c.pe_data, &c.pe_name) {
        (Some(d), name) => {
            if d.is_empty() || d.len() > PE_DATA_MAXLEN {
                return Err(EncodeError::PeDataLength(d.len()));
            }
            len += 2 + d.len();
            if let Some(n) = name {
                if n.is_empty() || n.len() > PE_NAME_MAXLEN {
                    return Err(EncodeError::PeNameLength(n.len()));
                }
                len += 2 + n.len();
            }
        }
        (None, Some(_)) => return Err(EncodeError::PeNameWithoutData),
        (None, None) => {}
    }
    if let Some((l, _)) = c.fullnat {
        if l.is_ipv6() != ipv6 {
            return Err(EncodeError::FullnatFamily);
        }
        len += 2 + if ipv6 { 18 } else { 6 };
    }
    Ok(len)
}

fn put_addr(out: &mut Vec<u8>, a: &IpAddr) {
    match a {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
}

fn put_seq(out: &mut Vec<u8>, s: &Seq) {
    out.extend_from_slice(&s.init_seq.to_be_bytes());
    out.extend_from_slice(&s.delta.to_be_bytes());
    out.extend_from_slice(&s.previous_delta.to_be_bytes());
}

/// Append one v1 entry (as `ip_vs_sync_conn` lays it out). HASHED is never sent.
fn put_entry(out: &mut Vec<u8>, c: &SyncConn, len: usize) {
    let ipv6 = c.caddr.is_ipv6();
    out.push(u8::from(ipv6));
    out.push(c.protocol);
    out.extend_from_slice(&((len as u16) & SVER_MASK).to_be_bytes());
    out.extend_from_slice(&(c.flags & !flags::HASHED).to_be_bytes());
    out.extend_from_slice(&c.state.to_be_bytes());
    out.extend_from_slice(&c.cport.to_be_bytes());
    out.extend_from_slice(&c.vport.to_be_bytes());
    out.extend_from_slice(&c.dport.to_be_bytes());
    out.extend_from_slice(&c.fwmark.to_be_bytes());
    out.extend_from_slice(&c.timeout.to_be_bytes());
    put_addr(out, &c.caddr);
    put_addr(out, &c.vaddr);
    put_addr(out, &c.daddr);
    if let Some(s) = &c.seq {
        out.push(OPT_SEQ_DATA);
        out.push(SEQ_DATA_LEN as u8);
        put_seq(out, &s.in_seq);
        put_seq(out, &s.out_seq);
    }
    if let Some(d) = &c.pe_data {
        out.push(OPT_PE_DATA);
        out.push(d.len() as u8);
        out.extend_from_slice(d);
        if let Some(n) = &c.pe_name {
            out.push(OPT_PE_NAME);
            out.push(n.len() as u8);
            out.extend_from_slice(n);
        }
    }
    if let Some((l, port)) = &c.fullnat {
        out.push(OPT_RVS_FULLNAT);
        out.push(if ipv6 { 18 } else { 6 });
        put_addr(out, l);
        out.extend_from_slice(&port.to_be_bytes());
    }
}

/// A v1 message being filled (the kernel's `ip_vs_sync_buff`).
#[derive(Clone, Debug)]
pub struct MessageBuilder {
    buf: Vec<u8>,
    maxlen: usize,
}

impl MessageBuilder {
    /// An empty message of sync id `syncid` that takes entries while it stays within
    /// `maxlen` bytes (a first entry larger than that still goes, alone, as the kernel
    /// sizes a new buffer to `max(maxlen, header + entry)`).
    pub fn new(syncid: u8, maxlen: usize) -> Self {
        let mut buf = Vec::with_capacity(maxlen.clamp(V1_HEADER_LEN, 65_535));
        buf.extend_from_slice(&[0, syncid, 0, V1_HEADER_LEN as u8, 0, SYNC_PROTO_VER, 0, 0]);
        MessageBuilder { buf, maxlen }
    }

    /// Entries in the message.
    pub fn len(&self) -> usize {
        usize::from(self.buf[4])
    }

    /// Whether the message has no entry yet.
    pub fn is_empty(&self) -> bool {
        self.buf[4] == 0
    }

    /// Bytes so far.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Append `c` if it fits (`Ok(true)`); `Ok(false)` when the message is full (send it
    /// and start another). A message never counts more than 255 entries.
    pub fn push(&mut self, c: &SyncConn) -> Result<bool, EncodeError> {
        let len = entry_len(c)?;
        let pad = self.buf.len().wrapping_neg() & 3;
        if !self.is_empty()
            && (self.buf.len() + pad + len > self.maxlen
                || self.len() >= MAX_ENTRIES
                || self.buf.len() + pad + len > usize::from(u16::MAX))
        {
            return Ok(false);
        }
        self.buf.resize(self.buf.len() + pad, 0);
        put_entry(&mut self.buf, c, len);
        self.buf[4] += 1;
        let size = self.buf.len() as u16;
        self.buf[2..4].copy_from_slice(&size.to_be_bytes());
        Ok(true)
    }

    /// The finished datagram.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Encode `conns` as v1 messages of at most `maxlen` bytes each.
pub fn encode_v1(
    syncid: u8,
    maxlen: usize,
    conns: &[SyncConn],
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let mut out = Vec::new();
    let mut b = MessageBuilder::new(syncid, maxlen);
    for c in conns {
        if !b.push(c)? {
            out.push(std::mem::replace(&mut b, MessageBuilder::new(syncid, maxlen)).finish());
            b.push(c)?;
        }
    }
    if !b.is_empty() {
        out.push(b.finish());
    }
    Ok(out)
}

/// What the `sync_message` fuzz target and its corpus replay run on arbitrary bytes:
/// decode; when that works, re-encode the entries as v1 and check they decode the same.
/// Returns whether the bytes were a message with at least one entry read. Panics (the
/// fuzzer's signal) if a decoded entry does not survive the round trip.
pub fn exercise(data: &[u8]) -> bool {
    let Ok(d) = decode(data) else { return false };
    let Ok(msgs) = encode_v1(d.syncid, 1472, &d.conns) else {
        // v0 entries and v1 entries always re-encode: the decoder checks what the
        // encoder requires, except an empty PE name, which it cannot produce.
        panic!("decoded entries do not re-encode");
    };
    let back: Vec<SyncConn> = msgs
        .iter()
        .filter_map(|m| decode(m).ok())
        .flat_map(|m| m.conns)
        .collect();
    // HASHED is never sent: compare without it.
    let want: Vec<SyncConn> = d
        .conns
        .iter()
        .map(|c| SyncConn {
            flags: c.flags & !flags::HASHED,
            ..c.clone()
        })
        .collect();
    assert_eq!(back, want, "decode(encode(x)) != x");
    !d.conns.is_empty()
}
