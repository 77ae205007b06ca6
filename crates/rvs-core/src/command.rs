//! The one command model every front end uses to change the service table
//! (rvsadm, rules files, keepalived.conf, the HTTP API, health checks).

use std::net::IpAddr;

use crate::addr::Netmask;
use crate::dest::{FwdMethod, TunConfig};
use crate::fwmark::FwmarkRule;
use crate::service::ServiceKey;

/// Options of a virtual service, as `-A`/`-E` give them. `-E` replaces every option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Which service.
    pub key: ServiceKey,
    /// Scheduler name (`wlc` by default in ipvsadm).
    pub scheduler: String,
    /// Persistence timeout in seconds, `None` when not persistent.
    pub persistent: Option<u32>,
    /// Persistence granularity; `None` = /32 or /128.
    pub netmask: Option<Netmask>,
    /// Persistence engine (`--pe`).
    pub pe: Option<String>,
    /// One-packet scheduling (`-o`).
    pub onepacket: bool,
    /// `sched::flags::SCHED*` bits (`-b`).
    pub sched_flags: u32,
}

impl ServiceConfig {
    /// A service with ipvsadm's defaults: wlc, not persistent.
    pub fn new(key: ServiceKey) -> Self {
        ServiceConfig {
            key,
            scheduler: "wlc".to_string(),
            persistent: None,
            netmask: None,
            pe: None,
            onepacket: false,
            sched_flags: 0,
        }
    }
}

/// Options of a real server, as `-a`/`-e` give them. `-e` replaces every option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestConfig {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Forwarding method (`-g` by default in ipvsadm).
    pub fwd: FwdMethod,
    /// Weight (default 1).
    pub weight: i32,
    /// Upper threshold (`-x`, 0 = off).
    pub u_threshold: u32,
    /// Lower threshold (`-y`, 0 = off).
    pub l_threshold: u32,
    /// Tunnel options.
    pub tun: TunConfig,
}

impl DestConfig {
    /// A dest with ipvsadm's defaults: DR, weight 1, no thresholds.
    pub fn new(addr: IpAddr, port: u16) -> Self {
        DestConfig {
            addr,
            port,
            fwd: FwdMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun: TunConfig::default(),
        }
    }
}

/// A change to the director's tables: ipvsadm's commands plus rvs's fwmark rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `-A`.
    AddService(ServiceConfig),
    /// `-E` (full replacement).
    EditService(ServiceConfig),
    /// `-D`.
    DelService(ServiceKey),
    /// `-C`.
    Flush,
    /// `-a`.
    AddDest(ServiceKey, DestConfig),
    /// `-e` (full replacement).
    EditDest(ServiceKey, DestConfig),
    /// `-d`.
    DelDest(ServiceKey, IpAddr, u16),
    /// `-Z` for one service or all.
    Zero(Option<ServiceKey>),
    /// `--set tcp tcpfin udp` (seconds; 0 = leave unchanged).
    SetTimeouts {
        /// TCP ESTABLISHED timeout.
        tcp: u32,
        /// TCP FIN_WAIT timeout.
        tcpfin: u32,
        /// UDP timeout.
        udp: u32,
    },
    /// `--add-fwmark-rule` (rvs): classify traffic to a mark.
    AddFwmarkRule(FwmarkRule),
    /// `--del-fwmark-rule` (rvs).
    DelFwmarkRule(FwmarkRule),
}

/// Why a command was refused. `Display` gives ipvsadm's text for the error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// EEXIST on add service.
    #[error("Service already exists")]
    ServiceExists,
    /// ENOENT on add/edit service: unknown scheduler or persistence engine.
    #[error("Scheduler or persistence engine not found")]
    SchedulerNotFound,
    /// ESRCH on edit/delete/zero service.
    #[error("No such service")]
    NoSuchService,
    /// ESRCH on a dest command: the service does not exist.
    #[error("Service not defined")]
    ServiceNotDefined,
    /// EEXIST on add dest.
    #[error("Destination already exists")]
    DestExists,
    /// ENOENT on edit/delete dest.
    #[error("No such destination")]
    NoSuchDest,
    /// ERANGE: negative weight, or lower threshold above upper.
    #[error("Numerical result out of range")]
    OutOfRange,
    /// EINVAL: invalid parameters (bad prefix, GUE without port, too many mh dests...).
    #[error("Invalid operation.  Possibly wrong module version, address not unicast, ...")]
    Invalid,
    /// Port 0 on a service that is not persistent.
    #[error("Zero port specified for non-persistent service")]
    ZeroPort,
    /// `-o` on a TCP or SCTP service.
    #[error("One-Packet Scheduling is only for UDP virtual services")]
    OnePacketNotUdp,
    /// A dest whose family differs from the service's, not a tunnel.
    #[error("Different address family is allowed only for tunneling servers")]
    AfMismatch,
    /// Deleting a fwmark rule that does not exist.
    #[error("No such fwmark rule")]
    NoSuchFwmarkRule,
    /// Adding a fwmark rule that exists already.
    #[error("Fwmark rule already exists")]
    FwmarkRuleExists,
}

impl OpError {
    /// The errno the kernel would have returned, for callers that report it.
    pub fn errno(&self) -> i32 {
        match self {
            OpError::ServiceExists | OpError::DestExists | OpError::FwmarkRuleExists => 17,
            OpError::SchedulerNotFound | OpError::NoSuchDest | OpError::NoSuchFwmarkRule => 2,
            OpError::NoSuchService | OpError::ServiceNotDefined => 3,
            OpError::OutOfRange => 34,
            OpError::Invalid
            | OpError::ZeroPort
            | OpError::OnePacketNotUdp
            | OpError::AfMismatch => 22,
        }
    }
}
