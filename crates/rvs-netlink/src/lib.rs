//! rtnetlink glue for rvs: interfaces, routes, neighbour cache, addresses.
//!
//! Everything here is blocking: each call opens its own rtnetlink connection on a small
//! current-thread tokio runtime (or, when called from inside a tokio runtime, on a short
//! scoped thread, which inherits the caller's network namespace). Netlink sockets belong
//! to the network namespace of the thread that creates them, so every call acts in the
//! caller thread's namespace.
//!
//! - [`link`], [`routes`], [`build_routes`]: read interfaces and the main routing table
//!   into [`rvs_core::engine::Routes`].
//! - [`add_address`], [`del_address`]: VIPs and local addresses (IPv6 without DAD).
//! - [`add_macvlan`], [`del_link`]: VRRP virtual-MAC interfaces.
//! - [`NeighCache`]: the kernel's ARP / ND table, followed live, as
//!   [`rvs_core::engine::Neighbours`].
//! - [`RouteWatch`]: interfaces, addresses and routes followed live; each changed table
//!   rebuilt with [`build_routes`] and handed to a callback.

mod addr;
mod error;
mod link;
mod macvlan;
mod neigh;
mod rt;
mod watch;

pub use addr::{AddrOptions, add_address, add_address_with, del_address};
pub use error::NetlinkError;
pub use link::{LinkInfo, RouteInfo, build_routes, link, routes};
pub use macvlan::{add_macvlan, del_link};
pub use neigh::{NeighCache, RESOLVE_INTERVAL};
pub use watch::{DEBOUNCE, OnChange, RETRY, RouteWatch};
