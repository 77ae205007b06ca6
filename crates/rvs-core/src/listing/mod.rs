//! ipvsadm 1.31 output, byte for byte, rendered from plain-data snapshots (reference §1.9,
//! §1.10).
//!
//! The director fills [`ServiceRow`]s (with their [`DestRow`]s in kernel list order),
//! [`ConnRow`]s and [`DaemonRow`]s; the functions here only format. Every address and
//! port goes through a [`Names`] implementation: [`Numeric`] for `-n`, something that
//! resolves for plain `-L`/`-S`.
//!
//! | ipvsadm | function |
//! |---|---|
//! | `-L`, `-L -t VIP`, with `--stats`, `--rate`, `--exact`, `--thresholds`, `--persistent-conn`, `--tun-info`, `--nosort` | [`render_services`] |
//! | `-Lc`, `-Lc --persistent-conn` | [`render_conns`], [`render_conns_with`] |
//! | `-L --timeout` | [`render_timeout`] |
//! | `-L --daemon` | [`render_daemon`] |
//! | `-S` | [`render_save`] |

mod conns;
mod names;
mod num;
mod proc;
mod save;
mod services;
mod sort;

use std::net::IpAddr;

use crate::addr::Netmask;
use crate::dest::{FwdMethod, TunConfig};
use crate::service::ServiceKey;
use crate::stats::{Counters, Rates};

pub use conns::{render_conns, render_conns_with, render_daemon, render_timeout};
pub use names::{Names, Numeric, addr_port, inet_ntop};
pub use num::{largenum, push_largenum};
pub use proc::{
    render_proc_ip_vs, render_proc_ip_vs_conn, render_proc_ip_vs_conn_sync,
    render_proc_ip_vs_stats, totals,
};
pub use save::render_save;
pub use services::render_services;
pub use sort::{cmp_dests, cmp_services, merge_sort};

/// `IP_VS_VERSION_CODE` 0x010201, printed in the listing header.
pub const IPVS_VERSION: &str = "1.2.1";

/// The kernel's default connection hash table size (2^12), shown as `size=4096`.
pub const DEFAULT_CONN_TAB_SIZE: u32 = 4096;

/// One virtual service as a listing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRow {
    /// Identity: protocol, address and port, or fwmark and family.
    pub key: ServiceKey,
    /// Scheduler name (`none` when the service has no scheduler).
    pub sched_name: String,
    /// `service::flags` and `sched::flags` bits (persistent, one-packet, sched flags).
    pub flags: u32,
    /// Persistence timeout in seconds (shown only with `service::flags::PERSISTENT`).
    pub timeout: u32,
    /// Persistence netmask (shown only when persistent and not /32 or /128).
    pub netmask: Netmask,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
    /// Counters since the last `-Z`.
    pub counters: Counters,
    /// Estimated rates.
    pub rates: Rates,
    /// Real servers in kernel list order (newest first); listings sort them unless
    /// `--nosort`.
    pub dests: Vec<DestRow>,
}

/// One real server of a [`ServiceRow`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestRow {
    /// Real server address (its family may differ from the service's for tunnels).
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// Weight.
    pub weight: i32,
    /// Upper connection threshold (0 = off).
    pub u_threshold: u32,
    /// Lower connection threshold (0 = off).
    pub l_threshold: u32,
    /// Active connections.
    pub activeconns: u32,
    /// Inactive connections.
    pub inactconns: u32,
    /// Persistence templates bound to this dest.
    pub persistconns: u32,
    /// Counters since the last `-Z`.
    pub counters: Counters,
    /// Estimated rates.
    pub rates: Rates,
    /// Tunnel options (used only when `fwd` is [`FwdMethod::Tunnel`]).
    pub tun: TunConfig,
}

/// One connection or persistence template, as `/proc/net/ip_vs_conn` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRow {
    /// Protocol name: `TCP`, `UDP`, `SCTP`, or `IP` (fwmark templates).
    pub proto: &'static str,
    /// Seconds until the entry expires.
    pub expires_secs: u64,
    /// State name (`ESTABLISHED`, `FIN_WAIT`, `UDP`, `NONE`, `ASSURED`, ...).
    pub state: &'static str,
    /// Client address.
    pub caddr: IpAddr,
    /// Client port (0 for templates).
    pub cport: u16,
    /// Virtual address; for fwmark templates the mark as an IPv4 address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real server address.
    pub daddr: IpAddr,
    /// Real server port.
    pub dport: u16,
    /// Persistence engine name, if the entry carries PE data.
    pub pe_name: Option<String>,
    /// Persistence engine data (e.g. the SIP Call-ID).
    pub pe_data: Option<String>,
    /// Created by the sync daemon (`Origin` `SYNC` in `/proc/net/ip_vs_conn_sync`).
    pub synced: bool,
}

