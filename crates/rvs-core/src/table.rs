//! The service table: services, their dest lists, the dest trash, and the ipvsadm
//! add / edit / delete operations with the kernel's semantics and error kinds.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use crate::addr::{Af, Netmask, Protocol};
use crate::command::{DestConfig, OpError, ServiceConfig};
use crate::dest::{Dest, DestArena, DestId, FwdMethod, TunType};
use crate::sched::{self, SchedView};
use crate::service::{Service, ServiceId, ServiceKey, flags};
use crate::settings::{Compat, Settings};
use crate::slab::Slab;
use crate::stats::Stats;
use crate::time::{Dur, Time};

/// How long an unreferenced dest stays in the trash before it is freed.
pub const TRASH_KEEP: Dur = Dur::from_secs(120);

/// The longest persistence timeout ipvsadm accepts (31 days).
pub const MAX_TIMEOUT: u32 = 2_678_400;

/// A small multiplicative hasher for service keys: the table is looked up once or twice
/// per new connection, and its keys are few and chosen by the operator, so SipHash's
/// flooding resistance buys nothing here.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
    }

    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }

    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// What identifies a trashed dest: its service's key, its address and port.
type TrashKey = (ServiceKey, IpAddr, u16);

/// Services and dests, with the kernel's add/edit/delete rules.
#[derive(Debug, Default)]
pub struct ServiceTable {
    services: Slab<Service>,
    by_key: HashMap<ServiceKey, ServiceId, BuildHasherDefault<KeyHasher>>,
    /// Every dest, linked or trashed.
    pub dests: DestArena,
    trash: Vec<DestId>,
    /// The trash indexed by what identifies a dest to the kernel's
    /// `ip_vs_trash_get_dest` (service identity, dest address and port) → position in
    /// `trash`, so that re-adding many dests (a restore after `-C`) does not scan it.
    trash_index: HashMap<TrashKey, usize>,
    /// The key of each `trash` entry, at the same position.
    trash_keys: Vec<TrashKey>,
    port0_services: u32,
    port21_services: u32,
}

impl ServiceTable {
    /// The service with this key.
    pub fn find(&self, key: &ServiceKey) -> Option<ServiceId> {
        self.by_key.get(key).copied()
    }

    /// A service by handle.
    pub fn service(&self, id: ServiceId) -> Option<&Service> {
        self.services.get(id)
    }

    /// A service by handle, mutably.
    pub fn service_mut(&mut self, id: ServiceId) -> Option<&mut Service> {
        self.services.get_mut(id)
    }

    /// A dest by handle (linked or trashed).
    pub fn dest(&self, id: DestId) -> Option<&Dest> {
        self.dests.get(id)
    }

    /// A dest by handle, mutably.
    pub fn dest_mut(&mut self, id: DestId) -> Option<&mut Dest> {
        self.dests.get_mut(id)
    }

    /// Every service, in table (slot) order.
    pub fn services(&self) -> impl Iterator<Item = (ServiceId, &Service)> {
        self.services.iter()
    }

