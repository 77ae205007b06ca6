//! What the classifier sends to userspace, as sets, and their translation into map entries.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::error::XdpError;
use crate::maps::{FW_MAX, FW_PORTS, FwClassEntry, RangeValue, RvsKey, addr_bytes};

/// The traffic rvs handles, in the classifier's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classes {
    /// Virtual services: (VIP, IP protocol 6/17/132, port; 0 = any port).
    pub services: BTreeSet<(IpAddr, u8, u16)>,
    /// NAT replies: (RIP, protocol, port) = the source of a real server's replies.
    pub replies: BTreeSet<(IpAddr, u8, u16)>,
    /// FULLNAT local addresses: TCP/UDP/SCTP to the address with a destination port in
    /// the inclusive range.
    pub locals: BTreeMap<IpAddr, (u16, u16)>,
    /// rvs fwmark classifier rules.
    pub fwmark: Vec<FwmarkClass>,
    /// The director's own addresses: a packet from a NAT real server to one of them
    /// answers the director itself (a health check), so it is not a NAT reply.
    pub hosts: BTreeSet<IpAddr>,
}

/// One fwmark class: `proto` (0 = TCP, UDP or SCTP) to `prefix/plen`, destination port
/// in one of `ports` (inclusive ranges; empty = any port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FwmarkClass {
    /// IP protocol, 0 = any of TCP, UDP, SCTP.
    pub proto: u8,
    /// Destination network.
    pub prefix: IpAddr,
    /// Prefix length.
    pub plen: u8,
    /// Destination port ranges; empty = any.
    pub ports: Vec<(u16, u16)>,
}

impl Classes {
    /// Keys of the services map.
    pub(crate) fn service_keys(&self) -> BTreeSet<RvsKey> {
        self.services
            .iter()
            .map(|&(a, p, port)| RvsKey::new(a, p, port))
            .collect()
    }

    /// Keys of the replies map.
    pub(crate) fn reply_keys(&self) -> BTreeSet<RvsKey> {
        self.replies
            .iter()
            .map(|&(a, p, port)| RvsKey::new(a, p, port))
            .collect()
    }

    /// Keys of the hosts map.
    pub(crate) fn host_keys(&self) -> BTreeSet<RvsKey> {
        self.hosts.iter().map(|&a| RvsKey::new(a, 0, 0)).collect()
    }

    /// Entries of the locals map.
    pub(crate) fn local_entries(&self) -> BTreeMap<RvsKey, RangeValue> {
        self.locals
            .iter()
            .map(|(&a, &(lo, hi))| (RvsKey::new(a, 0, 0), RangeValue { lo, hi }))
            .collect()
    }

    /// The fwmark table, in rule order; a class with more than [`FW_PORTS`] ranges takes
    /// several entries.
    pub(crate) fn fwmark_entries(&self) -> Result<Vec<FwClassEntry>, XdpError> {
        let mut out = Vec::new();
        for c in &self.fwmark {
            let (family, addr) = addr_bytes(c.prefix);
            let bits = if family == 4 { 32 } else { 128 };
            if c.plen > bits {
                return Err(XdpError::BadClass(format!(
                    "prefix length {} for {}",
                    c.plen, c.prefix
                )));
            }
            let mut mask = [0u8; 16];
            for (i, m) in mask.iter_mut().enumerate() {
                let have = usize::from(c.plen).saturating_sub(i * 8).min(8);
                *m = if have == 0 { 0 } else { 0xffu8 << (8 - have) };
            }
            let mut masked = addr;
            for (a, m) in masked.iter_mut().zip(mask) {
                *a &= m;
            }
            let base = FwClassEntry {
                family,
                proto: c.proto,
                nports: 0,
                pad: 0,
                addr: masked,
                mask,
                ports: [RangeValue::default(); FW_PORTS],
            };
            if c.ports.is_empty() {
                out.push(base);
                continue;
            }
            for chunk in c.ports.chunks(FW_PORTS) {
                let mut e = base;
                e.nports = chunk.len() as u8;
                for (slot, &(lo, hi)) in e.ports.iter_mut().zip(chunk) {
                    *slot = RangeValue { lo, hi };
                }
                out.push(e);
            }
        }
        if out.len() > FW_MAX as usize {
            return Err(XdpError::TooManyFwmarkClasses(out.len()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fwmark_entries_mask_and_split_ports() {
        let c = Classes {
            fwmark: vec![FwmarkClass {
                proto: 6,
                prefix: "198.18.1.77".parse().unwrap(),
                plen: 20,
                ports: (0..10).map(|i| (i * 10, i * 10 + 1)).collect(),
            }],
            ..Classes::default()
        };
        let e = c.fwmark_entries().unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(&e[0].addr[..4], &[198, 18, 0, 0]);
        assert_eq!(&e[0].mask[..4], &[255, 255, 0xf0, 0]);
        assert_eq!(e[0].nports, 8);
        assert_eq!(e[1].nports, 2);
        assert_eq!(e[1].ports[1], RangeValue { lo: 90, hi: 91 });
    }

    #[test]
    fn bad_prefix_length_is_an_error() {
        let c = Classes {
            fwmark: vec![FwmarkClass {
                proto: 0,
                prefix: "198.18.1.0".parse().unwrap(),
                plen: 33,
                ports: vec![],
            }],
            ..Classes::default()
        };
        assert!(matches!(c.fwmark_entries(), Err(XdpError::BadClass(_))));
    }

    #[test]
    fn keys_carry_network_order_ports() {
        let k = RvsKey::new("fd00:1::100".parse().unwrap(), 17, 9000);
        assert_eq!(k.family, 6);
        assert_eq!(k.port_be.to_ne_bytes(), 9000u16.to_be_bytes());
    }
}
