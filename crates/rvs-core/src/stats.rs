//! Per-service and per-dest counters and IPVS's 2-second rate estimator (reference §2.9).

/// Raw counters: new connections, packets and bytes in each direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// New (non-template) connections.
    pub conns: u64,
    /// Client → director packets.
    pub inpkts: u64,
    /// Server → client packets seen by the director (NAT/FULLNAT only).
    pub outpkts: u64,
    /// Bytes of `inpkts` (whole IP packet length).
    pub inbytes: u64,
    /// Bytes of `outpkts`.
    pub outbytes: u64,
}

impl Counters {
    fn minus(&self, o: &Counters) -> Counters {
        Counters {
            conns: self.conns.wrapping_sub(o.conns),
            inpkts: self.inpkts.wrapping_sub(o.inpkts),
            outpkts: self.outpkts.wrapping_sub(o.outpkts),
            inbytes: self.inbytes.wrapping_sub(o.inbytes),
            outbytes: self.outbytes.wrapping_sub(o.outbytes),
        }
    }
}

/// Rates as ipvsadm shows them: connections/s, packets/s, bytes/s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

/// The estimator's scaled moving averages (`struct ip_vs_estimator`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Estimator {
    last: Counters,
    cps: i64,
    inpps: i64,
    outpps: i64,
    inbps: i64,
    outbps: i64,
}

/// Counters, their zero point (`-Z`) and the estimator of one service or dest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Counters since creation.
    pub total: Counters,
    /// Value of `total` at the last `-Z`.
    zero: Counters,
    est: Estimator,
}

/// The estimator period: IPVS estimates every 2 seconds.
pub const EST_PERIOD_MS: u64 = 2000;

impl Stats {
    /// Counters since the last zeroing, as `--stats` shows them.
    pub fn counters(&self) -> Counters {
        self.total.minus(&self.zero)
    }

    /// Count one new connection.
    #[inline]
    pub fn add_conn(&mut self) {
        self.total.conns += 1;
    }

    /// Count one incoming packet of `bytes` bytes.
    #[inline]
    pub fn add_in(&mut self, bytes: u32) {
        self.total.inpkts += 1;
        self.total.inbytes += u64::from(bytes);
    }

    /// Count one outgoing packet of `bytes` bytes.
    #[inline]
    pub fn add_out(&mut self, bytes: u32) {
        self.total.outpkts += 1;
        self.total.outbytes += u64::from(bytes);
    }

    /// Count packets and bytes forwarded elsewhere (the XDP fast path), in bulk.
    #[inline]
    pub fn add_bulk(&mut self, inpkts: u64, inbytes: u64, outpkts: u64, outbytes: u64) {
        self.total.inpkts += inpkts;
        self.total.inbytes += inbytes;
        self.total.outpkts += outpkts;
        self.total.outbytes += outbytes;
    }

    /// `-Z`: counters restart from zero and rates are reset.
    pub fn zero(&mut self) {
        self.zero = self.total;
        self.est = Estimator {
            last: self.total,
            ..Estimator::default()
        };
    }

    /// One 2-second estimator step (`estimation_timer`).
    pub fn estimate(&mut self) {
        let n = self.total;
        let e = &mut self.est;
        let d = n.minus(&e.last);
        e.last = n;
        // Rates over 2 s, scaled by 2^10 (cps, pps) or 2^5 (bps): (Δ << 10) / 2 = Δ << 9.
        let step = |avg: &mut i64, rate: u64| {
            let rate = rate as i64;
            *avg += (rate - *avg) >> 2;
        };
        step(&mut e.cps, d.conns << 9);
        step(&mut e.inpps, d.inpkts << 9);
        step(&mut e.outpps, d.outpkts << 9);
        step(&mut e.inbps, d.inbytes << 4);
        step(&mut e.outbps, d.outbytes << 4);
    }

    /// The current rates (`ip_vs_read_estimator`).
    pub fn rates(&self) -> Rates {
        let e = &self.est;
        let r10 = |v: i64| ((v + 0x1FF) >> 10).max(0) as u64;
        let r5 = |v: i64| ((v + 0xF) >> 5).max(0) as u64;
        Rates {
            cps: r10(e.cps),
            inpps: r10(e.inpps),
            outpps: r10(e.outpps),
            inbps: r5(e.inbps),
            outbps: r5(e.outbps),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_converges() {
        let mut s = Stats::default();
        // 100 conns/s and 1000 pkts of 100 bytes per second, for 200 s.
        for _ in 0..100 {
            for _ in 0..200 {
                s.add_conn();
            }
            for _ in 0..2000 {
                s.add_in(100);
            }
            s.estimate();
        }
        let r = s.rates();
        assert_eq!(r.cps, 100);
        assert_eq!(r.inpps, 1000);
        assert_eq!(r.inbps, 100_000);
        assert_eq!(r.outpps, 0);
    }

    #[test]
    fn first_step_is_a_quarter() {
        let mut s = Stats::default();
        for _ in 0..800 {
            s.add_conn();
        }
        s.estimate();
        // 400 cps measured, average moves a quarter of the way: 100.
        assert_eq!(s.rates().cps, 100);
    }

    #[test]
    fn zero_resets_counters_and_rates() {
        let mut s = Stats::default();
        s.add_conn();
        s.add_in(60);
        s.estimate();
        s.zero();
        assert_eq!(s.counters(), Counters::default());
        assert_eq!(s.rates(), Rates::default());
        s.add_in(40);
        assert_eq!(s.counters().inbytes, 40);
        assert_eq!(s.total.inbytes, 100);
    }
}
