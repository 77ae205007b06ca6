//! Tunables: the sysctls of `/proc/sys/net/ipv4/vs/` and the protocol timeout tables.

use crate::time::Dur;

/// Which kernel generation's observable behaviour to reproduce (reference: "Kernel
/// version split").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compat {
    /// Kernels before the 2026 IPVS fixes: what most deployed directors run.
    #[default]
    Classic,
    /// Kernels with the 2026 fixes (overhead counts total conns, new OVERLOAD rules,
    /// lblc/lblcr entry cap).
    Modern,
}

/// Director-wide tunables with the kernel's defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Kernel behaviour mode.
    pub compat: Compat,
    /// `expire_nodest_conn` (default off).
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template` (default off).
    pub expire_quiescent_template: bool,
    /// `conn_reuse_mode` bitmask (default 1).
    pub conn_reuse_mode: u8,
    /// `sloppy_tcp`: schedule on any non-RST TCP packet.
    pub sloppy_tcp: bool,
    /// `sloppy_sctp`: schedule on any SCTP chunk but ABORT.
    pub sloppy_sctp: bool,
    /// `lblc_expiration` (default 24 h).
    pub lblc_expiration: Dur,
    /// `lblcr_expiration` (default 24 h).
    pub lblcr_expiration: Dur,
    /// `net.ipv4.ip_unprivileged_port_start` (FTP data rule), default 1024.
    pub unprivileged_port_start: u16,
    /// `run_estimation` (default on).
    pub run_estimation: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            compat: Compat::Classic,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            conn_reuse_mode: 1,
            sloppy_tcp: false,
            sloppy_sctp: false,
            lblc_expiration: Dur::from_secs(24 * 60 * 60),
            lblcr_expiration: Dur::from_secs(24 * 60 * 60),
            unprivileged_port_start: 1024,
            run_estimation: true,
        }
    }
}
