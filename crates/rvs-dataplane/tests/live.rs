//! Privileged end-to-end test: client ns — director ns — server ns over veth pairs; the
//! Dataplane runs in the director ns with a NAT UDP service, and a datagram from the
//! client to the VIP reaches the server, whose answer comes back to the client.

mod common;

use common::{Netns, Proc, RIP, VIP, gro_on, privileged, sh, suffix, topology};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rvs_core::command::{Command as Cmd, DestConfig, ServiceConfig};
use rvs_core::dest::FwdMethod;
use rvs_core::engine::Engine;
use rvs_core::service::ServiceKey;
use rvs_core::{Director, Protocol, Settings, SplitMix64};
use rvs_dataplane::{Config, Dataplane, DataplaneStats};
use rvs_xdp::XdpMode;

/// The engine: UDP VIP:9000 → NAT RIP:9000, rr.
fn engine() -> Engine {
    let e = Engine::new(Director::new(
        Settings::default(),
        7,
        Box::new(SplitMix64(7)),
    ));
    let e = Arc::new(Mutex::new(e));
    add_service(&e, 9000);
    Arc::try_unwrap(e).unwrap().into_inner().unwrap()
}

/// Add UDP VIP:port → NAT RIP:port.
fn add_service(e: &Mutex<Engine>, port: u16) {
    let mut e = e.lock().unwrap();
    let now = rvs_dataplane::now();
    let key = ServiceKey::Addr {
        proto: Protocol::Udp,
        addr: VIP.parse().unwrap(),
        port,
    };
    let mut s = ServiceConfig::new(key);
    s.scheduler = "rr".into();
    e.director.apply(&Cmd::AddService(s), now).unwrap();
    let mut d = DestConfig::new(RIP.parse().unwrap(), port);
    d.fwd = FwdMethod::Masq;
    e.director.apply(&Cmd::AddDest(key, d), now).unwrap();
}

/// UDP sockets with SO_NO_CHECK: veth leaves checksums to "hardware" (CHECKSUM_PARTIAL),
/// and a frame that went through AF_XDP is a new packet whose checksum nobody completes.
/// Measured: without SO_NO_CHECK the director forwards all 30 datagrams and the server's
/// stack drops every one (bad UDP checksum).
const SERVER: &str = r#"
import socket, select
socks = []
for port in (9000, 9001):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK
    s.bind(("0.0.0.0", port))
    socks.append(s)
seen = set()
while len(seen) < 2:
    r, _, _ = select.select(socks, [], [], 15)
    if not r:
        break
    for s in r:
        d, a = s.recvfrom(2048)
        port = s.getsockname()[1]
        seen.add(port)
        print("got", d.decode(), "on", port, "from", a[0], flush=True)
        s.sendto(b"echo " + d, a)
"#;

const CLIENT: &str = r#"
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK
s.settimeout(0.3)
for i in range(int(sys.argv[2])):
    s.sendto(b"ping%d" % i, ("198.18.0.100", port))
    try:
        d, a = s.recvfrom(2048)
        print("reply", d.decode(), "from", a[0], a[1], flush=True)
        break
    except socket.timeout:
        pass
"#;

