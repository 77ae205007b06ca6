//! What `lblc` and `lblcr` share (kernel `ip_vs_lblc.c` / `ip_vs_lblcr.c`): the
//! 1024-bucket cache keyed by destination address, its 60 s garbage-collection timer, the
//! weighted least-connection pick over the whole service and the "lblc-overloaded" test.

use std::net::IpAddr;

use crate::addr::{fold, hash_32};
use crate::dest::Dest;
use crate::sched::SchedView;
use crate::settings::Compat;
use crate::time::{Dur, Time};

/// `CONFIG_IP_VS_LBLC_TAB_BITS` / `CONFIG_IP_VS_LBLCR_TAB_BITS`.
const TAB_BITS: u32 = 10;
/// Number of hash buckets.
pub(crate) const TAB_SIZE: usize = 1 << TAB_BITS;
/// `max_size`: GC starts removing idle entries above this many.
pub(crate) const MAX_SIZE: usize = TAB_SIZE * 16;
/// [2026+] no entry is created while the table holds this many (`max_size * 3 / 2`).
pub(crate) const CREATE_CAP: usize = MAX_SIZE * 3 / 2;
/// `CHECK_EXPIRE_INTERVAL`.
pub(crate) const CHECK_INTERVAL: Dur = Dur::from_secs(60);
/// `ENTRY_TIMEOUT`: idle time after which the over-limit GC may remove an entry.
pub(crate) const ENTRY_TIMEOUT: Dur = Dur::from_secs(6 * 60);
/// `COUNT_FOR_FULL_EXPIRATION`.
const COUNT_FOR_FULL_EXPIRATION: u32 = 30;
/// At most this many missed timer runs are replayed by one `tick` (see [`Cache::tick`]).
const MAX_CATCH_UP: u32 = 100_000;

/// One cache entry: a destination address and what it maps to.
#[derive(Debug, Clone)]
pub(crate) struct Entry<E> {
    /// The packet destination address this entry is for.
    pub addr: IpAddr,
    /// Last time a packet used the entry (`lastuse`).
    pub lastuse: Time,
    /// The cached dest (lblc) or dest set (lblcr).
    pub val: E,
}

/// The cache and its GC state (`struct ip_vs_lblc_table` / `ip_vs_lblcr_table`).
#[derive(Debug, Clone)]
pub(crate) struct Cache<E> {
    buckets: Vec<Vec<Entry<E>>>,
    /// The kernel's `entries` counter. It is what the GC and the [2026+] cap read; in
    /// classic lblc it over-counts (see `Lblc`), so it is kept apart from the real size.
    pub entries: usize,
    rover: usize,
    counter: u32,
    /// When the GC timer fires next; set from the first time the scheduler sees, since
    /// the kernel arms it 60 s after the service binds the scheduler.
    next_check: Option<Time>,
}

impl<E> Default for Cache<E> {
    fn default() -> Self {
        Cache {
            buckets: (0..TAB_SIZE).map(|_| Vec::new()).collect(),
            entries: 0,
            rover: 0,
            counter: 1,
            next_check: None,
        }
    }
}

/// `ip_vs_lblc_hashkey`: `hash_32(fold(daddr), 10)`.
fn hashkey(addr: &IpAddr) -> usize {
    hash_32(fold(addr), TAB_BITS) as usize
}

impl<E> Cache<E> {
    /// Start the GC timer at `now + 60 s` if it is not running yet.
    pub fn arm(&mut self, now: Time) {
        if self.next_check.is_none() {
            self.next_check = Some(now + CHECK_INTERVAL);
        }
    }

    /// The entry for `addr`.
    pub fn get_mut(&mut self, addr: &IpAddr) -> Option<&mut Entry<E>> {
        self.buckets[hashkey(addr)]
            .iter_mut()
            .find(|e| e.addr == *addr)
    }

    /// The entry for `addr`, read-only.
    pub fn get(&self, addr: &IpAddr) -> Option<&Entry<E>> {
        self.buckets[hashkey(addr)].iter().find(|e| e.addr == *addr)
    }

    /// Unlink the entry for `addr` without touching the `entries` counter (the caller
    /// decides, as the kernel code does).
    pub fn unlink(&mut self, addr: &IpAddr) -> Option<Entry<E>> {
        let b = &mut self.buckets[hashkey(addr)];
        let pos = b.iter().position(|e| e.addr == *addr)?;
        Some(b.remove(pos))
    }

    /// Link a new entry at its bucket head and count it.
    pub fn link(&mut self, en: Entry<E>) {
        self.buckets[hashkey(&en.addr)].insert(0, en);
        self.entries += 1;
    }

    /// Entries actually held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    /// Whether `Compat::Modern`'s creation cap forbids a new entry now.
    pub fn capped(&self, compat: Compat) -> bool {
        compat == Compat::Modern && self.entries >= CREATE_CAP
    }

