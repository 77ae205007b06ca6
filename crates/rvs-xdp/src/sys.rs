//! The few kernel calls aya 0.14 does not expose: reading and clearing an interface's XDP
//! program over rtnetlink, and finding and detaching XDP bpf_links by interface.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::XdpError;

/// `XDP_FLAGS_SKB_MODE`.
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `XDP_FLAGS_DRV_MODE`.
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const NLA_F_NESTED: u16 = 1 << 15;

const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_GET_NEXT_ID: libc::c_long = 31;
const BPF_LINK_DETACH: libc::c_long = 34;
const BPF_LINK_TYPE_XDP: u32 = 6;

fn sys(what: &'static str) -> impl FnOnce(io::Error) -> XdpError {
    move |source| XdpError::Sys { what, source }
}

/// The interface index of `name` in the calling thread's network namespace.
pub(crate) fn ifindex(name: &str) -> Result<u32, XdpError> {
    let c = CString::new(name).map_err(|_| XdpError::NoInterface(name.to_string()))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(XdpError::NoInterface(name.to_string()));
    }
    Ok(idx)
}

/// What rtnetlink says is attached to an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct XdpState {
    /// `IFLA_XDP_ATTACHED` (0 none, 1 driver, 2 generic, 3 hardware, 4 several).
    pub attached: u8,
    /// Program in driver mode (0 = none).
    pub drv_prog: u32,
    /// Program in generic mode (0 = none).
    pub skb_prog: u32,
}

impl XdpState {
    /// Every attached program id with the flags that address its mode.
    pub fn programs(&self) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        if self.drv_prog != 0 {
            v.push((self.drv_prog, XDP_FLAGS_DRV_MODE));
        }
        if self.skb_prog != 0 {
            v.push((self.skb_prog, XDP_FLAGS_SKB_MODE));
        }
        v
    }
}

struct Netlink(OwnedFd);

impl Netlink {
    fn open() -> Result<Self, XdpError> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(sys("netlink socket")(io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: valid pointer and length for SO_RCVTIMEO.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        Ok(Netlink(fd))
    }

    /// Send one request and return the reply messages (type, payload) until the ACK or
    /// the first non-multipart reply.
    fn request(&self, msg: &[u8]) -> Result<Vec<(u16, Vec<u8>)>, XdpError> {
        // SAFETY: msg is a valid buffer.
        let n = unsafe { libc::send(self.0.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(sys("netlink send")(io::Error::last_os_error()));
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        for _ in 0..64 {
            // SAFETY: buf is valid for its length.
            let n =
                unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(sys("netlink recv")(io::Error::last_os_error()));
            }
            let mut off = 0usize;
            let n = n as usize;
            while off + 16 <= n {
                let len =
                    u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap_or_default()) as usize;
                let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                if len < 16 || off + len > n {
                    break;
                }
                let payload = &buf[off + 16..off + len];
                if ty == libc::NLMSG_ERROR as u16 {
                    let err = payload
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map_or(0, i32::from_ne_bytes);
                    if err != 0 {
                        return Err(sys("netlink")(io::Error::from_raw_os_error(-err)));
                    }
                    return Ok(out);
                }
                if ty == libc::NLMSG_DONE as u16 {
                    return Ok(out);
                }
                out.push((ty, payload.to_vec()));
                off += (len + 3) & !3;
            }
            if !out.is_empty() {
                return Ok(out);
            }
        }
        Ok(out)
    }
}

fn nlmsg(ty: u16, flags: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + body.len());
    m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(body);
    m
}

fn ifinfomsg(ifindex: u32) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    b
}

fn attr(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&ty.to_ne_bytes());
    a.extend_from_slice(data);
    while a.len() % 4 != 0 {
        a.push(0);
    }
    a
}

/// Walk netlink attributes: (type without flags, payload).
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut v = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        v.push((ty, &b[4..len]));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    v
}

