//! The "kitchen sink" director: one engine on the lab topology with a service of every
//! kind, for fuzzing, replay tests, benchmarks and golden fixtures.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addr::{Af, Protocol};
use crate::command::{Command, DestConfig, OpError, ServiceConfig};
use crate::dest::{FwdMethod, TunConfig, TunCsum, TunType};
use crate::engine::Engine;
use crate::fwmark::FwmarkRule;
use crate::service::ServiceKey;
use crate::time::Time;

/// The IPv4 virtual address of every address-keyed IPv4 service.
pub const VIP4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
/// The IPv6 virtual address of every address-keyed IPv6 service.
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x100);
/// The address the fwmark rule classifies (UDP ports 5000–5010) to mark [`FWMARK`].
pub const FWMARK_VIP4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 101);
/// The mark of the fwmark service.
pub const FWMARK: u32 = 1;
/// FULLNAT local address of the IPv4 TCP FULLNAT service (its own pool).
pub const LIP4_SVC: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 200);
/// FULLNAT local address in the global pool, IPv4.
pub const LIP4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 201);
/// FULLNAT local address in the global pool, IPv6.
pub const LIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x200);
/// The time the kitchen sink is configured at.
pub const START: Time = Time(1000);

/// One service of the kitchen sink: its key and its real servers (address, port, method).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkService {
    /// Service key.
    pub key: ServiceKey,
    /// Scheduler name.
    pub scheduler: &'static str,
    /// Persistence timeout in seconds.
    pub persistent: Option<u32>,
    /// Real servers.
    pub dests: Vec<(IpAddr, u16, FwdMethod)>,
}

fn v4(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 18, 1, d))
}

fn v6(d: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, d))
}

fn addr(proto: Protocol, addr: IpAddr, port: u16) -> ServiceKey {
    ServiceKey::Addr { proto, addr, port }
}

/// The services of [`kitchen_sink`], in the order they are added.
///
/// | service | scheduler | real servers |
/// |---|---|---|
/// | tcp 198.18.0.100:80 | rr | NAT 198.18.1.11:8080, .12:8080 |
/// | tcp 198.18.0.100:81 | wlc | DR 198.18.1.21:81, .22:81 |
/// | tcp 198.18.0.100:82 | rr | TUN 198.18.1.31:82, fd00:1::32:82 (v4 in v6) |
/// | tcp 198.18.0.100:83 | rr | FULLNAT 198.18.1.41:8083, .42:8083 (own local address 198.18.1.200) |
/// | udp 198.18.0.100:53 | rr | NAT 198.18.1.51:5353, FULLNAT 198.18.1.52:53 |
/// | sctp 198.18.0.100:3868 | rr | NAT 198.18.1.61:3868, FULLNAT .62:3868 |
/// | tcp 198.18.0.100:443 | rr, persistent 300 s | NAT 198.18.1.71:443, .72:443 |
/// | tcp 198.18.0.100:8000 | wlc | none (port unreachable) |
/// | fwmark 1 (udp 198.18.0.101:5000–5010) | rr | NAT 198.18.1.81:0, DR .82:0 |
/// | tcp [fd00::100]:80 | rr | NAT fd00:1::11:8080, FULLNAT fd00:1::12:8080 |
/// | udp [fd00::100]:53 | rr | DR fd00:1::21:53, TUN 198.18.1.22:53 (v6 in v4) |
/// | tcp [fd00::100]:82 | rr | TUN fd00:1::31:82 |
/// | sctp [fd00::100]:3868 | rr | FULLNAT fd00:1::61:3868, NAT fd00:1::62:3868 |
/// | udp [fd00::100]:443 | sh, persistent 60 s | NAT fd00:1::71:443 |
///
/// Global FULLNAT pool: 198.18.1.201 and fd00:1::200.
pub fn sink_services() -> Vec<SinkService> {
    use FwdMethod::{FullNat, Masq, Route, Tunnel};
    use Protocol::{Sctp, Tcp, Udp};
    let vip4 = IpAddr::V4(VIP4);
    let vip6 = IpAddr::V6(VIP6);
    let s = |key, scheduler, persistent, dests| SinkService {
        key,
        scheduler,
        persistent,
        dests,
    };
    vec![
        s(
            addr(Tcp, vip4, 80),
            "rr",
            None,
            vec![(v4(11), 8080, Masq), (v4(12), 8080, Masq)],
        ),
        s(
            addr(Tcp, vip4, 81),
            "wlc",
            None,
            vec![(v4(21), 81, Route), (v4(22), 81, Route)],
        ),
        s(
            addr(Tcp, vip4, 82),
            "rr",
            None,
            vec![(v4(31), 82, Tunnel), (v6(0x32), 82, Tunnel)],
        ),
        s(
            addr(Tcp, vip4, 83),
            "rr",
            None,
            vec![(v4(41), 8083, FullNat), (v4(42), 8083, FullNat)],
        ),
        s(
            addr(Udp, vip4, 53),
            "rr",
            None,
            vec![(v4(51), 5353, Masq), (v4(52), 53, FullNat)],
        ),
        s(
            addr(Sctp, vip4, 3868),
            "rr",
            None,
            vec![(v4(61), 3868, Masq), (v4(62), 3868, FullNat)],
        ),
        s(
            addr(Tcp, vip4, 443),
            "rr",
            Some(300),
            vec![(v4(71), 443, Masq), (v4(72), 443, Masq)],
        ),
        s(addr(Tcp, vip4, 8000), "wlc", None, vec![]),
        s(
            ServiceKey::Fwmark {
                af: Af::Inet,
                mark: FWMARK,
            },
            "rr",
            None,
            vec![(v4(81), 0, Masq), (v4(82), 0, Route)],
        ),
        s(
            addr(Tcp, vip6, 80),
            "rr",
            None,
            vec![(v6(0x11), 8080, Masq), (v6(0x12), 8080, FullNat)],
        ),
        s(
            addr(Udp, vip6, 53),
            "rr",
            None,
            vec![(v6(0x21), 53, Route), (v4(22), 53, Tunnel)],
        ),
        s(
            addr(Tcp, vip6, 82),
            "rr",
            None,
            vec![(v6(0x31), 82, Tunnel)],
        ),
        s(
            addr(Sctp, vip6, 3868),
            "rr",
            None,
            vec![(v6(0x61), 3868, FullNat), (v6(0x62), 3868, Masq)],
        ),
        s(
            addr(Udp, vip6, 443),
            "sh",
            Some(60),
            vec![(v6(0x71), 443, Masq)],
        ),
    ]
}

