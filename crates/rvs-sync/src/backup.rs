//! The receiving side (`ip_vs_process_message`, `ip_vs_proc_sync_conn`,
//! `ip_vs_proc_conn`): decode a datagram, filter by sync id, check each entry and install
//! it into the director as a synced connection.

use rvs_core::conn::ConnId;
use rvs_core::conn::state::{sctp, tcp};
use rvs_core::director::{SyncOutcome, SyncedConn};
use rvs_core::settings::Compat;
use rvs_core::{Director, Protocol};

use crate::wire::{self, SyncConn, flags};

/// Counters of the backup (what the kernel only logs at debug level).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupStats {
    /// Datagrams received.
    pub messages: u64,
    /// Datagrams rejected whole (short, size mismatch).
    pub bad_messages: u64,
    /// Datagrams ignored for another sync id.
    pub other_syncid: u64,
    /// Datagrams whose tail was dropped after a malformed entry.
    pub truncated: u64,
    /// Entries skipped by the codec (unknown mandatory parameter, PE data without name).
    pub skipped: u64,
    /// Entries with a protocol rvs does not know.
    pub bad_protocol: u64,
    /// Entries with a state out of range for their protocol (or flags a [2026+] kernel
    /// refuses).
    pub bad_state: u64,
    /// Entries carrying persistence-engine data (rvs has no engine to bind it to).
    pub pe_entries: u64,
    /// New synced entries.
    pub created: u64,
    /// Existing entries updated.
    pub updated: u64,
    /// Expiry messages of already replaced connections.
    pub stale: u64,
    /// Entries for which no local service/real server exists: not installed.
    pub no_dest: u64,
}

/// The receiving side of the sync protocol.
#[derive(Clone, Debug)]
pub struct Backup {
    syncid: u8,
    threshold: u32,
    /// Counters.
    pub stats: BackupStats,
}

impl Backup {
    /// A backup filtering on `syncid` (0 = accept every master); installed entries get
    /// `in_pkts = threshold` (the local `sync_threshold`, so the next packet counts on).
    pub fn new(syncid: u8, threshold: u32) -> Self {
        Backup {
            syncid,
            threshold,
            stats: BackupStats::default(),
        }
    }

    /// The sync id filtered on.
    pub fn syncid(&self) -> u8 {
        self.syncid
    }

    /// Handle one received datagram.
    pub fn on_datagram(&mut self, d: &mut Director, buf: &[u8]) {
        self.on_datagram_with(d, buf, &mut |_, _| {});
    }

    /// [`Backup::on_datagram`]; `installed` is called for every entry installed or
    /// updated, with its connection (rvsd claims the FULLNAT source of the entries that
    /// carry one).
    pub fn on_datagram_with(
        &mut self,
        d: &mut Director,
        buf: &[u8],
        installed: &mut dyn FnMut(ConnId, &SyncConn),
    ) {
        self.stats.messages += 1;
        let Ok(msg) = wire::decode(buf) else {
            self.stats.bad_messages += 1;
            return;
        };
        if self.syncid != 0 && msg.syncid != self.syncid {
            self.stats.other_syncid += 1;
            return;
        }
        self.stats.skipped += msg.skipped.len() as u64;
        if msg.dropped_rest.is_some() {
            self.stats.truncated += 1;
        }
        for c in &msg.conns {
            if let Some(id) = self.install(d, c) {
                installed(id, c);
            }
        }
    }

    /// Check and install one entry; its connection when it was installed or updated.
    pub fn install(&mut self, d: &mut Director, c: &SyncConn) -> Option<ConnId> {
        let fl = c.flags;
        let template = fl & flags::TEMPLATE != 0;
        if d.settings.compat == Compat::Modern
            && (fl & flags::ONE_PACKET != 0
                || (template && fl & flags::NO_CPORT != 0)
                || (template && c.state >= 2))
        {
            self.stats.bad_state += 1;
            return None;
        }
        if !template {
            let Some(p) = Protocol::from_number(c.protocol) else {
                self.stats.bad_protocol += 1;
                return None;
            };
            let states = match p {
                Protocol::Tcp => tcp::COUNT,
                Protocol::Udp => 1,
                Protocol::Sctp => sctp::COUNT,
            };
            if usize::from(c.state) >= states {
                self.stats.bad_state += 1;
                return None;
            }
        }
        if c.pe_data.is_some() {
            // The kernel drops entries whose PE it has not loaded; rvs has none to load.
            self.stats.pe_entries += 1;
            return None;
        }
        let s = SyncedConn {
            proto: c.protocol,
            caddr: c.caddr,
            cport: c.cport,
            vaddr: c.vaddr,
            vport: c.vport,
            daddr: c.daddr,
            dport: c.dport,
            flags: fl,
            state: u8::try_from(c.state).unwrap_or(u8::MAX),
            timeout_secs: c.timeout,
            fwmark: c.fwmark,
            in_pkts: self.threshold,
        };
        match d.install_synced(&s) {
            SyncOutcome::Created(id) => {
                self.stats.created += 1;
                Some(id)
            }
            SyncOutcome::Updated(id) => {
                self.stats.updated += 1;
                Some(id)
            }
            SyncOutcome::Stale => {
                self.stats.stale += 1;
                None
            }
            SyncOutcome::NoDest => {
                self.stats.no_dest += 1;
                None
            }
        }
    }
}

/// What the `sync_message` fuzz target runs besides the codec: the datagram installed into
/// a director with a TCP, a UDP and a fwmark service (both families of real servers, every
/// forwarding method), twice (the second time updates), then time runs out. Returns the
/// number of entries installed or updated. Panics only on a bug.
pub fn exercise(data: &[u8]) -> usize {
    use rvs_core::{
        Command, DestConfig, FwdMethod, ServiceConfig, ServiceKey, Settings, SplitMix64, Time,
    };
    let mut d = Director::new(Settings::default(), 1, Box::new(SplitMix64(1)));
    let v4 = std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 100));
    let keys = [
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: v4,
            port: 80,
        },
        ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: v4,
            port: 0,
        },
        ServiceKey::Fwmark {
            af: rvs_core::Af::Inet,
            mark: 1,
        },
    ];
    for (i, k) in keys.iter().enumerate() {
        let mut s = ServiceConfig::new(*k);
        if i > 0 {
            s.persistent = Some(300);
        }
        let _ = d.apply(&Command::AddService(s), Time::ZERO);
        for (n, fwd) in [FwdMethod::Masq, FwdMethod::Route, FwdMethod::FullNat]
            .into_iter()
            .enumerate()
        {
            let mut c = DestConfig::new(
                std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 1, 11 + n as u8)),
                if i == 0 { 8080 } else { 0 },
            );
            c.fwd = fwd;
            let _ = d.apply(&Command::AddDest(*k, c), Time::ZERO);
        }
    }
    let mut b = Backup::new(0, 3);
    let mut n = 0;
    for t in [1_000u64, 2_000] {
        d.advance(Time(t));
        b.on_datagram_with(&mut d, data, &mut |_, _| n += 1);
    }
    // The longest timeout a message can carry is u32::MAX seconds.
    d.advance(Time(u64::from(u32::MAX) * 1000 + 10_000));
    assert!(d.conns.is_empty(), "every synced entry expires");
    n
}
