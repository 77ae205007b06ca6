//! `#[repr(C)]` mirrors of the map keys and values in `bpf/rvs_common.h`.

use std::net::IpAddr;

/// Port ranges per fwmark table entry (`RVS_FW_PORTS`).
pub const FW_PORTS: usize = 8;
/// Fwmark table entries (`RVS_FW_MAX`).
pub const FW_MAX: u32 = 64;

/// Counter indices (`enum rvs_counter`).
pub(crate) mod counter {
    pub const SEEN: u32 = 0;
    pub const NOT_OURS: u32 = 1;
    pub const MALFORMED: u32 = 2;
    pub const FRAGMENT: u32 = 3;
    pub const HIT_SERVICE: u32 = 4;
    pub const HIT_REPLY: u32 = 5;
    pub const HIT_LOCAL: u32 = 6;
    pub const HIT_FWMARK: u32 = 7;
    pub const HIT_ICMP: u32 = 8;
    pub const NO_XSK: u32 = 9;
    pub const REDIRECTED: u32 = 10;
    pub const REDIRECT_FAILED: u32 = 11;
    pub const FASTPATH: u32 = 12;
    pub const MAX: u32 = 13;
}

/// `struct rvs_key`: family (4/6), IP protocol, port (network byte order) and address
/// (IPv4 in the first 4 bytes, the rest zero).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RvsKey {
    /// 4 or 6.
    pub family: u8,
    /// IP protocol number (0 in the locals map).
    pub proto: u8,
    /// Port in network byte order (0 = any port in services; 0 in the locals map).
    pub port_be: u16,
    /// The address.
    pub addr: [u8; 16],
}

// SAFETY: plain old data, no padding (1 + 1 + 2 + 16 bytes), every bit pattern is valid.
unsafe impl aya::Pod for RvsKey {}

impl RvsKey {
    /// The key for (addr, proto, port), port in host byte order.
    pub fn new(addr: IpAddr, proto: u8, port: u16) -> Self {
        let (family, addr) = addr_bytes(addr);
        RvsKey {
            family,
            proto,
            port_be: port.to_be(),
            addr,
        }
    }
}

/// Family byte and 16 address bytes of an address, as the C side stores them.
pub(crate) fn addr_bytes(addr: IpAddr) -> (u8, [u8; 16]) {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            out[..4].copy_from_slice(&a.octets());
            (4, out)
        }
        IpAddr::V6(a) => (6, a.octets()),
    }
}

/// `struct rvs_range`: an inclusive port range, host byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeValue {
    /// Lowest port.
    pub lo: u16,
    /// Highest port.
    pub hi: u16,
}

// SAFETY: plain old data, no padding.
unsafe impl aya::Pod for RangeValue {}

/// `struct rvs_fwclass`: one fwmark table entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FwClassEntry {
    /// 4 or 6; 0 ends the table.
    pub family: u8,
    /// IP protocol, 0 = TCP, UDP or SCTP.
    pub proto: u8,
    /// Ranges used in `ports` (0 = any port).
    pub nports: u8,
    /// Zero.
    pub pad: u8,
    /// The prefix, already masked.
    pub addr: [u8; 16],
    /// The prefix mask.
    pub mask: [u8; 16],
    /// Destination port ranges.
    pub ports: [RangeValue; FW_PORTS],
}

// SAFETY: plain old data, no padding (4 + 16 + 16 + 8 * 4 bytes).
unsafe impl aya::Pod for FwClassEntry {}

/// `struct rvs_xsk_key`: (ingress ifindex, rx queue).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct XskKey {
    /// Interface index.
    pub ifindex: u32,
    /// RX queue.
    pub queue: u32,
}

// SAFETY: plain old data, no padding.
unsafe impl aya::Pod for XskKey {}

/// Fast-path flows (`RVS_FLOWS_MAX`).
pub const FLOWS_MAX: u32 = 262_144;
/// Fast-path counter slots (`RVS_FLOW_SLOTS`).
pub const FLOW_SLOTS: u32 = 16_384;
/// Egress ports in the redirect DEVMAP (`RVS_TX_PORTS`).
pub const TX_PORTS: u32 = 256;

/// `rvs_flow.ops` bits (`RVS_FO_*`): what the fast path does, in this order.
pub mod ops {
    /// TTL / hop limit minus one (a routed reply); a packet at TTL 1 is left to userspace.
    pub const DEC_TTL: u8 = 0x01;
    /// Source address and port := `new_src`, `new_sport`.
    pub const SET_SRC: u8 = 0x02;
    /// Destination address and port := `new_dst`, `new_dport`.
    pub const SET_DST: u8 = 0x04;
    /// TUN: an outer header `tun_src` → `tun_dst` of `tun_type`.
    pub const ENCAP: u8 = 0x08;
    /// Never XDP_TX: redirect through the DEVMAP even back out of the ingress interface
    /// (a veth delivers XDP_TX frames only when its peer runs an XDP program).
    pub const NO_TX: u8 = 0x10;
}

