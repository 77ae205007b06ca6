//! rvsd's control socket: what goes over it and how.
//!
//! The socket is a Unix stream socket (mode 0600, default [`DEFAULT_SOCKET`], overridden by
//! the `RVS_SOCKET` environment variable and by rvsd's `--control`). A client sends one
//! [`Request`] and reads one [`Reply`]; each is a frame: a 4-byte big-endian length, then
//! that many bytes of JSON. A connection may carry several request/reply pairs.
//!
//! The ipvsadm command model travels as ipvsadm's own argument vector
//! ([`Request::Ipvsadm`]): rvsd parses it with `rvs_config::ipvsadm` and runs it against
//! its one service table ([`exec`]), so every client (`rvs ctl`, rvsadm, scripts)
//! gets ipvsadm's texts and exit codes from the same code.

pub mod client;
pub mod exec;
pub mod frame;
pub mod names;

use serde::{Deserialize, Serialize};

pub use client::{Client, ControlError, socket_path};

/// The control socket's path when neither `--control` nor `RVS_SOCKET` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvsd.sock";

/// The environment variable naming the control socket.
pub const SOCKET_ENV: &str = "RVS_SOCKET";

/// A request to rvsd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Run an ipvsadm command line.
    Ipvsadm {
        /// The program name used in ipvsadm's messages (`ipvsadm`, `rvsadm`).
        argv0: String,
        /// The arguments, without `argv0`.
        args: Vec<String>,
        /// What `-R` reads as its standard input.
        stdin: Option<String>,
    },
    /// Data-plane and daemon status, as JSON on the reply's stdout.
    Status,
    /// Every checked real server with its health (`rvsadm -Ln --health`, an rvs
    /// extension), as text on the reply's stdout.
    Health,
    /// One of the kernel's `/proc/net/ip_vs*` files as rvs renders it (`ip_vs`,
    /// `ip_vs_conn`, `ip_vs_conn_sync`, `ip_vs_stats`; see [`exec::proc_file`]).
    Proc {
        /// The file's name, with or without `/proc/net/`.
        file: String,
    },
}

/// rvsd's answer: what the command line tool prints and the status it exits with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Exit status for the client.
    pub exit_code: i32,
    /// Text for standard output.
    pub stdout: String,
    /// Text for standard error.
    pub stderr: String,
}

impl Reply {
    /// Success with `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Reply {
            exit_code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// Failure: `stderr` (a newline is added when missing) and `exit_code`.
    pub fn err(exit_code: i32, stderr: impl Into<String>) -> Self {
        let mut stderr = stderr.into();
        if !stderr.ends_with('\n') {
            stderr.push('\n');
        }
        Reply {
            exit_code,
            stdout: String::new(),
            stderr,
        }
    }
}
