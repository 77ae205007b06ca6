//! The packet engine: `Engine::process(frame, ingress, now)` parses an Ethernet frame,
//! finds or creates its connection in the [`Director`], rewrites it for the connection's
//! forwarding method (NAT, DR, TUN, FULLNAT; IPv4 and IPv6), fixes its checksums and says
//! where it goes. Everything a data plane does around it is I/O.
//!
//! Conventions, following IPVS where it has one:
//! - client → real server frames keep their TTL (IPVS runs at LOCAL_IN, the packet is
//!   delivered to the director, not routed); replies routed back through the director
//!   (NAT, FULLNAT) lose one, and one that would expire is passed to the local stack,
//!   which answers time-exceeded;
//! - a VLAN tag, when present, is kept as it came;
//! - IP fragments addressed to a virtual service are dropped and counted (IPVS sees them
//!   reassembled; the engine does not reassemble yet).

pub mod frame;
pub mod fullnat;
pub mod golden;
mod icmp;
pub mod lab;
pub mod neigh;
pub mod rewrite;
pub mod route;
mod tunnel;
pub mod verdict;

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::conn::ConnId;
use crate::conn::state::{SctpEvent, Segment, TcpFlags};
use crate::dest::{DestId, FwdMethod};
use crate::director::{self, Director, Packet};
use crate::service::ServiceKey;
use crate::time::Time;
use crate::wire::{self, Frag, FrameInfo, FrameKind, IpInfo, L4Info};

pub use frame::{Frame, FrameError, HEADROOM};
pub use fullnat::FullNat;
pub use neigh::{Neighbours, StaticNeighbours};
pub use rewrite::IpPos;
pub use route::{Hop, IfaceId, Interface, Mac, Routes};
pub use tunnel::{encap_len, gue_source_port};
pub use verdict::{DropReason, IcmpAnswer, PassReason, TxKind, Verdict};

/// Frame counters of an engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames processed.
    pub rx: u64,
    /// Frames transmitted with their next hop resolved.
    pub tx: u64,
    /// Frames transmitted with the next hop unresolved.
    pub unresolved: u64,
    /// Frames passed to the local stack.
    pub passed: u64,
    /// Frames dropped, by [`DropReason::as_str`].
    pub dropped: BTreeMap<&'static str, u64>,
}

impl Counters {
    /// All dropped frames.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// The director's packet engine.
pub struct Engine {
    /// Services, dests, connections, schedulers, stats.
    pub director: Director,
    /// Interfaces and routes (the data plane keeps them current).
    pub routes: Routes,
    /// FULLNAT local addresses and port allocations.
    pub fullnat: FullNat,
    /// Frame counters.
    pub counters: Counters,
    /// IPv4 identification for outer tunnel headers that may be fragmented.
    ip_id: u16,
    /// Scratch space for ICMP answers.
    scratch: Vec<u8>,
    /// Per dest (by slot index): the hop towards it, valid for one routes generation
    /// (IPVS keeps the same in `dest->dest_dst`).
    hops: Vec<Option<CachedHop>>,
}

/// A cached route to a dest.
#[derive(Clone, Copy, Debug)]
struct CachedHop {
    dest: DestId,
    routes_gen: u64,
    direct: bool,
    hop: Hop,
    /// The egress interface's MAC.
    src_mac: Mac,
    /// The next hop's MAC with the neighbour generation it was answered in.
    dst_mac: Option<(u64, Mac)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("director", &self.director)
            .field("counters", &self.counters)
            .finish()
    }
}

/// A parsed frame: where its IP packet is, and its summary.
struct Parsed<'a> {
    info: &'a FrameInfo,
    ip: &'a IpInfo,
    pos: IpPos,
}

impl Engine {
    /// An engine around a director, with no interfaces yet.
    pub fn new(director: Director) -> Self {
        Engine {
            director,
            routes: Routes::default(),
            fullnat: FullNat::new(),
            counters: Counters::default(),
            ip_id: 0,
            scratch: Vec::with_capacity(1536),
            hops: Vec::new(),
        }
    }

    /// Move time forward (expire connections, run the estimator) without a frame.
    pub fn advance(&mut self, now: Time) {
        self.director.advance(now);
        self.release_ports();
    }

    fn release_ports(&mut self) {
        if self.director.has_released() {
            for id in self.director.take_released() {
                self.fullnat.release(id);
            }
        }
    }

