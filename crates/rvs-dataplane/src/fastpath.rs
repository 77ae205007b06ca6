//! The XDP fast path's entries, built from the engine: given a connection, the keys its
//! packets arrive with and the rewrite the engine would apply to them (addresses, ports,
//! TTL, MACs, egress, tunnel header). This is the one place the map values come from; the
//! C in `bpf/rvs_fastpath.h` only applies them, and the differential test
//! (`tests/fastpath_test_run.rs`) holds it to the engine's bytes.

use std::net::IpAddr;

use rvs_core::FwdMethod;
use rvs_core::conn::ConnId;
use rvs_core::conn::state;
use rvs_core::dest::{TunCsum, TunType};
use rvs_core::director::fwd_of;
use rvs_core::engine::{Engine, Hop, IfaceId, Neighbours, encap_len, gue_source_port};
use rvs_xdp::{DIR_IN, DIR_OUT, Flow, FlowKey, ops, tun};

/// One map entry: packets arriving with `key` get `flow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEntry {
    /// The packets' 5-tuple as they arrive.
    pub key: FlowKey,
    /// What the fast path does with them.
    pub flow: Flow,
}

/// Why a connection stays in userspace.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFast {
    /// No such connection.
    #[error("no such connection")]
    NoConn,
    /// A persistence template, a one-packet connection, or no dest.
    #[error("not a forwarding connection")]
    NotForwarding,
    /// The connection's dest was deleted (the engine drops its packets or expires it).
    #[error("dest unavailable")]
    DestUnavailable,
    /// Only TCP and UDP are handled in XDP (SCTP checksums are a CRC over the packet).
    #[error("protocol {0} stays in userspace")]
    Protocol(u8),
    /// TCP not (yet / any more) in ESTABLISHED.
    #[error("TCP connection not established")]
    NotEstablished,
    /// The director itself is the dest.
    #[error("local dest")]
    Local,
    /// Virtual and real addresses of different families (NAT, FULLNAT).
    #[error("address families differ")]
    FamilyMismatch,
    /// No route towards the real server or the client.
    #[error("no route")]
    NoRoute,
    /// The next hop's MAC is unknown (yet): the interface and address to resolve.
    #[error("next hop {1} unresolved")]
    Unresolved(IfaceId, IpAddr),
    /// The egress interface has no ifindex (not served by the data plane).
    #[error("egress interface not served")]
    NoIfindex,
    /// TUN: the egress interface has no address of the outer family.
    #[error("no tunnel source address")]
    NoSourceAddress,
    /// FULLNAT: no local address and port allocated.
    #[error("no FULLNAT allocation")]
    NoAllocation,
}

/// Whether a connection in this state may be put in the fast path: TCP in ESTABLISHED,
/// any UDP flow. Every other packet (and every packet of other connections) goes through
/// the engine, so state changes stay in rvs-core.
pub fn eligible(proto: u8, state_: u8) -> bool {
    match proto {
        6 => state_ == state::tcp::ESTABLISHED,
        17 => true,
        _ => false,
    }
}

/// The flow key of a TCP frame with FIN or RST (IPv4, or IPv6 without extension headers;
/// one VLAN tag at most): such a frame ends ESTABLISHED, so the data plane takes its
/// connection out of the fast path at once rather than at the next sync.
pub fn closing_key(frame: &[u8]) -> Option<FlowKey> {
    let et = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
    let (mut t, mut l3) = (et(12)?, 14);
    if t == 0x8100 || t == 0x88a8 {
        t = et(16)?;
        l3 = 18;
    }
    let ip = frame.get(l3..)?;
    let (src, dst, l4): (IpAddr, IpAddr, &[u8]) = match t {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            if ip.get(9)? != &6 || u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x1fff != 0 {
                return None;
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (s.into(), d.into(), ip.get(ihl.max(20)..)?)
        }
        0x86dd => {
            if ip.get(6)? != &6 {
                return None;
            }
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (s.into(), d.into(), ip.get(40..)?)
        }
        _ => return None,
    };
    if l4.get(13)? & 0x05 == 0 {
        return None;
    }
    let port = |at: usize| Some(u16::from_be_bytes([*l4.get(at)?, *l4.get(at + 1)?]));
    FlowKey::new(6, src, port(0)?, dst, port(2)?)
}

