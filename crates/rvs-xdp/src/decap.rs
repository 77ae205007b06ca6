//! The TUN real server's decapsulator, `bpf/rvs_decap.c`.
//!
//! It is attached through rtnetlink, which makes the attachment belong to the interface:
//! it stays after `rvs rs-setup` exits, in whatever network and mount namespace that ran
//! in, until [`detach`] (or `ip link set dev IF xdp off`) removes it. [`detach`] only
//! removes a program named `rvs_decap`.

use aya::EbpfLoader;
use aya::programs::Xdp;

use crate::error::XdpError;
use crate::mode::XdpMode;
use crate::sys;

/// How many GUE ports the decapsulator takes.
pub const GUE_PORTS: usize = 8;

const PROG: &str = "rvs_decap";

/// Load the decapsulator with these GUE UDP ports (at most [`GUE_PORTS`]); for
/// attaching, and for `BPF_PROG_TEST_RUN` in tests.
#[doc(hidden)]
pub fn load(gue_ports: &[u16]) -> Result<aya::Ebpf, XdpError> {
    if gue_ports.len() > GUE_PORTS {
        return Err(XdpError::TooManyGuePorts(gue_ports.len()));
    }
    let mut ports = [0u16; GUE_PORTS];
    ports[..gue_ports.len()].copy_from_slice(gue_ports);
    let mut ebpf = EbpfLoader::new()
        .override_global("gue_ports", &ports, true)
        .load(crate::RVS_DECAP_OBJ)?;
    program(&mut ebpf)?
        .load()
        .map_err(|source| XdpError::Program {
            what: "loading rvs_decap".into(),
            source,
        })?;
    Ok(ebpf)
}

/// The decapsulator program in a loaded object.
#[doc(hidden)]
pub fn program(ebpf: &mut aya::Ebpf) -> Result<&mut Xdp, XdpError> {
    ebpf.program_mut(PROG)
        .ok_or(XdpError::Missing("program rvs_decap"))?
        .try_into()
        .map_err(|source| XdpError::Program {
            what: "rvs_decap is not an XDP program".into(),
            source,
        })
}

/// Attach the decapsulator to `ifname`, replacing any XDP program there (an earlier
/// `rvs_decap` silently, anything else with a warning). It stays attached after this
/// process exits. Returns the mode in effect (`Auto` tries native, then generic).
pub fn attach(ifname: &str, mode: XdpMode, gue_ports: &[u16]) -> Result<XdpMode, XdpError> {
    let ifindex = sys::ifindex(ifname)?;
    let mut ebpf = load(gue_ports)?;
    let fd = {
        use std::os::fd::{AsFd, AsRawFd};
        let prog = program(&mut ebpf)?;
        let fd = prog.fd().map_err(|source| XdpError::Program {
            what: "rvs_decap fd".into(),
            source,
        })?;
        fd.as_fd().as_raw_fd()
    };
    let st = sys::xdp_state(ifindex)?;
    for (id, _) in st.programs() {
        let name = sys::prog_name(id).unwrap_or_default();
        if name != PROG {
            tracing::warn!(
                ifname,
                prog_id = id,
                name,
                "replacing an XDP program that is not rvs_decap"
            );
        }
    }
    sys::clear_xdp(ifindex)?;
    let mut last = String::new();
    for &m in mode.candidates() {
        match sys::netlink_set_xdp(ifindex, Some(fd), m.flags()) {
            Ok(()) => {
                tracing::info!(ifname, mode = %m, "rvs_decap attached");
                return Ok(m);
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(XdpError::Attach {
        ifname: ifname.to_string(),
        mode,
        reason: last,
    })
}

/// Remove the decapsulator from `ifname`. `Ok(false)`: no `rvs_decap` was attached (a
/// program of another name is left alone).
pub fn detach(ifname: &str) -> Result<bool, XdpError> {
    let ifindex = sys::ifindex(ifname)?;
    let st = sys::xdp_state(ifindex)?;
    let mut removed = false;
    for (id, flags) in st.programs() {
        if sys::prog_name(id).as_deref() == Some(PROG) {
            sys::netlink_set_xdp(ifindex, None, flags)?;
            removed = true;
        }
    }
    Ok(removed)
}

/// Whether `rvs_decap` is attached to `ifname`, and in which mode.
pub fn attached(ifname: &str) -> Result<Option<XdpMode>, XdpError> {
    let ifindex = sys::ifindex(ifname)?;
    let st = sys::xdp_state(ifindex)?;
    for (id, flags) in st.programs() {
        if sys::prog_name(id).as_deref() == Some(PROG) {
            return Ok(Some(if flags == sys::XDP_FLAGS_DRV_MODE {
                XdpMode::Native
            } else {
                XdpMode::Generic
            }));
        }
    }
    Ok(None)
}
