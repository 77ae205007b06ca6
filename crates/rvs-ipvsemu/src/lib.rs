//! Run the real, unmodified ipvsadm 1.31 (Debian's `/usr/sbin/ipvsadm`) against an rvs
//! [`Director`], so that rvs's own ipvsadm can be diffed against the original byte for byte.
//!
//! # Technique
//!
//! The machines rvs is built on have no IPVS kernel module, so ipvsadm cannot start: it
//! asks generic netlink for the `IPVS` family (ENOENT), falls back to the old sockopt
//! interface (`getsockopt(SOL_IP, IP_VS_SO_GET_INFO)` → ENOPROTOOPT) and gives up. This
//! crate runs it under **ptrace** and plays the kernel's part of that old interface:
//!
//! * the child calls `PTRACE_TRACEME` and execs ipvsadm (argv\[0\] as given, so the
//!   "Try \`X -h'" hint names it); the parent stops it at every syscall entry and exit
//!   (`PTRACE_SYSCALL`, `PTRACE_O_TRACESYSGOOD`, `PTRACE_O_EXITKILL`);
//! * `socket(AF_INET, SOCK_RAW, IPPROTO_RAW)` is rewritten to a UDP socket, so no
//!   CAP_NET_RAW (root) is needed;
//! * `getsockopt`/`setsockopt` at level `SOL_IP` with an `IP_VS_SO_*` option are turned
//!   into no-ops at their entry (syscall number -1); the argument is read with
//!   `process_vm_readv`, answered by [`kernel`] (the checks and errnos of the kernel's
//!   `do_ip_vs_set_ctl`/`do_ip_vs_get_ctl`, the table from the [`Director`]), the reply is
//!   written back with `process_vm_writev`, and the result (0 or -errno) is put in `rax`
//!   at the syscall's exit;
//! * an `open`/`openat` of `/proc/net/ip_vs_conn` (`ipvsadm -c`) gets a new path: a file
//!   written in the kernel's format from [`Director::conn_rows`], its path placed in the
//!   tracee's stack 2 KiB below `rsp`;
//! * everything else runs for real (the netlink probe still fails, as on this kernel).
//!
//! Every run is bounded: a watchdog kills the tracee after [`Limits::timeout`] (through a
//! pidfd, so a recycled pid is never hit), at most [`Limits::max_stops`] syscall stops are
//! served, and the child is always reaped.
//!
//! # Limits
//!
//! * x86_64 Linux only (register layout and syscall numbers).
//! * The sockopt interface is what ipvsadm uses here, and it is IPv4 only: libipvs refuses
//!   IPv6 services and `--pe` with EAFNOSUPPORT before calling the kernel, tunnel types
//!   other than IPIP and their options are not carried (`ip_vs_dest_user` has no room for
//!   them; ipvsadm then shows whatever its uninitialised buffer holds), and packet and
//!   connection counters are 32-bit (`ip_vs_stats_user`; bytes are 64-bit).
//! * No sync daemon: `--start-daemon` gets ENOPROTOOPT, `--stop-daemon` ESRCH,
//!   `--daemon` lists nothing.
//! * Services are reported in [`Director::service_rows`] order (rvs's table order), which
//!   stands in for the kernel's hash order.
//! * Name resolution (`-L` without `-n`) is ipvsadm's own and real (DNS, /etc/services).

mod abi;
pub mod kernel;
mod trace;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rvs_core::Director;

pub use trace::CONN_PROC_FILE;

/// Where Debian installs ipvsadm.
pub const IPVSADM: &str = "/usr/sbin/ipvsadm";

/// What ipvsadm printed and how it exited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
    /// Exit status.
    pub exit_code: i32,
}

/// Why ipvsadm could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// Not x86_64 Linux.
    #[error("the ipvsadm emulator needs x86_64 Linux")]
    Unsupported,
    /// The program could not be started (missing, not executable, ptrace refused).
    #[error("cannot start {0}: {1}")]
    Spawn(PathBuf, #[source] std::io::Error),
    /// A ptrace or wait call failed.
    #[error("{0} failed: {1}")]
    Ptrace(&'static str, #[source] std::io::Error),
    /// The tracee was killed by a signal (by the watchdog: [`EmuError::Timeout`]).
    #[error("ipvsadm was killed by signal {0}")]
    Signaled(i32),
    /// The tracee ran longer than [`Limits::timeout`].
    #[error("ipvsadm ran longer than {0:?}")]
    Timeout(Duration),
    /// The tracee made more syscalls than [`Limits::max_stops`] allows.
    #[error("ipvsadm made more than {0} syscall stops")]
    TooManySyscalls(u64),
    /// Local I/O (temporary file, pipes).
    #[error("i/o: {0}")]
    Io(#[source] std::io::Error),
}

/// Bounds of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock limit; the tracee is killed after it.
    pub timeout: Duration,
    /// Most syscall stops (entries plus exits) served.
    pub max_stops: u64,
}

impl Default for Limits {
    /// 10 s and 200,000 stops (an ipvsadm run makes a few hundred).
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            max_stops: 200_000,
        }
    }
}

