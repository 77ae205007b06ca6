//! The emulator's own bounds: a missing program, a run that outlives its time limit, and a
//! syscall budget, each reported as an error with the child reaped.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rvs_core::{Director, Settings, SplitMix64};
use rvs_ipvsemu::{EmuError, Limits, run_program};

fn director() -> Director {
    Director::new(Settings::default(), 1, Box::new(SplitMix64(1)))
}

/// The tests of this file run one at a time, so every child of this process is theirs.
static SERIAL: Mutex<()> = Mutex::new(());

/// No child of this process is left, running or zombie (from /proc, without reaping).
fn no_children_left() {
    let me = std::process::id().to_string();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        assert!(f.get(1) != Some(&me.as_str()), "child left behind: {stat}");
    }
}

#[test]
fn missing_program_is_a_spawn_error() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = run_program(
        Path::new("/nonexistent/ipvsadm"),
        &mut director(),
        "ipvsadm",
        &["-v"],
        None,
        Limits::default(),
    );
    assert!(matches!(r, Err(EmuError::Spawn(..))), "{r:?}");
}

#[test]
fn a_slow_program_is_killed_at_the_time_limit() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !Path::new("/bin/sleep").is_file() {
        eprintln!("SKIP (no /bin/sleep)");
        return;
    }
    let t = Instant::now();
    let limits = Limits {
        timeout: Duration::from_millis(300),
        max_stops: 10_000,
    };
    let r = run_program(
        Path::new("/bin/sleep"),
        &mut director(),
        "sleep",
        &["5"],
        None,
        limits,
    );
    assert!(matches!(r, Err(EmuError::Timeout(_))), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
    no_children_left();
}

#[test]
fn the_syscall_budget_is_enforced() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !Path::new("/bin/true").is_file() {
        eprintln!("SKIP (no /bin/true)");
        return;
    }
    let limits = Limits {
        timeout: Duration::from_secs(5),
        max_stops: 4,
    };
    let r = run_program(
        Path::new("/bin/true"),
        &mut director(),
        "true",
        &[],
        None,
        limits,
    );
    assert!(matches!(r, Err(EmuError::TooManySyscalls(4))), "{r:?}");
    no_children_left();
    let ok = run_program(
        Path::new("/bin/true"),
        &mut director(),
        "true",
        &[],
        None,
        Limits::default(),
    );
    assert_eq!(ok.map(|o| o.exit_code).ok(), Some(0));
}
