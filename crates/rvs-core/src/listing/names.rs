//! How ipvsadm turns an address and a port into text (`addrport_to_anyname`).
//!
//! With `-n` the address is printed by `inet_ntop` and the port as a number; without it
//! the address is reverse-resolved and the port looked up in `/etc/services`, each falling
//! back to the numeric form. IPv6 is bracketed in both cases (`[2001:db8::1]:80`,
//! `[host.example]:http`). The result is capped at 59 bytes (ipvsadm formats into a
//! 60-byte buffer with `snprintf`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};

use crate::addr::Protocol;

/// Name lookups used by listings. rvs-core does no I/O: the caller supplies an
/// implementation (reverse DNS and a services table in `rvsadm` without `-n`).
pub trait Names {
    /// The host name of `addr`, or `None` to print the address numerically.
    fn host(&self, addr: &IpAddr) -> Option<String>;
    /// The service name of `port` for `proto` (`http` for TCP 80), or `None` to print the
    /// number.
    fn service(&self, port: u16, proto: Protocol) -> Option<String>;
}

/// `-n`: every address and port printed numerically.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Numeric;

impl Names for Numeric {
    fn host(&self, _addr: &IpAddr) -> Option<String> {
        None
    }

    fn service(&self, _port: u16, _proto: Protocol) -> Option<String> {
        None
    }
}

/// ipvsadm's buffer for one `addr:port` is 60 bytes including the NUL.
const ADDRPORT_MAX: usize = 59;

/// `inet_ntop` as glibc prints it. Differs from Rust's `Display` only for the deprecated
/// IPv4-compatible form (`::a.b.c.d` when the first 96 bits are zero and the seventh
/// 16-bit word is not), which glibc prints dotted.
pub fn inet_ntop(addr: &IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => ntop6(a),
    }
}

fn ntop6(a: &Ipv6Addr) -> String {
    let s = a.segments();
    if s[..6].iter().all(|&w| w == 0) && s[6] != 0 {
        let o = a.octets();
        return format!("::{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
    }
    a.to_string()
}

/// Cut `s` to at most `max` bytes (on a character boundary), as writing a NUL into a C
/// buffer at `max` does.
pub(crate) fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
}

/// `addr:port` as ipvsadm prints it: the host name or numeric address (bracketed for
/// IPv6), a colon, then the service name or port number. `proto` = `None` (e.g. the `IP`
/// protocol of fwmark templates) never looks the port up.
pub fn addr_port(names: &dyn Names, addr: &IpAddr, port: u16, proto: Option<Protocol>) -> String {
    let host = names.host(addr).unwrap_or_else(|| inet_ntop(addr));
    let service = proto.and_then(|p| names.service(port, p));
    let mut out = String::with_capacity(host.len() + 8);
    let v6 = addr.is_ipv6();
    if v6 {
        out.push('[');
    }
    out.push_str(&host);
    if v6 {
        out.push(']');
    }
    out.push(':');
    match service {
        Some(name) => out.push_str(&name),
        None => {
            let _ = write!(out, "{port}");
        }
    }
    cut(&mut out, ADDRPORT_MAX);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed lookup table standing in for DNS and /etc/services.
    pub(crate) struct Table;

    impl Names for Table {
        fn host(&self, addr: &IpAddr) -> Option<String> {
            match addr.to_string().as_str() {
                "192.168.10.100" => Some("www.example.com".into()),
                "2001:db8::1" => Some("v6.example.com".into()),
                "10.9.9.9" => Some(format!("{}.example.com", "a".repeat(60))),
                _ => None,
            }
        }

        fn service(&self, port: u16, proto: Protocol) -> Option<String> {
            match (port, proto) {
                (80, Protocol::Tcp) => Some("http".into()),
                (53, Protocol::Udp) => Some("domain".into()),
                _ => None,
            }
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn numeric_forms() {
        let n = &Numeric;
        assert_eq!(
            addr_port(n, &ip("10.0.0.1"), 53, Some(Protocol::Udp)),
            "10.0.0.1:53"
        );
        assert_eq!(
            addr_port(n, &ip("2001:db8::1"), 80, Some(Protocol::Tcp)),
            "[2001:db8::1]:80"
        );
        assert_eq!(addr_port(n, &ip("::"), 0, None), "[::]:0");
    }

    #[test]
    fn names_and_fallbacks() {
        let t = &Table;
        assert_eq!(
            addr_port(t, &ip("192.168.10.100"), 80, Some(Protocol::Tcp)),
            "www.example.com:http"
        );
        // UDP 80 has no name in the table, 10.0.0.1 no host name.
        assert_eq!(
            addr_port(t, &ip("10.0.0.1"), 80, Some(Protocol::Udp)),
            "10.0.0.1:80"
        );
        // IPv6 host names are bracketed too.
        assert_eq!(
            addr_port(t, &ip("2001:db8::1"), 80, Some(Protocol::Tcp)),
            "[v6.example.com]:http"
        );
        // No protocol: no service lookup.
        assert_eq!(
            addr_port(t, &ip("192.168.10.100"), 80, None),
            "www.example.com:80"
        );
    }

    #[test]
    fn capped_at_59_bytes() {
        let s = addr_port(&Table, &ip("10.9.9.9"), 80, Some(Protocol::Tcp));
        assert_eq!(s.len(), 59);
        assert!(s.starts_with("aaaa"));
    }

    #[test]
    fn glibc_ipv6_text() {
        assert_eq!(inet_ntop(&ip("::1")), "::1");
        assert_eq!(inet_ntop(&ip("::")), "::");
        assert_eq!(inet_ntop(&ip("::102:304")), "::1.2.3.4");
        assert_eq!(inet_ntop(&ip("::102:0")), "::1.2.0.0");
        assert_eq!(inet_ntop(&ip("::ffff:1.2.3.4")), "::ffff:1.2.3.4");
        assert_eq!(inet_ntop(&ip("2001:db8:0:1::")), "2001:db8:0:1::");
        assert_eq!(inet_ntop(&ip("2001:db8::1:0:0:1")), "2001:db8::1:0:0:1");
    }

    #[test]
    fn cut_respects_char_boundaries() {
        let mut s = String::from("aé");
        cut(&mut s, 2);
        assert_eq!(s, "a");
    }
}
