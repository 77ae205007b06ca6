//! Shared by the live data-plane tests.

use std::os::fd::AsRawFd;

/// GRO on for `eth0` in `ns`: a veth with GRO runs NAPI, which is what XDP_TX and
/// redirects into its peer need (`ETHTOOL_SGRO` through `SIOCETHTOOL`).
pub fn gro_on(ns: &str) {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a valid namespace fd; only this thread changes namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        #[repr(C)]
        struct Val {
            cmd: u32,
            data: u32,
        }
        #[repr(C)]
        struct Req {
            name: [libc::c_char; libc::IFNAMSIZ],
            data: *mut libc::c_void,
            pad: [u8; 16],
        }
        let mut val = Val { cmd: 0x2c, data: 1 };
        let mut req = Req {
            name: [0; libc::IFNAMSIZ],
            data: (&mut val as *mut Val).cast(),
            pad: [0; 16],
        };
        for (d, s) in req.name.iter_mut().zip(b"eth0") {
            *d = *s as libc::c_char;
        }
        // SAFETY: plain socket + ioctl on valid structs.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            assert!(fd >= 0);
            let r = libc::ioctl(fd, libc::SIOCETHTOOL, &mut req as *mut Req);
            libc::close(fd);
            assert_eq!(r, 0, "SGRO: {}", std::io::Error::last_os_error());
        }
    })
    .join()
    .unwrap();
}
