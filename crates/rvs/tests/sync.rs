//! The connection sync daemons of rvsd over real multicast (root): `rvsadm --start-daemon`
//! / `--stop-daemon` / `-L --daemon` with ipvsadm's errors, a backup installing what a
//! master sends, and a master multicasting the connections of a lab.

mod labkit;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use labkit::{Lab, RVSADM, RVSD, ok, rand_u32, require};
use rvs_sync::wire::{self, SyncConn};

/// Two namespaces `<name>a` and `<name>b` joined by a veth pair `va`/`vb`, deleted on drop.
struct Pair {
    name: String,
}

impl Pair {
    fn new() -> Pair {
        let name = format!("rvsy{:06x}", rand_u32() & 0xff_ffff);
        let p = Pair { name };
        let (a, b) = (p.a(), p.b());
        for ns in [&a, &b] {
            ok(Command::new("ip").args(["netns", "add", ns]));
            ok(Command::new("ip").args(["-n", ns, "link", "set", "lo", "up"]));
            // No DAD: the link-local addresses IPv6 multicast goes out from are usable at once.
            for k in ["all", "default"] {
                ok(Command::new("ip").args([
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{k}.accept_dad=0"),
                ]));
            }
        }
        ok(Command::new("ip").args([
            "-n", &a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b,
        ]));
        for (ns, dev, addr) in [(&a, "va", "198.18.0.1/24"), (&b, "vb", "198.18.0.2/24")] {
            ok(Command::new("ip").args(["-n", ns, "addr", "add", addr, "dev", dev]));
            ok(Command::new("ip").args(["-n", ns, "link", "set", dev, "up"]));
        }
        p
    }

    fn a(&self) -> String {
        format!("{}a", self.name)
    }

    fn b(&self) -> String {
        format!("{}b", self.name)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [self.a(), self.b()] {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }
}

/// Run `f` on a thread that lives in namespace `ns` (sockets it opens belong there).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).expect("netns file");
        // SAFETY: a valid namespace fd; only this thread changes namespace.
        let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("netns thread")
}

/// rvsd in a namespace, control plane only, killed on drop.
struct Rvsd {
    child: Child,
    sock: PathBuf,
    dir: PathBuf,
}

