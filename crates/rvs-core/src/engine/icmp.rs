//! ICMP: errors about tracked connections are translated (NAT, FULLNAT) or passed on to
//! the real server (DR, TUN), as IPVS's `ip_vs_in_icmp` / `ip_vs_out_icmp` do; and the
//! director's own answers (port unreachable, fragmentation needed / packet too big).

use std::net::IpAddr;

use super::rewrite::{self, IpPos};
use super::{
    DropReason, Engine, Frame, IcmpAnswer, Neighbours, Parsed, TxKind, Verdict, routed_on,
};
use crate::dest::FwdMethod;
use crate::director::fwd_of;
use crate::time::Time;
use crate::wire::{self, Inner, ipproto};

/// ICMP error types that quote the offending packet.
pub(super) fn is_error(v6: bool, ty: u8) -> bool {
    if v6 {
        (1..=4).contains(&ty)
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    }
}

/// Whether the quoted packet's L4 checksum field is inside the quote (TCP/UDP only: the
/// CRC of a truncated SCTP packet cannot be recomputed).
fn quoted_csum(q: &IpPos) -> bool {
    match q.proto {
        ipproto::TCP => q.l4 + 18 <= q.end,
        ipproto::UDP => q.l4 + 8 <= q.end,
        _ => false,
    }
}

impl Engine {
    /// An ICMP error: find the connection its quoted packet belongs to.
    pub(super) fn icmp_error(
        &mut self,
        frame: &mut Frame<'_>,
        p: &Parsed<'_>,
        inner: &Inner,
        now: Time,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        self.director.advance(now);
        let Some((isport, idport)) = inner.ports else {
            return Verdict::Pass(super::PassReason::Protocol);
        };
        if !matches!(inner.proto, ipproto::TCP | ipproto::UDP | ipproto::SCTP)
            || inner.src.is_ipv6() != p.pos.v6
        {
            return Verdict::Pass(super::PassReason::Protocol);
        }
        let q = IpPos {
            l3: inner.l3,
            v6: inner.src.is_ipv6(),
            l4: inner.l4,
            proto: inner.proto,
            end: p.pos.end,
        };
        let len = p.ip.total_len as u32;
        let conns = &self.director.conns;
        // Quoted VIP:vport -> CIP:cport: about a packet the director sent to the client.
        if let Some(id) = conns.lookup_in(inner.proto, &inner.dst, idport, &inner.src, isport) {
            let Some(c) = conns.get(id) else {
                return Verdict::Pass(super::PassReason::NoService);
            };
            let (method, daddr, dport) = (fwd_of(c.flags), c.daddr, c.dport);
            let Some(dest) = c.dest else {
                return Verdict::Pass(super::PassReason::NoService);
            };
            self.director.account(id, true, len);
            let kind = TxKind::IcmpToServer { method };
            return match method {
                FwdMethod::Masq => {
                    let buf = frame.data_mut();
                    let qc = quoted_csum(&q);
                    let ok = rewrite::set_addr(buf, &q, true, &daddr, qc).is_ok()
                        && rewrite::set_port(buf, &q, true, dport, qc).is_ok()
                        && rewrite::set_addr(buf, &p.pos, false, &daddr, false).is_ok()
                        && rewrite::icmp_fill(buf, &p.pos).is_ok();
                    if !ok {
                        return Verdict::Drop(DropReason::NoRoom);
                    }
                    self.transmit_to_dest(frame, dest, daddr, false, kind, neigh)
                }
                FwdMethod::FullNat => {
                    let Some((laddr, lport)) = self.fullnat.get(id) else {
                        return Verdict::Pass(super::PassReason::NoService);
                    };
                    let buf = frame.data_mut();
                    let qc = quoted_csum(&q);
                    let ok = rewrite::set_addr(buf, &q, true, &daddr, qc).is_ok()
                        && rewrite::set_port(buf, &q, true, dport, qc).is_ok()
                        && rewrite::set_addr(buf, &q, false, &laddr, qc).is_ok()
                        && rewrite::set_port(buf, &q, false, lport, qc).is_ok()
                        && rewrite::set_addr(buf, &p.pos, true, &laddr, false).is_ok()
                        && rewrite::set_addr(buf, &p.pos, false, &daddr, false).is_ok()
                        && rewrite::icmp_fill(buf, &p.pos).is_ok();
                    if !ok {
                        return Verdict::Drop(DropReason::NoRoom);
                    }
                    self.transmit_to_dest(frame, dest, daddr, false, kind, neigh)
                }
                FwdMethod::Route => self.transmit_to_dest(frame, dest, daddr, true, kind, neigh),
                FwdMethod::Tunnel => self.tunnel(frame, p, dest, daddr, kind, neigh),
                FwdMethod::Local => Verdict::Pass(super::PassReason::Local),
            };
        }
        // Quoted CIP:cport -> RIP:rport: about a NAT packet the director sent to a server.
        if let Some(id) = conns.lookup_out(inner.proto, &inner.dst, idport, &inner.src, isport)
            && let Some(c) = conns.get(id)
            && fwd_of(c.flags) == FwdMethod::Masq
        {
            let (vaddr, vport) = (c.vaddr, c.vport);
            self.director.account(id, false, len);
            let buf = frame.data_mut();
            if let Some(v) = routed_on(buf, &p.pos) {
                return v;
            }
            let qc = quoted_csum(&q);
            let ok = rewrite::set_addr(buf, &q, false, &vaddr, qc).is_ok()
                && rewrite::set_port(buf, &q, false, vport, qc).is_ok()
                && rewrite::set_addr(buf, &p.pos, true, &vaddr, false).is_ok()
                && rewrite::icmp_fill(buf, &p.pos).is_ok();
            if !ok {
                return Verdict::Drop(DropReason::NoRoom);
            }
            let kind = TxKind::IcmpToClient {
                method: FwdMethod::Masq,
            };
            return self.transmit_routed(frame, p.ip.dst, kind, neigh);
        }
        // Quoted LIP:lport -> RIP:rport: about a FULLNAT packet sent to a server.
        if self.fullnat.is_local_address(&inner.src)
            && let Some(id) =
                self.fullnat
                    .lookup_reply(inner.proto, &inner.dst, idport, &inner.src, isport)
            && let Some(c) = self.director.conns.get(id)
        {
            let (vaddr, vport, caddr, cport) = (c.vaddr, c.vport, c.caddr, c.cport);
            self.director.account(id, false, len);
            let buf = frame.data_mut();
            if let Some(v) = routed_on(buf, &p.pos) {
                return v;
            }
            let qc = quoted_csum(&q);
            let ok = rewrite::set_addr(buf, &q, true, &caddr, qc).is_ok()
                && rewrite::set_port(buf, &q, true, cport, qc).is_ok()
                && rewrite::set_addr(buf, &q, false, &vaddr, qc).is_ok()
                && rewrite::set_port(buf, &q, false, vport, qc).is_ok()
                && rewrite::set_addr(buf, &p.pos, true, &vaddr, false).is_ok()
                && rewrite::set_addr(buf, &p.pos, false, &caddr, false).is_ok()
                && rewrite::icmp_fill(buf, &p.pos).is_ok();
            if !ok {
                return Verdict::Drop(DropReason::NoRoom);
            }
            let kind = TxKind::IcmpToClient {
                method: FwdMethod::FullNat,
            };
            return self.transmit_routed(frame, caddr, kind, neigh);
        }
        Verdict::Pass(super::PassReason::NoService)
    }