#[test]
fn udp_through_the_director_reaches_the_server_and_back_and_refresh_adds_services() {
    if !privileged("udp_through_the_director_reaches_the_server_and_back_and_refresh_adds_services")
    {
        return;
    }
    let (c, d, s) = topology("rvsd");
    // The XDP fast path redirects into these veths: their peers need NAPI.
    gro_on(&c.name);
    gro_on(&s.name);

    // The director: a thread inside its namespace starts the data plane (every thread it
    // spawns inherits the namespace), then serves refresh requests until told to stop.
    let engine = Arc::new(Mutex::new(engine()));
    let (director, msg_tx) = spawn_director(&d.name, &engine);

    let server = Proc(Some(s.python(SERVER, &[])));
    std::thread::sleep(Duration::from_millis(300));
    let (_, cout, cerr) =
        Proc(Some(c.python(CLIENT, &["9000", "30"]))).wait_output(Duration::from_secs(20));
    // A service added after start is not redirected until refresh.
    add_service(&engine, 9001);
    let (_, cout_before, _) =
        Proc(Some(c.python(CLIENT, &["9001", "2"]))).wait_output(Duration::from_secs(20));
    let (done_tx, done_rx) = mpsc::channel();
    msg_tx.send(Msg::Refresh(done_tx)).unwrap();
    let refreshed = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let (_, cout_after, _) =
        Proc(Some(c.python(CLIENT, &["9001", "30"]))).wait_output(Duration::from_secs(20));
    let (stats_tx, stats_rx) = mpsc::channel();
    msg_tx.send(Msg::Stop(stats_tx)).unwrap();
    let stats = stats_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    director.join().unwrap();
    let (_, sout, serr) = server.wait_output(Duration::from_secs(20));
    let counters = engine.lock().unwrap().counters.clone();
    let report = format!(
        "client: {cout} {cerr}\nbefore refresh: {cout_before}\nrefresh: {refreshed}\n\
         after refresh: {cout_after}\nserver: {sout} {serr}\nstats: {stats:#?}\n\
         engine: {counters:?}"
    );
    // The server got the datagram from the client's address (NAT keeps the source)...
    assert!(sout.contains("on 9000 from 198.18.0.2"), "{report}");
    // ...and its answer came back from VIP:9000.
    assert!(
        cout.contains("reply echo ping") && cout.contains(&format!("from {VIP} 9000")),
        "{report}"
    );
    assert!(cout_before.is_empty(), "{report}");
    assert_eq!(refreshed, "Ok(())", "{report}");
    assert!(
        cout_after.contains(&format!("from {VIP} 9001")) && sout.contains("on 9001"),
        "{report}"
    );
    // Four frames each way, forwarded by the worker or, once the flow is installed, by the
    // XDP fast path (then they never reach the worker).
    let cls = stats.classifier.expect("classifier counters");
    assert!(
        stats.rx + cls.fastpath >= 4 && stats.tx + cls.fastpath >= 4,
        "{report}"
    );
    // The first packet of each flow is a service hit; a reply may already take the fast path.
    assert!(
        cls.hit_service >= 2 && cls.hit_reply + cls.fastpath >= 2,
        "{report}"
    );
    // Every frame the worker held for a next hop was sent once the kernel resolved it.
    assert_eq!(stats.unresolved_dropped, 0, "{report}");
    assert_eq!(stats.unresolved_sent, stats.unresolved_held, "{report}");
    assert_eq!(stats.sockets.len(), 2, "{report}");
    assert!(
        stats.sockets.iter().all(|s| !s.zero_copy),
        "veth is copy mode"
    );
    eprintln!("{report}");
}

enum Msg {
    Refresh(mpsc::Sender<String>),
    Stop(mpsc::Sender<DataplaneStats>),
}

/// The director: a thread inside namespace `ns` starts the data plane on `ext` and `int`
/// (every thread it spawns inherits the namespace), then serves [`Msg`]s until told to
/// stop. Panics when the data plane does not start.
fn spawn_director(
    ns: &str,
    engine: &Arc<Mutex<Engine>>,
) -> (std::thread::JoinHandle<()>, mpsc::Sender<Msg>) {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let (msg_tx, msg_rx) = mpsc::channel::<Msg>();
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
        while let Ok(m) = msg_rx.recv_timeout(Duration::from_secs(60)) {
            match m {
                Msg::Refresh(done) => done.send(format!("{:?}", dp.refresh())).unwrap(),
                Msg::Stop(stats) => {
                    stats.send(dp.stats()).unwrap();
                    break;
                }
            }
        }
        dp.shutdown();
    });
    let started = ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    if let Err(e) = started {
        director.join().unwrap();
        panic!("Dataplane::start failed: {e}");
    }
    (director, msg_tx)
}

/// One UDP datagram on port 9000 answered, then exit (20 s at most).
const SERVER_ONCE: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK
s.bind(("0.0.0.0", 9000))
s.settimeout(20)
d, a = s.recvfrom(2048)
print("got", d.decode(), "from", a[0], flush=True)
s.sendto(b"echo " + d, a)
"#;