impl Rvsd {
    fn start(ns: &str, rules: &str) -> Rvsd {
        let dir = std::env::temp_dir().join(format!("rvs-sync-{ns}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("rvsd.sock");
        let rules_file = dir.join("rules.txt");
        std::fs::write(&rules_file, rules).unwrap();
        let log = std::fs::File::create(dir.join("rvsd.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, RVSD, "--control"])
            .arg(&sock)
            .arg("--rules")
            .arg(&rules_file)
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let d = Rvsd { child, sock, dir };
        let t0 = Instant::now();
        while !d.sock.exists() {
            assert!(t0.elapsed() < Duration::from_secs(10), "rvsd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn rvsadm(&self, args: &str) -> Output {
        Command::new(RVSADM)
            .env("RVS_SOCKET", &self.sock)
            .args(args.split_whitespace())
            .output()
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("rvsd.log")).unwrap_or_default()
    }
}

impl Drop for Rvsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn conn(cport: u16) -> SyncConn {
    SyncConn {
        protocol: 6,
        flags: 0x3, // DR
        state: 1,
        cport,
        vport: 80,
        dport: 80,
        fwmark: 0,
        timeout: 900,
        caddr: "198.18.5.1".parse().unwrap(),
        vaddr: "198.18.0.100".parse().unwrap(),
        daddr: "198.18.1.11".parse().unwrap(),
        seq: None,
        pe_data: None,
        pe_name: None,
        fullnat: None,
    }
}

fn send_from(ns: &str, dev: &'static str, msgs: Vec<Vec<u8>>) {
    send_to_group(ns, dev, "224.0.0.81:8848", msgs);
}

fn send_to_group(ns: &str, dev: &'static str, group: &'static str, msgs: Vec<Vec<u8>>) {
    in_netns(ns, move || {
        let to: SocketAddr = group.parse().unwrap();
        let dom = if to.is_ipv6() {
            socket2::Domain::IPV6
        } else {
            socket2::Domain::IPV4
        };
        let s = socket2::Socket::new(dom, socket2::Type::DGRAM, None).unwrap();
        s.bind_device(Some(dev.as_bytes())).unwrap();
        if to.is_ipv6() {
            let name = std::ffi::CString::new(dev).unwrap();
            // SAFETY: a valid NUL-terminated name.
            let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
            s.set_multicast_if_v6(idx).unwrap();
            s.set_multicast_hops_v6(1).unwrap();
        } else {
            s.set_multicast_ttl_v4(1).unwrap();
        }
        for m in msgs {
            s.send_to(&m, &to.into()).unwrap();
        }
    });
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

const RULES: &str =
    "-A -t 198.18.0.100:80 -s wlc\n-a -t 198.18.0.100:80 -r 198.18.1.11:80 -g -w 1\n";

#[test]
fn daemon_commands_and_backup_over_multicast() {
    let Some(_g) = require("sync daemon commands") else {
        return;
    };
    let pair = Pair::new();
    let d = Rvsd::start(&pair.b(), RULES);
    assert_eq!(
        text(&d.rvsadm("-L --daemon")),
        (0, String::new(), String::new())
    );
    assert_eq!(
        text(&d.rvsadm("--start-daemon master --mcast-interface nosuchif0")),
        (255, String::new(), "No such device\n".into())
    );
    assert_eq!(
        text(&d.rvsadm("--stop-daemon master")),
        (255, String::new(), "No daemon is running\n".into())
    );
    let o = d.rvsadm("--start-daemon backup --mcast-interface vb --syncid 7");
    assert_eq!(text(&o).0, 0, "{:?}\n{}", text(&o), d.log());
    assert_eq!(
        text(&d.rvsadm("--start-daemon backup --mcast-interface vb")),
        (255, String::new(), "Daemon has already run\n".into())
    );
    assert_eq!(
        text(&d.rvsadm("-L --daemon")).1,
        "backup sync daemon (mcast=vb, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    // Another master's sync id is ignored; ours is installed, bound to the local dest.
    let other = wire::encode_v1(8, 1472, &[conn(40001)]).unwrap();
    let ours = wire::encode_v1(7, 1472, &[conn(40000)]).unwrap();
    send_from(&pair.a(), "va", other);
    send_from(&pair.a(), "va", ours);
    let mut listing = String::new();
    let seen = wait_until(Duration::from_secs(5), || {
        listing = text(&d.rvsadm("-Lnc")).1;
        listing.contains("198.18.5.1:40000")
    });
    assert!(
        seen,
        "backup did not install the entry:\n{listing}\n{}",
        d.log()
    );
    assert!(
        listing.contains(
            "TCP 15:00  ESTABLISHED 198.18.5.1:40000   198.18.0.100:80    198.18.1.11:80"
        ),
        "{listing}"
    );
    assert!(
        !listing.contains(":40001"),
        "syncid 8 must be ignored:\n{listing}"
    );
    let proc_view = text(&d.rvsadm("--proc ip_vs_conn_sync")).1;
    assert!(proc_view.contains(" ESTABLISHED SYNC   "), "{proc_view}");
    let ln = text(&d.rvsadm("-Ln")).1;
    assert!(
        ln.contains("  -> 198.18.1.11:80               Route   1      1          0"),
        "synced conn counted active on the dest:\n{ln}"
    );
    // Both roles at once, then stop each.
    let o = d.rvsadm("--start-daemon master --mcast-interface vb --syncid 7");
    assert_eq!(text(&o).0, 0, "{:?}", text(&o));
    assert_eq!(
        text(&d.rvsadm("-L --daemon")).1,
        "master sync daemon (mcast=vb, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n\
         backup sync daemon (mcast=vb, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    assert_eq!(text(&d.rvsadm("--stop-daemon backup")).0, 0);
    assert_eq!(text(&d.rvsadm("--stop-daemon master")).0, 0);
    assert_eq!(text(&d.rvsadm("-L --daemon")).1, "");
    // An IPv6 group, another port.
    let o = d.rvsadm(
        "--start-daemon backup --mcast-interface vb --mcast-group ff02::81 --mcast-port 8850",
    );
    assert_eq!(text(&o).0, 0, "{:?}\n{}", text(&o), d.log());
    assert_eq!(
        text(&d.rvsadm("-L --daemon")).1,
        "backup sync daemon (mcast=vb, syncid=0, maxlen=1452, group=ff02::81, port=8850, ttl=1)\n"
    );
    let v6 = wire::encode_v1(9, 1452, &[conn(40002)]).unwrap();
    // A new link's IPv6 takes a moment to take multicast: send until it arrives.
    let seen = wait_until(Duration::from_secs(10), || {
        send_to_group(&pair.a(), "va", "[ff02::81]:8850", v6.clone());
        std::thread::sleep(Duration::from_millis(150));
        listing = text(&d.rvsadm("-Lnc")).1;
        listing.contains("198.18.5.1:40002")
    });
    assert!(
        seen,
        "IPv6-group backup did not install the entry:\n{listing}\n{}",
        d.log()
    );
}

/// A multicast listener in `ns` on `dev`: every datagram to 224.0.0.81:8848.
fn listen(ns: &str, dev: &'static str) -> UdpSocket {
    in_netns(ns, move || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.bind_device(Some(dev.as_bytes())).unwrap();
        let at: SocketAddr = "224.0.0.81:8848".parse().unwrap();
        s.bind(&at.into()).unwrap();
        let name = std::ffi::CString::new(dev).unwrap();
        // SAFETY: a valid NUL-terminated name.
        let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert_ne!(idx, 0, "no interface {dev}");
        s.join_multicast_v4_n(
            &"224.0.0.81".parse().unwrap(),
            &socket2::InterfaceIndexOrAddress::Index(idx),
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.into()
    })
}

#[test]
fn master_multicasts_lab_connections() {
    let Some(_g) = require("sync master in a DR lab") else {
        return;
    };
    let lab = Lab::up("dr", &["--servers", "2", "--sched", "wlc"]);
    // The router's br1 is on the director's LAN: listen there.
    let sock = listen(&lab.ns("router"), "br1");
    // Wireshark's IPVS dissector reads the same datagrams, as a second opinion.
    let tshark = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("router"),
            "tshark",
            "-l",
            "-n",
            "-i",
            "br1",
        ])
        .args(["-f", "udp port 8848", "-a", "duration:7", "-T", "fields"])
        .args([
            "-e",
            "ipvs.syncid",
            "-e",
            "ipvs.conncount",
            "-e",
            "ipvs.version",
        ])
        .args([
            "-e",
            "ipvs.caddr",
            "-e",
            "ipvs.cport",
            "-e",
            "ipvs.vaddr",
            "-e",
            "ipvs.vport",
        ])
        .args(["-e", "ipvs.daddr", "-e", "ipvs.dport", "-e", "ipvs.timeout"])
        .args(["-E", "occurrence=a", "-E", "aggregator=,"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok();
    std::thread::sleep(Duration::from_millis(1500));
    let out = lab.rvsadm("--start-daemon master --mcast-interface eth1 --syncid 3");
    assert_eq!(out, "");
    // Ten HTTP requests, each its own connection.
    let tally = lab.tally("http", "198.18.1.100", 10);
    assert_eq!(tally.values().sum::<u64>(), 10, "{tally:?}");
    let conns = lab.rvsadm("-Lnc");
    // A partly filled message goes out at most 2 s after its first entry.
    let mut got: Vec<SyncConn> = Vec::new();
    let mut buf = [0u8; 2048];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(6) && got.len() < 10 {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = wire::decode(&buf[..n]).expect("a valid message");
            assert_eq!(m.syncid, 3);
            got.extend(m.conns);
        }
    }
    assert!(
        got.len() >= 10,
        "got {} entries; conns:\n{conns}",
        got.len()
    );
    for c in &got {
        assert_eq!(c.vaddr, "198.18.1.100".parse::<IpAddr>().unwrap());
        assert_eq!((c.protocol, c.vport, c.flags & 7), (6, 80, 3), "{c:?}");
        assert!(
            conns.contains(&format!("198.18.0.2:{}", c.cport)),
            "{c:?} not in\n{conns}"
        );
    }
    let Some(tshark) = tshark else {
        eprintln!("tshark not found: Wireshark's reading of the messages not compared");
        return;
    };
    let o = tshark.wait_with_output().expect("tshark");
    let fields = String::from_utf8_lossy(&o.stdout);
    let mut seen = Vec::new();
    for line in fields.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<Vec<&str>> = line.split('\t').map(|x| x.split(',').collect()).collect();
        assert_eq!(f.len(), 10, "{line}");
        assert_eq!(
            (f[0][0], f[2][0]),
            ("3", "1"),
            "syncid 3, version 1: {line}"
        );
        let n: usize = f[1][0].parse().expect("conncount");
        assert!(
            f[3..].iter().all(|v| v.len() == n),
            "{n} entries in every column: {line}"
        );
        #[allow(clippy::needless_range_loop)] // i indexes seven columns at once
        for i in 0..n {
            assert_eq!(
                (f[3][i], f[5][i], f[6][i]),
                ("198.18.0.2", "198.18.1.100", "80"),
                "{line}"
            );
            let (cport, daddr, dport, timeout) = (f[4][i], f[7][i], f[8][i], f[9][i]);
            assert!(
                ["198.18.1.11", "198.18.1.12"].contains(&daddr) && dport == "80",
                "{line}"
            );
            assert!(["900", "120", "10"].contains(&timeout), "{line}");
            seen.push((cport.parse::<u16>().expect("cport"), daddr.to_string()));
        }
    }
    // Every entry rvs decoded, Wireshark decoded the same.
    for c in &got {
        assert!(
            seen.contains(&(c.cport, c.daddr.to_string())),
            "Wireshark did not see {c:?}:\n{fields}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
