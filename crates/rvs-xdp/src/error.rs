//! Errors of the loaders.

/// What went wrong loading, attaching or updating an rvs BPF program.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// The BPF object could not be loaded (parse, map creation).
    #[error("loading BPF object: {0}")]
    Load(#[from] aya::EbpfError),
    /// The program was rejected (verifier) or could not be attached.
    #[error("{what}: {source}")]
    Program {
        /// What was being done.
        what: String,
        /// aya's error.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// A map operation failed.
    #[error("map {map}: {source}")]
    Map {
        /// The map's name.
        map: &'static str,
        /// aya's error.
        #[source]
        source: aya::maps::MapError,
    },
    /// A program or map the object should contain is missing.
    #[error("BPF object has no {0}")]
    Missing(&'static str),
    /// No interface of that name.
    #[error("no interface named `{0}'")]
    NoInterface(String),
    /// Every candidate mode failed to attach.
    #[error("cannot attach XDP to {ifname} in {mode} mode: {reason}")]
    Attach {
        /// Interface.
        ifname: String,
        /// The mode asked for.
        mode: crate::XdpMode,
        /// The last error.
        reason: String,
    },
    /// Too many fwmark class entries for the classifier's table.
    #[error("too many fwmark classes: {0} table entries needed, at most {max}", max = crate::FW_MAX)]
    TooManyFwmarkClasses(usize),
    /// A fwmark class or set member is invalid (e.g. prefix longer than the address).
    #[error("invalid class: {0}")]
    BadClass(String),
    /// Too many GUE ports for the decapsulator.
    #[error("too many GUE ports: {0} given, at most {max}", max = crate::decap::GUE_PORTS)]
    TooManyGuePorts(usize),
    /// An egress port could not be put in the redirect DEVMAP.
    #[error("adding ifindex {ifindex} to rvs_tx_ports: {reason}")]
    TxPort {
        /// The interface.
        ifindex: u32,
        /// aya's error.
        reason: String,
    },
    /// A fast-path counter slot beyond `FLOW_SLOTS`.
    #[error("fast-path counter slot {0} out of range (at most {max})", max = crate::FLOW_SLOTS)]
    BadSlot(u32),
    /// No more XSKMAP slots.
    #[error("all {0} AF_XDP socket slots are in use")]
    NoXskSlot(u32),
    /// A netlink or bpf system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// The call.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
