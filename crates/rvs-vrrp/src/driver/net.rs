//! The sockets of one instance: a receiving raw socket (protocol 112, joined to the group
//! on the interface) and a sending one (bound to our address: TTL / hop limit 255, TOS
//! 0xc0 as keepalived), gratuitous ARP over AF_PACKET and unsolicited NA over ICMPv6, and
//! the interface's flags and addresses.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use crate::packet::{self, PROTO, TTL};

/// A received advert, before decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// TTL / hop limit (`None` when the kernel did not say).
    pub ttl: Option<u8>,
    /// The VRRP message.
    pub payload: Vec<u8>,
}

/// The interface index of `name` (in the calling thread's namespace).
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i)
}

/// Whether `name` is administratively up and has carrier (IFF_UP and IFF_RUNNING).
pub fn link_up(name: &str) -> bool {
    let Ok(s) = Socket::new(Domain::IPV4, Type::DGRAM, None) else {
        return false;
    };
    // SAFETY: ifreq is plain data; we copy at most IFNAMSIZ-1 bytes of the name into it and
    // pass a valid pointer to the ioctl, which only writes into it.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, b) in req
            .ifr_name
            .iter_mut()
            .zip(name.bytes().take(libc::IFNAMSIZ - 1))
        {
            *d = b as libc::c_char;
        }
        if libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return false;
        }
        let flags = i32::from(req.ifr_ifru.ifru_flags);
        flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0
    }
}

/// The link-local IPv6 address of interface `index` (from /proc/net/if_inet6, which shows
/// the namespace of the calling thread).
pub fn link_local(index: u32) -> Option<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/self/net/if_inet6").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (addr, idx, scope) = (f.first()?, f.get(1)?, f.get(3)?);
        if u32::from_str_radix(idx, 16).ok()? != index || *scope != "20" || addr.len() != 32 {
            return None;
        }
        let v = u128::from_str_radix(addr, 16).ok()?;
        Some(Ipv6Addr::from(v))
    })
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, val: i32) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to an int with its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&val as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The sockets of one instance.
pub struct Link {
    recv: Socket,
    send: Socket,
    v6: bool,
    index: u32,
    /// Our source address.
    pub src: IpAddr,
}

impl Link {
    /// Open the sockets for the family of `src`: receiving on `ifname` (joined to `group`
    /// unless unicast), sending out of `send_if` (the same, or a virtual-MAC interface).
    pub fn open(
        ifname: &str,
        send_if: &str,
        src: IpAddr,
        group: IpAddr,
        unicast: bool,
    ) -> io::Result<Link> {
        let rindex = ifindex(ifname)?;
        let index = ifindex(send_if)?;
        let v6 = src.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let proto = Some(Protocol::from(i32::from(PROTO)));
        let recv = Socket::new(domain, Type::RAW, proto)?;
        recv.bind_device(Some(ifname.as_bytes()))?;
        recv.set_nonblocking(true)?;
        let send = Socket::new(domain, Type::RAW, proto)?;
        send.bind_device(Some(send_if.as_bytes()))?;
        send.set_nonblocking(true)?;
        // The sending socket never reads: keep its buffer small.
        send.set_recv_buffer_size(1)?;
        match (src, group) {
            (IpAddr::V4(_), IpAddr::V4(g)) => {
                if !unicast {
                    recv.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(rindex))?;
                }
                send.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
                send.set_multicast_ttl_v4(u32::from(TTL))?;
                send.set_ttl_v4(u32::from(TTL))?;
                send.set_multicast_loop_v4(false)?;
                // The bound device chooses the way out (IP_MULTICAST_IF by address would
                // name the interface holding `src`, which a virtual-MAC interface is not).
                send.set_tos_v4(0xc0)?;
            }
            (IpAddr::V6(s), IpAddr::V6(g)) => {
                if !unicast {
                    recv.join_multicast_v6(&g, rindex)?;
                }
                setsockopt_int(
                    recv.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_RECVHOPLIMIT,
                    1,
                )?;
                setsockopt_int(
                    recv.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_RECVPKTINFO,
                    1,
                )?;
                let scope = if s.is_unicast_link_local() { index } else { 0 };
                send.bind(&SockAddr::from(SocketAddrV6::new(s, 0, 0, scope)))?;
                send.set_multicast_hops_v6(u32::from(TTL))?;
                send.set_unicast_hops_v6(u32::from(TTL))?;
                send.set_multicast_loop_v6(false)?;
                send.set_multicast_if_v6(index)?;
                setsockopt_int(
                    send.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_TCLASS,
                    0xc0,
                )?;
            }
            _ => return Err(io::ErrorKind::InvalidInput.into()),
        }
        Ok(Link {
            recv,
            send,
            v6,
            index,
            src,
        })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> RawFd {
        self.recv.as_raw_fd()
    }

    /// Send `bytes` to `dst`.
    pub fn send(&self, bytes: &[u8], dst: IpAddr) -> io::Result<()> {
        let to = match dst {
            IpAddr::V6(d) if d.is_multicast() || d.is_unicast_link_local() => {
                SockAddr::from(SocketAddrV6::new(d, 0, 0, self.index))
            }
            d => SockAddr::from(SocketAddr::new(d, 0)),
        };
        self.send.send_to(bytes, &to)?;
        Ok(())
    }