/// Run `/usr/sbin/ipvsadm args…` (argv\[0\] = `argv0`) against `director`, feeding `stdin`
/// (for `-R`); commands change the director, listings read it.
pub fn run_ipvsadm(
    director: &mut Director,
    argv0: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<Output, EmuError> {
    run_program(
        Path::new(IPVSADM),
        director,
        argv0,
        args,
        stdin,
        Limits::default(),
    )
}

/// Whether the emulator can run here: x86_64 Linux and `program` present.
pub fn check_available(program: &Path) -> Result<(), String> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Err("needs x86_64 Linux".to_string());
    }
    if !program.is_file() {
        return Err(format!("{} is not installed", program.display()));
    }
    Ok(())
}

/// [`run_ipvsadm`] with another program path and explicit limits.
pub fn run_program(
    program: &Path,
    director: &mut Director,
    argv0: &str,
    args: &[&str],
    stdin: Option<&str>,
    limits: Limits,
) -> Result<Output, EmuError> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Err(EmuError::Unsupported);
    }
    let scratch = Scratch::new()?;
    let mut cmd = Command::new(program);
    cmd.arg0(argv0)
        .args(args)
        .env_clear()
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure only makes one async-signal-safe syscall.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| EmuError::Spawn(program.to_path_buf(), e))?;
    let pid = child.id() as libc::pid_t;
    let reaper = Reaper { pid, reaped: false };
    let mut reaper = reaper;

    // The first stop: SIGTRAP after the execve.
    let status = trace::wait(pid)?;
    if !libc::WIFSTOPPED(status) {
        reaper.reaped = true;
        return Err(EmuError::Spawn(
            program.to_path_buf(),
            std::io::Error::other("the child did not stop after exec"),
        ));
    }

    let out_t = reader(child.stdout.take());
    let err_t = reader(child.stderr.take());
    let in_t = child.stdin.take().map(|mut w| {
        let data = stdin.unwrap_or("").to_string();
        std::thread::spawn(move || {
            // ipvsadm may exit without reading it all: EPIPE is fine.
            let _ = w.write_all(data.as_bytes());
        })
    });
    let (cancel, watchdog) = watchdog(pid, limits.timeout);

    let ctx = trace::Ctx {
        pid,
        conn_file: &scratch.conn_file,
        max_stops: limits.max_stops,
    };
    let result = trace::run(&ctx, director);
    let timed_out = {
        let _ = cancel.send(());
        watchdog.join().unwrap_or(false)
    };
    match &result {
        Ok(_) | Err(EmuError::Signaled(_)) => reaper.reaped = true,
        Err(_) => {}
    }
    drop(reaper);
    if let Some(t) = in_t {
        let _ = t.join();
    }
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let exit_code = match result {
        Err(EmuError::Signaled(_)) if timed_out => return Err(EmuError::Timeout(limits.timeout)),
        r => r?,
    };
    Ok(Output {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit_code,
    })
}

/// Kills and reaps the child unless it was reaped already.
struct Reaper {
    pid: libc::pid_t,
    reaped: bool,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: the child is ours and not reaped yet, so the pid is still its own.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
        }
        while let Ok(status) = trace::wait(self.pid) {
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                break;
            }
        }
    }
}

fn reader<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

/// A thread that kills `pid` (through a pidfd, immune to pid reuse) unless told to stop
/// within `timeout`; it returns whether it killed.
fn watchdog(
    pid: libc::pid_t,
    timeout: Duration,
) -> (mpsc::Sender<()>, std::thread::JoinHandle<bool>) {
    // SAFETY: pidfd_open takes a pid and flags; the result is a new fd or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    let (tx, rx) = mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        let fired = matches!(
            rx.recv_timeout(timeout),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if fired && pidfd >= 0 {
            // SAFETY: pidfd is ours; signalling an exited process fails harmlessly.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd,
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
        }
        if pidfd >= 0 {
            // SAFETY: closing our own fd.
            unsafe {
                libc::close(pidfd);
            }
        }
        fired
    });
    (tx, h)
}

/// A private temporary directory for the `/proc/net/ip_vs_conn` stand-in, removed on drop.
struct Scratch {
    dir: PathBuf,
    conn_file: PathBuf,
}

impl Scratch {
    fn new() -> Result<Self, EmuError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rvs-ipvsemu-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(EmuError::Io)?;
        let conn_file = dir.join("ip_vs_conn");
        Ok(Scratch { dir, conn_file })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