    /// Process one frame that arrived on `ingress` at `now`. The frame is rewritten in
    /// place (it may grow at the front for TUN, or be replaced by an ICMP answer), and the
    /// verdict says what to do with it. `neigh` answers next-hop MAC addresses.
    pub fn process(
        &mut self,
        frame: &mut Frame<'_>,
        ingress: IfaceId,
        now: Time,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        self.counters.rx += 1;
        let v = self.process_frame(frame, ingress, now, neigh);
        self.release_ports();
        match v {
            Verdict::Transmit { .. } => self.counters.tx += 1,
            Verdict::Unresolved { .. } => self.counters.unresolved += 1,
            Verdict::Pass(_) => self.counters.passed += 1,
            Verdict::Drop(r) => *self.counters.dropped.entry(r.as_str()).or_default() += 1,
        }
        v
    }

    #[inline(always)]
    fn process_frame(
        &mut self,
        frame: &mut Frame<'_>,
        _ingress: IfaceId,
        now: Time,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        let mut info = FrameInfo::EMPTY;
        if let Err(e) = wire::parse_frame_into(frame.data(), &mut info) {
            return Verdict::Drop(DropReason::Malformed(e));
        }
        let FrameKind::Ip(ip) = &info.kind else {
            return Verdict::Pass(PassReason::NotIp);
        };
        let pos = IpPos {
            l3: info.l3,
            v6: ip.dst.is_ipv6(),
            l4: ip.l4,
            proto: ip.proto,
            end: info.l3 + ip.total_len,
        };
        let p = Parsed {
            info: &info,
            ip,
            pos,
        };
        if p.ip.frag != Frag::None {
            return if self.is_vip(&p.ip.dst) {
                Verdict::Drop(DropReason::Fragment)
            } else {
                Verdict::Pass(PassReason::Fragment)
            };
        }
        let (sport, dport, seg) = match p.ip.l4info {
            L4Info::Tcp {
                sport,
                dport,
                flags,
                ..
            } => (sport, dport, Segment::Tcp(tcp_flags(flags))),
            L4Info::Udp { sport, dport } => (sport, dport, Segment::Udp),
            L4Info::Sctp {
                sport,
                dport,
                chunk,
            } => (
                sport,
                dport,
                Segment::Sctp(SctpEvent::from_chunk_type(chunk)),
            ),
            L4Info::Icmp {
                ty, error: true, ..
            } if icmp::is_error(p.pos.v6, ty) => {
                return match wire::icmp_inner(frame.data(), p.info) {
                    Ok(Some(inner)) => self.icmp_error(frame, &p, &inner, now, neigh),
                    Ok(None) => Verdict::Pass(PassReason::Protocol),
                    Err(e) => Verdict::Drop(DropReason::Malformed(e)),
                };
            }
            _ => return Verdict::Pass(PassReason::Protocol),
        };
        let pkt = Packet {
            saddr: p.ip.src,
            sport,
            daddr: p.ip.dst,
            dport,
            seg,
            len: p.ip.total_len as u32,
            fwmark: 0,
        };
        // FULLNAT replies: RIP:rport -> LIP:lport, found in the FULLNAT map.
        if self.fullnat.is_local_address(&p.ip.dst)
            && let Some(id) =
                self.fullnat
                    .lookup_reply(p.pos.proto, &p.ip.src, sport, &p.ip.dst, dport)
        {
            return match self.director.process_reply(id, &pkt, now) {
                director::Verdict::Reply { conn, .. } => self.fullnat_reply(frame, &p, conn, neigh),
                _ => Verdict::Pass(PassReason::NoService),
            };
        }
        match self.director.process(&pkt, now) {
            director::Verdict::Forward {
                conn,
                dest,
                fwd,
                daddr,
                dport,
                new,
            } => {
                let kind = TxKind::Forward { method: fwd, new };
                self.forward(frame, &p, conn, dest, fwd, (daddr, dport), kind, neigh)
            }
            director::Verdict::Reply {
                vaddr, vport, fwd, ..
            } => self.nat_reply(frame, &p, (vaddr, vport), fwd, neigh),
            director::Verdict::Pass => {
                if matches!(seg, Segment::Tcp(_)) && self.director.matches_service(&pkt) {
                    Verdict::Pass(PassReason::NotConnStart)
                } else {
                    Verdict::Pass(PassReason::NoService)
                }
            }
            director::Verdict::Unreachable => {
                self.answer(frame, &p, IcmpAnswer::PortUnreachable, neigh)
            }
            director::Verdict::Drop(r) => Verdict::Drop(match r {
                director::DropReason::DestUnavailable => DropReason::DestUnavailable,
                director::DropReason::DestExpired => DropReason::DestExpired,
            }),
        }
    }

    /// Whether some address-keyed service has `addr` as its virtual address.
    fn is_vip(&self, addr: &IpAddr) -> bool {
        self.director
            .table
            .services()
            .any(|(_, s)| matches!(s.key, ServiceKey::Addr { addr: a, .. } if a == *addr))
    }

