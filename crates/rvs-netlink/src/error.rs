//! The error type of every fallible call.

use std::net::IpAddr;

/// Why a netlink operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// Opening a netlink socket, a runtime or a thread failed, or a socket call failed.
    #[error("netlink I/O: {0}")]
    Io(#[from] std::io::Error),
    /// No interface of that name exists (in the caller's network namespace).
    #[error("no interface named {0:?}")]
    NoSuchInterface(String),
    /// The interface exists but cannot be used (no Ethernet address, ...).
    #[error("interface {name:?}: {reason}")]
    BadInterface {
        /// Interface name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The kernel refused a request or answered something unexpected.
    #[error("{what}: {source}")]
    Request {
        /// What was asked.
        what: String,
        /// rtnetlink's error.
        #[source]
        source: rtnetlink::Error,
    },
    /// A prefix length beyond the family's maximum.
    #[error("bad prefix length {plen} for {addr}")]
    BadPrefixLen {
        /// The address.
        addr: IpAddr,
        /// The prefix length given.
        plen: u8,
    },
    /// Building the rvs-core routing table failed.
    #[error("route table: {0}")]
    Route(#[from] rvs_core::engine::route::RouteError),
}

impl NetlinkError {
    /// Wrap an rtnetlink error with a description of the request.
    pub(crate) fn request(what: impl Into<String>, source: rtnetlink::Error) -> Self {
        NetlinkError::Request {
            what: what.into(),
            source,
        }
    }
}

/// The positive errno of a kernel NACK, if `e` is one.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}
