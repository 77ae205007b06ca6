//! Privileged end-to-end test of the XDP fast path: client ns — director ns — server ns
//! over veth pairs, a NAT UDP service; a stream of 400 datagrams (each answered) flows,
//! most of it forwarded in XDP (the `fastpath` counter), and the director's counters —
//! what `ipvsadm -Ln --stats` shows — count every packet and byte exactly as the
//! userspace path would. A one-way stream (nothing answered) is taken over too, the
//! fast path resolving the client's MAC itself; and a pinned restart keeps a stream going.
//!
//! The veth peers (client and server eth0) run `rvs_decap` as a pass program: a veth
//! drops frames sent to it with XDP_TX or a redirect unless its peer has an XDP program.

mod common;

use common::{Netns, Proc, RIP, VIP, gro_on, privileged, sh, suffix, topology};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rvs_core::command::{Command as Cmd, DestConfig, ServiceConfig};
use rvs_core::dest::FwdMethod;
use rvs_core::engine::Engine;
use rvs_core::service::ServiceKey;
use rvs_core::stats::Counters;
use rvs_core::{Director, Protocol, Settings, SplitMix64};
use rvs_dataplane::{Config, Dataplane, DataplaneStats};
use rvs_xdp::XdpMode;

const N: usize = 400;

fn engine() -> Engine {
    let mut e = Engine::new(Director::new(
        Settings::default(),
        7,
        Box::new(SplitMix64(7)),
    ));
    let now = rvs_dataplane::now();
    let key = ServiceKey::Addr {
        proto: Protocol::Udp,
        addr: VIP.parse().unwrap(),
        port: 9000,
    };
    let mut s = ServiceConfig::new(key);
    s.scheduler = "rr".into();
    e.director.apply(&Cmd::AddService(s), now).unwrap();
    let mut d = DestConfig::new(RIP.parse().unwrap(), 9000);
    d.fwd = FwdMethod::Masq;
    e.director.apply(&Cmd::AddDest(key, d), now).unwrap();
    e
}

/// Echo every datagram until 5 s without one; print how many were answered.
const SERVER: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK
s.bind(("0.0.0.0", 9000))
s.settimeout(5)
n = 0
try:
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(b"echo " + d, a)
        n += 1
except socket.timeout:
    pass
print("answered", n, flush=True)
"#;

/// Send N datagrams of 7 bytes, each waiting up to 0.5 s for its echo (5 ms apart).
const CLIENT: &str = r#"
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK
s.bind(("0.0.0.0", 40000))
s.settimeout(0.5)
got = 0
for i in range(n):
    s.sendto(b"ping%03d" % i, ("198.18.0.100", 9000))
    try:
        d, a = s.recvfrom(2048)
        if d == b"echo ping%03d" % i and a == ("198.18.0.100", 9000):
            got += 1
    except socket.timeout:
        pass
    time.sleep(0.005)
print("replies", got, flush=True)
"#;

/// Attach `rvs_decap` (passes everything that is not a tunnel) to `eth0` in `ns`.
fn pass_program(ns: &str) {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a valid namespace fd; only this thread changes namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        rvs_xdp::decap::attach("eth0", XdpMode::Auto, &[]).unwrap();
    })
    .join()
    .unwrap();
}

/// The common topology with NAPI on the peers, as described at the top.
fn napi_topology() -> (Netns, Netns, Netns) {
    let (c, d, s) = topology("rvsf");
    pass_program(&c.name);
    gro_on(&s.name);
    (c, d, s)
}

