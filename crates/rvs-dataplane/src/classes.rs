//! What the XDP classifier must send to userspace, computed from the engine's tables.

use std::collections::BTreeSet;
use std::net::IpAddr;

use rvs_core::addr::{Af, Protocol};
use rvs_core::dest::FwdMethod;
use rvs_core::engine::Engine;
use rvs_core::service::ServiceKey;

use rvs_xdp::{Classes, FwmarkClass};

/// TCP, UDP and SCTP: what a rule or service "of any protocol" stands for.
const ALL_PROTOS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// The classifier's maps for `engine`:
/// - `services`: every address-keyed service as (VIP, proto, port) (port 0 = any port);
/// - `fwmark`: every fwmark classifier rule whose mark has a service of the rule's
///   family (a rule of any protocol gives a class of protocol 0 = TCP, UDP or SCTP);
/// - `replies`: every NAT (Masq) dest, in its service or in the trash, as (RIP, proto,
///   rport) — the source of the real server's replies. A fwmark service's dests use the
///   protocols of the service's rules, and port 0 when the dest port is 0 (the packet's
///   own port: replies come from any port);
/// - `locals`: every FULLNAT local address with the engine's local port range.
pub fn classes_of(engine: &Engine) -> Classes {
    let d = &engine.director;
    let mut c = Classes::default();
    // Marks with a service, by family; and the protocols each mark's rules cover.
    let mut marks: BTreeSet<(bool, u32)> = BTreeSet::new();
    for (_, s) in d.table.services() {
        match s.key {
            ServiceKey::Addr { proto, addr, port } => {
                c.services.insert((addr, proto.number(), port));
            }
            ServiceKey::Fwmark { af, mark } => {
                marks.insert((af == Af::Inet6, mark));
            }
        }
    }
    for r in d.classifier.rules() {
        if !marks.contains(&(r.addr.is_ipv6(), r.mark)) {
            continue;
        }
        c.fwmark.push(FwmarkClass {
            // 0 = any of TCP, UDP, SCTP, as the rule's `None`.
            proto: r.proto.map_or(0, Protocol::number),
            prefix: r.addr,
            plen: r.plen,
            ports: r.ports.clone(),
        });
    }
    // NAT dests: live ones through their services, deleted ones still referenced by
    // connections through the trash.
    let live = d
        .table
        .services()
        .flat_map(|(_, s)| s.dests.iter().copied());
    for id in live.chain(d.table.trash().iter().copied()) {
        let Some(dest) = d.table.dest(id) else {
            continue;
        };
        if dest.fwd != FwdMethod::Masq {
            continue;
        }
        let key = d.table.service(dest.svc).map(|s| s.key);
        let ps: Vec<Protocol> = match key {
            Some(ServiceKey::Addr { proto, .. }) => vec![proto],
            Some(ServiceKey::Fwmark { af, mark }) => {
                let mut ps: Vec<Protocol> = d
                    .classifier
                    .rules()
                    .iter()
                    .filter(|r| r.mark == mark && r.addr.is_ipv6() == (af == Af::Inet6))
                    .flat_map(|r| protos(r.proto))
                    .collect();
                ps.sort_by_key(|p| p.number());
                ps.dedup();
                ps
            }
            None => ALL_PROTOS.to_vec(),
        };
        for p in ps {
            c.replies.insert((dest.addr, p.number(), dest.port));
        }
    }
    let range = engine.fullnat.port_range();
    for (_, addr) in engine.fullnat.local_addresses() {
        c.locals.insert(*addr, range);
    }
    c
}

fn protos(p: Option<Protocol>) -> Vec<Protocol> {
    match p {
        Some(p) => vec![p],
        None => ALL_PROTOS.to_vec(),
    }
}

