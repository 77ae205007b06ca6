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
    pub const MAX: u32 = 12;
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

const _: () = assert!(std::mem::size_of::<RvsKey>() == 20);
const _: () = assert!(std::mem::size_of::<RangeValue>() == 4);
const _: () = assert!(std::mem::size_of::<FwClassEntry>() == 68);
const _: () = assert!(std::mem::size_of::<XskKey>() == 8);
