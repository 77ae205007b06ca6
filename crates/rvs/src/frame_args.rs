//! Parsers of the `rvs sim --pcap` options that describe the director's network:
//! `--iface`, `--neigh`, `--route` and `--local-address`. Their error strings are shown to
//! users as they are, so each says what was expected.

use std::net::{IpAddr, SocketAddr};

use rvs_core::engine::route::{DEFAULT_MTU, Interface};
use rvs_core::{Af, Protocol, ServiceKey};

const IFACE_FORM: &str = "NAME=MAC,IPv4[/LEN][,IPv6[/LEN]][,mtu=N]";
const NEIGH_FORM: &str = "IP=MAC (e.g. 10.0.0.2=02:00:00:00:00:02)";
const ROUTE_FORM: &str = "PREFIX/LEN=IFACE[,via=GATEWAY]";
const LOCAL_FORM: &str = "IP or IP@SERVICE, SERVICE being tcp:VIP:PORT, udp:VIP:PORT, \
                          sctp:VIP:PORT (IPv6: tcp:[VIP]:PORT) or fwmark:N";

/// `aa:bb:cc:dd:ee:ff` (also with `-`): six groups of one or two hex digits.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let err = || format!("bad MAC address \"{s}\": expected six hex bytes like 02:00:5e:00:00:01");
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in &mut mac {
        let p = parts.next().ok_or_else(err)?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(err());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| err())?;
    }
    if parts.next().is_some() {
        return Err(err());
    }
    Ok(mac)
}

/// `ADDR[/LEN]` with the family's default length when absent.
fn parse_addr_len(s: &str, v4_default: u8, v6_default: u8) -> Result<(IpAddr, u8), String> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("\"{a}\" is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match l {
        None => {
            if addr.is_ipv4() {
                v4_default
            } else {
                v6_default
            }
        }
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("prefix length \"{l}\" is not 0..={max}")),
        },
    };
    Ok((addr, len))
}

/// `--iface NAME=MAC,IPv4/LEN[,IPv6/LEN]` (prefix length optional: /24 and /64 default;
/// either address family may come first; at least one address). rvs also accepts more
/// addresses of either family and an `mtu=N` item (default 1500).
pub fn parse_iface(s: &str) -> Result<Interface, String> {
    let bad = |why: String| format!("bad --iface \"{s}\": expected {IFACE_FORM} ({why})");
    let (name, rest) = s
        .split_once('=')
        .ok_or_else(|| bad("no '=' after the name".into()))?;
    if name.is_empty() || name.contains(',') {
        return Err(bad(format!("\"{name}\" is not an interface name")));
    }
    let mut items = rest.split(',');
    let mac = parse_mac(items.next().unwrap_or("")).map_err(bad)?;
    let mut iface = Interface {
        name: name.to_string(),
        mac,
        mtu: DEFAULT_MTU,
        v4: Vec::new(),
        v6: Vec::new(),
    };
    for item in items {
        if let Some(m) = item.strip_prefix("mtu=") {
            iface.mtu = match m.parse::<u32>() {
                Ok(n) if (68..=65535).contains(&n) => n,
                _ => return Err(bad(format!("MTU \"{m}\" is not 68..=65535"))),
            };
            continue;
        }
        match parse_addr_len(item, 24, 64).map_err(bad)? {
            (IpAddr::V4(a), l) => iface.v4.push((a, l)),
            (IpAddr::V6(a), l) => iface.v6.push((a, l)),
        }
    }
    if iface.v4.is_empty() && iface.v6.is_empty() {
        return Err(bad("no address".into()));
    }
    Ok(iface)
}

/// `--neigh IP=MAC`
pub fn parse_neigh(s: &str) -> Result<(IpAddr, [u8; 6]), String> {
    let bad = |why: String| format!("bad --neigh \"{s}\": expected {NEIGH_FORM} ({why})");
    let (ip, mac) = s.split_once('=').ok_or_else(|| bad("no '='".into()))?;
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| bad(format!("\"{ip}\" is not an IP address")))?;
    Ok((ip, parse_mac(mac).map_err(bad)?))
}

