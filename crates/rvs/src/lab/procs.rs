//! Background processes of a lab (rvsd, servers): started detached inside a namespace,
//! recorded as pid files, stopped with SIGTERM then SIGKILL.

use std::fs::{self, File};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

/// A process the lab started: its pid and the kernel's start time of that pid (so a reused
/// pid is never signalled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Label (pid file name without `.pid`), e.g. `rvsd` or `serve-rs1`.
    pub label: String,
    /// Process id.
    pub pid: i32,
    /// Field 22 of /proc/PID/stat when it was started.
    pub start: u64,
}

/// State letter (field 3) and start time (field 22, clock ticks since boot) of `pid`, from
/// /proc/PID/stat.
fn stat(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields restart after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    // starttime is the 20th field after state.
    Some((state, it.nth(18)?.parse().ok()?))
}

/// Start time (clock ticks since boot) of `pid`.
pub fn start_time(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, t)| t)
}

/// Starts `ip netns exec NS prog args...` in a new session, stdin from /dev/null, stdout and
/// stderr appended to `log`, and records it as `<dir>/pids/<label>.pid`.
pub fn spawn_in_ns(
    dir: &Path,
    label: &str,
    ns: &str,
    prog: &Path,
    args: &[String],
    log: &Path,
) -> Result<Child> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone().context("duplicating the log file")?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid() is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().with_context(|| {
        format!(
            "starting `ip netns exec {ns} {} {}`",
            prog.display(),
            args.join(" ")
        )
    })?;
    let pid = i32::try_from(child.id()).context("pid out of range")?;
    let start = start_time(pid).unwrap_or(0);
    let pids = dir.join("pids");
    fs::create_dir_all(&pids).with_context(|| format!("creating {}", pids.display()))?;
    let file = pids.join(format!("{label}.pid"));
    fs::write(&file, format!("{pid} {start}\n"))
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(child)
}

/// Every process recorded under `<dir>/pids`.
pub fn recorded(dir: &Path) -> Vec<Recorded> {
    let mut v = Vec::new();
    let Ok(rd) = fs::read_dir(dir.join("pids")) else {
        return v;
    };
    for e in rd.flatten() {
        let path: PathBuf = e.path();
        let Some(label) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pid"))
        else {
            continue;
        };
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let mut it = text.split_whitespace();
        let (Some(Ok(pid)), Some(Ok(start))) = (
            it.next().map(str::parse::<i32>),
            it.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        v.push(Recorded {
            label: label.to_string(),
            pid,
            start,
        });
    }
    v.sort_by(|a, b| a.label.cmp(&b.label));
    v
}

/// Reaps `pid` if it is our own zombie child (no effect otherwise).
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: plain syscall; WNOHANG never blocks; ECHILD when not our child is fine.
    unsafe {
        libc::waitpid(pid, &mut status, libc::WNOHANG);
    }
}

/// True while the recorded process is still the one we started and has not exited.
pub fn alive(r: &Recorded) -> bool {
    if r.pid <= 0 {
        return false;
    }
    reap(r.pid);
    match stat(r.pid) {
        // A zombie has exited; its new parent (maybe a slow init) has not reaped it yet.
        Some(('Z' | 'X', _)) | None => false,
        Some((_, s)) => r.start == 0 || s == r.start,
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: plain syscall on a pid we checked belongs to the process we started.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// SIGTERM to every live process, wait up to `grace`, then SIGKILL whatever is left.
/// Returns the labels that had to be killed.
pub fn stop_all(procs: &[Recorded], grace: Duration) -> Vec<String> {
    for r in procs.iter().filter(|r| alive(r)) {
        signal(r.pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && procs.iter().any(alive) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut killed = Vec::new();
    for r in procs.iter().filter(|r| alive(r)) {
        signal(r.pid, libc::SIGKILL);
        killed.push(r.label.clone());
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && procs.iter().any(alive) {
        std::thread::sleep(Duration::from_millis(10));
    }
    killed
}

/// SIGKILL to every process in namespace `ns` (`ip netns pids`), e.g. shells left by
/// `rvs lab exec`, so the namespace can go away.
pub fn kill_ns_pids(ns: &str) {
    let Ok(out) = super::sys::ip(&["netns", "pids", ns]) else {
        return;
    };
    for pid in out.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        if pid > 1 && pid != std::process::id() as i32 {
            signal(pid, libc::SIGKILL);
            reap(pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self_is_stable() {
        let me = std::process::id() as i32;
        let a = start_time(me).unwrap();
        assert_eq!(start_time(me), Some(a));
        assert!(start_time(-5).is_none());
    }

    #[test]
    fn stop_all_terminates_and_kills() {
        let dir = std::env::temp_dir().join(format!("rvs-procs-{}", std::process::id()));
        fs::create_dir_all(dir.join("pids")).unwrap();
        // One that exits on SIGTERM, one that ignores it.
        let mut a = Command::new("sleep").arg("30").spawn().unwrap();
        let mut b = Command::new("sh")
            .args(["-c", "trap '' TERM; while :; do sleep 0.05; done"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        for (label, c) in [("a", &a), ("b", &b)] {
            let pid = c.id() as i32;
            fs::write(
                dir.join("pids").join(format!("{label}.pid")),
                format!("{pid} {}\n", start_time(pid).unwrap()),
            )
            .unwrap();
        }
        let rec = recorded(&dir);
        assert_eq!(rec.len(), 2);
        assert!(rec.iter().all(alive));
        let killed = stop_all(&rec, Duration::from_millis(300));
        assert_eq!(killed, vec!["b".to_string()]);
        assert!(!rec.iter().any(alive));
        // Already reaped by stop_all: wait() has nothing left to collect.
        let _ = a.wait();
        let _ = b.wait();
        // A wrong start time is never treated as ours.
        let stale = Recorded {
            label: "x".into(),
            pid: std::process::id() as i32,
            start: 1,
        };
        assert!(!alive(&stale));
        fs::remove_dir_all(&dir).unwrap();
    }
}