/// The commands that build the kitchen sink's tables (services, dests, fwmark rule).
pub fn sink_commands() -> Vec<Command> {
    let mut cmds = vec![Command::AddFwmarkRule(FwmarkRule {
        mark: FWMARK,
        proto: Some(Protocol::Udp),
        addr: IpAddr::V4(FWMARK_VIP4),
        plen: 32,
        ports: vec![(5000, 5010)],
    })];
    for s in sink_services() {
        let mut cfg = ServiceConfig::new(s.key);
        cfg.scheduler = s.scheduler.into();
        cfg.persistent = s.persistent;
        cmds.push(Command::AddService(cfg));
        for (a, port, fwd) in s.dests {
            let mut d = DestConfig::new(a, port);
            d.fwd = fwd;
            d.tun = tunnel_of(&a);
            cmds.push(Command::AddDest(s.key, d));
        }
    }
    cmds
}

/// The encapsulation of a tunnel dest: `fd00:1::32` uses GUE (port 6080, checksum),
/// `198.18.1.22` GRE (checksum); the others IP-in-IP.
fn tunnel_of(addr: &IpAddr) -> TunConfig {
    match addr {
        IpAddr::V6(a) if a.segments()[7] == 0x32 => TunConfig {
            kind: TunType::Gue,
            port: 6080,
            csum: TunCsum::Csum,
        },
        IpAddr::V4(a) if a.octets()[3] == 22 => TunConfig {
            kind: TunType::Gre,
            port: 0,
            csum: TunCsum::Csum,
        },
        _ => TunConfig::default(),
    }
}

/// Build the kitchen sink, or say which command the tables refused.
pub fn try_kitchen_sink() -> Result<Engine, OpError> {
    let mut e = super::engine();
    for cmd in sink_commands() {
        e.director.apply(&cmd, START)?;
    }
    e.fullnat.add_local_address(
        Some(addr(Protocol::Tcp, IpAddr::V4(VIP4), 83)),
        IpAddr::V4(LIP4_SVC),
    );
    e.fullnat.add_local_address(None, IpAddr::V4(LIP4));
    e.fullnat.add_local_address(None, IpAddr::V6(LIP6));
    Ok(e)
}

/// An engine on the lab topology ([`super::configure`]) with a service of every kind
/// ([`sink_services`]): NAT, DR, TUN (all four family combinations) and FULLNAT; TCP, UDP
/// and SCTP; IPv4 and IPv6; persistent services; a service with no real server (answers
/// port unreachable); a fwmark service fed by a classifier rule; FULLNAT local addresses
/// in a service pool and the global pool. Deterministic: default settings, director seed
/// 1, scheduler randomness `SplitMix64(3)`, configured at [`START`]. Use
/// [`super::LabNeighbours`] as its neighbours.
///
/// # Panics
///
/// Never: the configuration is fixed and tested (`try_kitchen_sink` gives the error).
pub fn kitchen_sink() -> Engine {
    match try_kitchen_sink() {
        Ok(e) => e,
        Err(e) => panic!("kitchen sink configuration refused: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_and_dest_is_configured() {
        let e = try_kitchen_sink().unwrap();
        let want = sink_services();
        assert_eq!(e.director.table.services().count(), want.len());
        for s in &want {
            let (_, svc) = e
                .director
                .table
                .services()
                .find(|(_, x)| x.key == s.key)
                .unwrap_or_else(|| panic!("missing {:?}", s.key));
            assert_eq!(svc.dests.len(), s.dests.len(), "{:?}", s.key);
        }
        assert_eq!(e.director.classifier.rules().len(), 1);
        assert_eq!(e.fullnat.local_addresses().count(), 3);
        assert!(e.fullnat.is_local_address(&IpAddr::V4(LIP4_SVC)));
    }
}