/// `--route PREFIX/LEN=IFACE[,via=GW]` -> (prefix, len, interface name, gateway).
pub fn parse_route(s: &str) -> Result<(IpAddr, u8, String, Option<IpAddr>), String> {
    let bad = |why: String| format!("bad --route \"{s}\": expected {ROUTE_FORM} ({why})");
    let (net, rest) = s
        .split_once('=')
        .ok_or_else(|| bad("no '=' after the prefix".into()))?;
    if !net.contains('/') {
        return Err(bad(format!("\"{net}\" has no /LEN")));
    }
    let (prefix, len) = parse_addr_len(net, 32, 128).map_err(bad)?;
    let (iface, via) = match rest.split_once(',') {
        Some((i, v)) => (i, Some(v)),
        None => (rest, None),
    };
    if iface.is_empty() {
        return Err(bad("no interface name".into()));
    }
    let gateway = match via {
        None => None,
        Some(v) => {
            let g = v
                .strip_prefix("via=")
                .ok_or_else(|| bad(format!("\"{v}\" is not via=GATEWAY")))?;
            let g: IpAddr = g
                .parse()
                .map_err(|_| bad(format!("gateway \"{g}\" is not an IP address")))?;
            if g.is_ipv4() != prefix.is_ipv4() {
                return Err(bad("gateway and prefix are of different families".into()));
            }
            Some(g)
        }
    };
    Ok((prefix, len, iface.to_string(), gateway))
}

/// `--local-address IP` or `--local-address IP@SERVICE` where SERVICE is `tcp:VIP:PORT`,
/// `udp:…`, `sctp:…` (v6: `tcp:[V6]:PORT`) or `fwmark:N`. A fwmark service takes the
/// family of the local address (FULLNAT local addresses have the real servers' family,
/// which is the service's).
pub fn parse_local_address(s: &str) -> Result<(Option<ServiceKey>, IpAddr), String> {
    let bad = |why: String| format!("bad --local-address \"{s}\": expected {LOCAL_FORM} ({why})");
    let (ip, svc) = match s.split_once('@') {
        Some((i, v)) => (i, Some(v)),
        None => (s, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| bad(format!("\"{ip}\" is not an IP address")))?;
    let Some(svc) = svc else {
        return Ok((None, ip));
    };
    let (kind, rest) = svc
        .split_once(':')
        .ok_or_else(|| bad(format!("\"{svc}\" is not a service")))?;
    let proto = match kind.to_ascii_lowercase().as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        "fwmark" => {
            let mark = parse_mark(rest)
                .ok_or_else(|| bad(format!("mark \"{rest}\" is not 1..=4294967295")))?;
            let af = Af::of(&ip);
            return Ok((Some(ServiceKey::Fwmark { af, mark }), ip));
        }
        _ => return Err(bad(format!("unknown service kind \"{kind}\""))),
    };
    let sa: SocketAddr = rest
        .parse()
        .map_err(|_| bad(format!("\"{rest}\" is not VIP:PORT")))?;
    Ok((
        Some(ServiceKey::Addr {
            proto,
            addr: sa.ip(),
            port: sa.port(),
        }),
        ip,
    ))
}

