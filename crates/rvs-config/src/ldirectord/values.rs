//! Small value parsers shared by the ldirectord.cf directives: addresses, ports, numbers,
//! quoted strings, forwarding methods.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_core::Protocol;

use super::Forward;
use crate::ipvsadm::{Resolver, Services};

/// A numeric IPv4 address (ldirectord's `\d+\.\d+\.\d+\.\d+`), or an error text.
pub(super) fn ipv4(s: &str) -> Result<Ipv4Addr, String> {
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Ok(a);
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        Err(format!("invalid IPv4 address `{s}`"))
    } else {
        Err(host_name(s))
    }
}

/// The message for a host name where an address is needed.
pub(super) fn host_name(s: &str) -> String {
    format!("cannot resolve host name `{s}`: rvs convert does no DNS lookups, use an address")
}

/// An IPv6 address, brackets already removed.
pub(super) fn ipv6(s: &str) -> Result<Ipv6Addr, String> {
    s.parse::<Ipv6Addr>()
        .map_err(|_| format!("invalid IPv6 address `{s}`"))
}

/// A port: a number 0..65535 or a service name (`http`, `domain`, ...) for `proto` (TCP
/// and UDP are both tried when `proto` is `None`, like ldirectord's getservbyname with no
/// protocol).
pub(super) fn port(s: &str, proto: Option<Protocol>) -> Result<u16, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u16>()
            .map_err(|_| format!("invalid port `{s}` (0..65535)"));
    }
    let services = Services::builtin();
    let found = match proto {
        Some(p) => services.service_port(s, p),
        None => services
            .service_port(s, Protocol::Tcp)
            .or_else(|| services.service_port(s, Protocol::Udp)),
    };
    found.ok_or_else(|| format!("unknown service name `{s}` for a port"))
}

/// A whole non-negative decimal number.
pub(super) fn number(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// A positive decimal number.
pub(super) fn positive(s: &str) -> Option<u32> {
    number(s).filter(|&n| n > 0)
}

/// `yes` or `no`.
pub(super) fn yes_no(s: &str) -> Option<bool> {
    match s {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// The value without one pair of surrounding double quotes.
pub(super) fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s)
}

/// `gate`, `masq` or `ipip`.
pub(super) fn forward(s: &str) -> Option<Forward> {
    match s {
        "gate" => Some(Forward::Gate),
        "masq" => Some(Forward::Masq),
        "ipip" => Some(Forward::Ipip),
        _ => None,
    }
}

/// Split `host[:port]` where host may be `[v6]`: returns (host without brackets, port
/// text, host was bracketed).
pub(super) fn split_host_port(s: &str) -> Result<(&str, Option<&str>, bool), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!("missing `]` in `{s}`"));
        };
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p), true)),
            None if after.is_empty() => Ok((host, None, true)),
            None => Err(format!("unexpected `{after}` after `]`")),
        };
    }
    if s.matches(':').count() > 1 {
        // An unbracketed IPv6 literal carries no port.
        return Ok((s, None, false));
    }
    match s.split_once(':') {
        Some((h, p)) => Ok((h, Some(p), false)),
        None => Ok((s, None, false)),
    }
}

/// An address of the family asked for: `ipv6` selects `[v6]` syntax (`virtual6`, `real6`,
/// `fallback6`).
pub(super) fn addr(host: &str, bracketed: bool, ipv6: bool) -> Result<IpAddr, String> {
    if ipv6 {
        ipv6_addr(host).map(IpAddr::V6)
    } else if bracketed || host.contains(':') {
        Err(format!(
            "`{host}` is an IPv6 address: use the IPv6 form of the directive (virtual6, real6, fallback6)"
        ))
    } else {
        ipv4(host).map(IpAddr::V4)
    }
}

fn ipv6_addr(host: &str) -> Result<Ipv6Addr, String> {
    if host.contains(':') {
        ipv6(host)
    } else if host.parse::<Ipv4Addr>().is_ok() {
        Err(format!(
            "`{host}` is an IPv4 address: use the IPv4 form of the directive"
        ))
    } else {
        Err(host_name(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_by_number_and_name() {
        assert_eq!(port("80", None), Ok(80));
        assert_eq!(port("https", Some(Protocol::Tcp)), Ok(443));
        assert_eq!(port("domain", Some(Protocol::Udp)), Ok(53));
        assert!(port("70000", None).is_err());
        assert!(port("nosuch", None).is_err());
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("10.0.0.1:80"),
            Ok(("10.0.0.1", Some("80"), false))
        );
        assert_eq!(
            split_host_port("[2001:db8::1]:80"),
            Ok(("2001:db8::1", Some("80"), true))
        );
        assert_eq!(
            split_host_port("2001:db8::1"),
            Ok(("2001:db8::1", None, false))
        );
        assert!(split_host_port("[::1").is_err());
        assert!(addr("10.0.0.1", false, true).is_err());
        assert!(addr("::1", false, false).is_err());
        assert!(addr("www.example.com", false, false).is_err());
    }
}
