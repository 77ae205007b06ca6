//! TUN (`-i`): the client's packet, untouched, inside an outer IP header towards the real
//! server — IP-in-IP (v4-in-v4, v6-in-v6 and the cross-family cases IPVS allows), or, with
//! `--tun-type`, GUE (UDP port `--tun-port`) or GRE — with IPVS's path-MTU answer.

use std::net::IpAddr;

use super::rewrite::{self, wr16};
use super::{DropReason, Engine, Frame, IcmpAnswer, Neighbours, Parsed, TxKind, Verdict};
use crate::addr::fold;
use crate::dest::{DestId, TunConfig, TunCsum, TunType};
use crate::wire::{L4Info, checksum, ethertype, ipproto};

/// GUE's UDP source ports: the kernel's default local port range, as
/// `udp_flow_src_port` picks them.
const GUE_SPORT_LO: u32 = 32768;
const GUE_SPORT_HI: u32 = 60999;

/// Bytes between the outer IP header and the inner packet (GUE: UDP + GUE header, GRE:
/// its header with or without the checksum word, IP-in-IP: none).
pub fn encap_len(tun: &TunConfig) -> usize {
    match (tun.kind, tun.csum) {
        (TunType::Ipip, _) => 0,
        // UDP header + the 4-byte GUE header (no options: remote checksum offload only
        // applies to packets with a partial checksum, which a director never holds).
        (TunType::Gue, _) => 8 + 4,
        (TunType::Gre, TunCsum::Csum) => 8,
        (TunType::Gre, _) => 4,
    }
}

/// The GUE source port of a flow: a hash of the inner addresses and ports, spread over
/// the local port range (the kernel hashes the flow the same way, with its own key).
fn gue_sport(p: &Parsed<'_>) -> u16 {
    let (sp, dp) = match p.ip.l4info {
        L4Info::Tcp { sport, dport, .. }
        | L4Info::Udp { sport, dport }
        | L4Info::Sctp { sport, dport, .. } => (sport, dport),
        _ => (0, 0),
    };
    gue_source_port(&p.ip.src, &p.ip.dst, sp, dp, p.ip.proto)
}

