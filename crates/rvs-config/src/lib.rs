//! rvs-config: the configuration languages rvs speaks.
//!
//! * [`ipvsadm`]: ipvsadm 1.31's command line, parsed option for option into a typed
//!   [`ipvsadm::Invocation`] with ipvsadm's exact error texts and exit codes. Used by the
//!   rules-file reader (ipvsadm-save lines), flow-file `cmd` lines and `rvsadm`.
//! * [`ldirectord`]: ldirectord.cf, parsed into a typed config and converted to the
//!   equivalent keepalived.conf text (`rvs convert`).

pub mod ipvsadm;
pub mod ldirectord;
