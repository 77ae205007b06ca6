//! The ptrace loop (x86_64): stop the tracee at every syscall entry and exit, serve the
//! IPVS socket options from the [`Director`], redirect `/proc/net/ip_vs_conn`, let
//! everything else through.

use std::ffi::CString;
use std::io;
use std::path::Path;

use libc::{c_long, c_void, pid_t};
use rvs_core::Director;

use crate::{EmuError, abi, kernel};

/// x86_64 syscall numbers the tracer looks at.
mod nr {
    pub const OPEN: u64 = 2;
    pub const SOCKET: u64 = 41;
    pub const SETSOCKOPT: u64 = 54;
    pub const GETSOCKOPT: u64 = 55;
    pub const OPENAT: u64 = 257;
}

/// The file ipvsadm reads for `-c`.
pub const CONN_PROC_FILE: &str = "/proc/net/ip_vs_conn";

/// Largest SET argument the kernel accepts (`MAX_SET_ARGLEN`).
const MAX_SET_ARGLEN: usize = 1024;

/// Largest GET buffer the emulator reads from or writes to (1 MiB).
const MAX_GET_LEN: usize = 1 << 20;

/// What the tracer needs besides the director.
pub struct Ctx<'a> {
    /// The traced process.
    pub pid: pid_t,
    /// Where the `/proc/net/ip_vs_conn` stand-in is written when ipvsadm opens it.
    pub conn_file: &'a Path,
    /// Most syscall stops allowed before the tracee is killed.
    pub max_stops: u64,
}

