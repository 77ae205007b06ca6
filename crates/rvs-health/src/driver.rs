//! The thin tokio loop around a [`Monitor`]: runs due probes (at most `max_probes` at a
//! time, each bounded by its timeout), feeds results back, runs notify/quorum scripts
//! without waiting for them, logs every transition, and hands every new table to a
//! [`TableSink`]. It runs on its own thread with a current-thread runtime, so slow probes
//! never block the data plane or the control socket.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rvs_config::keepalived::CheckerKind;
use rvs_config::keepalived::{Config, Desired};
use rvs_core::Time;
use rvs_core::time::Dur;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::monitor::{Action, Monitor, ProbeId, ProbeResult, ProbeSpec, RsStatus};
use crate::probe;

/// How long a notify/quorum script may run before its process group is killed.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long scripts run at shutdown (omega notifiers) may take (keepalived: 1 s).
pub const SHUTDOWN_SCRIPT_TIMEOUT: Duration = Duration::from_secs(1);

/// How stale the status snapshot may get while only failure counters change.
const STATUS_PERIOD: Duration = Duration::from_secs(1);

/// Extra time given to probes that time themselves (UDP_CHECK's silence, MISC_CHECK's
/// kill) before the driver gives up on them.
const SELF_TIMED_GRACE: Duration = Duration::from_secs(1);

/// Where the driver sends the tables health asks for.
pub trait TableSink: Send + Sync + 'static {
    /// Called (from the driver's thread, serialised) whenever the table the configuration
    /// and the health ask for changed: `change` says why. rvsd diffs and applies it.
    fn apply(&self, desired: Desired, change: Change);
}

/// Why the table changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A real server went up or down, a weight changed, quorum changed.
    Health,
    /// A new configuration was loaded.
    Reload,
}

/// The clock the driver reads: the same time base as the [`Monitor`]'s.
pub type Clock = Arc<dyn Fn() -> Time + Send + Sync>;

enum Msg {
    Reload(Box<Config>),
    Shutdown,
}

/// A running driver.
pub struct Handle {
    tx: mpsc::UnboundedSender<Msg>,
    status: Arc<Mutex<Vec<RsStatus>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    /// Start the driver on its own thread (current-thread tokio runtime); `max_probes`
    /// bounds concurrent probes. Does NOT call `sink.apply` at start (rvsd installed the
    /// start-up table itself). Time is the monitor's start time
    /// ([`Monitor::started_at`]) plus the real time elapsed since this call.
    pub fn start(
        monitor: Monitor,
        sink: Arc<dyn TableSink>,
        max_probes: usize,
    ) -> std::io::Result<Handle> {
        let t0 = monitor.started_at();
        let base = Instant::now();
        let clock: Clock = Arc::new(move || {
            t0 + Dur(u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX))
        });
        Handle::start_with_clock(monitor, sink, max_probes, clock)
    }

    /// [`Handle::start`] with the caller's clock (e.g. the data plane's time base).
    pub fn start_with_clock(
        monitor: Monitor,
        sink: Arc<dyn TableSink>,
        max_probes: usize,
        clock: Clock,
    ) -> std::io::Result<Handle> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(Mutex::new(monitor.status()));
        let st = status.clone();
        let thread = std::thread::Builder::new()
            .name("rvs-health".into())
            .spawn(move || {
                rt.block_on(run(monitor, sink, max_probes.max(1), clock, rx, st));
            })?;
        Ok(Handle {
            tx,
            status,
            thread: Some(thread),
        })
    }

    /// A new configuration (rvsd has already validated it): the driver reloads the monitor
    /// and calls `sink.apply(monitor.desired(), Change::Reload)`.
    pub fn reload(&self, cfg: Config) {
        let _ = self.tx.send(Msg::Reload(Box::new(cfg)));
    }

    /// Current status (cheap; a snapshot the driver updates).
    pub fn status(&self) -> Vec<RsStatus> {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Stop probes and the thread; waits for it (omega scripts get
    /// [`SHUTDOWN_SCRIPT_TIMEOUT`]).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn publish(status: &Mutex<Vec<RsStatus>>, monitor: &Monitor) {
    let s = monitor.status();
    match status.lock() {
        Ok(mut g) => *g = s,
        Err(p) => *p.into_inner() = s,
    }
}

/// The time limit the driver puts on a probe.
fn limit(spec: &ProbeSpec, timeout: Duration) -> Duration {
    match spec.kind {
        CheckerKind::Misc(_) | CheckerKind::Udp(_) => timeout + SELF_TIMED_GRACE,
        _ => timeout,
    }
}

async fn probe_task(
    id: ProbeId,
    spec: ProbeSpec,
    timeout: Duration,
    sem: Arc<Semaphore>,
) -> (ProbeId, ProbeResult) {
    let _permit = sem.acquire_owned().await;
    let r = match tokio::time::timeout(limit(&spec, timeout), probe::run(&spec)).await {
        Ok(r) => r,
        Err(_) => ProbeResult::Down(format!("timed out after {timeout:?}")),
    };
    (id, r)
}

/// Runs `command` with `sh -c` in its own process group; kills the group after `limit`.
async fn script_task(command: String, reason: String, limit: Duration) {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&command)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%command, %reason, error = %e, "cannot run script");
            return;
        }
    };
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(s)) if s.success() => tracing::debug!(%command, %reason, "script done"),
        Ok(Ok(s)) => tracing::warn!(%command, %reason, status = %s, "script failed"),
        Ok(Err(e)) => tracing::warn!(%command, %reason, error = %e, "script wait failed"),
        Err(_) => {
            tracing::warn!(%command, %reason, "script timed out; killed");
            if let Some(pid) = pid {
                // SAFETY: kill(2) on the process group created for this script.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
        }
    }
}

