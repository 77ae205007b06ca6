//! A blocking client of rvsd's control socket.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::frame::{self, FrameError};
use crate::{DEFAULT_SOCKET, Reply, Request, SOCKET_ENV};

/// Why a request did not get a reply.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing accepts connections at the socket path.
    #[error(
        "cannot connect to rvsd at {path}: {source} (is rvsd running? set RVS_SOCKET or --control)"
    )]
    Connect {
        /// The socket path tried.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The exchange failed after connecting.
    #[error("control socket {path}: {source}")]
    Exchange {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        source: FrameError,
    },
}

/// The socket to use: `explicit` if given, else `$RVS_SOCKET`, else [`DEFAULT_SOCKET`].
pub fn socket_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os(SOCKET_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

/// A connection to rvsd.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    stream: UnixStream,
}

impl Client {
    /// Connect to the socket at `path`. Replies must come within `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ControlError> {
        let stream = UnixStream::connect(path).map_err(|source| ControlError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        let set = stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)));
        if let Err(e) = set {
            return Err(ControlError::Exchange {
                path: path.to_path_buf(),
                source: FrameError::Io(e),
            });
        }
        Ok(Client {
            path: path.to_path_buf(),
            stream,
        })
    }

    /// Send `req` and wait for the reply.
    pub fn call(&mut self, req: &Request) -> Result<Reply, ControlError> {
        let exchange = |s: &mut UnixStream| -> Result<Reply, FrameError> {
            frame::write(s, req)?;
            frame::read(s)
        };
        exchange(&mut self.stream).map_err(|source| ControlError::Exchange {
            path: self.path.clone(),
            source,
        })
    }
}