/// Whether an address is one the classes send to userspace as a service address
/// (tests and diagnostics).
pub fn is_service_addr(c: &Classes, addr: &IpAddr) -> bool {
    c.services.iter().any(|(a, _, _)| a == addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::command::{Command, DestConfig, ServiceConfig};
    use rvs_core::engine::lab;
    use rvs_core::fwmark::FwmarkRule;
    use rvs_core::time::Time;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 1, d))
    }
    fn v6(d: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, d))
    }

    #[test]
    fn kitchen_sink_classes() {
        let e = lab::kitchen_sink();
        let c = classes_of(&e);
        let vip4 = IpAddr::V4(lab::VIP4);
        let vip6 = IpAddr::V6(lab::VIP6);
        let want_services: BTreeSet<(IpAddr, u8, u16)> = [
            (vip4, 6, 80),
            (vip4, 6, 81),
            (vip4, 6, 82),
            (vip4, 6, 83),
            (vip4, 17, 53),
            (vip4, 132, 3868),
            (vip4, 6, 443),
            (vip4, 6, 8000),
            (vip6, 6, 80),
            (vip6, 17, 53),
            (vip6, 6, 82),
            (vip6, 132, 3868),
            (vip6, 17, 443),
        ]
        .into_iter()
        .collect();
        assert_eq!(c.services, want_services);
        let want_replies: BTreeSet<(IpAddr, u8, u16)> = [
            (v4(11), 6, 8080),
            (v4(12), 6, 8080),
            (v4(51), 17, 5353),
            (v4(61), 132, 3868),
            (v4(71), 6, 443),
            (v4(72), 6, 443),
            (v4(81), 17, 0), // fwmark service (udp rule), dest port 0
            (v6(0x11), 6, 8080),
            (v6(0x62), 132, 3868),
            (v6(0x71), 17, 443),
        ]
        .into_iter()
        .collect();
        assert_eq!(c.replies, want_replies);
        assert_eq!(
            c.fwmark,
            vec![FwmarkClass {
                proto: 17,
                prefix: IpAddr::V4(lab::FWMARK_VIP4),
                plen: 32,
                ports: vec![(5000, 5010)],
            }]
        );
        let range = e.fullnat.port_range();
        let want_locals: Vec<(IpAddr, (u16, u16))> = vec![
            (IpAddr::V4(lab::LIP4_SVC), range),
            (IpAddr::V4(lab::LIP4), range),
            (IpAddr::V6(lab::LIP6), range),
        ];
        let mut got: Vec<_> = c.locals.into_iter().collect();
        got.sort();
        let mut want = want_locals;
        want.sort();
        assert_eq!(got, want);
        assert!(is_service_addr(&classes_of(&e), &vip4));
    }

    #[test]
    fn empty_engine_has_no_classes() {
        assert_eq!(classes_of(&lab::engine()), Classes::default());
    }

    #[test]
    fn rules_without_service_and_any_protocol() {
        let mut e = lab::engine();
        let now = Time(1);
        let rule = |mark, proto, addr: &str, plen| FwmarkRule {
            mark,
            proto,
            addr: addr.parse().unwrap(),
            plen,
            ports: vec![],
        };
        // Mark 5 has a v4 service; mark 6 has none; mark 5 as a v6 rule has no v6 service.
        e.director
            .apply(
                &Command::AddFwmarkRule(rule(5, None, "198.18.0.0", 24)),
                now,
            )
            .unwrap();
        e.director
            .apply(
                &Command::AddFwmarkRule(rule(6, Some(Protocol::Tcp), "198.18.0.7", 32)),
                now,
            )
            .unwrap();
        e.director
            .apply(&Command::AddFwmarkRule(rule(5, None, "fd00::", 64)), now)
            .unwrap();
        let key = ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 5,
        };
        e.director
            .apply(&Command::AddService(ServiceConfig::new(key)), now)
            .unwrap();
        let mut d = DestConfig::new(v4(9), 0);
        d.fwd = FwdMethod::Masq;
        e.director.apply(&Command::AddDest(key, d), now).unwrap();
        let c = classes_of(&e);
        let got: Vec<(u8, IpAddr, u8)> = c
            .fwmark
            .iter()
            .map(|f| (f.proto, f.prefix, f.plen))
            .collect();
        let net: IpAddr = "198.18.0.0".parse().unwrap();
        assert_eq!(got, vec![(0, net, 24)]);
        let replies: Vec<_> = c.replies.into_iter().collect();
        assert_eq!(
            replies,
            vec![(v4(9), 6, 0), (v4(9), 17, 0), (v4(9), 132, 0)]
        );
        assert!(c.services.is_empty());
    }

    #[test]
    fn deleted_nat_dest_keeps_its_replies_while_in_the_trash() {
        let mut e = lab::engine();
        let now = Time(1);
        let key = ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: "198.18.0.100".parse().unwrap(),
            port: 9000,
        };
        e.director
            .apply(&Command::AddService(ServiceConfig::new(key)), now)
            .unwrap();
        let mut d = DestConfig::new(v4(11), 9000);
        d.fwd = FwdMethod::Masq;
        e.director.apply(&Command::AddDest(key, d), now).unwrap();
        assert!(classes_of(&e).replies.contains(&(v4(11), 17, 9000)));
        // A deleted dest waits in the trash (connections may still use it): its
        // replies still go to userspace until the trash is collected.
        e.director
            .apply(&Command::DelDest(key, v4(11), 9000), now)
            .unwrap();
        assert_eq!(e.director.table.trash().len(), 1);
        assert!(classes_of(&e).replies.contains(&(v4(11), 17, 9000)));
        e.advance(Time(3_600_000));
        assert!(e.director.table.trash().is_empty());
        assert!(classes_of(&e).replies.is_empty());
    }
}
