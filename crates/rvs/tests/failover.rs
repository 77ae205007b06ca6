//! Failover with connection sync (root): a two-director lab (`rvs lab up --directors 2`,
//! VRRP between the directors, the sync daemon following it), 20 long-lived TCP streams
//! through the master, the master killed, and every stream going on through the new master
//! with no reset — NAT and DR, wlc.

mod labkit;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use labkit::{Lab, kill_and_wait, require};

const STREAMS: usize = 20;
/// Successful requests each stream must make after the kill.
const AFTER: u32 = 5;

/// What one stream saw.
#[derive(Debug, Default)]
struct Report {
    local_port: u16,
    server: String,
    before: u32,
    /// Answers between the kill and the VIP showing up on the new master.
    during: u32,
    /// Answers after the VIP moved.
    after: u32,
    /// Longest wait for one answer (the outage the stream saw).
    gap: Duration,
    error: Option<String>,
}

/// One keep-alive HTTP/1.1 request; the answering server's id (`X-Server`).
fn request(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    r.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")?;
    let mut server = String::new();
    let mut len = 0usize;
    let mut first = true;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let l = line.trim_end();
        if first {
            if !l.starts_with("HTTP/1.1 200") {
                return Err(std::io::Error::other(format!("status {l:?}")));
            }
            first = false;
            continue;
        }
        if l.is_empty() {
            break;
        }
        let lower = l.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = lower.strip_prefix("x-server:") {
            server = v.trim().to_string();
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(server)
}

/// One stream: requests every 100 ms until `killed`, then until [`AFTER`] answers came
/// after `moved` (the VIP is on the new master), or 90 s passed.
fn stream(
    target: SocketAddr,
    killed: Arc<AtomicBool>,
    moved: Arc<AtomicBool>,
    ready: Arc<std::sync::Barrier>,
) -> Report {
    let mut rep = Report::default();
    let s = match TcpStream::connect_timeout(&target, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => {
            rep.error = Some(format!("connect: {e}"));
            ready.wait();
            return rep;
        }
    };
    rep.local_port = s.local_addr().map(|a| a.port()).unwrap_or(0);
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    let mut r = BufReader::new(s);
    match request(&mut r) {
        Ok(id) => {
            rep.server = id;
            rep.before = 1;
        }
        Err(e) => rep.error = Some(format!("first request: {e}")),
    }
    ready.wait();
    if rep.error.is_some() {
        return rep;
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let after_kill = killed.load(Ordering::SeqCst);
        let after_move = moved.load(Ordering::SeqCst);
        let t0 = Instant::now();
        match request(&mut r) {
            Ok(id) if id == rep.server => {
                // Before the kill an answer takes a millisecond: the longest one spans
                // the outage.
                rep.gap = rep.gap.max(t0.elapsed());
                if after_move {
                    rep.after += 1;
                    if rep.after >= AFTER {
                        break;
                    }
                } else if after_kill {
                    rep.during += 1;
                } else {
                    rep.before += 1;
                }
            }
            Ok(id) => {
                rep.error = Some(format!(
                    "answered by {id}, the stream began on {}",
                    rep.server
                ));
                break;
            }
            Err(e) => {
                rep.error = Some(format!("{:?}: {e}", e.kind()));
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    rep
}

/// Run `f` on a thread inside namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).expect("netns file");
        // SAFETY: a valid namespace fd; only this thread changes namespace.
        let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

fn ctl(lab: &Lab, sock: &str, args: &str) -> String {
    let out = Command::new(labkit::RVS)
        .args(["ctl", "--control"])
        .arg(lab.state().join(sock))
        .arg("--")
        .args(args.split_whitespace())
        .output()
        .expect("rvs ctl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failover(mode: &str) {
    let lab = Lab::up(
        mode,
        &["--directors", "2", "--servers", "2", "--sched", "wlc"],
    );
    // The router's bridges do not flood unknown unicast to dir2: once the dead master's
    // port is gone its frames are lost, not seen by dir2's XDP, so the streams can only go
    // on once VRRP has moved the addresses (gratuitous ARP) — the path a switch that does
    // not flood takes.
    for port in ["d2e1", "d2e2"] {
        let _ = lab.exec(
            "router",
            &[
                "ip",
                "link",
                "set",
                "dev",
                port,
                "type",
                "bridge_slave",
                "flood",
                "off",
            ],
        );
    }
    let target: SocketAddr = "198.18.1.100:80".parse().unwrap();
    let killed = Arc::new(AtomicBool::new(false));
    let moved = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(std::sync::Barrier::new(STREAMS + 1));
    let handles: Vec<_> = (0..STREAMS)
        .map(|_| {
            let (k, m, r) = (killed.clone(), moved.clone(), ready.clone());
            in_netns(&lab.ns("client"), move || stream(target, k, m, r))
        })
        .collect();
    ready.wait();
    // Every stream is ESTABLISHED on the backup before the master dies.
    let t0 = Instant::now();
    let mut backup_conns = String::new();
    let mut synced = 0;
    while t0.elapsed() < Duration::from_secs(15) {
        backup_conns = ctl(&lab, "rvsd-dir2.sock", "-Lnc");
        synced = backup_conns
            .lines()
            .filter(|l| l.contains("ESTABLISHED 198.18.0.2:"))
            .count();
        if synced >= STREAMS {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        synced >= STREAMS,
        "the backup lists {synced} of {STREAMS} streams:\n{backup_conns}"
    );
    // The master host dies: its links go down, then rvsd is SIGKILLed. (A SIGKILLed rvsd
    // on a host that stays up cannot take its VRRP addresses away, and that host's kernel
    // then answers the VIP's packets with RSTs: see docs/sync.md.)
    let pid = lab.rvsd_pid();
    let killed_at = Instant::now();
    for dev in ["eth1", "eth2"] {
        let _ = lab.exec("dir", &["ip", "link", "set", dev, "down"]);
    }
    kill_and_wait(pid, "KILL", Duration::from_secs(5));
    killed.store(true, Ordering::SeqCst);
    // VRRP moves the VIP after Master_Down_Interval (about 3.6 s with advert_int 1).
    let mut vip = String::new();
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_secs(15) {
        vip = String::from_utf8_lossy(
            &lab.exec("dir2", &["ip", "-4", "addr", "show", "eth1"])
                .stdout,
        )
        .into_owned();
        if vip.contains("198.18.1.100/32") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let vip_after = killed_at.elapsed();
    moved.store(true, Ordering::SeqCst);
    let stats_before = ctl(&lab, "rvsd-dir2.sock", "-Ln --stats --exact");
    let reports: Vec<Report> = handles
        .into_iter()
        .map(|h| h.join().expect("stream"))
        .collect();
    let took = killed_at.elapsed();
    let new_master = ctl(&lab, "rvsd-dir2.sock", "-L --daemon");
    let stats_after = ctl(&lab, "rvsd-dir2.sock", "-Ln --stats --exact");
    let mut failed = Vec::new();
    for r in &reports {
        if r.error.is_some() || r.after < AFTER {
            failed.push(format!("{r:?}"));
        }
        assert!(
            backup_conns.contains(&format!("198.18.0.2:{}", r.local_port)),
            "stream {} was not synced:\n{backup_conns}",
            r.local_port
        );
    }
    let max_gap = reports.iter().map(|r| r.gap).max().unwrap_or_default();
    let during: u32 = reports.iter().map(|r| r.during).sum();
    eprintln!(
        "failover {mode}: {} streams; VIP on dir2 {vip_after:?} after the kill; {during} answers \
         before that; all streams {AFTER}+ answers after, done {took:?} after the kill; \
         longest wait for one answer {max_gap:?}",
        reports.len()
    );
    assert!(
        failed.is_empty(),
        "{} streams broke:\n{}\nnew master daemons: {new_master}",
        failed.len(),
        failed.join("\n")
    );
    assert!(
        vip.contains("198.18.1.100/32"),
        "the VIP did not move to dir2:\n{vip}"
    );
    // dir2 forwarded them: its TCP service counted the streams' packets after the move.
    let inpkts = |t: &str| -> u64 {
        t.lines()
            .find(|l| l.starts_with("TCP  198.18.1.100:80"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        inpkts(&stats_after) >= inpkts(&stats_before) + u64::from(AFTER) * STREAMS as u64,
        "dir2 did not forward the streams:\nbefore:\n{stats_before}\nafter:\n{stats_after}"
    );
    assert!(
        new_master.starts_with("master sync daemon (mcast=eth1, syncid=51"),
        "dir2 did not become the sync master:\n{new_master}"
    );
}

#[test]
fn failover_keeps_nat_streams() {
    let Some(_g) = require("two-director NAT failover") else {
        return;
    };
    failover("nat");
}

#[test]
fn failover_keeps_dr_streams() {
    let Some(_g) = require("two-director DR failover") else {
        return;
    };
    failover("dr");
}

#[test]
fn failover_keeps_fullnat_streams() {
    let Some(_g) = require("two-director FULLNAT failover") else {
        return;
    };
    failover("fullnat");
}