/// A firewall mark in decimal or `0x` hex, not 0.
fn parse_mark(s: &str) -> Option<u32> {
    let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    (n != 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:00:5e:00:00:01").unwrap(),
            [2, 0, 0x5e, 0, 0, 1]
        );
        assert_eq!(
            parse_mac("AA-BB-CC-DD-EE-FF").unwrap(),
            [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]
        );
        assert_eq!(parse_mac("2:0:0:0:0:a").unwrap(), [2, 0, 0, 0, 0, 10]);
        for bad in [
            "",
            "zz",
            "02:00:5e:00:00",
            "02:00:5e:00:00:01:02",
            "02:00:5e:00:00:",
            "002:00:5e:00:00:01",
            "+2:00:5e:00:00:01",
            "02:00:5e:00:00:0g",
        ] {
            let e = parse_mac(bad).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "bad MAC address \"{bad}\": expected six hex bytes"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn ifaces() {
        let i = parse_iface("eth0=02:00:00:00:00:01,10.0.0.1/16,2001:db8::1/48").unwrap();
        assert_eq!(i.name, "eth0");
        assert_eq!(i.mac, [2, 0, 0, 0, 0, 1]);
        assert_eq!(i.mtu, 1500);
        assert_eq!(i.v4, vec![("10.0.0.1".parse().unwrap(), 16)]);
        assert_eq!(i.v6, vec![("2001:db8::1".parse().unwrap(), 48)]);
        // Defaults, v6 first, v6 only, more addresses, MTU.
        let i = parse_iface("lan=02:00:00:00:00:02,2001:db8::2,10.0.0.2").unwrap();
        assert_eq!(i.v4, vec![("10.0.0.2".parse().unwrap(), 24)]);
        assert_eq!(i.v6, vec![("2001:db8::2".parse().unwrap(), 64)]);
        let i = parse_iface("x=02:00:00:00:00:03,fd00::1").unwrap();
        assert!(i.v4.is_empty());
        let i = parse_iface("x=02:00:00:00:00:03,10.0.0.1,198.18.0.100/32,mtu=9000").unwrap();
        assert_eq!(i.v4.len(), 2);
        assert_eq!(i.mtu, 9000);
    }

    #[test]
    fn iface_errors() {
        let e = parse_iface("eth0=zz").unwrap_err();
        assert!(
            e.starts_with("bad --iface \"eth0=zz\": expected NAME=MAC,IPv4[/LEN][,IPv6[/LEN]]"),
            "{e}"
        );
        for (s, why) in [
            ("eth0", "no '='"),
            ("=02:00:00:00:00:01,10.0.0.1", "not an interface name"),
            ("eth0=02:00:00:00:00:01", "no address"),
            ("eth0=02:00:00:00:00:01,mtu=1500", "no address"),
            (
                "eth0=02:00:00:00:00:01,10.0.0.300",
                "\"10.0.0.300\" is not an IP address",
            ),
            (
                "eth0=02:00:00:00:00:01,10.0.0.1/33",
                "prefix length \"33\" is not 0..=32",
            ),
            ("eth0=02:00:00:00:00:01,::1/129", "is not 0..=128"),
            ("eth0=02:00:00:00:00:01,10.0.0.1/x", "prefix length \"x\""),
            (
                "eth0=02:00:00:00:00:01,10.0.0.1,",
                "\"\" is not an IP address",
            ),
            ("eth0=02:00:00:00:00:01,10.0.0.1,mtu=20", "MTU \"20\""),
            ("eth0=02:00:00:00:00:01,10.0.0.1,mtu=big", "MTU \"big\""),
        ] {
            let e = parse_iface(s).unwrap_err();
            assert!(
                e.starts_with(&format!("bad --iface \"{s}\": expected ")),
                "{e}"
            );
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn neighs() {
        assert_eq!(
            parse_neigh("10.0.0.2=02:00:00:00:00:02").unwrap(),
            (ip("10.0.0.2"), [2, 0, 0, 0, 0, 2])
        );
        assert_eq!(
            parse_neigh("fe80::1=02-00-00-00-00-09").unwrap().0,
            ip("fe80::1")
        );
        for (s, why) in [
            ("10.0.0.2", "no '='"),
            ("host=02:00:00:00:00:02", "\"host\" is not an IP address"),
            ("10.0.0.2=02:00", "bad MAC address"),
        ] {
            let e = parse_neigh(s).unwrap_err();
            assert!(
                e.starts_with(&format!("bad --neigh \"{s}\": expected IP=MAC")),
                "{e}"
            );
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn routes() {
        assert_eq!(
            parse_route("0.0.0.0/0=eth1,via=192.168.1.254").unwrap(),
            (
                ip("0.0.0.0"),
                0,
                "eth1".to_string(),
                Some(ip("192.168.1.254"))
            )
        );
        assert_eq!(
            parse_route("2001:db8:1::/48=eth0").unwrap(),
            (ip("2001:db8:1::"), 48, "eth0".to_string(), None)
        );
        for (s, why) in [
            ("10.0.0.0/8", "no '='"),
            ("10.0.0.0=eth0", "has no /LEN"),
            ("10.0.0.0/40=eth0", "is not 0..=32"),
            ("10.0.0/8=eth0", "is not an IP address"),
            ("10.0.0.0/8=", "no interface name"),
            ("10.0.0.0/8=,via=10.0.0.1", "no interface name"),
            ("10.0.0.0/8=eth0,gw=10.0.0.1", "is not via=GATEWAY"),
            (
                "10.0.0.0/8=eth0,via=gw",
                "gateway \"gw\" is not an IP address",
            ),
            ("10.0.0.0/8=eth0,via=fe80::1", "different families"),
        ] {
            let e = parse_route(s).unwrap_err();
            assert!(
                e.starts_with(&format!("bad --route \"{s}\": expected PREFIX/LEN=IFACE")),
                "{e}"
            );
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn local_addresses() {
        assert_eq!(
            parse_local_address("10.0.0.1").unwrap(),
            (None, ip("10.0.0.1"))
        );
        assert_eq!(
            parse_local_address("10.0.0.1@tcp:198.18.0.100:80").unwrap(),
            (
                Some(ServiceKey::Addr {
                    proto: Protocol::Tcp,
                    addr: ip("198.18.0.100"),
                    port: 80
                }),
                ip("10.0.0.1")
            )
        );
        assert_eq!(
            parse_local_address("fd00::1@UDP:[2001:db8::100]:53").unwrap(),
            (
                Some(ServiceKey::Addr {
                    proto: Protocol::Udp,
                    addr: ip("2001:db8::100"),
                    port: 53
                }),
                ip("fd00::1")
            )
        );
        assert_eq!(
            parse_local_address("10.0.0.1@sctp:198.18.0.100:0")
                .unwrap()
                .0,
            Some(ServiceKey::Addr {
                proto: Protocol::Sctp,
                addr: ip("198.18.0.100"),
                port: 0
            })
        );
        assert_eq!(
            parse_local_address("10.0.0.1@fwmark:7").unwrap().0,
            Some(ServiceKey::Fwmark {
                af: Af::Inet,
                mark: 7
            })
        );
        assert_eq!(
            parse_local_address("fd00::1@fwmark:0x10").unwrap().0,
            Some(ServiceKey::Fwmark {
                af: Af::Inet6,
                mark: 16
            })
        );
        for (s, why) in [
            ("", "\"\" is not an IP address"),
            ("lip@tcp:1.2.3.4:80", "\"lip\" is not an IP address"),
            ("10.0.0.1@", "\"\" is not a service"),
            ("10.0.0.1@tcp", "\"tcp\" is not a service"),
            ("10.0.0.1@icmp:1.2.3.4:80", "unknown service kind \"icmp\""),
            ("10.0.0.1@tcp:1.2.3.4", "\"1.2.3.4\" is not VIP:PORT"),
            ("10.0.0.1@tcp:1.2.3.4:70000", "is not VIP:PORT"),
            ("10.0.0.1@tcp:2001:db8::1:80", "is not VIP:PORT"),
            ("10.0.0.1@fwmark:0", "mark \"0\" is not 1..=4294967295"),
            ("10.0.0.1@fwmark:x", "mark \"x\""),
            ("10.0.0.1@fwmark:4294967296", "mark \"4294967296\""),
        ] {
            let e = parse_local_address(s).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "bad --local-address \"{s}\": expected IP or IP@SERVICE"
                )),
                "{e}"
            );
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}
