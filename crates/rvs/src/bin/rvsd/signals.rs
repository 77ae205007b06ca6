//! SIGTERM / SIGINT / SIGHUP, blocked in every thread and taken synchronously by main.

use anyhow::bail;

/// The signals rvsd waits for.
pub struct SigSet(libc::sigset_t);

/// Block SIGTERM, SIGINT and SIGHUP in the calling thread (and the threads it starts).
pub fn block() -> anyhow::Result<SigSet> {
    // SAFETY: sigset_t is plain data; the libc calls only write into the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            bail!("pthread_sigmask: {}", std::io::Error::from_raw_os_error(rc));
        }
        Ok(SigSet(set))
    }
}

/// Wait until SIGTERM or SIGINT arrives (SIGHUP is logged: reloads come with
/// keepalived.conf support). Returns the signal's name.
pub fn wait(set: &SigSet) -> &'static str {
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is an initialised sigset_t and `sig` a valid out pointer.
        let rc = unsafe { libc::sigwait(&set.0, &mut sig) };
        if rc != 0 {
            continue;
        }
        match sig {
            libc::SIGTERM => return "SIGTERM",
            libc::SIGINT => return "SIGINT",
            _ => tracing::warn!("SIGHUP ignored: a rules file is read only at start"),
        }
    }
}