fn bytes16(a: &IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match a {
        IpAddr::V4(v) => out[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => out = v.octets(),
    }
    out
}

/// The entries of connection `id` (client → server, and server → client for NAT and
/// FULLNAT), with the engine's routes and `neigh`'s MACs. `ifindex` maps the engine's
/// interfaces to kernel ifindexes; `slot` is the counter slot of the connection's dest.
pub fn entries(
    engine: &Engine,
    id: ConnId,
    neigh: &dyn Neighbours,
    ifindex: &dyn Fn(IfaceId) -> Option<u32>,
    slot: u32,
) -> Result<Vec<FlowEntry>, NotFast> {
    let c = engine.director.conns.get(id).ok_or(NotFast::NoConn)?;
    if c.is_template() || c.dest.is_none() || c.flags & rvs_core::conn::flags::ONE_PACKET != 0 {
        return Err(NotFast::NotForwarding);
    }
    if c.proto != 6 && c.proto != 17 {
        return Err(NotFast::Protocol(c.proto));
    }
    if !eligible(c.proto, c.state) {
        return Err(NotFast::NotEstablished);
    }
    let available = c
        .dest
        .and_then(|d| engine.director.table.dest(d))
        .is_some_and(|d| d.available);
    if !available {
        return Err(NotFast::DestUnavailable);
    }
    let fwd = fwd_of(c.flags);
    let key_in =
        FlowKey::new(c.proto, c.caddr, c.cport, c.vaddr, c.vport).ok_or(NotFast::FamilyMismatch)?;
    let base = Flow {
        slot,
        ..Flow::default()
    };
    // A frame towards `hop` (MACs: the egress interface's, the next hop's).
    let addressed = |mut f: Flow, hop: Hop| -> Result<Flow, NotFast> {
        let iface = engine.routes.iface(hop.iface).ok_or(NotFast::NoRoute)?;
        f.smac = iface.mac;
        f.dmac = neigh
            .mac(hop.iface, &hop.next_hop)
            .ok_or(NotFast::Unresolved(hop.iface, hop.next_hop))?;
        f.egress = ifindex(hop.iface).ok_or(NotFast::NoIfindex)?;
        Ok(f)
    };
    let to_dest = |direct: bool| -> Result<Hop, NotFast> {
        let mut hop = engine.routes.lookup(&c.daddr).ok_or(NotFast::NoRoute)?;
        if direct {
            hop.next_hop = c.daddr;
        }
        Ok(hop)
    };
    let mut out = Vec::with_capacity(2);
    match fwd {
        FwdMethod::Local => return Err(NotFast::Local),
        FwdMethod::Route => {
            // new_dst is not applied (no SET_DST): it records the dest, so a restarted
            // rvsd can adopt the flow.
            let f = Flow {
                dir: DIR_IN,
                new_dst: bytes16(&c.daddr),
                new_dport_be: c.dport.to_be(),
                ..base
            };
            let f = addressed(f, to_dest(true)?)?;
            out.push(FlowEntry {
                key: key_in,
                flow: f,
            });
        }
        FwdMethod::Masq => {
            if c.daddr.is_ipv6() != c.vaddr.is_ipv6() {
                return Err(NotFast::FamilyMismatch);
            }
            let f = Flow {
                dir: DIR_IN,
                ops: ops::SET_DST,
                new_dst: bytes16(&c.daddr),
                new_dport_be: c.dport.to_be(),
                ..base
            };
            out.push(FlowEntry {
                key: key_in,
                flow: addressed(f, to_dest(false)?)?,
            });
            let key_out = FlowKey::new(c.proto, c.daddr, c.dport, c.caddr, c.cport)
                .ok_or(NotFast::FamilyMismatch)?;
            let r = Flow {
                dir: DIR_OUT,
                ops: ops::DEC_TTL | ops::SET_SRC,
                new_src: bytes16(&c.vaddr),
                new_sport_be: c.vport.to_be(),
                ..base
            };
            let hop = engine.routes.lookup(&c.caddr).ok_or(NotFast::NoRoute)?;
            out.push(FlowEntry {
                key: key_out,
                flow: addressed(r, hop)?,
            });
        }
        FwdMethod::Tunnel => {
            let dest = c.dest.and_then(|d| engine.director.table.dest(d));
            let t = dest.map(|d| d.tun).unwrap_or_default();
            let hop = to_dest(false)?;
            let outer6 = c.daddr.is_ipv6();
            let src = engine
                .routes
                .source_for(hop.iface, outer6)
                .ok_or(NotFast::NoSourceAddress)?;
            let mtu = engine.routes.iface(hop.iface).map_or(1500, |i| i.mtu) as usize;
            let overhead = if outer6 { 40 } else { 20 } + encap_len(&t);
            let max_len = mtu.saturating_sub(overhead).min(usize::from(u16::MAX)) as u16;
            let (tun_type, port) = match t.kind {
                TunType::Ipip => (tun::IPIP, 0),
                TunType::Gue => (tun::GUE, t.port),
                TunType::Gre => (tun::GRE, 0),
            };
            let f = Flow {
                dir: DIR_IN,
                ops: ops::ENCAP,
                tun_type,
                tun_flags: if outer6 { tun::F_OUTER6 } else { 0 }
                    | if t.csum == TunCsum::Csum && t.kind != TunType::Ipip {
                        tun::F_CSUM
                    } else {
                        0
                    },
                max_len,
                tun_port_be: port.to_be(),
                tun_sport_be: gue_source_port(&c.caddr, &c.vaddr, c.cport, c.vport, c.proto)
                    .to_be(),
                tun_src: bytes16(&src),
                tun_dst: bytes16(&c.daddr),
                // Not applied (no SET_DST): the dest, for adoption after a restart.
                new_dst: bytes16(&c.daddr),
                new_dport_be: c.dport.to_be(),
                ..base
            };
            out.push(FlowEntry {
                key: key_in,
                flow: addressed(f, hop)?,
            });
        }
        FwdMethod::FullNat => {
            if c.daddr.is_ipv6() != c.vaddr.is_ipv6() {
                return Err(NotFast::FamilyMismatch);
            }
            let (laddr, lport) = engine.fullnat.get(id).ok_or(NotFast::NoAllocation)?;
            let f = Flow {
                dir: DIR_IN,
                ops: ops::SET_SRC | ops::SET_DST,
                new_src: bytes16(&laddr),
                new_sport_be: lport.to_be(),
                new_dst: bytes16(&c.daddr),
                new_dport_be: c.dport.to_be(),
                ..base
            };
            out.push(FlowEntry {
                key: key_in,
                flow: addressed(f, to_dest(false)?)?,
            });
            let key_out = FlowKey::new(c.proto, c.daddr, c.dport, laddr, lport)
                .ok_or(NotFast::FamilyMismatch)?;
            let r = Flow {
                dir: DIR_OUT,
                ops: ops::DEC_TTL | ops::SET_SRC | ops::SET_DST,
                new_src: bytes16(&c.vaddr),
                new_sport_be: c.vport.to_be(),
                new_dst: bytes16(&c.caddr),
                new_dport_be: c.cport.to_be(),
                ..base
            };
            let hop = engine.routes.lookup(&c.caddr).ok_or(NotFast::NoRoute)?;
            out.push(FlowEntry {
                key: key_out,
                flow: addressed(r, hop)?,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::command::{Command, DestConfig, ServiceConfig};
    use rvs_core::engine::lab::{self, LabNeighbours};
    use rvs_core::engine::{Frame, HEADROOM};
    use rvs_core::time::Time;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn engine_with(fwd: FwdMethod) -> Engine {
        let mut e = lab::engine();
        let key = rvs_core::ServiceKey::Addr {
            proto: rvs_core::Protocol::Tcp,
            addr: ip("198.18.0.100"),
            port: 80,
        };
        let svc = ServiceConfig::new(key);
        e.director
            .apply(&Command::AddService(svc), Time::ZERO)
            .unwrap();
        let mut d = DestConfig::new(ip("198.18.1.11"), 8080);
        d.fwd = fwd;
        e.director
            .apply(&Command::AddDest(key, d), Time::ZERO)
            .unwrap();
        e
    }

    fn syn(e: &mut Engine, flags: u8) {
        let mut pkt = Vec::new();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x10], lab::EXT_MAC)
            .ipv4([198, 18, 0, 10], [198, 18, 0, 100], 64)
            .tcp(40000, 80, 1, 1000)
            .write(&mut pkt, &[])
            .unwrap();
        pkt[14 + 20 + 13] = flags;
        let mut buf = vec![0u8; HEADROOM + pkt.len() + 256];
        buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(&pkt);
        let mut f = Frame::new(&mut buf, HEADROOM, pkt.len()).unwrap();
        e.process(&mut f, lab::EXT, Time(1000), &LabNeighbours);
    }

    fn idx(i: IfaceId) -> Option<u32> {
        Some(100 + u32::from(i.0 as u16))
    }

    #[test]
    fn nat_gives_both_directions_once_established() {
        let mut e = engine_with(FwdMethod::Masq);
        syn(&mut e, 0x02);
        let (id, _) = e.director.conns.iter().next().unwrap();
        assert_eq!(
            entries(&e, id, &LabNeighbours, &idx, 3),
            Err(NotFast::NotEstablished)
        );
        e.director.conns.get_mut(id).unwrap().state = state::tcp::ESTABLISHED;
        let v = entries(&e, id, &LabNeighbours, &idx, 3).unwrap();
        assert_eq!(v.len(), 2);
        let (fw, rp) = (&v[0], &v[1]);
        assert_eq!(
            fw.key,
            FlowKey::new(6, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80).unwrap()
        );
        assert_eq!(fw.flow.ops, ops::SET_DST);
        assert_eq!(fw.flow.new_dst[..4], [198, 18, 1, 11]);
        assert_eq!(u16::from_be(fw.flow.new_dport_be), 8080);
        assert_eq!(fw.flow.egress, 101);
        assert_eq!(fw.flow.dmac, lab::server_mac(&ip("198.18.1.11")));
        assert_eq!(fw.flow.smac, lab::INT_MAC);
        assert_eq!((fw.flow.slot, fw.flow.dir), (3, DIR_IN));
        assert_eq!(
            rp.key,
            FlowKey::new(6, ip("198.18.1.11"), 8080, ip("198.18.0.10"), 40000).unwrap()
        );
        assert_eq!(rp.flow.ops, ops::DEC_TTL | ops::SET_SRC);
        assert_eq!(rp.flow.egress, 100);
        assert_eq!(rp.flow.dmac, lab::CLIENT_MAC);
        assert_eq!(rp.flow.dir, DIR_OUT);
    }

    #[test]
    fn dr_is_one_mac_rewrite_and_unresolved_stays_in_userspace() {
        let mut e = engine_with(FwdMethod::Route);
        syn(&mut e, 0x02);
        let (id, _) = e.director.conns.iter().next().unwrap();
        e.director.conns.get_mut(id).unwrap().state = state::tcp::ESTABLISHED;
        let v = entries(&e, id, &LabNeighbours, &idx, 0).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].flow.ops, 0);
        assert_eq!(v[0].flow.dmac, lab::server_mac(&ip("198.18.1.11")));
        // Not applied, but recorded for adoption after a restart.
        assert_eq!(v[0].flow.new_dst[..4], [198, 18, 1, 11]);
        assert_eq!(u16::from_be(v[0].flow.new_dport_be), 8080);
        let none = rvs_core::engine::StaticNeighbours::default();
        assert_eq!(
            entries(&e, id, &none, &idx, 0),
            Err(NotFast::Unresolved(lab::INT, ip("198.18.1.11"))),
            "the hop to resolve"
        );
        assert_eq!(
            entries(&e, id, &LabNeighbours, &|_| None, 0),
            Err(NotFast::NoIfindex)
        );
    }

    #[test]
    fn closing_frames_give_their_key() {
        let frame = |flags: u8, v6: bool| {
            let mut pkt = Vec::new();
            let b = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6]);
            let b = if v6 {
                b.ipv6([0xfd; 16], [0xfe; 16], 64)
            } else {
                b.ipv4([198, 18, 0, 10], [198, 18, 0, 100], 64)
            };
            b.tcp(40000, 80, 1, 1000).write(&mut pkt, b"x").unwrap();
            let l4 = if v6 { 14 + 40 } else { 14 + 20 };
            pkt[l4 + 13] = flags;
            pkt
        };
        let k4 = FlowKey::new(6, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80);
        assert_eq!(closing_key(&frame(0x11, false)), k4);
        assert_eq!(closing_key(&frame(0x04, false)), k4);
        assert_eq!(closing_key(&frame(0x10, false)), None);
        assert_eq!(closing_key(&frame(0x18, false)), None);
        let k6 = FlowKey::new(
            6,
            IpAddr::from([0xfd; 16]),
            40000,
            IpAddr::from([0xfe; 16]),
            80,
        );
        assert_eq!(closing_key(&frame(0x01, true)), k6);
        assert_eq!(closing_key(&frame(0x02, true)), None);
        assert_eq!(closing_key(&frame(0x01, true)[..20]), None);
    }

    #[test]
    fn eligibility() {
        assert!(eligible(6, state::tcp::ESTABLISHED));
        assert!(!eligible(6, state::tcp::SYN_RECV));
        assert!(!eligible(6, state::tcp::FIN_WAIT));
        assert!(eligible(17, 0));
        assert!(!eligible(132, 0));
    }
}