/// The GUE source port the engine uses for an inner packet `src:sport → dst:dport` of
/// `proto` (also used to program the XDP fast path with the same value).
pub fn gue_source_port(src: &IpAddr, dst: &IpAddr, sport: u16, dport: u16, proto: u8) -> u16 {
    let mut h = u64::from(fold(src)) << 32 | u64::from(fold(dst));
    h ^= (u64::from(sport) << 16 | u64::from(dport)) << 8 | u64::from(proto);
    h = (h ^ (h >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let h = (h >> 32) as u32;
    let span = GUE_SPORT_HI - GUE_SPORT_LO + 1;
    (GUE_SPORT_LO + ((u64::from(h) * u64::from(span)) >> 32) as u32) as u16
}

impl Engine {
    /// Encapsulate the frame's IP packet in an outer IP header (plus GUE or GRE) from the
    /// egress interface's address to `daddr` and send it there. The inner packet is
    /// untouched. When the result exceeds the egress MTU, a packet that may not be
    /// fragmented (IPv4 with DF, any IPv6) is answered with ICMP fragmentation-needed /
    /// packet-too-big carrying the MTU left for the inner packet, as IPVS does; one that
    /// may be fragmented is dropped (the engine does not fragment).
    pub(super) fn tunnel(
        &mut self,
        frame: &mut Frame<'_>,
        p: &Parsed<'_>,
        dest: DestId,
        daddr: IpAddr,
        kind: TxKind,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        let tun = self
            .director
            .table
            .dest(dest)
            .map(|d| d.tun)
            .unwrap_or_default();
        let Some(egress) = self.dest_hop(dest, &daddr, false).map(|c| c.hop.iface) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let outer_v6 = daddr.is_ipv6();
        let Some(src) = self.routes.source_for(egress, outer_v6) else {
            return Verdict::Drop(DropReason::NoSourceAddress);
        };
        let mtu = self.routes.iface(egress).map_or(1500, |i| i.mtu) as usize;
        let ip_len = if outer_v6 { 40 } else { 20 };
        let encap = encap_len(&tun);
        let overhead = ip_len + encap;
        let inner_len = p.ip.total_len;
        if inner_len + overhead > mtu {
            let room = mtu.saturating_sub(overhead) as u32;
            if !p.pos.v6 && !p.ip.df {
                return Verdict::Drop(DropReason::TooBig);
            }
            return self.answer(frame, p, IcmpAnswer::TooBig(room), neigh);
        }
        let l3 = p.pos.l3;
        let sport = gue_sport(p);
        // Drop Ethernet padding, make room at the front, move the L2 header there.
        if frame.set_len(l3 + inner_len).is_err() || frame.push_front(overhead).is_err() {
            return Verdict::Drop(DropReason::NoRoom);
        }
        let buf = frame.data_mut();
        buf.copy_within(overhead..overhead + l3, 0);
        let et = if outer_v6 {
            ethertype::IPV6
        } else {
            ethertype::IPV4
        };
        if wr16(buf, l3 - 2, et).is_err() {
            return Verdict::Drop(DropReason::NoRoom);
        }
        let inner = l3 + overhead;
        let (tos, ttl) = if p.pos.v6 {
            let b0 = buf[inner];
            let b1 = buf[inner + 1];
            ((b0 << 4) | (b1 >> 4), buf[inner + 7])
        } else {
            (buf[inner + 1], buf[inner + 8])
        };
        let inner_proto = if p.pos.v6 {
            ipproto::IPV6
        } else {
            ipproto::IPIP
        };
        let outer_proto = match tun.kind {
            TunType::Ipip => inner_proto,
            TunType::Gue => ipproto::UDP,
            TunType::Gre => ipproto::GRE,
        };
        let hdr = &mut buf[l3..l3 + ip_len];
        match (src, daddr) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                // DF follows the inner packet (always set for IPv6 inside).
                let df = p.pos.v6 || p.ip.df;
                let id = if df {
                    0
                } else {
                    self.ip_id = self.ip_id.wrapping_add(1);
                    self.ip_id
                };
                let total = (inner_len + overhead) as u16;
                hdr[0] = 0x45;
                hdr[1] = tos;
                hdr[2..4].copy_from_slice(&total.to_be_bytes());
                hdr[4..6].copy_from_slice(&id.to_be_bytes());
                hdr[6..8].copy_from_slice(&(if df { 0x4000u16 } else { 0 }).to_be_bytes());
                hdr[8] = ttl;
                hdr[9] = outer_proto;
                hdr[10..12].fill(0);
                hdr[12..16].copy_from_slice(&s.octets());
                hdr[16..20].copy_from_slice(&d.octets());
                if rewrite::ipv4_fill(buf, l3, 20).is_err() {
                    return Verdict::Drop(DropReason::NoRoom);
                }
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let plen = (inner_len + encap) as u16;
                hdr[0] = 0x60 | (tos >> 4);
                hdr[1] = tos << 4;
                hdr[2] = 0;
                hdr[3] = 0;
                hdr[4..6].copy_from_slice(&plen.to_be_bytes());
                hdr[6] = outer_proto;
                hdr[7] = ttl;
                hdr[8..24].copy_from_slice(&s.octets());
                hdr[24..40].copy_from_slice(&d.octets());
            }
            _ => return Verdict::Drop(DropReason::FamilyMismatch),
        }
        let e = l3 + ip_len;
        let end = inner + inner_len;
        match tun.kind {
            TunType::Ipip => {}
            TunType::Gue => {
                let ulen = (encap + inner_len) as u16;
                buf[e..e + 2].copy_from_slice(&sport.to_be_bytes());
                buf[e + 2..e + 4].copy_from_slice(&tun.port.to_be_bytes());
                buf[e + 4..e + 6].copy_from_slice(&ulen.to_be_bytes());
                buf[e + 6..e + 8].fill(0);
                // GUE version 0, no options, protocol of the inner packet.
                buf[e + 8..e + 12].copy_from_slice(&[0, inner_proto, 0, 0]);
                if tun.csum == TunCsum::Csum {
                    let s = checksum::pseudo(&src, &daddr, ipproto::UDP, u32::from(ulen))
                        + checksum::sum(&buf[e..end]);
                    let c = match checksum::finish(s) {
                        0 => 0xffff,
                        c => c,
                    };
                    buf[e + 6..e + 8].copy_from_slice(&c.to_be_bytes());
                }
            }
            TunType::Gre => {
                let csum = tun.csum == TunCsum::Csum;
                let flags: u16 = if csum { 0x8000 } else { 0 };
                let proto = if p.pos.v6 {
                    ethertype::IPV6
                } else {
                    ethertype::IPV4
                };
                buf[e..e + 2].copy_from_slice(&flags.to_be_bytes());
                buf[e + 2..e + 4].copy_from_slice(&proto.to_be_bytes());
                if csum {
                    buf[e + 4..e + 8].fill(0);
                    let c = checksum::finish(checksum::sum(&buf[e..end]));
                    buf[e + 4..e + 6].copy_from_slice(&c.to_be_bytes());
                }
            }
        }
        self.transmit_to_dest(frame, dest, daddr, false, kind, neigh)
    }
}