/// Probes running, by task (a probe task that panics still reports a failure).
#[derive(Default)]
struct Running {
    set: JoinSet<(ProbeId, ProbeResult)>,
    ids: HashMap<tokio::task::Id, ProbeId>,
}

impl Running {
    /// The next finished probe; `None` when none runs.
    async fn next(&mut self) -> Option<(ProbeId, ProbeResult)> {
        loop {
            match self.set.join_next_with_id().await? {
                Ok((task, r)) => {
                    self.ids.remove(&task);
                    return Some(r);
                }
                Err(e) => {
                    if let Some(id) = self.ids.remove(&e.id()) {
                        let why = if e.is_panic() {
                            "probe panicked"
                        } else {
                            "probe cancelled"
                        };
                        return Some((id, ProbeResult::Down(why.into())));
                    }
                }
            }
        }
    }
}

/// Carries out actions; returns whether the table changed.
fn dispatch(
    actions: Vec<Action>,
    probes: &mut Running,
    scripts: &mut JoinSet<()>,
    sem: &Arc<Semaphore>,
) -> bool {
    let mut changed = false;
    for a in actions {
        match a {
            Action::Probe { id, spec, timeout } => {
                let h = probes.set.spawn(probe_task(id, spec, timeout, sem.clone()));
                probes.ids.insert(h.id(), id);
            }
            Action::TableChanged => changed = true,
            Action::Script { command, reason } => {
                tracing::info!(%command, %reason, "running script");
                scripts.spawn(script_task(command, reason, SCRIPT_TIMEOUT));
            }
            Action::Transition(t) => {
                if t.is_up() {
                    tracing::info!(transition = ?t, "{t}");
                } else {
                    tracing::warn!(transition = ?t, "{t}");
                }
            }
        }
    }
    changed
}

async fn run(
    mut monitor: Monitor,
    sink: Arc<dyn TableSink>,
    max_probes: usize,
    clock: Clock,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    status: Arc<Mutex<Vec<RsStatus>>>,
) {
    let sem = Arc::new(Semaphore::new(max_probes));
    let mut probes = Running::default();
    let mut scripts: JoinSet<()> = JoinSet::new();
    let mut acts = Vec::new();
    // Results change failure counters: the snapshot is refreshed at once on a transition,
    // else at most once a second (status() is linear in the number of real servers).
    let mut dirty = false;
    let mut last_pub = Instant::now();
    loop {
        acts.extend(monitor.poll(clock()));
        // A transition publishes at once, and before the sink hears of the new table, so
        // status() is never older than what the sink was given.
        let transition = acts.iter().any(|a| !matches!(a, Action::Probe { .. }));
        if (dirty && last_pub.elapsed() >= STATUS_PERIOD) || transition {
            publish(&status, &monitor);
            dirty = false;
            last_pub = Instant::now();
        }
        if !acts.is_empty() && dispatch(std::mem::take(&mut acts), &mut probes, &mut scripts, &sem)
        {
            sink.apply(monitor.desired(), Change::Health);
        }
        let now = clock();
        let sleep = monitor
            .next_deadline()
            .map(|t| Duration::from_millis(t.millis_since(now)))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Reload(cfg)) => {
                    monitor.reload(&cfg, clock());
                    publish(&status, &monitor);
                    sink.apply(monitor.desired(), Change::Reload);
                }
                Some(Msg::Shutdown) | None => break,
            },
            Some((id, r)) = probes.next(), if !probes.set.is_empty() => {
                acts.extend(monitor.on_result(id, r, clock()));
                dirty = true;
            }
            Some(_) = scripts.join_next(), if !scripts.is_empty() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = tokio::time::sleep(STATUS_PERIOD), if dirty => {}
        }
    }
    probes.set.abort_all();
    for a in monitor.shutdown() {
        if let Action::Script { command, reason } = a {
            tracing::info!(%command, %reason, "running script");
            scripts.spawn(script_task(command, reason, SHUTDOWN_SCRIPT_TIMEOUT));
        }
    }
    let _ = tokio::time::timeout(SHUTDOWN_SCRIPT_TIMEOUT * 2, async {
        while scripts.join_next().await.is_some() {}
    })
    .await;
    scripts.abort_all();
    while probes.set.join_next().await.is_some() {}
}
