//! A small fixture for scheduler tests: one service built through the same
//! add/edit/delete operations users run, so dest order and hook calls are the kernel's.

use std::net::IpAddr;

use crate::addr::Protocol;
use crate::command::{DestConfig, ServiceConfig};
use crate::dest::{Dest, DestId};
use crate::rng::{Rng, SplitMix64};
use crate::sched::SchedRequest;
use crate::service::{ServiceId, ServiceKey};
use crate::settings::Settings;
use crate::table::ServiceTable;
use crate::time::Time;

/// One TCP service on 198.18.0.100:80 and its table.
pub(crate) struct Fixture {
    pub table: ServiceTable,
    pub settings: Settings,
    pub key: ServiceKey,
    pub sid: ServiceId,
    pub rng: SplitMix64,
    pub now: Time,
}

/// `198.18.1.N`.
pub(crate) fn rs(n: u8) -> IpAddr {
    IpAddr::from([198, 18, 1, n])
}

impl Fixture {
    /// A service with scheduler `sched` and scheduler flag bits `flags`.
    pub fn new(sched: &str, flags: u32) -> Fixture {
        Self::with_settings(sched, flags, Settings::default())
    }

    /// As [`Fixture::new`] with explicit settings.
    pub fn with_settings(sched: &str, flags: u32, settings: Settings) -> Fixture {
        let key = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: IpAddr::from([198, 18, 0, 100]),
            port: 80,
        };
        let mut cfg = ServiceConfig::new(key);
        cfg.scheduler = sched.to_string();
        cfg.sched_flags = flags;
        let mut table = ServiceTable::default();
        let sid = table.add_service(&cfg, &settings).expect("add service");
        Fixture {
            table,
            settings,
            key,
            sid,
            rng: SplitMix64(1),
            now: Time::ZERO,
        }
    }

    /// `-a -r 198.18.1.N:80 -w weight`.
    pub fn add(&mut self, n: u8, weight: i32) -> DestId {
        let mut d = DestConfig::new(rs(n), 80);
        d.weight = weight;
        self.table
            .add_dest(&self.key, &d, &self.settings)
            .expect("add dest")
    }

    /// `-e -r 198.18.1.N:80 -w weight` (thresholds reset, as `-e` does).
    pub fn edit(&mut self, n: u8, weight: i32) {
        let mut d = DestConfig::new(rs(n), 80);
        d.weight = weight;
        self.table
            .edit_dest(&self.key, &d, &self.settings)
            .expect("edit dest");
    }

    /// `-d -r 198.18.1.N:80`.
    pub fn del(&mut self, n: u8) {
        self.table
            .del_dest(&self.key, &rs(n), 80, &self.settings, self.now)
            .expect("del dest");
    }

    /// Mutable access to dest N (to set connection counts or OVERLOAD directly).
    pub fn dest_mut(&mut self, n: u8) -> &mut Dest {
        let id = self
            .table
            .find_dest(self.sid, &rs(n), 80)
            .expect("dest exists");
        self.table.dest_mut(id).expect("dest exists")
    }

    /// Set active/inactive connection counts of dest N.
    pub fn set_conns(&mut self, n: u8, active: u32, inactive: u32) {
        let d = self.dest_mut(n);
        d.activeconns = active;
        d.inactconns = inactive;
    }

    /// Schedule one connection from `client:sport` to the VIP; returns the last octet of
    /// the chosen dest.
    pub fn pick_from(&mut self, client: IpAddr, sport: u16) -> Option<u8> {
        let req = SchedRequest {
            proto: Protocol::Tcp,
            saddr: client,
            sport,
            daddr: IpAddr::from([198, 18, 0, 100]),
            dport: 80,
            now: self.now,
        };
        self.pick_req(&req)
    }

    /// Schedule with an explicit request.
    pub fn pick_req(&mut self, req: &SchedRequest) -> Option<u8> {
        let mut s = self
            .table
            .service_mut(self.sid)
            .and_then(|s| s.scheduler.take())?;
        let svc = self.table.service(self.sid).expect("service");
        let got = s.schedule(
            self.table.view(svc, &self.settings),
            req,
            &mut self.rng as &mut dyn Rng,
        );
        self.table.service_mut(self.sid).expect("service").scheduler = Some(s);
        got.map(|id| match self.table.dest(id).expect("live dest").addr {
            IpAddr::V4(a) => a.octets()[3],
            IpAddr::V6(a) => a.octets()[15],
        })
    }

    /// Schedule one connection from 198.18.2.1:40000.
    pub fn pick(&mut self) -> Option<u8> {
        self.pick_from(IpAddr::from([198, 18, 2, 1]), 40000)
    }

    /// `n` picks in a row.
    pub fn picks(&mut self, n: usize) -> Vec<Option<u8>> {
        (0..n).map(|_| self.pick()).collect()
    }

    /// Run the scheduler's periodic tick at `now`.
    pub fn tick(&mut self, now: Time) {
        self.now = now;
        let Some(mut s) = self
            .table
            .service_mut(self.sid)
            .and_then(|s| s.scheduler.take())
        else {
            return;
        };
        let svc = self.table.service(self.sid).expect("service");
        s.tick(self.table.view(svc, &self.settings), now);
        self.table.service_mut(self.sid).expect("service").scheduler = Some(s);
    }
}
