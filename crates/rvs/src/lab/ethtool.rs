//! Turning TX checksum offload off on the lab's veths (the lab has no `ethtool` binary).
//!
//! A veth hands the peer packets whose TCP/UDP checksum is only partial (CHECKSUM_PARTIAL):
//! the kernel would finish it later, but an XDP program or an AF_XDP socket sees the raw
//! bytes. With offload off, the sender computes full checksums (and segments in software),
//! so rvsd's data plane gets complete, MTU-sized frames.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

const ETHTOOL_STXCSUM: u32 = 0x17;
const ETHTOOL_SGRO: u32 = 0x2c;
#[cfg(test)]
const ETHTOOL_GTXCSUM: u32 = 0x16;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

fn ioctl(ifname: &str, cmd: u32, data: u32) -> io::Result<u32> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {ifname:?}"),
        ));
    }
    // SAFETY: plain syscall; the fd is owned right after.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut val = EthtoolValue { cmd, data };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: (&mut val as *mut EthtoolValue).cast(),
        _pad: [0; 16],
    };
    for (d, s) in req.name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: req points at a valid ifreq whose data points at a live ethtool_value.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL, &mut req as *mut IfReq) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(val.data)
}

/// Turns TX checksum offload off on `ifname` (in the caller's network namespace).
pub fn tx_csum_off(ifname: &str) -> io::Result<()> {
    ioctl(ifname, ETHTOOL_STXCSUM, 0).map(|_| ())
}

/// Turns GRO on for `ifname`: a veth with GRO runs NAPI, which frames sent into it from
/// its peer with XDP_TX or an XDP redirect (rvsd's fast path) need; without it (or an XDP
/// program on this end) the kernel drops them.
pub fn gro_on(ifname: &str) -> io::Result<()> {
    ioctl(ifname, ETHTOOL_SGRO, 1).map(|_| ())
}

/// Whether TX checksum offload is on for `ifname`.
#[cfg(test)]
pub fn tx_csum(ifname: &str) -> io::Result<bool> {
    ioctl(ifname, ETHTOOL_GTXCSUM, 0).map(|v| v != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_bad_names() {
        // lo exists everywhere; reading needs no privilege.
        assert!(tx_csum("lo").is_ok());
        assert!(tx_csum("").is_err());
        assert!(tx_csum("rvs-no-such-if0").is_err());
    }
}