    /// Every service, mutably.
    pub fn services_mut(&mut self) -> impl Iterator<Item = (ServiceId, &mut Service)> {
        self.services.iter_mut()
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether there are no services.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Whether some service listens on port 0 (lookup rule 4).
    pub fn has_port0(&self) -> bool {
        self.port0_services > 0
    }

    /// Whether some service listens on port 21 (FTP data rule).
    pub fn has_port21(&self) -> bool {
        self.port21_services > 0
    }

    /// The scheduler view of a service's dest list.
    pub fn view<'a>(&'a self, svc: &'a Service, settings: &'a Settings) -> SchedView<'a> {
        SchedView {
            ids: &svc.dests,
            arena: &self.dests,
            svc_flags: svc.flags,
            af: svc.af(),
            compat: settings.compat,
            settings,
        }
    }

    /// The dest of a service with this address and port, if linked.
    pub fn find_dest(&self, svc: ServiceId, addr: &IpAddr, port: u16) -> Option<DestId> {
        let s = self.services.get(svc)?;
        s.dests.iter().copied().find(|&d| {
            self.dests
                .get(d)
                .is_some_and(|d| d.addr == *addr && d.port == port)
        })
    }

    fn validate_service(cfg: &ServiceConfig) -> Result<(u32, Netmask), OpError> {
        let af = cfg.key.af();
        if let ServiceKey::Addr { port: 0, .. } = cfg.key
            && cfg.persistent.is_none()
        {
            return Err(OpError::ZeroPort);
        }
        if cfg.onepacket
            && matches!(
                cfg.key,
                ServiceKey::Addr {
                    proto: Protocol::Tcp | Protocol::Sctp,
                    ..
                }
            )
        {
            return Err(OpError::OnePacketNotUdp);
        }
        if cfg.scheduler != "none" && !sched::NAMES.contains(&cfg.scheduler.as_str()) {
            return Err(OpError::SchedulerNotFound);
        }
        if let Some(pe) = &cfg.pe
            && pe != "sip"
        {
            return Err(OpError::SchedulerNotFound);
        }
        let netmask = cfg.netmask.unwrap_or(Netmask::full(af));
        match (af, netmask) {
            (Af::Inet, Netmask::V4(_)) => {}
            (Af::Inet6, Netmask::V6(p)) if (1..=128).contains(&p) => {}
            _ => return Err(OpError::Invalid),
        }
        if cfg.persistent.is_some_and(|t| t > MAX_TIMEOUT) {
            return Err(OpError::OutOfRange);
        }
        let mut fl = cfg.sched_flags & sched::flags::MASK;
        if cfg.persistent.is_some() {
            fl |= flags::PERSISTENT;
        }
        if cfg.onepacket {
            fl |= flags::ONEPACKET;
        }
        Ok((fl, netmask))
    }

    /// `-A`: add a service.
    pub fn add_service(
        &mut self,
        cfg: &ServiceConfig,
        settings: &Settings,
    ) -> Result<ServiceId, OpError> {
        // The kernel looks the service up before it checks any option.
        if self.by_key.contains_key(&cfg.key) {
            return Err(OpError::ServiceExists);
        }
        let (fl, netmask) = Self::validate_service(cfg)?;
        let scheduler = sched::new(&cfg.scheduler);
        if scheduler.is_none() && cfg.scheduler != "none" {
            return Err(OpError::SchedulerNotFound);
        }
        let mut svc = Service {
            key: cfg.key,
            sched_name: cfg.scheduler.clone(),
            scheduler,
            flags: fl,
            timeout: cfg.persistent.unwrap_or(0),
            netmask,
            pe_name: cfg.pe.clone(),
            dests: Vec::new(),
            stats: Stats::default(),
        };
        if let Some(s) = svc.scheduler.as_mut() {
            s.init(SchedView {
                ids: &[],
                arena: &self.dests,
                svc_flags: fl,
                af: cfg.key.af(),
                compat: settings.compat,
                settings,
            });
        }
        self.count_port(&cfg.key, 1);
        let id = self.services.insert(svc);
        self.by_key.insert(cfg.key, id);
        Ok(id)
    }

    /// `-E`: replace every option of a service. The scheduler state is kept only when the
    /// scheduler name is unchanged.
    pub fn edit_service(
        &mut self,
        cfg: &ServiceConfig,
        settings: &Settings,
    ) -> Result<ServiceId, OpError> {
        let id = self.find(&cfg.key).ok_or(OpError::NoSuchService)?;
        let (fl, netmask) = Self::validate_service(cfg)?;
        let new_sched = if self
            .services
            .get(id)
            .is_some_and(|s| s.sched_name == cfg.scheduler)
        {
            None
        } else {
            let s = sched::new(&cfg.scheduler);
            if s.is_none() && cfg.scheduler != "none" {
                return Err(OpError::SchedulerNotFound);
            }
            Some(s)
        };
        let Some(svc) = self.services.get_mut(id) else {
            return Err(OpError::NoSuchService);
        };
        svc.flags = fl;
        svc.timeout = cfg.persistent.unwrap_or(0);
        svc.netmask = netmask;
        svc.pe_name = cfg.pe.clone();
        if let Some(mut s) = new_sched {
            if let Some(s) = s.as_mut() {
                s.init(SchedView {
                    ids: &svc.dests,
                    arena: &self.dests,
                    svc_flags: fl,
                    af: svc.key.af(),
                    compat: settings.compat,
                    settings,
                });
            }
            svc.scheduler = s;
            svc.sched_name = cfg.scheduler.clone();
        }
        Ok(id)
    }

    /// `-D`: delete a service; its dests go to the trash.
    pub fn del_service(&mut self, key: &ServiceKey, now: Time) -> Result<(), OpError> {
        let id = self.by_key.remove(key).ok_or(OpError::NoSuchService)?;
        self.count_port(key, -1);
        if let Some(svc) = self.services.remove(id) {
            for d in svc.dests {
                self.trash_dest(d, key, now);
            }
        }
        Ok(())
    }

    /// Every service key, for `-C`.
    pub fn keys(&self) -> Vec<ServiceKey> {
        self.services.iter().map(|(_, s)| s.key).collect()
    }

    fn count_port(&mut self, key: &ServiceKey, delta: i32) {
        let c = match key.port() {
            0 if matches!(key, ServiceKey::Addr { .. }) => &mut self.port0_services,
            21 => &mut self.port21_services,
            _ => return,
        };
        *c = c.wrapping_add_signed(delta);
    }

    fn validate_dest(svc: &Service, cfg: &DestConfig) -> Result<(), OpError> {
        if cfg.weight < 0 || cfg.weight > 65535 {
            return Err(OpError::OutOfRange);
        }
        if cfg.l_threshold > cfg.u_threshold {
            return Err(OpError::OutOfRange);
        }
        if Af::of(&cfg.addr) != svc.af() && cfg.fwd != FwdMethod::Tunnel {
            return Err(OpError::AfMismatch);
        }
        if cfg.fwd == FwdMethod::Tunnel && cfg.tun.kind == TunType::Gue && cfg.tun.port == 0 {
            return Err(OpError::Invalid);
        }
        Ok(())
    }

    /// `ip_vs_new_dest`'s address check, made only for a dest that is really new (after
    /// the exists check; `-e` never makes it).
    fn check_new_dest_addr(addr: &IpAddr) -> Result<(), OpError> {
        if addr.is_unspecified() || addr.is_multicast() {
            return Err(OpError::Invalid);
        }
        if let IpAddr::V4(a) = addr
            && a.is_broadcast()
        {
            return Err(OpError::Invalid);
        }
        Ok(())
    }

    /// Apply a dest config to a dest (`__ip_vs_update_dest`), with the classic/modern
    /// OVERLOAD rule for threshold edits.
    fn update_dest(d: &mut Dest, cfg: &DestConfig, compat: Compat) {
        let (old_u, old_l) = (d.u_threshold, d.l_threshold);
        d.fwd = cfg.fwd;
        d.tun = cfg.tun;
        d.weight = cfg.weight;
        if cfg.weight > 0 {
            d.last_weight = cfg.weight;
        }
        d.u_threshold = cfg.u_threshold;
        d.l_threshold = cfg.l_threshold;
        match compat {
            Compat::Classic => {
                if cfg.u_threshold == 0 || cfg.u_threshold > old_u {
                    d.overload = false;
                }
            }
            Compat::Modern => {
                if (old_u, old_l) != (cfg.u_threshold, cfg.l_threshold) {
                    let conns = d.conns();
                    let u = cfg.u_threshold;
                    let l = if cfg.l_threshold != 0 {
                        cfg.l_threshold
                    } else {
                        u - u / 4
                    };
                    if u == 0 {
                        d.overload = false;
                    } else if conns >= u {
                        d.overload = true;
                    } else if conns < l {
                        d.overload = false;
                    }
                }
            }
        }
    }

    /// `-a`: add a dest at the head of the list, reviving it from the trash when the same
    /// dest of the same service was deleted earlier.
    pub fn add_dest(
        &mut self,
        key: &ServiceKey,
        cfg: &DestConfig,
        settings: &Settings,
    ) -> Result<DestId, OpError> {
        let sid = self.find(key).ok_or(OpError::ServiceNotDefined)?;
        let svc = self.services.get(sid).ok_or(OpError::ServiceNotDefined)?;
        Self::validate_dest(svc, cfg)?;
        if self.find_dest(sid, &cfg.addr, cfg.port).is_some() {
            return Err(OpError::DestExists);
        }
        Self::check_new_dest_addr(&cfg.addr)?;
        let revived = self.trash_index.get(&(*key, cfg.addr, cfg.port)).copied();
        let id = match revived {
            Some(pos) => {
                let id = self.untrash(pos);
                let Some(d) = self.dests.get_mut(id) else {
                    return Err(OpError::Invalid);
                };
                Self::update_dest(d, cfg, settings.compat);
                d.available = true;
                d.trashed_at = None;
                d.svc = sid;
                id
            }
            None => {
                let mut d = Dest {
                    svc: sid,
                    addr: cfg.addr,
                    port: cfg.port,
                    fwd: cfg.fwd,
                    tun: cfg.tun,
                    weight: 0,
                    last_weight: cfg.weight,
                    u_threshold: 0,
                    l_threshold: 0,
                    available: true,
                    overload: false,
                    activeconns: 0,
                    inactconns: 0,
                    persistconns: 0,
                    refcnt: 0,
                    trashed_at: None,
                    stats: Box::default(),
                };
                Self::update_dest(&mut d, cfg, settings.compat);
                d.last_weight = cfg.weight;
                self.dests.insert(d)
            }
        };
        let Some(svc) = self.services.get_mut(sid) else {
            return Err(OpError::ServiceNotDefined);
        };
        svc.dests.insert(0, id);
        Self::run_hook(svc, &self.dests, settings, |s, v| s.add_dest(v, 0));
        Ok(id)
    }

    /// `-e`: replace every option of a dest; the scheduler's update hook always runs.
    pub fn edit_dest(
        &mut self,
        key: &ServiceKey,
        cfg: &DestConfig,
        settings: &Settings,
    ) -> Result<DestId, OpError> {
        let sid = self.find(key).ok_or(OpError::ServiceNotDefined)?;
        let svc = self.services.get(sid).ok_or(OpError::ServiceNotDefined)?;
        Self::validate_dest(svc, cfg)?;
        let pos = svc
            .dests
            .iter()
            .position(|&d| {
                self.dests
                    .get(d)
                    .is_some_and(|d| d.addr == cfg.addr && d.port == cfg.port)
            })
            .ok_or(OpError::NoSuchDest)?;
        let id = svc.dests[pos];
        if let Some(d) = self.dests.get_mut(id) {
            Self::update_dest(d, cfg, settings.compat);
        }
        let Some(svc) = self.services.get_mut(sid) else {
            return Err(OpError::ServiceNotDefined);
        };
        Self::run_hook(svc, &self.dests, settings, |s, v| s.upd_dest(v, pos));
        Ok(id)
    }

    /// `-d`: unlink a dest and move it to the trash.
    pub fn del_dest(
        &mut self,
        key: &ServiceKey,
        addr: &IpAddr,
        port: u16,
        settings: &Settings,
        now: Time,
    ) -> Result<DestId, OpError> {
        let sid = self.find(key).ok_or(OpError::ServiceNotDefined)?;
        let svc = self.services.get(sid).ok_or(OpError::ServiceNotDefined)?;
        let pos = svc
            .dests
            .iter()
            .position(|&d| {
                self.dests
                    .get(d)
                    .is_some_and(|d| d.addr == *addr && d.port == port)
            })
            .ok_or(OpError::NoSuchDest)?;
        let Some(svc) = self.services.get_mut(sid) else {
            return Err(OpError::ServiceNotDefined);
        };
        let id = svc.dests.remove(pos);
        Self::run_hook(svc, &self.dests, settings, |s, v| s.del_dest(v, pos, id));
        self.trash_dest(id, key, now);
        Ok(id)
    }

    fn run_hook(
        svc: &mut Service,
        arena: &DestArena,
        settings: &Settings,
        f: impl FnOnce(&mut dyn sched::Scheduler, SchedView<'_>),
    ) {
        let view = SchedView {
            ids: &svc.dests,
            arena,
            svc_flags: svc.flags,
            af: svc.key.af(),
            compat: settings.compat,
            settings,
        };
        if let Some(s) = svc.scheduler.as_deref_mut() {
            f(s, view);
        }
    }

    fn trash_dest(&mut self, id: DestId, key: &ServiceKey, now: Time) {
        if let Some(d) = self.dests.get_mut(id) {
            d.available = false;
            d.trashed_at = Some(now);
            let tk = (*key, d.addr, d.port);
            // A dest of the same identity already there (cannot happen through the
            // commands: re-adding revives it) is replaced in the index, not duplicated.
            self.trash_index.insert(tk, self.trash.len());
            self.trash.push(id);
            self.trash_keys.push(tk);
        }
    }

    /// Take the dest at `pos` out of the trash (the last one moves into its place).
    fn untrash(&mut self, pos: usize) -> DestId {
        let id = self.trash.swap_remove(pos);
        let tk = self.trash_keys.swap_remove(pos);
        if self.trash_index.get(&tk) == Some(&pos) {
            self.trash_index.remove(&tk);
        }
        if let Some(moved) = self.trash_keys.get(pos) {
            self.trash_index.insert(*moved, pos);
        }
        id
    }

    /// Dests in the trash.
    pub fn trash(&self) -> &[DestId] {
        &self.trash
    }

    /// Called when a trashed dest loses its last reference: restart its keep time.
    pub fn dest_unreferenced(&mut self, id: DestId, now: Time) {
        if let Some(d) = self.dests.get_mut(id)
            && !d.available
        {
            d.trashed_at = Some(now);
        }
    }

    /// Free trashed dests unreferenced for [`TRASH_KEEP`] (run every 60 s).
    pub fn gc_trash(&mut self, now: Time) {
        let dests = &mut self.dests;
        let mut kept = Vec::with_capacity(self.trash.len());
        for (id, tk) in self.trash.drain(..).zip(self.trash_keys.drain(..)) {
            match dests.get(id) {
                Some(d) if d.refcnt == 0 && d.trashed_at.is_some_and(|t| now - t >= TRASH_KEEP) => {
                    dests.remove(id);
                }
                Some(_) => kept.push((id, tk)),
                None => {}
            }
        }
        self.trash_index.clear();
        for (pos, (id, tk)) in kept.into_iter().enumerate() {
            self.trash.push(id);
            self.trash_keys.push(tk);
            self.trash_index.insert(tk, pos);
        }
    }
}