    /// Replace the frame by an ICMP error from the packet's destination (the VIP) back to
    /// its source, and send it there.
    pub(super) fn answer(
        &mut self,
        frame: &mut Frame<'_>,
        p: &Parsed<'_>,
        what: IcmpAnswer,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        let client = p.ip.src;
        let Some(hop) = self.routes.lookup(&client) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let Some(src_mac) = self.routes.iface(hop.iface).map(|i| i.mac) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let dst_mac = neigh.mac(hop.iface, &hop.next_hop);
        let Some(orig) = frame.data().get(p.pos.l3..p.pos.end) else {
            return Verdict::Drop(DropReason::NoRoom);
        };
        let mac = dst_mac.unwrap_or([0; 6]);
        let vlan = p.info.vlan;
        let built = match p.ip.dst {
            IpAddr::V4(vip) => {
                let (code, mtu) = match what {
                    IcmpAnswer::PortUnreachable => (3, 0),
                    IcmpAnswer::TooBig(m) => (4, m.min(u32::from(u16::MAX)) as u16),
                };
                wire::build::icmpv4_unreachable(
                    &mut self.scratch,
                    src_mac,
                    mac,
                    vlan,
                    vip,
                    code,
                    mtu,
                    orig,
                )
            }
            IpAddr::V6(vip) => {
                let (ty, code, mtu) = match what {
                    IcmpAnswer::PortUnreachable => (1, 4, 0),
                    IcmpAnswer::TooBig(m) => (2, 0, m),
                };
                wire::build::icmpv6_error(
                    &mut self.scratch,
                    src_mac,
                    mac,
                    vlan,
                    vip,
                    ty,
                    code,
                    mtu,
                    orig,
                )
            }
        };
        if let Err(e) = built {
            return Verdict::Drop(DropReason::Malformed(e));
        }
        if frame.replace(&self.scratch).is_err() {
            return Verdict::Drop(DropReason::NoRoom);
        }
        let kind = TxKind::IcmpAnswer(what);
        match dst_mac {
            Some(_) => Verdict::Transmit {
                egress: hop.iface,
                next_hop: hop.next_hop,
                kind,
            },
            None => Verdict::Unresolved {
                egress: hop.iface,
                next_hop: hop.next_hop,
                kind,
            },
        }
    }
}
