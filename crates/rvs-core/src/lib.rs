//! rvs-core: a sans-IO model of Linux IPVS.
//!
//! Everything that decides how a director behaves lives here and is tested here without
//! root: the service table and its ipvsadm command model ([`table`]), every IPVS scheduler
//! ([`sched`]), the connection table with the protocol state machines ([`conn`]),
//! persistence templates, statistics and the rate estimator ([`stats`]), and the
//! [`Director`] that ties them together for one packet or flow event at a time.
//!
//! Rules (see DESIGN.md): no sockets, files, threads, clocks, `unsafe` or hidden
//! randomness. Time comes in as a [`Time`] argument; random choices take an injected [`Rng`].

pub mod addr;
pub mod command;
pub mod conn;
pub mod dest;
pub mod director;
pub mod engine;
pub mod fwmark;
pub mod listing;
pub mod rng;
pub mod sched;
pub mod service;
pub mod settings;
pub mod sim;
pub mod slab;
pub mod snapshot;
pub mod stats;
pub mod table;
pub mod time;
pub mod wire;

pub use addr::{Af, Protocol};
pub use command::{Command, DestConfig, OpError, ServiceConfig};
pub use dest::{Dest, DestId, FwdMethod};
pub use director::Director;
pub use rng::{Rng, SplitMix64};
pub use service::{Service, ServiceId, ServiceKey};
pub use settings::Settings;
pub use time::Time;
