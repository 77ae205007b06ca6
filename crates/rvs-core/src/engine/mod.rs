//! The packet engine: rewrites Ethernet frames for the four LVS forwarding methods.
pub mod frame;
pub mod fullnat;
pub mod neigh;
pub mod route;