    /// Run every GC timer expiry due by `now` (`ip_vs_lblc_check_expire`), each at the
    /// time the kernel timer would have fired; the timer is re-armed 60 s after each run.
    /// Ticks come at least once a second, so normally at most one run is due; after a
    /// longer gap the missed runs are replayed in order (at most [`MAX_CATCH_UP`], then
    /// the timer restarts from `now`).
    pub fn tick(&mut self, now: Time, expiration: Dur) {
        self.arm(now);
        let mut runs = 0;
        while let Some(at) = self.next_check {
            if at > now {
                break;
            }
            self.check_expire(at, expiration);
            runs += 1;
            self.next_check = Some(if runs >= MAX_CATCH_UP {
                now + CHECK_INTERVAL
            } else {
                at + CHECK_INTERVAL
            });
        }
    }

    /// One timer run.
    fn check_expire(&mut self, now: Time, expiration: Dur) {
        if self.counter.is_multiple_of(COUNT_FOR_FULL_EXPIRATION) {
            self.full_check(now, expiration);
            self.counter = 1;
            return;
        }
        if self.entries <= MAX_SIZE {
            self.counter += 1;
            return;
        }
        let mut goal = ((self.entries - MAX_SIZE) * 4 / 3).min(MAX_SIZE / 2) as i64;
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) % TAB_SIZE;
            let removed = self.sweep(j, now, ENTRY_TIMEOUT);
            goal -= removed as i64;
            if goal <= 0 {
                break;
            }
        }
        self.rover = j;
    }

    /// `ip_vs_lblc_full_check`: remove every entry idle for `expiration` or longer.
    fn full_check(&mut self, now: Time, expiration: Dur) {
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) % TAB_SIZE;
            self.sweep(j, now, expiration);
        }
        self.rover = j;
    }

    /// Remove the entries of bucket `j` with `now >= lastuse + idle`; returns how many.
    fn sweep(&mut self, j: usize, now: Time, idle: Dur) -> usize {
        let b = &mut self.buckets[j];
        let before = b.len();
        b.retain(|e| now < e.lastuse + idle);
        let removed = before - b.len();
        self.entries = self.entries.saturating_sub(removed);
        removed
    }
}

/// The lblc/lblcr `is_overloaded`: `d` has more active conns than its weight and some
/// dest of the service has `active * 2 < weight`.
pub(crate) fn lblc_overloaded(view: &SchedView<'_>, d: &Dest) -> bool {
    i64::from(d.activeconns) > i64::from(d.weight)
        && view
            .iter()
            .any(|(_, x)| i64::from(x.activeconns) * 2 < i64::from(x.weight))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn en(a: [u8; 4], t: u64) -> Entry<()> {
        Entry {
            addr: IpAddr::from(a),
            lastuse: Time::from_secs(t),
            val: (),
        }
    }

    #[test]
    fn full_check_every_30_ticks_while_small() {
        let mut c: Cache<()> = Cache::default();
        c.arm(Time::ZERO);
        c.link(en([10, 0, 0, 1], 0));
        let exp = Dur::from_secs(1800);
        // Timer runs at 60 s, 120 s, ...; the counter starts at 1, so run k (k = 1..)
        // sees counter k and the 30th run (t = 1800 s) is the first full check.
        c.tick(Time::from_secs(1799), exp);
        assert_eq!(c.len(), 1);
        c.tick(Time::from_secs(1800), exp);
        assert_eq!(c.len(), 0, "idle 1800 s >= expiration 1800 s");
    }

    #[test]
    fn full_check_keeps_recent_entries() {
        let mut c: Cache<()> = Cache::default();
        c.arm(Time::ZERO);
        c.link(en([10, 0, 0, 1], 0));
        c.link(en([10, 0, 0, 2], 1000));
        let exp = Dur::from_secs(1000);
        c.tick(Time::from_secs(1800), exp);
        // Entry 1 idle 1800 >= 1000: gone; entry 2 idle 800: kept.
        assert!(c.get(&IpAddr::from([10, 0, 0, 1])).is_none());
        assert!(c.get(&IpAddr::from([10, 0, 0, 2])).is_some());
        assert_eq!(c.entries, 1);
        // Next full check 30 runs later (counter restarts at 1): at 3600 s.
        c.tick(Time::from_secs(3599), exp);
        assert_eq!(c.len(), 1);
        c.tick(Time::from_secs(3600), exp);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn over_limit_gc_removes_idle_buckets_and_freezes_counter() {
        let mut c: Cache<()> = Cache::default();
        c.arm(Time::ZERO);
        // MAX_SIZE + 300 entries, all idle since t = 0.
        let n = MAX_SIZE + 300;
        for i in 0..n {
            let i = i as u32;
            c.link(en([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 0));
        }
        // First run at 60 s: entries idle 60 s < 6 min: nothing removable, the counter
        // does not advance (over the limit).
        c.tick(Time::from_secs(60), Dur::from_secs(86400));
        assert_eq!(c.len(), n);
        assert_eq!(c.counter, 1);
        // Run at 360 s: goal = 300*4/3 = 400; whole buckets are swept until >= 400 gone.
        c.tick(Time::from_secs(360), Dur::from_secs(86400));
        let removed = n - c.len();
        assert!(removed >= 400, "{removed}");
        // Buckets hold about 16.3 entries each; the last bucket swept overshoots a bit.
        assert!(removed < 400 + 64, "{removed}");
        assert_eq!(c.entries, c.len());
        assert_eq!(c.counter, 1);
    }
}
