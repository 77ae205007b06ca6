//! rvs-config: the configuration languages rvs speaks.
//!
//! * [`ipvsadm`]: ipvsadm 1.31's command line, parsed option for option into a typed
//!   [`ipvsadm::Invocation`] with ipvsadm's exact error texts and exit codes. Used by the
//!   rules-file reader (ipvsadm-save lines), flow-file `cmd` lines and `rvsadm`.
//! * [`keepalived`]: keepalived.conf (2.2.7 syntax) — parser, typed model, validation with
//!   `file:line:col` diagnostics, and the mapping to the service table (commands, reload diff).
//! * [`ldirectord`]: ldirectord.cf, parsed into a typed config and converted to the
//!   equivalent keepalived.conf text (`rvs convert`).

pub mod ipvsadm;
pub mod keepalived;
pub mod ldirectord;
