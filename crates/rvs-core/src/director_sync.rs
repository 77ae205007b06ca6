//! What the connection sync daemon needs from the director: a cheap log of connections
//! that saw an input packet (for the master), and installing or updating a connection
//! received from a master (`ip_vs_proc_conn`, for the backup).

use std::net::IpAddr;

use super::{Director, FTP_PORT};
use crate::addr::{Af, Protocol};
use crate::conn::{Conn, ConnId, flags as cf};
use crate::dest::DestId;
use crate::service::{ServiceId, ServiceKey};
use crate::time::Dur;

/// The count logged for a template re-armed while it still controls connections.
pub const SYNC_REARM: u32 = u32::MAX;
/// The count logged for a connection whose traffic the XDP fast path forwarded
/// ([`Director::touch_conn`]): the master refreshes the backups with it now and then.
pub const SYNC_REFRESH: u32 = u32::MAX - 1;

/// Most events the sync log holds between two drains; beyond, events are dropped (a
/// stalled master thread must not grow the director without bound).
pub const MAX_SYNC_EVENTS: usize = 1 << 20;

/// Timeout of a synced template when the message carries none (v0): 3 minutes.
const TEMPLATE_SYNC_TIMEOUT_MS: u32 = 180_000;

/// Flags a backup keeps from a master (`IP_VS_CONN_F_BACKUP_MASK`).
const BACKUP_MASK: u32 =
    cf::FWD_MASK | cf::NOOUTPUT | cf::INACTIVE | 0x0600 | cf::NO_CPORT | cf::TEMPLATE;
/// Flags a backup updates on an entry it already has (`IP_VS_CONN_F_BACKUP_UPD_MASK`).
const BACKUP_UPD_MASK: u32 = cf::INACTIVE | 0x0600;

/// A connection or template received from a sync master, already checked (known
/// protocol, state in range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncedConn {
    /// IP protocol number (0 for fwmark templates).
    pub proto: u8,
    /// Client address.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real-server address.
    pub daddr: IpAddr,
    /// Real-server port.
    pub dport: u16,
    /// Flags as received (masked here with the backup mask).
    pub flags: u32,
    /// Protocol state.
    pub state: u8,
    /// Full timeout of the state in seconds; 0 = the local table's (v0 messages).
    pub timeout_secs: u32,
    /// Firewall mark.
    pub fwmark: u32,
    /// The `in_pkts` to set (the local `sync_threshold`).
    pub in_pkts: u32,
}

/// What [`Director::install_synced`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// A new synced entry.
    Created(ConnId),
    /// An existing entry updated.
    Updated(ConnId),
    /// The expiry message of a connection already replaced by a newer one: ignored.
    Stale,
    /// No local service/real server matches: not installed.
    NoDest,
}

/// Which input packets the sync log keeps: the ones the master's send rules can pick
/// (`ip_vs_sync_conn_needed` with `sync_refresh_period` 0). A packet that changes its
/// connection's state is always kept, so is a template re-armed while in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncFilter {
    /// `sync_threshold` (3).
    pub threshold: u32,
    /// `sync_period` (50; 0 = only at the threshold).
    pub period: u32,
    /// Keep every packet (a master with `sync_refresh_period` set decides by time).
    pub all: bool,
}

impl Default for SyncFilter {
    fn default() -> Self {
        SyncFilter {
            threshold: 3,
            period: 50,
            all: false,
        }
    }
}

impl SyncFilter {
    /// Whether a packet with count `pkts` (that did or did not change the state) is kept.
    #[inline(always)]
    pub fn keeps(&self, pkts: u32, changed: bool) -> bool {
        self.all
            || changed
            || if self.period > 0 {
                pkts % self.period == self.threshold
            } else {
                pkts == self.threshold
            }
    }
}

impl Director {
    /// Start (with the kernel's default send rule) or stop logging input packets for a
    /// sync master (see [`Director::take_sync_events`]). Off by default: then nothing is
    /// logged.
    pub fn set_sync_master(&mut self, on: bool) {
        self.set_sync_filter(on.then(SyncFilter::default));
    }

    /// Start logging with `filter`, or stop (`None`).
    pub fn set_sync_filter(&mut self, filter: Option<SyncFilter>) {
        self.sync_filter = filter;
        if filter.is_none() {
            self.sync_events.clear();
        }
    }

    /// Whether input packets are being logged for a sync master.
    pub fn sync_master(&self) -> bool {
        self.sync_filter.is_some()
    }

    /// The `(connection, input packet count)` pairs logged since the last call, one per
    /// input packet the [`SyncFilter`] keeps, one per template re-armed while still in use
    /// (count [`SYNC_REARM`]) and one per fast-path touch (count [`SYNC_REFRESH`]), oldest
    /// first.
    pub fn take_sync_events(&mut self) -> Vec<(ConnId, u32)> {
        std::mem::take(&mut self.sync_events)
    }

    /// Log one event when a sync master is running.
    #[inline(always)]
    pub(super) fn log_sync(&mut self, id: ConnId, pkts: u32, changed: bool) {
        if let Some(f) = self.sync_filter
            && f.keeps(pkts, changed)
        {
            if self.sync_events.len() < MAX_SYNC_EVENTS {
                self.sync_events.push((id, pkts));
            } else {
                self.sync_events_dropped += 1;
            }
        }
    }

