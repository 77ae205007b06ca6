//! Virtual services.

use std::fmt;
use std::net::IpAddr;

use crate::addr::{Af, Netmask, Protocol};
use crate::dest::DestId;
use crate::sched::Scheduler;
use crate::slab::Id;
use crate::stats::Stats;

/// Handle of a service in the service table (generation-checked).
pub type ServiceId = Id<Service>;

/// Service flag bits (uapi `IP_VS_SVC_F_*`).
pub mod flags {
    /// Persistent service.
    pub const PERSISTENT: u32 = 0x1;
    /// Hashed (always set on a live service; never shown).
    pub const HASHED: u32 = 0x2;
    /// One-packet scheduling (`-o`).
    pub const ONEPACKET: u32 = 0x4;
}

/// What identifies a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// `-t`/`-u`/`--sctp-service` `VIP:port`.
    Addr {
        /// Protocol.
        proto: Protocol,
        /// Virtual IP.
        addr: IpAddr,
        /// Virtual port (0 = all ports; persistent services only).
        port: u16,
    },
    /// `-f MARK [-6]`: traffic classified to a firewall mark.
    Fwmark {
        /// Address family of the service.
        af: Af,
        /// The mark (1..=u32::MAX).
        mark: u32,
    },
}

impl ServiceKey {
    /// Address family of the service.
    pub fn af(&self) -> Af {
        match self {
            ServiceKey::Addr { addr, .. } => Af::of(addr),
            ServiceKey::Fwmark { af, .. } => *af,
        }
    }

    /// The fwmark, 0 for address services.
    pub fn fwmark(&self) -> u32 {
        match self {
            ServiceKey::Addr { .. } => 0,
            ServiceKey::Fwmark { mark, .. } => *mark,
        }
    }

    /// The service port, 0 for fwmark services.
    pub fn port(&self) -> u16 {
        match self {
            ServiceKey::Addr { port, .. } => *port,
            ServiceKey::Fwmark { .. } => 0,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// As ipvsadm's save format names the service: `-t 1.2.3.4:80`, `-f 10 -6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { proto, addr, port } => {
                let opt = match proto {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                };
                write!(f, "{opt} {}", crate::addr::fmt_addr_port(addr, *port))
            }
            ServiceKey::Fwmark { af, mark } => {
                // ipvsadm prints the mark with %d.
                write!(f, "-f {}", *mark as i32)?;
                if *af == Af::Inet6 {
                    f.write_str(" -6")?;
                }
                Ok(())
            }
        }
    }
}

/// A virtual service and its dest list.
#[derive(Debug)]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduler name as configured (`none` = no scheduler).
    pub sched_name: String,
    /// The bound scheduler, `None` for `none`.
    pub scheduler: Option<Box<dyn Scheduler>>,
    /// `flags::*` and `sched::flags::*` bits.
    pub flags: u32,
    /// Persistence timeout in seconds (meaningful with `flags::PERSISTENT`).
    pub timeout: u32,
    /// Persistence granularity.
    pub netmask: Netmask,
    /// Persistence engine name (`sip`), if any.
    pub pe_name: Option<String>,
    /// Dests in kernel order: newest first.
    pub dests: Vec<DestId>,
    /// Counters and rates.
    pub stats: Stats,
}

impl Service {
    /// Address family.
    pub fn af(&self) -> Af {
        self.key.af()
    }

    /// Persistent (`-p`).
    pub fn is_persistent(&self) -> bool {
        self.flags & flags::PERSISTENT != 0
    }

    /// One-packet scheduling (`-o`).
    pub fn is_onepacket(&self) -> bool {
        self.flags & flags::ONEPACKET != 0
    }
}