fn u32_of(b: &[u8]) -> u32 {
    b.get(..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

/// The mode of the XDP program on `ifindex`, if any (driver or generic).
pub(crate) fn xdp_mode(ifindex: u32) -> Option<crate::XdpMode> {
    let st = xdp_state(ifindex).ok()?;
    if st.drv_prog != 0 {
        Some(crate::XdpMode::Native)
    } else if st.skb_prog != 0 {
        Some(crate::XdpMode::Generic)
    } else {
        None
    }
}

/// What XDP programs are attached to `ifindex`.
pub(crate) fn xdp_state(ifindex: u32) -> Result<XdpState, XdpError> {
    let nl = Netlink::open()?;
    let msg = nlmsg(
        libc::RTM_GETLINK,
        libc::NLM_F_REQUEST as u16,
        &ifinfomsg(ifindex),
    );
    let mut st = XdpState::default();
    for (ty, payload) in nl.request(&msg)? {
        if ty != libc::RTM_NEWLINK || payload.len() < 16 {
            continue;
        }
        for (aty, data) in attrs(&payload[16..]) {
            if aty != IFLA_XDP {
                continue;
            }
            let mut single = 0;
            for (xty, x) in attrs(data) {
                match xty {
                    IFLA_XDP_ATTACHED => st.attached = x.first().copied().unwrap_or(0),
                    IFLA_XDP_PROG_ID => single = u32_of(x),
                    IFLA_XDP_DRV_PROG_ID => st.drv_prog = u32_of(x),
                    IFLA_XDP_SKB_PROG_ID => st.skb_prog = u32_of(x),
                    _ => {}
                }
            }
            match st.attached {
                1 if st.drv_prog == 0 => st.drv_prog = single,
                2 if st.skb_prog == 0 => st.skb_prog = single,
                _ => {}
            }
        }
    }
    Ok(st)
}

/// Attach program `fd` (or, with `None`, remove the program) on `ifindex` through
/// rtnetlink, in the mode `flags` selects. Such an attachment belongs to the interface
/// and outlives the process.
pub(crate) fn netlink_set_xdp(ifindex: u32, fd: Option<i32>, flags: u32) -> Result<(), XdpError> {
    let nl = Netlink::open()?;
    let mut nested = attr(IFLA_XDP_FD, &fd.unwrap_or(-1).to_ne_bytes());
    nested.extend(attr(IFLA_XDP_FLAGS, &flags.to_ne_bytes()));
    let mut body = ifinfomsg(ifindex);
    body.extend(attr(IFLA_XDP | NLA_F_NESTED, &nested));
    let msg = nlmsg(
        libc::RTM_SETLINK,
        (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16,
        &body,
    );
    nl.request(&msg).map(|_| ())
}

/// `bpf(2)` with an attribute buffer.
fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> io::Result<i64> {
    // SAFETY: attr is a valid, writable buffer of the length passed.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Detach the XDP bpf_links on `ifindex` whose program is one of `progs` (link info
/// carries an ifindex but no namespace, so the program ids rtnetlink reported for this
/// interface keep links of a same-numbered interface elsewhere safe). Returns how many
/// were detached.
pub(crate) fn detach_xdp_links(ifindex: u32, progs: &[u32]) -> Result<usize, XdpError> {
    let mut id = 0u32;
    let mut detached = 0;
    for _ in 0..100_000 {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&id.to_ne_bytes());
        match bpf(BPF_LINK_GET_NEXT_ID, &mut a) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => return Err(sys("BPF_LINK_GET_NEXT_ID")(e)),
        }
        id = u32_of(&a[4..8]);
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&id.to_ne_bytes());
        let fd = match bpf(BPF_LINK_GET_FD_BY_ID, &mut a) {
            Ok(fd) => fd as i32,
            Err(_) => continue, // gone meanwhile
        };
        // SAFETY: the kernel gave us this fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut info = [0u8; 64];
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&(fd.as_raw_fd() as u32).to_ne_bytes());
        a[4..8].copy_from_slice(&(info.len() as u32).to_ne_bytes());
        a[8..16].copy_from_slice(&(info.as_mut_ptr() as u64).to_ne_bytes());
        if bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a).is_err() {
            continue;
        }
        let ty = u32_of(&info[0..4]);
        let prog = u32_of(&info[8..12]);
        let link_if = u32_of(&info[16..20]);
        if ty != BPF_LINK_TYPE_XDP || link_if != ifindex || !progs.contains(&prog) {
            continue;
        }
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&(fd.as_raw_fd() as u32).to_ne_bytes());
        bpf(BPF_LINK_DETACH, &mut a).map_err(sys("BPF_LINK_DETACH"))?;
        detached += 1;
    }
    Ok(detached)
}

/// Remove whatever XDP program is on `ifindex`: bpf_links are detached, netlink
/// attachments cleared. Returns the program ids that were there.
pub(crate) fn clear_xdp(ifindex: u32) -> Result<Vec<u32>, XdpError> {
    let st = xdp_state(ifindex)?;
    let progs = st.programs();
    if progs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<u32> = progs.iter().map(|p| p.0).collect();
    detach_xdp_links(ifindex, &ids)?;
    for &(_, flags) in &progs {
        match netlink_set_xdp(ifindex, None, flags) {
            Ok(()) => {}
            // A link that belongs to another namespace's view, or raced: report it.
            Err(e) => return Err(e),
        }
    }
    Ok(progs.into_iter().map(|(id, _)| id).collect())
}

/// The name of the loaded program `id` (None if it is gone).
pub(crate) fn prog_name(id: u32) -> Option<String> {
    aya::programs::loaded_programs()
        .flatten()
        .find(|p| p.id() == id)
        .and_then(|p| p.name_as_str().map(str::to_string))
}