    /// Events dropped because the log was full (see [`MAX_SYNC_EVENTS`]).
    pub fn sync_events_dropped(&self) -> u64 {
        self.sync_events_dropped
    }

    /// Install or update a connection received from a master (`ip_vs_proc_conn`). The
    /// entry is bound to the local dest of the same service (by fwmark, or protocol,
    /// address and port, with the FTP and port-0 fallbacks); when there is none it is not
    /// installed ([`SyncOutcome::NoDest`]). Its timer restarts at now + its timeout.
    pub fn install_synced(&mut self, s: &SyncedConn) -> SyncOutcome {
        let mut flags = (s.flags & BACKUP_MASK) | cf::SYNC;
        let template = flags & cf::TEMPLATE != 0;
        let mut found = if template {
            self.conns
                .lookup_template(s.proto, &s.caddr, &s.vaddr, s.vport)
        } else {
            self.conns
                .lookup_in(s.proto, &s.caddr, s.cport, &s.vaddr, s.vport)
        };
        if !template
            && let Some(id) = found
            && let Some(c) = self.conns.get(id)
            && (c.dport != s.dport || c.daddr != s.daddr)
        {
            if flags & cf::INACTIVE != 0 {
                return SyncOutcome::Stale;
            }
            self.delete_conn(id, false);
            found = None;
        }
        let timeout = if s.timeout_secs != 0 {
            s.timeout_secs.saturating_mul(1000)
        } else if template {
            TEMPLATE_SYNC_TIMEOUT_MS
        } else {
            Protocol::from_number(s.proto)
                .map(|p| self.timeouts.get(p, s.state).saturating_mul(1000))
                .unwrap_or(TEMPLATE_SYNC_TIMEOUT_MS)
        };
        let now = self.now;
        let outcome = match found {
            Some(id) => {
                let Some(c) = self.conns.get_mut(id) else {
                    return SyncOutcome::NoDest;
                };
                let moved = (c.flags ^ flags) & cf::INACTIVE != 0 && !template;
                flags = (flags & BACKUP_UPD_MASK) | (c.flags & !BACKUP_UPD_MASK);
                c.flags = flags;
                c.state = s.state;
                c.in_pkts = s.in_pkts;
                c.timeout = timeout;
                let dest = c.dest;
                if moved && let Some(d) = dest.and_then(|d| self.table.dest_mut(d)) {
                    if flags & cf::INACTIVE != 0 {
                        d.activeconns = d.activeconns.saturating_sub(1);
                        d.inactconns += 1;
                    } else {
                        d.inactconns = d.inactconns.saturating_sub(1);
                        d.activeconns += 1;
                    }
                }
                SyncOutcome::Updated(id)
            }
            None => {
                let Some(dest) = self.synced_dest(s, template) else {
                    return SyncOutcome::NoDest;
                };
                let id = self.conns.insert_unarmed(Conn {
                    caddr: s.caddr,
                    vaddr: s.vaddr,
                    cport: s.cport,
                    vport: s.vport,
                    proto: s.proto,
                    state: s.state,
                    dport: s.dport,
                    flags,
                    daddr: s.daddr,
                    dest: Some(dest),
                    control: None,
                    n_control: 0,
                    timeout,
                    expires: now,
                    fwmark: s.fwmark,
                    in_pkts: s.in_pkts,
                });
                self.bind_dest(dest, template, flags & cf::INACTIVE != 0);
                SyncOutcome::Created(id)
            }
        };
        let (SyncOutcome::Created(id) | SyncOutcome::Updated(id)) = outcome else {
            return outcome;
        };
        self.conns.set_expires(id, now + Dur(u64::from(timeout)));
        if !template {
            self.note_conn(id);
        }
        outcome
    }

    /// The local service of a synced entry (`ip_vs_find_dest`'s service lookup).
    fn synced_service(&self, s: &SyncedConn) -> Option<ServiceId> {
        let af = Af::of(&s.vaddr);
        if s.fwmark != 0
            && let Some(id) = self.table.find(&ServiceKey::Fwmark { af, mark: s.fwmark })
        {
            return Some(id);
        }
        let proto = Protocol::from_number(s.proto)?;
        let key = |port| ServiceKey::Addr {
            proto,
            addr: s.vaddr,
            port,
        };
        self.table
            .find(&key(s.vport))
            .or_else(|| {
                self.table
                    .find(&key(FTP_PORT))
                    .filter(|_| s.vport != FTP_PORT)
            })
            .or_else(|| self.table.find(&key(0)))
    }

    /// The dest of a synced entry: same address and port, or (fwmark and port-0 services,
    /// templates that store no port) the one with that address.
    fn synced_dest(&self, s: &SyncedConn, template: bool) -> Option<DestId> {
        let sid = self.synced_service(s)?;
        if let Some(d) = self.table.find_dest(sid, &s.daddr, s.dport) {
            return Some(d);
        }
        let svc = self.table.service(sid)?;
        let loose = template
            || matches!(
                svc.key,
                ServiceKey::Fwmark { .. } | ServiceKey::Addr { port: 0, .. }
            );
        if !loose {
            return None;
        }
        svc.dests
            .iter()
            .copied()
            .find(|&d| self.table.dest(d).is_some_and(|d| d.addr == s.daddr))
    }
}
