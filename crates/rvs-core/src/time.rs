//! Time as the core sees it: milliseconds on a monotonic clock owned by the caller.

use std::fmt;
use std::ops::{Add, Sub};

/// A point in time, in milliseconds since an arbitrary epoch chosen by the caller.
///
/// rvs-core never reads a clock: every call that depends on time takes a `Time`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    /// The epoch.
    pub const ZERO: Time = Time(0);

    /// `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Time {
        Time(secs * 1000)
    }

    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub const fn millis_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A span of time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub u64);

impl Dur {
    /// `secs` seconds.
    pub const fn from_secs(secs: u64) -> Dur {
        Dur(secs * 1000)
    }
    /// Whole seconds in this span.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }
    /// Milliseconds in this span.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
}

impl Add<Dur> for Time {
    type Output = Time;
    fn add(self, d: Dur) -> Time {
        Time(self.0.saturating_add(d.0))
    }
}

impl Sub<Time> for Time {
    type Output = Dur;
    fn sub(self, t: Time) -> Dur {
        Dur(self.0.saturating_sub(t.0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}
