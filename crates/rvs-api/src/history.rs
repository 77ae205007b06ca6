//! The last minutes of rates, sampled once a second, for the status page's sparklines
//! (`GET /api/v1/history`).

use std::collections::{BTreeMap, VecDeque};

use rvs_core::listing::ServiceRow;
use rvs_core::stats::Rates;
use serde::Serialize;

use crate::ids::{DestKey, service_id};

/// Samples kept per series.
pub const SAMPLES: usize = 120;

/// One series of rates, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Series {
    /// Connections per second.
    pub cps: VecDeque<u64>,
    /// Packets per second in.
    pub inpps: VecDeque<u64>,
    /// Packets per second out.
    pub outpps: VecDeque<u64>,
    /// Bytes per second in.
    pub inbps: VecDeque<u64>,
    /// Bytes per second out.
    pub outbps: VecDeque<u64>,
}

impl Series {
    fn push(&mut self, r: &Rates) {
        for (q, v) in [
            (&mut self.cps, r.cps),
            (&mut self.inpps, r.inpps),
            (&mut self.outpps, r.outpps),
            (&mut self.inbps, r.inbps),
            (&mut self.outbps, r.outbps),
        ] {
            if q.len() == SAMPLES {
                q.pop_front();
            }
            q.push_back(v);
        }
    }
}

/// Rate series per service (by id) and per dest (`SERVICE/DEST`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct History {
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// Per service.
    pub services: BTreeMap<String, Series>,
    /// Per dest, keyed `SERVICE_ID/DEST_ID`.
    pub dests: BTreeMap<String, Series>,
}

impl History {
    /// Empty, sampled every `interval_ms`.
    pub fn new(interval_ms: u64) -> Self {
        History {
            interval_ms,
            ..History::default()
        }
    }

    /// Add one sample of every service and dest; forget those that are gone.
    pub fn sample(&mut self, rows: &[ServiceRow]) {
        let mut services = BTreeMap::new();
        let mut dests = BTreeMap::new();
        for s in rows {
            let sid = service_id(&s.key);
            let mut series = self.services.remove(&sid).unwrap_or_default();
            series.push(&s.rates);
            for d in &s.dests {
                let did = format!(
                    "{sid}/{}",
                    DestKey {
                        addr: d.addr,
                        port: d.port
                    }
                );
                let mut ds = self.dests.remove(&did).unwrap_or_default();
                ds.push(&d.rates);
                dests.insert(did, ds);
            }
            services.insert(sid, series);
        }
        self.services = services;
        self.dests = dests;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::{Director, Settings, SplitMix64, Time};

    #[test]
    fn samples_roll_and_forget() {
        let mut d = Director::new(Settings::default(), 1, Box::new(SplitMix64(1)));
        let run = |d: &mut Director, a: &str| {
            let argv: Vec<String> = a.split_whitespace().map(String::from).collect();
            let Ok(rvs_config::ipvsadm::Invocation::Command(c)) =
                rvs_config::ipvsadm::parse("x", &argv)
            else {
                panic!("{a}")
            };
            d.apply(&c, Time::ZERO).unwrap();
        };
        run(&mut d, "-A -t 10.0.0.1:80");
        run(&mut d, "-a -t 10.0.0.1:80 -r 10.0.0.2");
        let mut h = History::new(1000);
        for _ in 0..SAMPLES + 5 {
            h.sample(&d.service_rows(None).unwrap());
        }
        assert_eq!(h.services["tcp-10.0.0.1-80"].cps.len(), SAMPLES);
        assert_eq!(h.dests["tcp-10.0.0.1-80/10.0.0.2-80"].inpps.len(), SAMPLES);
        run(&mut d, "-D -t 10.0.0.1:80");
        h.sample(&d.service_rows(None).unwrap());
        assert!(h.services.is_empty() && h.dests.is_empty());
    }
}
