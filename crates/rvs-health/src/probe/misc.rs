//! MISC_CHECK: runs `misc_path` with `sh -c`; exit 0 = up, 1 = down, with `misc_dynamic`
//! 2..255 = up with weight exit − 2; killed (its whole process group) after the timeout.

use std::process::Stdio;

use rvs_config::keepalived::MiscCheck;

use crate::monitor::{ProbeResult, ProbeSpec};

/// Kills the script's process group unless it was reaped (also when the probe future is
/// dropped by the driver's timeout).
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: kill(2) with a negative pid signals the process group we created for
            // the script (process_group(0) made its pid the group id); no memory involved.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

/// Runs the script and maps its exit status.
pub async fn run(spec: &ProbeSpec, m: &MiscCheck) -> ProbeResult {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&m.path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return super::down("spawn", e),
    };
    let mut guard = GroupGuard(child.id().and_then(|p| i32::try_from(p).ok()));
    let status = match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return super::down("wait", e),
        Err(_) => {
            drop(guard);
            let _ = child.wait().await;
            return ProbeResult::Down(format!("timed out after {:?}", spec.timeout));
        }
    };
    // Reaped: what it left running in the background is its own business, as in
    // keepalived.
    guard.0 = None;
    match status.code() {
        Some(0) => ProbeResult::Up,
        Some(c) if m.dynamic && (2..=255).contains(&c) => ProbeResult::Weight(c - 2),
        Some(c) => ProbeResult::Down(format!("exited with status {c}")),
        None => ProbeResult::Down("killed by a signal".into()),
    }
}
