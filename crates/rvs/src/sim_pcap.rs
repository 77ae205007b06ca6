//! `rvs sim --pcap IN --out OUT`: replay captured frames through the packet engine.
//!
//! Every input frame arrives on the first `--iface` (or `--ingress NAME`); every frame the
//! director would transmit is written to OUT in order; one line per input frame says what
//! happened. An unknown next hop is an error naming the address: add `--neigh IP=MAC`.

use std::fmt::Write as _;
use std::net::IpAddr;

use rvs_core::engine::golden::verdict_line;
use rvs_core::engine::{Engine, Frame, HEADROOM, IfaceId, Routes, StaticNeighbours, Verdict};
use rvs_core::time::Time;
use rvs_core::wire::{self, FrameKind, L4Info};

use crate::frame_args;
use crate::pcap;

/// The interface and neighbour options of frame mode.
#[derive(Debug, Default)]
pub struct FrameOptions {
    /// `--iface NAME=MAC,IPv4[/LEN][,IPv6[/LEN]]`, in order.
    pub ifaces: Vec<String>,
    /// `--neigh IP=MAC`.
    pub neigh: Vec<String>,
    /// `--route PREFIX/LEN=IFACE[,via=GW]`.
    pub routes: Vec<String>,
    /// `--local-address IP[@SERVICE]`.
    pub local: Vec<String>,
    /// `--ingress NAME`.
    pub ingress: Option<String>,
}

/// Set up interfaces, routes, neighbours and FULLNAT local addresses.
pub fn configure(eng: &mut Engine, o: &FrameOptions) -> Result<StaticNeighbours, String> {
    if o.ifaces.is_empty() {
        return Err("--pcap needs at least one --iface NAME=MAC,IPv4[/LEN][,IPv6[/LEN]]".into());
    }
    for s in &o.ifaces {
        let i = frame_args::parse_iface(s)?;
        if eng.routes.by_name(&i.name).is_some() {
            return Err(format!(
                "bad --iface \"{s}\": interface {} given twice",
                i.name
            ));
        }
        eng.routes.add_interface(i);
    }
    for s in &o.routes {
        let (prefix, len, ifname, gw) = frame_args::parse_route(s)?;
        let id = eng
            .routes
            .by_name(&ifname)
            .ok_or_else(|| format!("bad --route \"{s}\": no interface {ifname}"))?;
        eng.routes
            .add_route(prefix, len, id, gw)
            .map_err(|e| format!("bad --route \"{s}\": {e}"))?;
    }
    let mut n = StaticNeighbours::default();
    for s in &o.neigh {
        let (ip, mac) = frame_args::parse_neigh(s)?;
        n.insert(ip, mac);
    }
    for s in &o.local {
        let (svc, ip) = frame_args::parse_local_address(s)?;
        eng.fullnat.add_local_address(svc, ip);
    }
    Ok(n)
}

fn ingress_of(routes: &Routes, o: &FrameOptions) -> Result<IfaceId, String> {
    match &o.ingress {
        Some(name) => routes
            .by_name(name)
            .ok_or_else(|| format!("--ingress {name}: no such --iface")),
        None => Ok(IfaceId(0)),
    }
}

/// `tcp 198.18.0.10:40000 > 198.18.1.11:8080 [S]` for a frame.
pub fn summary(frame: &[u8]) -> String {
    let Ok(info) = wire::parse_frame(frame) else {
        return "malformed".into();
    };
    let ip = match info.kind {
        FrameKind::Arp => return "arp".into(),
        FrameKind::Other => return format!("ethertype {:#06x}", info.ethertype),
        FrameKind::Ip(ip) => ip,
    };
    let ep = |a: &IpAddr, p: u16| match a {
        IpAddr::V4(v) => format!("{v}:{p}"),
        IpAddr::V6(v) => format!("[{v}]:{p}"),
    };
    let mut s = match ip.l4info {
        L4Info::Tcp {
            sport,
            dport,
            flags,
            ..
        } => {
            let mut f = String::new();
            for (bit, c) in [(2, 'S'), (1, 'F'), (4, 'R'), (8, 'P'), (16, '.')] {
                if flags & bit != 0 {
                    f.push(c);
                }
            }
            format!("tcp {} > {} [{f}]", ep(&ip.src, sport), ep(&ip.dst, dport))
        }
        L4Info::Udp { sport, dport } => {
            format!("udp {} > {}", ep(&ip.src, sport), ep(&ip.dst, dport))
        }
        L4Info::Sctp { sport, dport, .. } => {
            format!("sctp {} > {}", ep(&ip.src, sport), ep(&ip.dst, dport))
        }
        L4Info::Icmp { ty, code, .. } => {
            let name = if ip.src.is_ipv6() { "icmp6" } else { "icmp" };
            format!("{name} {} > {} type {ty} code {code}", ip.src, ip.dst)
        }
        L4Info::Tunnel => format!("ipip {} > {}", ip.src, ip.dst),
        L4Info::Other => format!("proto {} {} > {}", ip.proto, ip.src, ip.dst),
    };
    if let L4Info::Tunnel = ip.l4info
        && let Some(inner) = frame.get(ip.l4..)
    {
        // Show the encapsulated packet too.
        let mut fake = vec![0u8; 12];
        fake.extend_from_slice(if ip.proto == wire::ipproto::IPV6 {
            &[0x86, 0xdd]
        } else {
            &[0x08, 0x00]
        });
        fake.extend_from_slice(inner);
        let _ = write!(s, " ({})", summary(&fake));
    }
    s
}

/// Replay `input` (pcap bytes) through `eng`; returns the report and the pcap to write.
pub fn replay(
    eng: &mut Engine,
    o: &FrameOptions,
    input: &[u8],
) -> Result<(String, Vec<u8>), String> {
    let neigh = configure(eng, o)?;
    let ingress = ingress_of(&eng.routes, o)?;
    let records = pcap::read(input).map_err(|e| e.to_string())?;
    let mut w = pcap::Writer::new(Vec::new()).map_err(|e| e.to_string())?;
    let mut report = String::new();
    let t0 = records.first().map_or(0, |r| r.ts_ns);
    let mut buf = vec![0u8; HEADROOM + 65536 + 256];
    for (i, r) in records.iter().enumerate() {
        let n = i + 1;
        let now = Time(1000 + r.ts_ns.saturating_sub(t0) / 1_000_000);
        let len = r.data.len().min(65536);
        buf[HEADROOM..HEADROOM + len].copy_from_slice(&r.data[..len]);
        let mut f = Frame::new(&mut buf, HEADROOM, len).map_err(|e| format!("frame {n}: {e}"))?;
        let v = eng.process(&mut f, ingress, now, &neigh);
        let line = verdict_line(&v, &eng.routes);
        match v {
            Verdict::Transmit { .. } => {
                let _ = writeln!(report, "{n} {line}: {}", summary(f.data()));
                w.write(r.ts_ns, f.data()).map_err(|e| e.to_string())?;
            }
            Verdict::Unresolved {
                egress, next_hop, ..
            } => {
                let ifname = eng.routes.iface(egress).map_or("?", |i| i.name.as_str());
                return Err(format!(
                    "frame {n}: unknown neighbour {next_hop} on {ifname}: add --neigh {next_hop}=MAC"
                ));
            }
            Verdict::Pass(_) | Verdict::Drop(_) => {
                let _ = writeln!(report, "{n} {line}: {}", summary(&r.data));
            }
        }
    }
    let out = w.finish().map_err(|e| e.to_string())?;
    Ok((report, out))
}
