//! rvs-health: keepalived's health checkers.
//!
//! * [`monitor`]: the sans-IO state machine (scheduling, retries, alpha, warmup, quorum with
//!   hysteresis, sorry server, notify scripts) — time in, actions out;
//! * [`probe`]: one async probe per checker kind (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK,
//!   DNS_CHECK, SMTP_CHECK, PING_CHECK, UDP_CHECK);
//! * [`driver`]: the thin tokio loop that runs a [`Monitor`] on its own thread and hands
//!   every new table to a [`TableSink`].

#![warn(missing_docs)]

pub mod driver;
pub mod monitor;

pub use driver::{Change, Clock, Handle, TableSink};
pub use monitor::{
    Action, CheckerStatus, Monitor, ProbeId, ProbeResult, ProbeSpec, RsStatus, Transition,
};
pub mod probe;
