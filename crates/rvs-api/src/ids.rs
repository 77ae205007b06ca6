//! The API's identifiers for services and real servers: stable, URL-safe path segments.
//!
//! | what | id | example |
//! |---|---|---|
//! | TCP/UDP/SCTP service | `PROTO-ADDR-PORT` | `tcp-198.18.1.100-80`, `udp-fd00:1::100-9000` |
//! | fwmark service, IPv4 | `fwm-MARK` | `fwm-100` |
//! | fwmark service, IPv6 | `fwm6-MARK` | `fwm6-7` |
//! | real server | `ADDR-PORT` | `198.18.1.11-80`, `fd00:1::11-8080` |
//!
//! Addresses are written as Rust (and `inet_ntop`) print them: IPv6 compressed, lower
//! case, no brackets. A parsed id is printed back the same way, so an id taken from a
//! listing always names the same entry.

use std::fmt;
use std::net::IpAddr;

use rvs_core::addr::{Af, Protocol};
use rvs_core::service::ServiceKey;

/// Why an id does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} id `{id}' (expected {expected})")]
pub struct IdError {
    what: &'static str,
    id: String,
    expected: &'static str,
}

/// The id of a service key.
pub fn service_id(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            format!("{}-{addr}-{port}", proto.lower_name())
        }
        ServiceKey::Fwmark { af: Af::Inet, mark } => format!("fwm-{mark}"),
        ServiceKey::Fwmark {
            af: Af::Inet6,
            mark,
        } => format!("fwm6-{mark}"),
    }
}

/// Parse a service id (see the module documentation).
pub fn parse_service_id(id: &str) -> Result<ServiceKey, IdError> {
    let err = || IdError {
        what: "service",
        id: id.to_string(),
        expected: "tcp|udp|sctp-ADDR-PORT, fwm-MARK or fwm6-MARK",
    };
    let (kind, rest) = id.split_once('-').ok_or_else(err)?;
    let key = match kind {
        "fwm" | "fwm6" => {
            let mark: u32 = rest.parse().map_err(|_| err())?;
            if mark == 0 || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            let af = if kind == "fwm" { Af::Inet } else { Af::Inet6 };
            ServiceKey::Fwmark { af, mark }
        }
        _ => {
            let proto = match kind {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => return Err(err()),
            };
            let (addr, port) = split_addr_port(rest).ok_or_else(err)?;
            ServiceKey::Addr { proto, addr, port }
        }
    };
    // Only the canonical spelling names a service.
    if service_id(&key) != id {
        return Err(err());
    }
    Ok(key)
}

/// A real server's id within its service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DestKey {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.addr, self.port)
    }
}

/// Parse a real-server id `ADDR-PORT`.
pub fn parse_dest_id(id: &str) -> Result<DestKey, IdError> {
    let err = || IdError {
        what: "real server",
        id: id.to_string(),
        expected: "ADDR-PORT",
    };
    let (addr, port) = split_addr_port(id).ok_or_else(err)?;
    let key = DestKey { addr, port };
    if key.to_string() != id {
        return Err(err());
    }
    Ok(key)
}

fn split_addr_port(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.rsplit_once('-')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((addr.parse().ok()?, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for id in [
            "tcp-198.18.1.100-80",
            "udp-fd00:1::100-9000",
            "sctp-10.0.0.1-0",
            "fwm-100",
            "fwm6-7",
            "fwm-4294967295",
        ] {
            let k = parse_service_id(id).unwrap();
            assert_eq!(service_id(&k), id);
        }
        assert_eq!(
            parse_service_id("tcp-198.18.1.100-80").unwrap(),
            ServiceKey::Addr {
                proto: Protocol::Tcp,
                addr: "198.18.1.100".parse().unwrap(),
                port: 80
            }
        );
        let d = parse_dest_id("fd00:1::11-8080").unwrap();
        assert_eq!(d.port, 8080);
        assert_eq!(d.to_string(), "fd00:1::11-8080");
    }

    #[test]
    fn rejects_non_canonical_and_garbage() {
        for id in [
            "",
            "tcp",
            "tcp-1.2.3.4",
            "tcp-1.2.3.4-",
            "tcp-1.2.3.4-65536",
            "tcp-1.2.3.4-+80",
            "tcp-1.2.3.4-080",
            "TCP-1.2.3.4-80",
            "icmp-1.2.3.4-80",
            "tcp-FD00::1-80",
            "tcp-fd00:0::1-80",
            "fwm-0",
            "fwm-+1",
            "fwm-01",
            "fwm4-1",
        ] {
            assert!(parse_service_id(id).is_err(), "{id}");
        }
        for id in ["1.2.3.4", "1.2.3.4-x", "[::1]-80", "::1-08"] {
            assert!(parse_dest_id(id).is_err(), "{id}");
        }
    }
}