/// Which sync daemon a [`DaemonRow`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncRole {
    /// Sending (`--start-daemon master`).
    Master,
    /// Receiving (`--start-daemon backup`).
    Backup,
}

impl SyncRole {
    /// `master` or `backup`.
    pub const fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

/// One running sync daemon, for `--daemon`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonRow {
    /// Master or backup.
    pub role: SyncRole,
    /// Multicast interface name.
    pub mcast_ifn: String,
    /// Sync id (0 = no filtering).
    pub syncid: u8,
    /// Maximum message length; 0 = not reported (omitted).
    pub sync_maxlen: u32,
    /// Multicast group; `None` = not reported (omitted).
    pub mcast_group: Option<IpAddr>,
    /// Multicast port; 0 = not reported (omitted).
    pub mcast_port: u16,
    /// Multicast TTL; 0 = not reported (omitted).
    pub mcast_ttl: u8,
}

/// The `-L` format choice. When several layouts are selected the first of stats, rate,
/// thresholds, persistent-conn, tun-info wins, as in ipvsadm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListOptions {
    /// `--stats`: counters.
    pub stats: bool,
    /// `--rate`: estimator rates.
    pub rate: bool,
    /// `--thresholds`: upper/lower threshold columns.
    pub thresholds: bool,
    /// `--persistent-conn`: weight and template count columns.
    pub persistent_conn: bool,
    /// `--tun-info`: tunnel column.
    pub tun_info: bool,
    /// `--exact`: no K/M/G/T abbreviation in `--stats`/`--rate`.
    pub exact: bool,
    /// `--nosort`: kernel order instead of ipvsadm's sort.
    pub nosort: bool,
    /// Full listing (`-L` without a service): print the version header line.
    pub header: bool,
    /// Connection hash table size shown in the header (`size=4096`).
    pub conn_tab_size: u32,
}

impl Default for ListOptions {
    /// Plain `ipvsadm -L`: default layout, sorted, with the header, `size=4096`.
    fn default() -> Self {
        ListOptions {
            stats: false,
            rate: false,
            thresholds: false,
            persistent_conn: false,
            tun_info: false,
            exact: false,
            nosort: false,
            header: true,
            conn_tab_size: DEFAULT_CONN_TAB_SIZE,
        }
    }
}

/// The layout chosen by [`ListOptions`] (ipvsadm's priority order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    TunInfo,
    Default,
}

impl ListOptions {
    fn layout(&self) -> Layout {
        if self.stats {
            Layout::Stats
        } else if self.rate {
            Layout::Rate
        } else if self.thresholds {
            Layout::Thresholds
        } else if self.persistent_conn {
            Layout::PersistentConn
        } else if self.tun_info {
            Layout::TunInfo
        } else {
            Layout::Default
        }
    }
}

/// Services in listing order: ipvsadm's sort unless `nosort`.
fn ordered_services(rows: &[ServiceRow], nosort: bool) -> Vec<&ServiceRow> {
    let mut v: Vec<&ServiceRow> = rows.iter().collect();
    if !nosort {
        merge_sort(&mut v, &mut |a, b| cmp_services(&a.key, &b.key));
    }
    v
}

/// Dests in listing order: ipvsadm's sort unless `nosort`.
fn ordered_dests(dests: &[DestRow], nosort: bool) -> Vec<&DestRow> {
    let mut v: Vec<&DestRow> = dests.iter().collect();
    if !nosort {
        merge_sort(&mut v, &mut |a, b| {
            cmp_dests((&a.addr, a.port), (&b.addr, b.port))
        });
    }
    v
}

/// The scheduler-flag names ipvsadm prints (`print_sched_flags`): `sh-*`/`mh-*` for those
/// schedulers, `flag-N` otherwise, comma separated. May be empty even when a flag bit is
/// set (e.g. flag-3 on `sh`).
fn sched_flag_names(sched_name: &str, flags: u32) -> String {
    use crate::sched::flags::{SCHED1, SCHED2, SCHED3};
    let table: &[(u32, &str)] = match sched_name {
        "sh" => &[(SCHED1, "sh-fallback"), (SCHED2, "sh-port")],
        "mh" => &[(SCHED1, "mh-fallback"), (SCHED2, "mh-port")],
        _ => &[(SCHED1, "flag-1"), (SCHED2, "flag-2"), (SCHED3, "flag-3")],
    };
    table
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