/// Run the tracee (already stopped after its `execve`) to its end; its exit status.
pub fn run(ctx: &Ctx<'_>, d: &mut Director) -> Result<i32, EmuError> {
    let pid = ctx.pid;
    let opts = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL;
    ptrace(
        libc::PTRACE_SETOPTIONS,
        pid,
        0,
        opts as usize,
        "PTRACE_SETOPTIONS",
    )?;
    ptrace(libc::PTRACE_SYSCALL, pid, 0, 0, "PTRACE_SYSCALL")?;
    let mut stops = 0u64;
    let mut in_syscall = false;
    let mut fake: Option<i64> = None;
    loop {
        let status = wait(pid)?;
        if libc::WIFEXITED(status) {
            return Ok(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            return Err(EmuError::Signaled(libc::WTERMSIG(status)));
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        let sig = libc::WSTOPSIG(status);
        let mut inject = 0;
        if sig == libc::SIGTRAP | 0x80 {
            stops += 1;
            if stops > ctx.max_stops {
                return Err(EmuError::TooManySyscalls(ctx.max_stops));
            }
            if in_syscall {
                if let Some(ret) = fake.take() {
                    let mut regs = get_regs(pid)?;
                    regs.rax = ret as u64;
                    set_regs(pid, &regs)?;
                }
            } else {
                fake = on_entry(ctx, d)?;
            }
            in_syscall = !in_syscall;
        } else {
            // A signal for the tracee: deliver it.
            inject = sig as usize;
        }
        ptrace(libc::PTRACE_SYSCALL, pid, 0, inject, "PTRACE_SYSCALL")?;
    }
}

/// At a syscall entry: rewrite or emulate the calls of interest. `Some(ret)` when the
/// syscall was turned into a no-op whose result must be `ret` at its exit.
fn on_entry(ctx: &Ctx<'_>, d: &mut Director) -> Result<Option<i64>, EmuError> {
    let pid = ctx.pid;
    let mut regs = get_regs(pid)?;
    match regs.orig_rax {
        nr::SOCKET => {
            // socket(AF_INET, SOCK_RAW, IPPROTO_RAW) needs CAP_NET_RAW; a UDP socket does
            // not, and every IPVS option on it is answered here anyway.
            let ty = regs.rsi as i32;
            if regs.rdi as i32 == libc::AF_INET
                && ty & 0xf == libc::SOCK_RAW
                && regs.rdx as i32 == libc::IPPROTO_RAW
            {
                regs.rsi = ((ty & !0xf) | libc::SOCK_DGRAM) as u64;
                regs.rdx = 0;
                set_regs(pid, &regs)?;
            }
            Ok(None)
        }
        nr::GETSOCKOPT if abi::is_ipvs_opt(regs.rsi as i32, regs.rdx as i32) => {
            let ret = getsockopt(pid, d, regs.rdx as i32, regs.r10, regs.r8);
            skip(pid, &mut regs)?;
            Ok(Some(ret))
        }
        nr::SETSOCKOPT if abi::is_ipvs_opt(regs.rsi as i32, regs.rdx as i32) => {
            let ret = setsockopt(pid, d, regs.rdx as i32, regs.r10, regs.r8 as u32 as usize);
            skip(pid, &mut regs)?;
            Ok(Some(ret))
        }
        nr::OPENAT => {
            if let Some(addr) = redirect(ctx, d, regs.rsi, regs.rsp)? {
                regs.rsi = addr;
                set_regs(pid, &regs)?;
            }
            Ok(None)
        }
        nr::OPEN => {
            if let Some(addr) = redirect(ctx, d, regs.rdi, regs.rsp)? {
                regs.rdi = addr;
                set_regs(pid, &regs)?;
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Turn the syscall at its entry into a no-op (syscall number -1).
fn skip(pid: pid_t, regs: &mut libc::user_regs_struct) -> Result<(), EmuError> {
    regs.orig_rax = u64::MAX;
    set_regs(pid, regs)
}

/// `getsockopt(fd, SOL_IP, cmd, optval, optlen)`: 0 or -errno.
fn getsockopt(pid: pid_t, d: &Director, cmd: i32, optval: u64, optlen: u64) -> i64 {
    let Ok(lenb) = read_mem(pid, optlen, 4) else {
        return -i64::from(kernel::EFAULT);
    };
    let len = abi::u32_at(&lenb, 0) as usize;
    let need = abi::get_arglen(cmd).min(len);
    if len > MAX_GET_LEN {
        return -i64::from(kernel::EINVAL);
    }
    let Ok(arg) = read_mem(pid, optval, need) else {
        return -i64::from(kernel::EFAULT);
    };
    match kernel::get_ctl(d, cmd, &arg, len) {
        Ok((bytes, newlen)) => {
            if bytes.len() > len || write_mem(pid, optval, &bytes).is_err() {
                return -i64::from(kernel::EFAULT);
            }
            if let Some(n) = newlen {
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                if write_mem(pid, optlen, &n.to_le_bytes()).is_err() {
                    return -i64::from(kernel::EFAULT);
                }
            }
            0
        }
        Err(e) => -i64::from(e),
    }
}

/// `setsockopt(fd, SOL_IP, cmd, optval, len)`: 0 or -errno.
fn setsockopt(pid: pid_t, d: &mut Director, cmd: i32, optval: u64, len: usize) -> i64 {
    if len > MAX_SET_ARGLEN {
        return -i64::from(kernel::EINVAL);
    }
    let Ok(arg) = read_mem(pid, optval, len) else {
        return -i64::from(kernel::EFAULT);
    };
    let now = d.now();
    match kernel::set_ctl(d, cmd, &arg, now) {
        Ok(()) => 0,
        Err(e) => -i64::from(e),
    }
}

/// When the path at `path_addr` is `/proc/net/ip_vs_conn`: write the stand-in file, put
/// its path in the tracee's stack well below `rsp` (past the red zone) and return that
/// address.
fn redirect(
    ctx: &Ctx<'_>,
    d: &Director,
    path_addr: u64,
    rsp: u64,
) -> Result<Option<u64>, EmuError> {
    let Ok(path) = read_cstr(ctx.pid, path_addr, 4096) else {
        return Ok(None);
    };
    if path != CONN_PROC_FILE.as_bytes() {
        return Ok(None);
    }
    std::fs::write(
        ctx.conn_file,
        rvs_core::listing::render_proc_ip_vs_conn(&d.conn_rows()),
    )
    .map_err(EmuError::Io)?;
    let new = CString::new(ctx.conn_file.as_os_str().as_encoded_bytes())
        .map_err(|e| EmuError::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    let bytes = new.as_bytes_with_nul();
    let addr = (rsp - 2048 - bytes.len() as u64) & !0xf;
    write_mem(ctx.pid, addr, bytes)?;
    Ok(Some(addr))
}

fn ptrace(
    req: libc::c_uint,
    pid: pid_t,
    addr: usize,
    data: usize,
    what: &'static str,
) -> Result<c_long, EmuError> {
    // SAFETY: the requests used here take plain integers or pointers to live locals.
    let r = unsafe { libc::ptrace(req, pid, addr as *mut c_void, data as *mut c_void) };
    if r == -1 {
        return Err(EmuError::Ptrace(what, io::Error::last_os_error()));
    }
    Ok(r)
}

fn get_regs(pid: pid_t) -> Result<libc::user_regs_struct, EmuError> {
    // SAFETY: user_regs_struct is plain integers; all-zero is a valid value.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    ptrace(
        libc::PTRACE_GETREGS,
        pid,
        0,
        &raw mut regs as usize,
        "PTRACE_GETREGS",
    )?;
    Ok(regs)
}

fn set_regs(pid: pid_t, regs: &libc::user_regs_struct) -> Result<(), EmuError> {
    ptrace(
        libc::PTRACE_SETREGS,
        pid,
        0,
        regs as *const _ as usize,
        "PTRACE_SETREGS",
    )?;
    Ok(())
}

/// `waitpid` for the tracee (retrying on EINTR).
pub fn wait(pid: pid_t) -> Result<i32, EmuError> {
    let mut status = 0;
    loop {
        // SAFETY: status is a live local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == pid {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(EmuError::Ptrace("waitpid", e));
        }
    }
}

/// Read `len` bytes of the tracee's memory at `addr`.
fn read_mem(pid: pid_t, addr: u64, len: usize) -> Result<Vec<u8>, EmuError> {
    let mut buf = vec![0u8; len];
    if len == 0 {
        return Ok(buf);
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut c_void,
        iov_len: len,
    };
    // SAFETY: `local` describes `buf`, which outlives the call.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n != len as isize {
        return Err(EmuError::Ptrace(
            "process_vm_readv",
            io::Error::last_os_error(),
        ));
    }
    Ok(buf)
}

/// A NUL-terminated string of the tracee (without the NUL), at most `max` bytes, read a
/// page at a time so that no read crosses into an unmapped page needlessly.
fn read_cstr(pid: pid_t, addr: u64, max: usize) -> Result<Vec<u8>, EmuError> {
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < max {
        let chunk = (4096 - (at % 4096)) as usize;
        let b = read_mem(pid, at, chunk)?;
        if let Some(end) = b.iter().position(|&c| c == 0) {
            out.extend_from_slice(&b[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&b);
        at += chunk as u64;
    }
    Ok(out)
}

/// Write into the tracee: `process_vm_writev`, or word by word with `PTRACE_POKEDATA`
/// (which also writes read-only mappings) when that fails.
fn write_mem(pid: pid_t, addr: u64, data: &[u8]) -> Result<(), EmuError> {
    if data.is_empty() {
        return Ok(());
    }
    let local = libc::iovec {
        iov_base: data.as_ptr() as *mut c_void,
        iov_len: data.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut c_void,
        iov_len: data.len(),
    };
    // SAFETY: `local` describes `data`, which outlives the call and is only read.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    if n == data.len() as isize {
        return Ok(());
    }
    poke(pid, addr, data)
}

fn poke(pid: pid_t, addr: u64, data: &[u8]) -> Result<(), EmuError> {
    let start = addr & !7;
    let end = (addr + data.len() as u64).div_ceil(8) * 8;
    let mut w = start;
    while w < end {
        // SAFETY: PEEKDATA reads one word of the stopped tracee; errors come back in errno.
        let word = unsafe {
            *libc::__errno_location() = 0;
            libc::ptrace(
                libc::PTRACE_PEEKDATA,
                pid,
                w as *mut c_void,
                std::ptr::null_mut::<c_void>(),
            )
        };
        let e = io::Error::last_os_error();
        if word == -1 && e.raw_os_error().unwrap_or(0) != 0 {
            return Err(EmuError::Ptrace("PTRACE_PEEKDATA", e));
        }
        let mut bytes = word.to_le_bytes();
        for (i, b) in bytes.iter_mut().enumerate() {
            let a = w + i as u64;
            if a >= addr && a < addr + data.len() as u64 {
                *b = data[(a - addr) as usize];
            }
        }
        ptrace(
            libc::PTRACE_POKEDATA,
            pid,
            w as usize,
            i64::from_le_bytes(bytes) as usize,
            "PTRACE_POKEDATA",
        )?;
        w += 8;
    }
    Ok(())
}
