//! Sync daemon options: `ipvsadm --start-daemon` and keepalived's `lvs_sync_daemon`.

use std::net::{IpAddr, Ipv4Addr};

use rvs_core::listing::{DaemonRow, SyncRole};

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

/// The running daemons and the kernel's rules for starting and stopping them: one master
/// and one backup at most, both at once allowed. `H` is whatever keeps a running daemon
/// alive (rvsd: its thread's handle).
#[derive(Debug)]
pub struct DaemonSet<H> {
    master: Option<(DaemonConfig, u32, H)>,
    backup: Option<(DaemonConfig, u32, H)>,
}

impl<H> Default for DaemonSet<H> {
    fn default() -> Self {
        DaemonSet {
            master: None,
            backup: None,
        }
    }
}

/// The kernel's answer to a second start of the same role (EEXIST), as ipvsadm prints it.
pub const ERR_RUNNING: &str = "Daemon has already run";
/// The kernel's answer to stopping a role that does not run (ESRCH).
pub const ERR_NOT_RUNNING: &str = "No daemon is running";

impl<H> DaemonSet<H> {
    fn slot(&mut self, role: SyncRole) -> &mut Option<(DaemonConfig, u32, H)> {
        match role {
            SyncRole::Master => &mut self.master,
            SyncRole::Backup => &mut self.backup,
        }
    }

    /// Whether `role` runs.
    pub fn running(&self, role: SyncRole) -> bool {
        match role {
            SyncRole::Master => self.master.is_some(),
            SyncRole::Backup => self.backup.is_some(),
        }
    }

    /// Start `role` with `cfg` and message limit `maxlen`: `launch` is called only when the
    /// role does not run yet; its error text is returned as is.
    pub fn start(
        &mut self,
        role: SyncRole,
        cfg: DaemonConfig,
        maxlen: u32,
        launch: impl FnOnce(&DaemonConfig) -> Result<H, String>,
    ) -> Result<(), String> {
        let slot = self.slot(role);
        if slot.is_some() {
            return Err(ERR_RUNNING.into());
        }
        let h = launch(&cfg)?;
        *slot = Some((cfg, maxlen, h));
        Ok(())
    }

    /// Stop `role`, handing back its handle to wind it down.
    pub fn stop(&mut self, role: SyncRole) -> Result<H, String> {
        self.slot(role)
            .take()
            .map(|(_, _, h)| h)
            .ok_or_else(|| ERR_NOT_RUNNING.to_string())
    }

    /// Every running daemon's handle, taken out (rvsd shutting down).
    pub fn stop_all(&mut self) -> Vec<H> {
        [self.master.take(), self.backup.take()]
            .into_iter()
            .flatten()
            .map(|(_, _, h)| h)
            .collect()
    }

    /// `-L --daemon` rows, master first.
    pub fn rows(&self) -> Vec<DaemonRow> {
        [
            (SyncRole::Master, &self.master),
            (SyncRole::Backup, &self.backup),
        ]
        .into_iter()
        .filter_map(|(role, s)| {
            s.as_ref().map(|(c, maxlen, _)| DaemonRow {
                role,
                mcast_ifn: c.mcast_ifn.clone(),
                syncid: c.syncid,
                sync_maxlen: *maxlen,
                mcast_group: Some(c.mcast_group),
                mcast_port: c.mcast_port,
                mcast_ttl: c.mcast_ttl,
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::listing::render_daemon;

    #[test]
    fn kernel_maxlen_defaults_and_clamps() {
        let mut c = DaemonConfig::default();
        assert_eq!(c.effective_maxlen(true, 1500), 1472);
        assert_eq!(c.effective_maxlen(true, 9000), 1472);
        assert_eq!(c.effective_maxlen(true, 1400), 1372);
        assert_eq!(c.effective_maxlen(false, 9000), 8972);
        assert_eq!(c.effective_maxlen(false, 1400), 1472);
        c.sync_maxlen = 100;
        assert_eq!(c.effective_maxlen(true, 1500), 100);
        assert_eq!(c.effective_maxlen(false, 1500), 1024);
        c.sync_maxlen = 65_535;
        assert_eq!(c.effective_maxlen(true, 1500), 65_507);
        c.mcast_group = "ff02::81".parse().unwrap();
        c.sync_maxlen = 0;
        assert_eq!(c.effective_maxlen(true, 1500), 1452);
    }

    #[test]
    fn start_stop_rules_and_listing() {
        let mut s: DaemonSet<u32> = DaemonSet::default();
        assert_eq!(s.stop(SyncRole::Master), Err(ERR_NOT_RUNNING.to_string()));
        s.start(SyncRole::Master, DaemonConfig::default(), 1472, |_| Ok(1))
            .unwrap();
        let again = s.start(SyncRole::Master, DaemonConfig::default(), 1472, |_| {
            panic!("must not launch a second master")
        });
        assert_eq!(again, Err(ERR_RUNNING.to_string()));
        let b = DaemonConfig {
            mcast_ifn: "eth1".into(),
            syncid: 7,
            ..DaemonConfig::default()
        };
        assert_eq!(
            s.start(SyncRole::Backup, b.clone(), 1472, |_| Err(
                "No such device".into()
            )),
            Err("No such device".to_string())
        );
        assert!(!s.running(SyncRole::Backup));
        s.start(SyncRole::Backup, b, 1472, |_| Ok(2)).unwrap();
        assert_eq!(
            render_daemon(&s.rows()),
            "master sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n\
             backup sync daemon (mcast=eth1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
        );
        assert_eq!(s.stop(SyncRole::Master), Ok(1));
        assert_eq!(s.stop_all(), vec![2]);
        assert!(s.rows().is_empty());
    }
}
