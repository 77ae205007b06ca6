//! Running the system tools the lab drives (`ip`, `nft`, `sysctl`), with every failure
//! reported as the command line plus its stderr.

use std::process::{Command, Stdio};

/// A command that failed: the full command line, how it ended and what it wrote on stderr.
#[derive(Debug, thiserror::Error)]
#[error("`{line}` {how}{}", if .stderr.is_empty() { String::new() } else { format!(": {}", .stderr) })]
pub struct CmdError {
    /// The command line, space separated.
    pub line: String,
    /// "exited with status N", "was killed by a signal" or "could not be started: ...".
    pub how: String,
    /// Trimmed stderr of the command.
    pub stderr: String,
}

/// The command line of `prog args...` as one string, for messages.
pub fn line(prog: &str, args: &[&str]) -> String {
    let mut s = prog.to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Runs `prog args...`, waits for it, and returns its stdout; any non-zero exit is an error.
pub fn run(prog: &str, args: &[&str]) -> Result<String, CmdError> {
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| CmdError {
            line: line(prog, args),
            how: format!("could not be started: {e}"),
            stderr: String::new(),
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let how = match out.status.code() {
        Some(c) => format!("exited with status {c}"),
        None => "was killed by a signal".to_string(),
    };
    Err(CmdError {
        line: line(prog, args),
        how,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Runs `ip args...`.
pub fn ip(args: &[&str]) -> Result<String, CmdError> {
    run("ip", args)
}

/// Runs `ip -n NS args...` (iproute2 inside network namespace `ns`).
pub fn ipn(ns: &str, args: &[&str]) -> Result<String, CmdError> {
    let mut v = vec!["-n", ns];
    v.extend_from_slice(args);
    run("ip", &v)
}

/// Runs `ip netns exec NS prog args...`.
pub fn nsexec(ns: &str, prog: &str, args: &[&str]) -> Result<String, CmdError> {
    let mut v = vec!["netns", "exec", ns, prog];
    v.extend_from_slice(args);
    run("ip", &v)
}

/// Sets `key=value` with `sysctl -qw` inside namespace `ns`.
pub fn sysctl(ns: &str, key: &str, value: &str) -> Result<(), CmdError> {
    let kv = format!("{key}={value}");
    nsexec(ns, "sysctl", &["-qw", &kv]).map(|_| ())
}

/// The names of the existing network namespaces (`ip netns list`).
pub fn netns_list() -> Result<Vec<String>, CmdError> {
    let out = ip(&["netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_the_command_and_stderr() {
        let e = run("sh", &["-c", "echo boom >&2; exit 3"]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("`sh -c echo boom >&2; exit 3` exited with status 3: boom"),
            "{msg}"
        );
        assert_eq!(run("sh", &["-c", "echo hi"]).unwrap(), "hi\n");
        let e = run("/nonexistent-rvs-tool", &[]).unwrap_err();
        assert!(e.to_string().contains("could not be started"), "{e}");
    }
}
