//! The IPVS connection synchronisation protocol (`net/netfilter/ipvs/ip_vs_sync.c`), sans-IO.
//!
//! * [`wire`]: the message codec: version 1 (encode and decode) and version 0 (decode),
//!   byte for byte as the kernel lays them out, plus rvs's FULLNAT option (an optional
//!   parameter type that kernels skip).
//! * [`master`]: which connections to send and when (the kernel's `sync_threshold`,
//!   `sync_period`, `sync_refresh_period` and `sync_retries` rules), batched into
//!   messages of at most `sync_maxlen` bytes.
//! * [`backup`]: decoded entries installed into an [`rvs_core::Director`] as synced
//!   connections.
//! * [`config`]: the daemon options (`--start-daemon`, keepalived's `lvs_sync_daemon`).
//!
//! Sockets and threads live in rvsd; nothing here does I/O.

pub mod backup;
pub mod config;
pub mod master;
pub mod wire;

pub use backup::{Backup, BackupStats};
pub use config::{DEFAULT_GROUP_V4, DEFAULT_PORT, DaemonConfig, DaemonSet};
pub use master::{Master, MasterConfig};
pub use wire::{DecodeError, Decoded, EncodeError, SeqData, SyncConn, Version};
