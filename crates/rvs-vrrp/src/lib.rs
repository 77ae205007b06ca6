//! VRRP v2 (RFC 3768) and v3 (RFC 5798) for rvs, interoperating with keepalived.
//!
//! - [`packet`]: the advertisement codec (checksums, v2 PASS authentication).
//! - [`machine`]: the sans-IO per-instance state machine (Init/Backup/Master/Fault) and
//!   [`machine::Router`], which keeps sync groups together.
//! - [`driver`]: raw sockets (protocol 112), gratuitous ARP / unsolicited NA, VIPs via
//!   rvs-netlink, track scripts and interface state, on one thread.

pub mod driver;
pub mod machine;
pub mod packet;
