//! Sync daemon options: `ipvsadm --start-daemon` and keepalived's `lvs_sync_daemon`.

use std::net::{IpAddr, Ipv4Addr};

/// The default multicast group, 224.0.0.81 (`IP_VS_SYNC_GROUP`).
pub const DEFAULT_GROUP_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81));
/// The default UDP port (`IP_VS_SYNC_PORT`).
pub const DEFAULT_PORT: u16 = 8848;
/// IPv4 + UDP header bytes.
const HDR_V4: u32 = 20 + 8;
/// IPv6 + UDP header bytes.
const HDR_V6: u32 = 40 + 8;

/// One sync daemon's options (`struct ipvs_sync_daemon_cfg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Multicast interface (`--mcast-interface`).
    pub mcast_ifn: String,
    /// Sync id (`--syncid`), 0 = a backup takes every master's messages.
    pub syncid: u8,
    /// `--sync-maxlen` as given (0 = derive it from the MTU as the kernel does).
    pub sync_maxlen: u16,
    /// Multicast group (`--mcast-group`), IPv4 or IPv6.
    pub mcast_group: IpAddr,
    /// UDP port (`--mcast-port`).
    pub mcast_port: u16,
    /// Multicast TTL / hop limit (`--mcast-ttl`).
    pub mcast_ttl: u8,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            mcast_ifn: String::from("eth0"),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: DEFAULT_GROUP_V4,
            mcast_port: DEFAULT_PORT,
            mcast_ttl: 1,
        }
    }
}

impl DaemonConfig {
    /// The message size limit the kernel would use (`start_sync_thread`): for a master
    /// the given value clamped to `1..=65535 - headers`, else `min(MTU, 1500) - headers`;
    /// for a backup the given value clamped to `1024..=65535 - headers`, else
    /// `clamp(MTU, 1500, 65535) - headers` (headers: 28 bytes for IPv4, 48 for IPv6).
    pub fn effective_maxlen(&self, master: bool, mtu: u32) -> u32 {
        let hlen = if self.mcast_group.is_ipv6() {
            HDR_V6
        } else {
            HDR_V4
        };
        let max = 65_535 - hlen;
        let given = u32::from(self.sync_maxlen);
        if master {
            if given != 0 {
                given.clamp(1, max)
            } else {
                mtu.min(1500).saturating_sub(hlen)
            }
        } else if given != 0 {
            given.clamp(1024, max)
        } else {
            mtu.clamp(1500, 65_535) - hlen
        }
    }
}