    /// The service key a dest belongs to.
    fn service_of(&self, dest: DestId) -> Option<ServiceKey> {
        let d = self.director.table.dest(dest)?;
        Some(self.director.table.service(d.svc)?.key)
    }

    /// Client → real server.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn forward(
        &mut self,
        frame: &mut Frame<'_>,
        p: &Parsed<'_>,
        conn: Option<ConnId>,
        dest: DestId,
        fwd: FwdMethod,
        (daddr, dport): (IpAddr, u16),
        kind: TxKind,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        match fwd {
            FwdMethod::Masq => {
                if daddr.is_ipv6() != p.pos.v6 {
                    return Verdict::Drop(DropReason::FamilyMismatch);
                }
                let buf = frame.data_mut();
                if rewrite::set_endpoint(buf, &p.pos, false, &daddr, dport).is_err() {
                    return Verdict::Drop(DropReason::NoRoom);
                }
                self.transmit_to_dest(frame, dest, daddr, false, kind, neigh)
            }
            FwdMethod::Route => self.transmit_to_dest(frame, dest, daddr, true, kind, neigh),
            FwdMethod::Tunnel => self.tunnel(frame, p, dest, daddr, kind, neigh),
            FwdMethod::Local => Verdict::Pass(PassReason::Local),
            FwdMethod::FullNat => {
                let Some(id) = conn else {
                    return Verdict::Drop(DropReason::OnePacketFullNat);
                };
                if daddr.is_ipv6() != p.pos.v6 {
                    self.director.remove_conn(id);
                    return Verdict::Drop(DropReason::FamilyMismatch);
                }
                let (laddr, lport) = match self.fullnat.get(id) {
                    Some(l) => l,
                    None => {
                        let Some(svc) = self.service_of(dest) else {
                            return Verdict::Drop(DropReason::DestUnavailable);
                        };
                        let Some(c) = self.director.conns.get(id) else {
                            return Verdict::Drop(DropReason::DestUnavailable);
                        };
                        let (caddr, cport, proto) = (c.caddr, c.cport, c.proto);
                        match self
                            .fullnat
                            .allocate(id, &svc, proto, &caddr, cport, &daddr, dport)
                        {
                            Ok(l) => l,
                            Err(e) => {
                                self.director.remove_conn(id);
                                return Verdict::Drop(match e {
                                    fullnat::FullNatError::NoLocalAddress => {
                                        DropReason::NoLocalAddress
                                    }
                                    fullnat::FullNatError::PortsExhausted => {
                                        DropReason::PortsExhausted
                                    }
                                });
                            }
                        }
                    }
                };
                let buf = frame.data_mut();
                let ok = rewrite::set_endpoint(buf, &p.pos, true, &laddr, lport).is_ok()
                    && rewrite::set_endpoint(buf, &p.pos, false, &daddr, dport).is_ok();
                if !ok {
                    return Verdict::Drop(DropReason::NoRoom);
                }
                self.transmit_to_dest(frame, dest, daddr, false, kind, neigh)
            }
        }
    }

    /// The hop towards a dest, from the per-dest cache while the routes are unchanged.
    /// `direct`: the dest itself is the next hop (DR).
    #[inline(always)]
    fn dest_hop(&mut self, dest: DestId, daddr: &IpAddr, direct: bool) -> Option<&mut CachedHop> {
        let g = self.routes.generation();
        let i = dest.index() as usize;
        let hit = matches!(self.hops.get(i), Some(Some(c))
            if c.dest == dest && c.routes_gen == g && c.direct == direct);
        if !hit {
            let mut hop = self.routes.lookup(daddr)?;
            if direct {
                hop.next_hop = *daddr;
            }
            let src_mac = self.routes.iface(hop.iface)?.mac;
            if self.hops.len() <= i {
                self.hops.resize(i + 1, None);
            }
            self.hops[i] = Some(CachedHop {
                dest,
                routes_gen: g,
                direct,
                hop,
                src_mac,
                dst_mac: None,
            });
        }
        self.hops.get_mut(i)?.as_mut()
    }

    /// Send to a dest (routed, or directly for DR). The route and, when the neighbour
    /// source allows it, the next hop's MAC come from the per-dest cache.
    #[inline(always)]
    fn transmit_to_dest(
        &mut self,
        frame: &mut Frame<'_>,
        dest: DestId,
        daddr: IpAddr,
        direct: bool,
        kind: TxKind,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        let ngen = neigh.generation();
        let Some(c) = self.dest_hop(dest, &daddr, direct) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let hop = c.hop;
        let dst_mac = match (ngen, c.dst_mac) {
            (Some(n), Some((cn, mac))) if n == cn => Some(mac),
            _ => {
                let mac = neigh.mac(hop.iface, &hop.next_hop);
                c.dst_mac = ngen.zip(mac);
                mac
            }
        };
        let src_mac = c.src_mac;
        address(frame, hop, src_mac, dst_mac, kind)
    }

    /// A NAT reply RIP:rport -> CIP:cport becomes VIP:vport -> CIP:cport.
    fn nat_reply(
        &mut self,
        frame: &mut Frame<'_>,
        p: &Parsed<'_>,
        (vaddr, vport): (IpAddr, u16),
        fwd: FwdMethod,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        if vaddr.is_ipv6() != p.pos.v6 {
            return Verdict::Drop(DropReason::FamilyMismatch);
        }
        let buf = frame.data_mut();
        if let Some(v) = routed_on(buf, &p.pos) {
            return v;
        }
        if rewrite::set_endpoint(buf, &p.pos, true, &vaddr, vport).is_err() {
            return Verdict::Drop(DropReason::NoRoom);
        }
        self.transmit_routed(frame, p.ip.dst, TxKind::Reply { method: fwd }, neigh)
    }

    /// A FULLNAT reply RIP:rport -> LIP:lport becomes VIP:vport -> CIP:cport.
    fn fullnat_reply(
        &mut self,
        frame: &mut Frame<'_>,
        p: &Parsed<'_>,
        conn: ConnId,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        let Some(c) = self.director.conns.get(conn) else {
            return Verdict::Pass(PassReason::NoService);
        };
        let (vaddr, vport, caddr, cport) = (c.vaddr, c.vport, c.caddr, c.cport);
        if vaddr.is_ipv6() != p.pos.v6 {
            return Verdict::Drop(DropReason::FamilyMismatch);
        }
        let buf = frame.data_mut();
        if let Some(v) = routed_on(buf, &p.pos) {
            return v;
        }
        let ok = rewrite::set_endpoint(buf, &p.pos, true, &vaddr, vport).is_ok()
            && rewrite::set_endpoint(buf, &p.pos, false, &caddr, cport).is_ok();
        if !ok {
            return Verdict::Drop(DropReason::NoRoom);
        }
        let kind = TxKind::Reply {
            method: FwdMethod::FullNat,
        };
        self.transmit_routed(frame, caddr, kind, neigh)
    }

    /// Send towards `dst` through the routing table (gateway if not on-link).
    fn transmit_routed(
        &mut self,
        frame: &mut Frame<'_>,
        dst: IpAddr,
        kind: TxKind,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        match self.routes.lookup(&dst) {
            Some(hop) => self.finish(frame, hop, kind, neigh),
            None => Verdict::Drop(DropReason::NoRoute),
        }
    }

    /// Fill the MACs for `hop` and say so.
    #[inline(always)]
    fn finish(
        &mut self,
        frame: &mut Frame<'_>,
        hop: Hop,
        kind: TxKind,
        neigh: &dyn Neighbours,
    ) -> Verdict {
        let Some(src_mac) = self.routes.iface(hop.iface).map(|i| i.mac) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let dst_mac = neigh.mac(hop.iface, &hop.next_hop);
        address(frame, hop, src_mac, dst_mac, kind)
    }
}