/// A real server in a subnet the director has no route to at start; the route (via a
/// router) is added while the data plane runs, and traffic flows without a restart.
#[test]
fn a_route_added_while_running_is_followed() {
    if !privileged("a_route_added_while_running_is_followed") {
        return;
    }
    const FAR_RIP: &str = "198.18.3.11";
    let sfx = suffix();
    let c = Netns::new(format!("rvsw{sfx}c"));
    let d = Netns::new(format!("rvsw{sfx}d"));
    let r = Netns::new(format!("rvsw{sfx}r"));
    let s = Netns::new(format!("rvsw{sfx}s"));
    // client eth0 — director ext ; director int — router eth0 ; router eth1 — server eth0
    c.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "ext", "netns", &d.name,
    ]);
    r.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "int", "netns", &d.name,
    ]);
    s.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1", "netns", &r.name,
    ]);
    // The XDP fast path redirects into these veths: their peers need NAPI.
    gro_on(&c.name);
    gro_on(&r.name);
    c.ip(&["addr", "add", "198.18.0.2/24", "dev", "eth0"]);
    c.ip(&["link", "set", "eth0", "up"]);
    c.ip(&["route", "add", "default", "via", "198.18.0.1"]);
    d.ip(&["addr", "add", "198.18.0.1/24", "dev", "ext"]);
    d.ip(&["addr", "add", &format!("{VIP}/32"), "dev", "ext"]);
    d.ip(&["addr", "add", "198.18.1.1/24", "dev", "int"]);
    d.ip(&["link", "set", "ext", "up"]);
    d.ip(&["link", "set", "int", "up"]);
    r.ip(&["addr", "add", "198.18.1.254/24", "dev", "eth0"]);
    r.ip(&["addr", "add", "198.18.3.1/24", "dev", "eth1"]);
    r.ip(&["link", "set", "eth0", "up"]);
    r.ip(&["link", "set", "eth1", "up"]);
    // NAT replies go back through the director.
    r.ip(&["route", "add", "default", "via", "198.18.1.1"]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &r.name,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    s.ip(&["addr", "add", &format!("{FAR_RIP}/24"), "dev", "eth0"]);
    s.ip(&["link", "set", "eth0", "up"]);
    s.ip(&["route", "add", "default", "via", "198.18.3.1"]);

    // UDP VIP:9000 → NAT FAR_RIP:9000.
    let engine = Arc::new(Mutex::new(Engine::new(Director::new(
        Settings::default(),
        7,
        Box::new(SplitMix64(7)),
    ))));
    {
        let mut e = engine.lock().unwrap();
        let now = rvs_dataplane::now();
        let key = ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: VIP.parse().unwrap(),
            port: 9000,
        };
        let mut svc = ServiceConfig::new(key);
        svc.scheduler = "rr".into();
        e.director.apply(&Cmd::AddService(svc), now).unwrap();
        let mut dc = DestConfig::new(FAR_RIP.parse().unwrap(), 9000);
        dc.fwd = FwdMethod::Masq;
        e.director.apply(&Cmd::AddDest(key, dc), now).unwrap();
    }

    let (director, msg_tx) = spawn_director(&d.name, &engine);

    let server = Proc(Some(s.python(SERVER_ONCE, &[])));
    std::thread::sleep(Duration::from_millis(300));
    // No route to the server's subnet yet: nothing comes back.
    let (_, cout_before, _) =
        Proc(Some(c.python(CLIENT, &["9000", "2"]))).wait_output(Duration::from_secs(20));
    let gen_before = engine.lock().unwrap().routes.generation();
    let no_route = engine
        .lock()
        .unwrap()
        .routes
        .lookup(&FAR_RIP.parse().unwrap());
    // The route appears on the director while the data plane runs.
    d.ip(&[
        "route",
        "add",
        "198.18.3.0/24",
        "via",
        "198.18.1.254",
        "dev",
        "int",
    ]);
    let t0 = std::time::Instant::now();
    let mut hop = None;
    while t0.elapsed() < Duration::from_secs(2) && hop.is_none() {
        std::thread::sleep(Duration::from_millis(20));
        hop = engine
            .lock()
            .unwrap()
            .routes
            .lookup(&FAR_RIP.parse().unwrap());
    }
    let swapped_after = t0.elapsed();
    let gen_after = engine.lock().unwrap().routes.generation();
    let (_, cout_after, cerr) =
        Proc(Some(c.python(CLIENT, &["9000", "30"]))).wait_output(Duration::from_secs(20));
    let (stats_tx, stats_rx) = mpsc::channel();
    msg_tx.send(Msg::Stop(stats_tx)).unwrap();
    let stats = stats_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    director.join().unwrap();
    let (_, sout, serr) = server.wait_output(Duration::from_secs(20));
    let counters = engine.lock().unwrap().counters.clone();
    let report = format!(
        "before route: {cout_before}\nno route: {no_route:?}\nhop after {swapped_after:?}: \
         {hop:?}\ngenerations {gen_before} -> {gen_after}\nafter route: {cout_after} {cerr}\n\
         server: {sout} {serr}\nstats: {stats:#?}\nengine: {counters:?}"
    );
    assert!(cout_before.is_empty(), "{report}");
    assert_eq!(no_route, None, "{report}");
    let hop = hop.unwrap_or_else(|| panic!("route not followed within 2 s\n{report}"));
    assert_eq!(
        hop.next_hop,
        "198.18.1.254".parse::<std::net::IpAddr>().unwrap(),
        "{report}"
    );
    assert!(gen_after > gen_before, "{report}");
    assert!(sout.contains("from 198.18.0.2"), "{report}");
    assert!(
        cout_after.contains("reply echo ping") && cout_after.contains(&format!("from {VIP} 9000")),
        "{report}"
    );
    eprintln!("{report}");
}
