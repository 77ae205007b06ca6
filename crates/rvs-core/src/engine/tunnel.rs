//! TUN (`-i`): IP-in-IP encapsulation towards the real server (v4-in-v4, v6-in-v6 and the
//! cross-family cases IPVS allows), with IPVS's path-MTU answer.

use std::net::IpAddr;

use super::rewrite::{self, wr16};
use super::{DropReason, Engine, Frame, IcmpAnswer, Neighbours, Parsed, TxKind, Verdict};
use crate::wire::{ethertype, ipproto};

impl Engine {
    /// Encapsulate the frame's IP packet in an outer IP header from the egress interface's
    /// address to `daddr` and send it there. The inner packet is untouched. When the
    /// result exceeds the egress MTU, a packet that may not be fragmented (IPv4 with DF,
    /// any IPv6) is answered with ICMP fragmentation-needed / packet-too-big carrying the
    /// MTU left for the inner packet, as IPVS does; one that may be fragmented is dropped
    /// (the engine does not fragment).
    pub(super) fn tunnel(
        &mut self,
        frame: &mut Frame<'_>,
        p: &Parsed<'_>,
        daddr: IpAddr,
        kind: TxKind,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        let Some(hop) = self.routes.lookup(&daddr) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let outer_v6 = daddr.is_ipv6();
        let Some(src) = self.routes.source_for(hop.iface, outer_v6) else {
            return Verdict::Drop(DropReason::NoSourceAddress);
        };
        let mtu = self.routes.iface(hop.iface).map_or(1500, |i| i.mtu) as usize;
        let overhead = if outer_v6 { 40 } else { 20 };
        let inner_len = p.ip.total_len;
        if inner_len + overhead > mtu {
            let room = mtu.saturating_sub(overhead) as u32;
            if !p.pos.v6 && !p.ip.df {
                return Verdict::Drop(DropReason::TooBig);
            }
            return self.answer(frame, p, IcmpAnswer::TooBig(room), neigh);
        }
        let l3 = p.pos.l3;
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
        let hdr = &mut buf[l3..inner];
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
                let total = (inner_len + 20) as u16;
                hdr[0] = 0x45;
                hdr[1] = tos;
                hdr[2..4].copy_from_slice(&total.to_be_bytes());
                hdr[4..6].copy_from_slice(&id.to_be_bytes());
                hdr[6..8].copy_from_slice(&(if df { 0x4000u16 } else { 0 }).to_be_bytes());
                hdr[8] = ttl;
                hdr[9] = inner_proto;
                hdr[10..12].fill(0);
                hdr[12..16].copy_from_slice(&s.octets());
                hdr[16..20].copy_from_slice(&d.octets());
                if rewrite::ipv4_fill(buf, l3, 20).is_err() {
                    return Verdict::Drop(DropReason::NoRoom);
                }
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let plen = inner_len as u16;
                hdr[0] = 0x60 | (tos >> 4);
                hdr[1] = tos << 4;
                hdr[2] = 0;
                hdr[3] = 0;
                hdr[4..6].copy_from_slice(&plen.to_be_bytes());
                hdr[6] = inner_proto;
                hdr[7] = ttl;
                hdr[8..24].copy_from_slice(&s.octets());
                hdr[24..40].copy_from_slice(&d.octets());
            }
            _ => return Verdict::Drop(DropReason::FamilyMismatch),
        }
        let hop = super::Hop {
            iface: hop.iface,
            next_hop: hop.next_hop,
        };
        self.finish(frame, hop, kind, neigh)
    }
}