/// Write the MACs and say where the frame goes: `Transmit`, or `Unresolved` (destination
/// MAC zero) when the next hop's MAC is unknown.
#[inline(always)]
fn address(
    frame: &mut Frame<'_>,
    hop: Hop,
    src_mac: Mac,
    dst_mac: Option<Mac>,
    kind: TxKind,
) -> Verdict {
    let buf = frame.data_mut();
    if rewrite::set_macs(buf, &dst_mac.unwrap_or([0; 6]), &src_mac).is_err() {
        return Verdict::Drop(DropReason::NoRoom);
    }
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

/// A packet routed on through the director loses one TTL / hop; `Some` verdict when it
/// cannot go on (its TTL would expire: the local stack answers time-exceeded).
fn routed_on(buf: &mut [u8], pos: &IpPos) -> Option<Verdict> {
    match rewrite::dec_ttl(buf, pos) {
        Ok(true) => None,
        Ok(false) => Some(Verdict::Pass(PassReason::TtlExpired)),
        Err(_) => Some(Verdict::Drop(DropReason::NoRoom)),
    }
}

/// The state-machine view of TCP flags (FIN=1 SYN=2 RST=4 ACK=16).
fn tcp_flags(f: u8) -> TcpFlags {
    TcpFlags {
        syn: f & 0x02 != 0,
        fin: f & 0x01 != 0,
        ack: f & 0x10 != 0,
        rst: f & 0x04 != 0,
    }
}

#[cfg(test)]
mod tests;
