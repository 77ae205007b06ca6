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

/// What a signal asks rvsd to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: shut down (the name for the log).
    Stop(&'static str),
    /// SIGHUP: reload the configuration.
    Reload,
}

/// Wait for the next SIGTERM, SIGINT or SIGHUP.
pub fn wait(set: &SigSet) -> Signal {
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is an initialised sigset_t and `sig` a valid out pointer.
        let rc = unsafe { libc::sigwait(&set.0, &mut sig) };
        if rc != 0 {
            continue;
        }
        match sig {
            libc::SIGTERM => return Signal::Stop("SIGTERM"),
            libc::SIGINT => return Signal::Stop("SIGINT"),
            libc::SIGHUP => return Signal::Reload,
            _ => {}
        }
    }
}

/// Like [`wait`], but give up after `timeout` (`None`: nothing arrived).
pub fn wait_timeout(set: &SigSet, timeout: std::time::Duration) -> Option<Signal> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `set` is an initialised sigset_t, `ts` a valid timespec; no siginfo is asked.
    let sig = unsafe { libc::sigtimedwait(&set.0, std::ptr::null_mut(), &ts) };
    match sig {
        libc::SIGTERM => Some(Signal::Stop("SIGTERM")),
        libc::SIGINT => Some(Signal::Stop("SIGINT")),
        libc::SIGHUP => Some(Signal::Reload),
        _ => None,
    }
}
