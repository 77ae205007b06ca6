//! rvs's data plane: AF_XDP workers running the packet engine.

pub mod classes;
pub mod worker;
mod xdp_types;
pub mod xsk;

pub use classes::classes_of;
pub use xdp_types::{Classes, FwmarkClass};
