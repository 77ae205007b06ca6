//! rvs's BPF programs (bpf/*.c, compiled by build.rs with clang) and their aya loaders and
//! typed maps.
//!
//! - [`Classifier`]: the director's XDP classifier (`bpf/rvs_xdp.c`), which sends the
//!   frames rvs handles to the AF_XDP socket of the receiving queue and passes the rest
//!   to the kernel.
//! - [`decap`]: the TUN real server's decapsulator (`bpf/rvs_decap.c`), which stays
//!   attached after the process that attached it exits.
//! - [`bench`]: the live benchmark's XDP traffic generator and counting sink
//!   (`bpf/rvs_bench.c`).
//!
//! docs/xdp.md describes the rules, the maps and the counters.

#![warn(missing_docs)]

pub mod bench;
mod classes;
mod classifier;
pub mod decap;
mod error;
mod flows;
mod maps;
mod mode;
mod sys;

pub use classes::{Classes, FwmarkClass};
pub use classifier::{Classifier, ClassifierCounters};
pub use error::XdpError;
pub use maps::{
    DIR_IN, DIR_OUT, FLOW_SLOTS, FLOWS_MAX, FW_MAX, FW_PORTS, Flow, FlowKey, FlowStats,
    FwClassEntry, RangeValue, RvsKey, TX_PORTS, XskKey, ops, tun,
};
pub use mode::{BadXdpMode, XdpMode};

/// The compiled classifier object (`bpf/rvs_xdp.c`).
pub(crate) static RVS_XDP_OBJ: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/rvs_xdp.o"));

/// The classifier built with `rvs_flows` as a per-CPU LRU hash (`-DRVS_FLOWS_PERCPU`):
/// only for the measurement comparing it with the shared map rvs uses.
#[doc(hidden)]
pub static RVS_XDP_PERCPU_OBJ: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/rvs_xdp_percpu.o"));

/// The compiled benchmark generator and sink (`bpf/rvs_bench.c`).
pub(crate) static RVS_BENCH_OBJ: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/rvs_bench.o"));

/// The compiled decapsulator object (`bpf/rvs_decap.c`).
pub(crate) static RVS_DECAP_OBJ: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/rvs_decap.o"));
