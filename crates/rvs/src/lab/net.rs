//! Sockets for the lab's servers: one listener per address family (IPv6 with IPV6_V6ONLY, so
//! both families are served whatever `net.ipv6.bindv6only` says), and UDP with packet info
//! so an echo reply leaves from the address the request was sent to (the VIP on a DR or TUN
//! real server, not the interface address).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, UdpSocket,
};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setopt(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, val: libc::c_int) -> io::Result<()> {
    // SAFETY: val lives across the call and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&val as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// A raw sockaddr for `addr` and its length.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A socket of `ty` bound to the wildcard address of `v6`'s family on `port`.
fn bound(v6: bool, ty: libc::c_int, port: u16) -> io::Result<OwnedFd> {
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain syscall; the fd is owned right after.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd is a fresh socket nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    setopt(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    let addr = if v6 {
        setopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
    };
    let (ss, len) = sockaddr(addr);
    // SAFETY: ss/len describe a valid sockaddr of the socket's family.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&ss as *const libc::sockaddr_storage).cast(),
            len,
        )
    })?;
    Ok(fd)
}

/// TCP listeners on 0.0.0.0:port and [::]:port (IPv6-only).
pub fn tcp_listeners(port: u16) -> io::Result<[TcpListener; 2]> {
    let mk = |v6| -> io::Result<TcpListener> {
        let fd = bound(v6, libc::SOCK_STREAM, port)?;
        // SAFETY: plain syscall on our socket.
        cvt(unsafe { libc::listen(fd.as_raw_fd(), 512) })?;
        Ok(TcpListener::from(fd))
    };
    Ok([mk(false)?, mk(true)?])
}

/// UDP sockets on 0.0.0.0:port and [::]:port (IPv6-only), with packet info enabled.
pub fn udp_sockets(port: u16) -> io::Result<[UdpSocket; 2]> {
    let v4 = bound(false, libc::SOCK_DGRAM, port)?;
    setopt(&v4, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
    let v6 = bound(true, libc::SOCK_DGRAM, port)?;
    setopt(&v6, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
    Ok([UdpSocket::from(v4), UdpSocket::from(v6)])
}

const CMSG_SPACE: usize = 128;

/// Receives one datagram: (length, source, the destination address it was sent to).
pub fn udp_recv(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    // SAFETY: zeroed POD structures, then pointers to locals that outlive recvmsg.
    unsafe {
        let mut from: libc::sockaddr_storage = zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut cbuf = [0u64; CMSG_SPACE / 8];
        let mut msg: libc::msghdr = zeroed();
        msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_SPACE as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let src = from_sockaddr(&from).ok_or_else(|| io::Error::other("unknown source family"))?;
        let mut dst = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let pi = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))));
            } else if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO
            {
                let pi = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                dst = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Ok((n as usize, src, dst))
    }
}

/// Sends `buf` to `to`, from local address `from` when given.
pub fn udp_send(
    sock: &UdpSocket,
    buf: &[u8],
    to: SocketAddr,
    from: Option<IpAddr>,
) -> io::Result<usize> {
    // SAFETY: zeroed POD structures, then pointers to locals that outlive sendmsg; the
    // control buffer is large enough for one pktinfo of either family.
    unsafe {
        let (mut ss, len) = sockaddr(to);
        let mut iov = libc::iovec {
            iov_base: buf.as_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut cbuf = [0u64; CMSG_SPACE / 8];
        let mut msg: libc::msghdr = zeroed();
        msg.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = len;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        match from {
            Some(IpAddr::V4(a)) => {
                let mut pi: libc::in_pktinfo = zeroed();
                pi.ipi_spec_dst.s_addr = u32::from(a).to_be();
                let space = libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as usize;
                msg.msg_control = cbuf.as_mut_ptr().cast();
                msg.msg_controllen = space as _;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::IPPROTO_IP;
                (*c).cmsg_type = libc::IP_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>(), pi);
            }
            Some(IpAddr::V6(a)) => {
                let mut pi: libc::in6_pktinfo = zeroed();
                pi.ipi6_addr.s6_addr = a.octets();
                let space = libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as usize;
                msg.msg_control = cbuf.as_mut_ptr().cast();
                msg.msg_controllen = space as _;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::IPPROTO_IPV6;
                (*c).cmsg_type = libc::IPV6_PKTINFO;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>(), pi);
            }
            None => {}
        }
        let n = libc::sendmsg(sock.as_raw_fd(), &msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_pktinfo_roundtrip_on_loopback() {
        // Port 0: the kernel picks one per socket.
        let [v4, v6] = udp_sockets(0).unwrap();
        for s in [&v4, &v6] {
            let local = s.local_addr().unwrap();
            let target = match local {
                SocketAddr::V4(a) => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), a.port()),
                SocketAddr::V6(a) => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), a.port()),
            };
            let bind = if target.is_ipv4() {
                "127.0.0.1:0"
            } else {
                "[::1]:0"
            };
            let c = UdpSocket::bind(bind).unwrap();
            c.connect(target).unwrap();
            c.send(b"ping").unwrap();
            let mut buf = [0u8; 64];
            let (n, src, dst) = udp_recv(s, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"ping");
            assert_eq!(dst, Some(target.ip()));
            assert_eq!(src, c.local_addr().unwrap());
            udp_send(s, b"pong", src, dst).unwrap();
            c.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            let n = c.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"pong");
        }
        let [t4, t6] = tcp_listeners(0).unwrap();
        assert!(t4.local_addr().unwrap().is_ipv4());
        assert!(t6.local_addr().unwrap().is_ipv6());
    }
}