    /// The next datagram, if one is waiting.
    pub fn recv(&self) -> io::Result<Option<Received>> {
        if self.v6 { self.recv6() } else { self.recv4() }
    }

    fn recv4(&self) -> io::Result<Option<Received>> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
        let n = match self.recv.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        // SAFETY: recv initialised the first n bytes.
        let bytes: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        match packet::parse_ipv4(&bytes) {
            Ok(d) if d.proto == PROTO => Ok(Some(Received {
                src: IpAddr::V4(d.src),
                dst: IpAddr::V4(d.dst),
                ttl: Some(d.ttl),
                payload: d.payload.to_vec(),
            })),
            _ => Ok(Some(Received {
                src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                ttl: None,
                payload: Vec::new(),
            })),
        }
    }

    fn recv6(&self) -> io::Result<Option<Received>> {
        let mut buf = [0u8; 2048];
        let mut ctrl = [0u64; 32];
        // SAFETY: zeroed sockaddr_in6 / msghdr are valid; every pointer handed to recvmsg
        // points into buffers that live across the call, with their true sizes.
        unsafe {
            let mut name: libc::sockaddr_in6 = std::mem::zeroed();
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = (&mut name as *mut libc::sockaddr_in6).cast();
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = ctrl.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&ctrl);
            let n = libc::recvmsg(self.recv.as_raw_fd(), &mut msg, 0);
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    return Ok(None);
                }
                return Err(e);
            }
            let mut ttl = None;
            let mut dst = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let h = &*c;
                if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT {
                    let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>());
                    ttl = u8::try_from(v).ok();
                } else if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_PKTINFO {
                    let p =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>());
                    dst = IpAddr::V6(Ipv6Addr::from(p.ipi6_addr.s6_addr));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
            Ok(Some(Received {
                src: IpAddr::V6(Ipv6Addr::from(name.sin6_addr.s6_addr)),
                dst,
                ttl,
                payload: buf[..n as usize].to_vec(),
            }))
        }
    }
}

/// A gratuitous ARP as keepalived sends it: a broadcast request with sender = target = the
/// address, target hardware address ff:ff:ff:ff:ff:ff.
pub fn garp_frame(mac: [u8; 6], addr: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&addr.octets());
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&addr.octets());
    f
}

/// An unsolicited neighbour advertisement (ICMPv6 part, checksum left to the kernel):
/// override flag, target = the address, target link-layer address option.
pub fn na_message(mac: [u8; 6], addr: Ipv6Addr) -> Vec<u8> {
    let mut m = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    m.extend_from_slice(&addr.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&mac);
    m
}

/// Send `count` gratuitous ARPs for `addr` out of interface `index` with source `mac`.
pub fn send_garp(index: u32, mac: [u8; 6], addr: Ipv4Addr, count: u32) -> io::Result<()> {
    let s = Socket::new(
        Domain::PACKET,
        Type::RAW,
        Some(Protocol::from(i32::from(0x0806u16.to_be()))),
    )?;
    let frame = garp_frame(mac, addr);
    // SAFETY: sockaddr_ll is plain data, filled in fully before use; sendto gets valid
    // pointers and sizes.
    unsafe {
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = 0x0806u16.to_be();
        sll.sll_ifindex = index as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        for _ in 0..count {
            let rc = libc::sendto(
                s.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            );
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Send `count` unsolicited NAs for `addr` (from `addr`, to ff02::1) out of `index`.
pub fn send_na(index: u32, mac: [u8; 6], addr: Ipv6Addr, count: u32) -> io::Result<()> {
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    s.set_multicast_hops_v6(255)?;
    s.set_multicast_if_v6(index)?;
    let scope = if addr.is_unicast_link_local() {
        index
    } else {
        0
    };
    s.bind(&SockAddr::from(SocketAddrV6::new(addr, 0, 0, scope)))?;
    let to = SockAddr::from(SocketAddrV6::new(
        Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
        0,
        0,
        index,
    ));
    let m = na_message(mac, addr);
    for _ in 0..count {
        s.send_to(&m, &to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garp_and_na_match_keepalived() {
        let mac = [0x26, 0x6d, 0x16, 0xd4, 0x01, 0x9e];
        // Captured from keepalived 2.2.7 (Ethernet frame; ARP has no padding on veth).
        let garp =
            "ffffffffffff266d16d4019e08060001080006040001266d16d4019ec6120064ffffffffffffc6120064";
        let hex: String = garp_frame(mac, Ipv4Addr::new(198, 18, 0, 100))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, garp);
        // ICMPv6 part of keepalived's NA (88 00 1bbf 20000000 ...) with the checksum,
        // which the kernel fills in, zeroed.
        let want = "8800000020000000fd0000000000000000000000000001000201266d16d4019e";
        let hex: String = na_message(mac, "fd00::100".parse().unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, want);
    }
}