/// The number after `word` in a program's output (0 when absent).
fn count(out: &str, word: &str) -> usize {
    out.split_whitespace()
        .skip_while(|x| *x != word)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What [`stream`] left: the data plane's stats, the engine, the client's and the
/// server's output (stdout, stderr).
struct Run {
    stats: DataplaneStats,
    engine: Arc<Mutex<Engine>>,
    client: (String, String),
    server: (String, String),
}

/// The data plane in `d` over a fresh [`engine`], `server` (Python) in `s`, then `client`
/// in `c` with argument N; two sync periods after the client ends (the last XDP counters
/// merged), the data plane stops.
fn stream(c: &Netns, d: &Netns, s: &Netns, server: &str, client: &str) -> Run {
    let engine = Arc::new(Mutex::new(engine()));
    let (director, stop_tx) = spawn_director(&d.name, &engine, None, false);
    let srv = Proc(Some(s.python(server, &[])));
    std::thread::sleep(Duration::from_millis(300));
    let (_, cout, cerr) =
        Proc(Some(c.python(client, &[&N.to_string()]))).wait_output(Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(600));
    let (stats_tx, stats_rx) = mpsc::channel();
    stop_tx.send(stats_tx).unwrap();
    let stats: DataplaneStats = stats_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    director.join().unwrap();
    let (_, sout, serr) = srv.wait_output(Duration::from_secs(20));
    Run {
        stats,
        engine,
        client: (cout, cerr),
        server: (sout, serr),
    }
}

/// A private bpffs mounted on a fresh directory under /tmp, unmounted and removed on drop.
struct Bpffs(std::path::PathBuf);

impl Bpffs {
    fn new() -> Bpffs {
        let dir = std::env::temp_dir().join(format!("rvsbpf{}", suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        sh(&["mount", "-t", "bpf", "bpf", dir.to_str().unwrap()]);
        Bpffs(dir)
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// rvsd restarts (the data plane stops, a new one with a new, empty engine starts) in
/// the middle of a UDP stream: with the maps and links pinned, the stream's packets keep
/// flowing in XDP through the gap and after, none is lost, and the new engine adopts the
/// connection and counts its packets.
#[test]
fn a_stream_keeps_flowing_across_a_restart_with_pinned_maps() {
    if !privileged("a_stream_keeps_flowing_across_a_restart_with_pinned_maps") {
        return;
    }
    const M: usize = 600;
    let (c, d, s) = napi_topology();
    let fs = Bpffs::new();
    let pin = fs.0.join("rvs").join("test");
    let first = Arc::new(Mutex::new(engine()));
    let (director, stop_tx) = spawn_director(&d.name, &first, Some(pin.clone()), false);
    let server = Proc(Some(s.python(SERVER, &[])));
    std::thread::sleep(Duration::from_millis(300));
    let client = Proc(Some(c.python(CLIENT, &[&M.to_string()])));
    std::thread::sleep(Duration::from_millis(1200));
    let (tx, rx) = mpsc::channel();
    stop_tx.send(tx).unwrap();
    let before: DataplaneStats = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    director.join().unwrap();
    let pins: Vec<String> = std::fs::read_dir(&pin)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // The old program forwards alone for a while.
    std::thread::sleep(Duration::from_millis(500));
    let second = Arc::new(Mutex::new(engine()));
    let (director, stop_tx) = spawn_director(&d.name, &second, Some(pin.clone()), true);
    let (_, cout, cerr) = client.wait_output(Duration::from_secs(60));
    let (tx, rx) = mpsc::channel();
    stop_tx.send(tx).unwrap();
    let after: DataplaneStats = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    director.join().unwrap();
    let (_, sout, serr) = server.wait_output(Duration::from_secs(20));
    let fp = |s: &DataplaneStats| s.classifier.map_or(0, |c| c.fastpath);
    let report = format!(
        "client: {cout} {cerr}\nserver: {sout} {serr}\npins {pins:?}\nfirst run fast path {} \
         (worker rx {}), at the end {} (counters pinned)\nsecond engine: {:?}",
        fp(&before),
        before.rx,
        fp(&after),
        second.lock().unwrap().counters
    );
    eprintln!("{report}");
    for p in [
        "rvs_flows",
        "rvs_flow_stats",
        "rvs_tx_ports",
        "rvs_counters",
        "link_ext",
        "link_int",
    ] {
        assert!(pins.iter().any(|x| x == p), "{p} pinned: {report}");
    }
    assert_eq!(count(&cout, "replies"), M, "{report}");
    // Every packet went through the first worker (before its flow was installed) or
    // through XDP: the pinned counters went on counting across the restart, and the
    // stream never reached the second engine.
    assert!(fp(&after) > fp(&before), "{report}");
    assert!(fp(&after) + before.rx >= 2 * M as u64, "{report}");
    assert!(second.lock().unwrap().counters.rx <= 4, "{report}");
    // The second engine adopted the flow's connection and counts its packets.
    let e2 = second.lock().unwrap();
    let c2 = e2.director.stats.counters();
    assert_eq!(e2.director.conns.len(), 1, "{report}");
    assert_eq!(c2.conns, 0, "adopted, not new: {c2:?}");
    assert!(c2.inpkts >= 100 && c2.outpkts >= 100, "{c2:?} {report}");
    drop(e2);
    // Unpinned at the end: the directory is gone.
    assert!(!pin.exists(), "{report}");
}

#[test]
fn a_udp_stream_goes_through_the_fast_path_and_the_stats_stay_exact() {
    if !privileged("a_udp_stream_goes_through_the_fast_path_and_the_stats_stay_exact") {
        return;
    }
    let (c, d, s) = napi_topology();
    let Run {
        stats,
        engine,
        client: (cout, cerr),
        server: (sout, serr),
    } = stream(&c, &d, &s, SERVER, CLIENT);
    let e = engine.lock().unwrap();
    let total: Counters = e.director.stats.counters();
    let (_, svc) = e.director.table.services().next().unwrap();
    let svc_c = svc.stats.counters();
    let dest_c = e
        .director
        .table
        .dest(svc.dests[0])
        .unwrap()
        .stats
        .counters();
    let report = format!(
        "client: {cout} {cerr}\nserver: {sout} {serr}\nstats: {stats:#?}\n\
         engine: {:?}\ntotal {total:?}\nservice {svc_c:?}\ndest {dest_c:?}",
        e.counters
    );
    let replies = count(&cout, "replies");
    let answered = count(&sout, "answered");
    assert!(replies >= N - 5, "{report}");
    let cls = stats.classifier.expect("classifier counters");
    // Most of the stream never reached userspace.
    assert!(
        cls.fastpath as usize >= N,
        "fast path took {} {report}",
        cls.fastpath
    );
    assert!(e.counters.rx < (2 * N as u64) / 4, "{report}");
    // Every datagram counted once, in XDP or in the engine: 35-byte requests in,
    // 40-byte echoes out, in the totals, the service and the dest.
    for c in [total, svc_c, dest_c] {
        assert_eq!(
            (c.conns, c.inpkts, c.inbytes),
            (1, N as u64, 35 * N as u64),
            "{report}"
        );
        assert_eq!(
            (c.outpkts, c.outbytes),
            (answered as u64, 40 * answered as u64),
            "{report}"
        );
    }
    eprintln!("{report}");
}

/// Count datagrams until 3 s without one; never answer.
const SINK: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
s.settimeout(3)
n = 0
try:
    while True:
        s.recvfrom(2048)
        n += 1
except socket.timeout:
    pass
print("received", n, flush=True)
"#;

/// Send N datagrams 5 ms apart, expecting nothing back.
const ONE_WAY: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK
s.bind(("0.0.0.0", 40001))
for i in range(int(sys.argv[1])):
    s.sendto(b"log%04d" % i, ("198.18.0.100", 9000))
    time.sleep(0.005)
print("sent", flush=True)
"#;

/// A one-way UDP stream through NAT (a syslog or NetFlow collector behind the director):
/// nothing ever goes back to the client, so nothing resolves the client's MAC, which the
/// reply entry needs. The fast path resolves it itself and takes the stream over.
#[test]
fn a_one_way_udp_stream_through_nat_goes_through_the_fast_path() {
    if !privileged("a_one_way_udp_stream_through_nat_goes_through_the_fast_path") {
        return;
    }
    let (c, d, s) = napi_topology();
    // The client knows the director's MAC without asking (the VIP is on its link): the
    // director never learns the client's from an ARP request.
    let mac = Command::new("ip")
        .args([
            "netns",
            "exec",
            &d.name,
            "cat",
            "/sys/class/net/ext/address",
        ])
        .output()
        .unwrap();
    let mac = String::from_utf8_lossy(&mac.stdout).trim().to_string();
    for a in ["198.18.0.1", VIP] {
        c.ip(&[
            "neigh",
            "replace",
            a,
            "lladdr",
            &mac,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ]);
    }
    let Run {
        stats,
        engine,
        client: (cout, cerr),
        server: (sout, serr),
    } = stream(&c, &d, &s, SINK, ONE_WAY);
    let e = engine.lock().unwrap();
    let total = e.director.stats.counters();
    let report = format!(
        "client: {cout} {cerr}
server: {sout} {serr}
stats: {stats:#?}
total {total:?}"
    );
    eprintln!("{report}");
    assert_eq!(count(&sout, "received"), N, "{report}");
    let fast = stats.classifier.expect("classifier counters").fastpath as usize;
    assert!(fast >= N / 2, "fast path took {fast} of {N}: {report}");
    assert_eq!((total.inpkts, total.outpkts), (N as u64, 0), "{report}");
    // Measured without the resolution (FastSync::take_unresolved ignored): 0 of 400.
}

/// A thread inside `ns` runs the data plane on `ext` and `int` until told to stop.
fn spawn_director(
    ns: &str,
    engine: &Arc<Mutex<Engine>>,
    pin_dir: Option<std::path::PathBuf>,
    unpin: bool,
) -> (
    std::thread::JoinHandle<()>,
    mpsc::Sender<mpsc::Sender<DataplaneStats>>,
) {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let (msg_tx, msg_rx) = mpsc::channel::<mpsc::Sender<DataplaneStats>>();
    let path = format!("/run/netns/{ns}");
    let e2 = Arc::clone(engine);
    let director = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a valid namespace fd; only this thread changes namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let cfg = Config {
            interfaces: vec!["ext".into(), "int".into()],
            mode: XdpMode::Auto,
            frames: 256,
            pin_dir,
            ..Default::default()
        };
        let dp = match Dataplane::start(cfg, e2) {
            Ok(dp) => {
                ready_tx.send(Ok(())).unwrap();
                dp
            }
            Err(e) => {
                ready_tx.send(Err(format!("{e:?}"))).unwrap();
                return;
            }
        };
        if let Ok(stats) = msg_rx.recv_timeout(Duration::from_secs(120)) {
            stats.send(dp.stats()).unwrap();
        }
        if unpin {
            dp.shutdown_and_unpin();
        } else {
            dp.shutdown();
        }
    });
    let started = ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    if let Err(e) = started {
        director.join().unwrap();
        panic!("Dataplane::start failed: {e}");
    }
    (director, msg_tx)
}
