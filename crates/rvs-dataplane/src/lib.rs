//! rvs's data plane: AF_XDP sockets and the worker running the packet engine.
//!
//! - [`Dataplane`]: start (routes followed live, neighbour cache, XDP classifier, AF_XDP sockets, worker
//!   thread), [`Dataplane::refresh`] the classifier after commands, stats, shutdown;
//! - [`classes_of`]: what the classifier must redirect, from the engine's tables;
//! - [`hosts`]: the director's own addresses (not NAT replies: health checks);
//! - [`worker`]: the loop, generic over [`xsk::XskPort`] so tests drive it with fakes;
//! - [`xsk`]: the AF_XDP socket on the `xdp` crate.
//!
//! `docs/dataplane.md` explains the design choices.

pub mod classes;
mod dataplane;
pub mod fastpath;
pub mod fastsync;
pub mod hosts;
pub mod worker;
pub mod xsk;

pub use classes::classes_of;
pub use dataplane::{Config, Dataplane, DataplaneError, DataplaneStats, SocketInfo, now};
pub use rvs_xdp::{Classes, FwmarkClass, XdpMode};
pub use xsk::KernelStats;

#[cfg(test)]
mod tests {
    /// rvsd shares the data plane between its control thread and signal handling.
    #[test]
    fn dataplane_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Dataplane>();
    }
}
