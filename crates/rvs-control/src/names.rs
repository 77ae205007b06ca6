//! The system's name service, as ipvsadm uses it: host names through the resolver
//! (`/etc/hosts`, DNS), service names from `/etc/services`.
//!
//! [`SystemNames`] serves both directions: parsing (`-t web.example:http`, the
//! [`Resolver`] side) and listing without `-n` (reverse lookups, the [`Names`] side).
//! Lookups are cached for the life of the value, so a listing asks once per address.
//! Lookups block; callers must not hold the table lock while they run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use rvs_config::ipvsadm::{Resolver, Services};
use rvs_core::Protocol;
use rvs_core::listing::Names;

/// Where service names come from.
pub const SERVICES_FILE: &str = "/etc/services";

/// Host and service names from the system (see the module docs).
#[derive(Debug)]
pub struct SystemNames {
    services: Services,
    hosts: RefCell<HashMap<IpAddr, Option<String>>>,
}

impl SystemNames {
    /// Read `/etc/services`; without it, rvs's built-in table of common names.
    pub fn load() -> Self {
        let services = std::fs::read_to_string(SERVICES_FILE)
            .map(|t| Services::parse(&t))
            .unwrap_or_else(|_| Services::builtin());
        SystemNames {
            services,
            hosts: RefCell::new(HashMap::new()),
        }
    }
}

impl Resolver for SystemNames {
    fn host_v4(&self, name: &str) -> Option<Ipv4Addr> {
        // gethostbyname(): the first IPv4 address.
        (name, 0u16).to_socket_addrs().ok()?.find_map(|a| match a {
            SocketAddr::V4(v4) => Some(*v4.ip()),
            SocketAddr::V6(_) => None,
        })
    }

    fn service_port(&self, name: &str, proto: Protocol) -> Option<u16> {
        self.services.service_port(name, proto)
    }
}

impl Names for SystemNames {
    fn host(&self, addr: &IpAddr) -> Option<String> {
        if let Some(hit) = self.hosts.borrow().get(addr) {
            return hit.clone();
        }
        let name = reverse_lookup(addr);
        self.hosts.borrow_mut().insert(*addr, name.clone());
        name
    }

    fn service(&self, port: u16, proto: Protocol) -> Option<String> {
        self.services.name_of(port, proto).map(str::to_string)
    }
}

/// `gethostbyaddr()`: the name of `addr`, or `None` when it has none.
fn reverse_lookup(addr: &IpAddr) -> Option<String> {
    let sa = raw_sockaddr(addr);
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `sa` is a valid sockaddr of the given length; `host` is a writable buffer of
    // the given length; no service buffer is requested.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr(),
            sa.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo NUL-terminates `host` on success.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    name.to_str().ok().map(str::to_string)
}

/// A `sockaddr_in`/`sockaddr_in6` for `addr` (port 0).
enum RawSockaddr {
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
}

impl RawSockaddr {
    fn as_ptr(&self) -> *const libc::sockaddr {
        match self {
            RawSockaddr::V4(s) => (s as *const libc::sockaddr_in).cast(),
            RawSockaddr::V6(s) => (s as *const libc::sockaddr_in6).cast(),
        }
    }

    fn len(&self) -> libc::socklen_t {
        let n = match self {
            RawSockaddr::V4(_) => std::mem::size_of::<libc::sockaddr_in>(),
            RawSockaddr::V6(_) => std::mem::size_of::<libc::sockaddr_in6>(),
        };
        n as libc::socklen_t
    }
}

fn raw_sockaddr(addr: &IpAddr) -> RawSockaddr {
    match addr {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
            let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            RawSockaddr::V4(s)
        }
        IpAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
            let mut s: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_addr.s6_addr = a.octets();
            RawSockaddr::V6(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_services_resolve() {
        let n = SystemNames::load();
        assert_eq!(n.host_v4("localhost"), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(n.service_port("http", Protocol::Tcp), Some(80));
        assert_eq!(n.service(443, Protocol::Tcp).as_deref(), Some("https"));
        assert_eq!(n.service(1, Protocol::Sctp), None);
        // /etc/hosts names 127.0.0.1 on every Debian machine.
        assert_eq!(
            n.host(&IpAddr::V4(Ipv4Addr::LOCALHOST)).as_deref(),
            Some("localhost")
        );
        // A second lookup comes from the cache.
        assert_eq!(n.hosts.borrow().len(), 1);
    }
}
