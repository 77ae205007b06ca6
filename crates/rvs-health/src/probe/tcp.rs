//! TCP_CHECK: up when the TCP connection completes.

use crate::monitor::{ProbeResult, ProbeSpec};

/// Connects to `spec.target` and closes at once.
pub async fn run(spec: &ProbeSpec) -> ProbeResult {
    match super::tcp_connect(spec).await {
        Ok(_) => ProbeResult::Up,
        Err(e) => super::down("connect", e),
    }
}
