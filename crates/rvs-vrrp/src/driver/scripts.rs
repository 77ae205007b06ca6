//! `vrrp_script` runners (one thread each: run, wait up to `timeout`, count rise / fall,
//! report changes) and notify scripts (started, never waited for by the VRRP loop).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::spec::ScriptSpec;

/// A command line split like keepalived does (whitespace; single or double quotes group).
pub fn split_command(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(ch);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Start `line` with extra `args`, output discarded.
pub fn spawn(line: &str, args: &[String]) -> std::io::Result<Child> {
    let mut parts = split_command(line);
    if parts.is_empty() {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    let prog = parts.remove(0);
    Command::new(prog)
        .args(parts)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Sleep up to `d`, in short steps, unless `stop` is set; false when stopped.
fn nap(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// Run the script once: true when it exited 0 within `timeout`.
fn run_once(s: &ScriptSpec, stop: &AtomicBool) -> bool {
    let mut child = match spawn(&s.script, &[]) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(script = %s.name, "cannot run `{}`: {e}", s.script);
            return false;
        }
    };
    let end = Instant::now() + s.timeout.max(Duration::from_millis(10));
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st.success(),
            Ok(None) => {}
            Err(_) => return false,
        }
        if Instant::now() >= end || stop.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            tracing::warn!(script = %s.name, "timed out");
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A script's rise / fall counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// Current verdict.
    pub ok: bool,
    run: u32,
}

impl Counter {
    /// Starting OK, or failed with `init_fail`.
    pub fn new(init_fail: bool) -> Counter {
        Counter {
            ok: !init_fail,
            run: 0,
        }
    }

    /// Count one result; true when the verdict changed.
    pub fn count(&mut self, result: bool, rise: u32, fall: u32) -> bool {
        if result == self.ok {
            self.run = 0;
            return false;
        }
        self.run += 1;
        if self.run >= if result { rise } else { fall } {
            self.ok = result;
            self.run = 0;
            return true;
        }
        false
    }
}

/// Start a runner for `s` that calls `report(name, ok)` on every verdict change (and
/// ends when it returns false).
pub fn start<R: Fn(String, bool) -> bool + Send + 'static>(
    s: ScriptSpec,
    report: R,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("vrrp-script-{}", s.name))
        .spawn(move || {
            let mut c = Counter::new(s.init_fail);
            loop {
                let r = run_once(&s, &stop);
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if c.count(r, s.rise, s.fall) {
                    tracing::info!(script = %s.name, ok = c.ok, "VRRP script {}", if c.ok { "succeeded" } else { "failed" });
                    if !report(s.name.clone(), c.ok) {
                        return;
                    }
                }
                if !nap(&stop, s.interval) {
                    return;
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_keepalived() {
        assert_eq!(
            split_command(r#"/bin/sh -c "exit 1"  'a b' x"#),
            vec!["/bin/sh", "-c", "exit 1", "a b", "x"]
        );
        assert!(split_command("   ").is_empty());
    }

    #[test]
    fn rise_and_fall() {
        let mut c = Counter::new(false);
        assert!(!c.count(false, 2, 3));
        assert!(!c.count(false, 2, 3));
        assert!(c.count(false, 2, 3));
        assert!(!c.ok);
        assert!(!c.count(true, 2, 3));
        assert!(!c.count(false, 2, 3), "a failure resets the rise count");
        assert!(!c.count(true, 2, 3));
        assert!(c.count(true, 2, 3));
        assert!(c.ok);
        let mut c = Counter::new(true);
        assert!(!c.ok);
        assert!(c.count(true, 1, 1));
    }

    #[test]
    fn runs_scripts_with_timeout() {
        let stop = AtomicBool::new(false);
        let spec = |script: &str, timeout_ms| ScriptSpec {
            name: "t".into(),
            script: script.into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(timeout_ms),
            rise: 1,
            fall: 1,
            init_fail: false,
        };
        assert!(run_once(&spec("/bin/true", 2000), &stop));
        assert!(!run_once(&spec("/bin/false", 2000), &stop));
        assert!(!run_once(&spec("/no/such/program", 2000), &stop));
        let t = Instant::now();
        assert!(!run_once(&spec("/bin/sleep 5", 200), &stop));
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