/// `rvs_flow.tun_type` values (`RVS_TUN_*`).
pub mod tun {
    /// IP-in-IP (or IPv6-in-IP, ...).
    pub const IPIP: u8 = 0;
    /// GUE over UDP.
    pub const GUE: u8 = 1;
    /// GRE.
    pub const GRE: u8 = 2;
    /// `tun_flags`: the GUE / GRE checksum option (GRE then has an 8-byte header).
    pub const F_CSUM: u8 = 0x01;
    /// `tun_flags`: the outer header is IPv6.
    pub const F_OUTER6: u8 = 0x02;
}

/// `rvs_flow.dir`: client → real server (IPVS's In counters).
pub const DIR_IN: u8 = 0;
/// `rvs_flow.dir`: real server → client (IPVS's Out counters).
pub const DIR_OUT: u8 = 1;

/// `struct rvs_flow_key`: one direction of a connection, as its packets arrive
/// (family 4/6, IP protocol, ports in network byte order, IPv4 addresses in the first 4
/// bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// 4 or 6.
    pub family: u8,
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
    /// Zero.
    pub pad: u16,
    /// Source port, network byte order.
    pub sport_be: u16,
    /// Destination port, network byte order.
    pub dport_be: u16,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
}

// SAFETY: plain old data, no padding (1 + 1 + 2 + 2 + 2 + 16 + 16 bytes).
unsafe impl aya::Pod for FlowKey {}

impl FlowKey {
    /// The key of packets `src:sport → dst:dport` of `proto` (ports in host byte order).
    /// `None` when the two addresses are of different families.
    pub fn new(proto: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Option<Self> {
        let (fs, s) = addr_bytes(src);
        let (fd, d) = addr_bytes(dst);
        (fs == fd).then_some(FlowKey {
            family: fs,
            proto,
            pad: 0,
            sport_be: sport.to_be(),
            dport_be: dport.to_be(),
            src: s,
            dst: d,
        })
    }
}

/// `struct rvs_flow`: the action of one flow key (see `bpf/rvs_common.h`). Build it with
/// `rvs-dataplane`'s fast-path builder, which takes every parameter from the engine.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flow {
    /// [`ops`] bits.
    pub ops: u8,
    /// [`tun`] type.
    pub tun_type: u8,
    /// [`tun`] flags.
    pub tun_flags: u8,
    /// [`DIR_IN`] or [`DIR_OUT`].
    pub dir: u8,
    /// Counter slot (index into the per-CPU `rvs_flow_stats`).
    pub slot: u32,
    /// Egress ifindex: the ingress one → XDP_TX, another → redirect through the DEVMAP.
    pub egress: u32,
    /// TUN: the largest inner IP packet that fits the egress MTU.
    pub max_len: u16,
    /// GUE destination port, network byte order.
    pub tun_port_be: u16,
    /// GUE source port, network byte order.
    pub tun_sport_be: u16,
    /// New source port, network byte order.
    pub new_sport_be: u16,
    /// New destination port, network byte order.
    pub new_dport_be: u16,
    /// Zero.
    pub pad1: u16,
    /// New source address.
    pub new_src: [u8; 16],
    /// New destination address.
    pub new_dst: [u8; 16],
    /// Outer source address (TUN).
    pub tun_src: [u8; 16],
    /// Outer destination address (TUN).
    pub tun_dst: [u8; 16],
    /// Destination MAC.
    pub dmac: [u8; 6],
    /// Source MAC.
    pub smac: [u8; 6],
    /// Zero.
    pub pad2: u32,
    /// `bpf_ktime_get_ns()` of the last packet the fast path forwarded (0: none yet).
    pub last_seen: u64,
}

// SAFETY: plain old data, no implicit padding (explicit pad fields), every bit pattern
// is valid.
unsafe impl aya::Pod for Flow {}

/// `struct rvs_flow_stats`: one slot's counters on one CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Client → server packets.
    pub pkts_in: u64,
    /// Client → server bytes (IP length).
    pub bytes_in: u64,
    /// Server → client packets.
    pub pkts_out: u64,
    /// Server → client bytes (IP length).
    pub bytes_out: u64,
}

// SAFETY: plain old data.
unsafe impl aya::Pod for FlowStats {}

impl FlowStats {
    /// Field-wise wrapping sum.
    pub fn add(&self, o: &FlowStats) -> FlowStats {
        FlowStats {
            pkts_in: self.pkts_in.wrapping_add(o.pkts_in),
            bytes_in: self.bytes_in.wrapping_add(o.bytes_in),
            pkts_out: self.pkts_out.wrapping_add(o.pkts_out),
            bytes_out: self.bytes_out.wrapping_add(o.bytes_out),
        }
    }
}

const _: () = assert!(std::mem::size_of::<FlowKey>() == 40);
const _: () = assert!(std::mem::size_of::<Flow>() == 112);
const _: () = assert!(std::mem::offset_of!(Flow, new_src) == 24);
const _: () = assert!(std::mem::offset_of!(Flow, dmac) == 88);
const _: () = assert!(std::mem::offset_of!(Flow, last_seen) == 104);
const _: () = assert!(std::mem::size_of::<FlowStats>() == 32);
const _: () = assert!(std::mem::size_of::<RvsKey>() == 20);
const _: () = assert!(std::mem::size_of::<RangeValue>() == 4);
const _: () = assert!(std::mem::size_of::<FwClassEntry>() == 68);
const _: () = assert!(std::mem::size_of::<XskKey>() == 8);
