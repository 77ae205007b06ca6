//! Attach, replace and detach on a veth pair in a throwaway network namespace.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

use common::privileged;
use rvs_xdp::{Classifier, XdpMode, decap};

/// A network namespace `rvsx<random>` with a veth pair `va`/`vb`, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let mut r = [0u8; 4];
        File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut r))
            .unwrap();
        let name = format!("rvsx{:08x}", u32::from_ne_bytes(r));
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ns.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
        ns.ip(&["link", "set", "va", "up"]);
        ns.ip(&["link", "set", "vb", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut a = vec!["-n", &self.0];
        a.extend_from_slice(args);
        ip(&a)
    }

    /// `ip -d link show dev` output.
    fn link(&self, dev: &str) -> String {
        self.ip(&["-d", "link", "show", "dev", dev])
    }

    /// Run `f` on a thread inside the namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let ns = File::open(&path).unwrap();
            // SAFETY: a valid namespace fd; affects only this thread.
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The XDP program id `ip -d link` shows (None = no program).
fn prog_id(link: &str) -> Option<u32> {
    let i = link.find("prog/xdp id ")?;
    link[i + 12..].split_whitespace().next()?.parse().ok()
}

/// " xdp " (native) or " xdpgeneric " in the flags line.
fn shown_mode(link: &str) -> Option<&'static str> {
    let first = link.lines().next().unwrap_or_default();
    if first.contains(" xdpgeneric") {
        Some("generic")
    } else if first.contains(" xdp ") || first.contains(" xdp/") {
        Some("native")
    } else {
        None
    }
}

#[test]
fn classifier_attach_replace_detach() {
    if !privileged("XDP attach in a netns") {
        return;
    }
    let ns = Netns::new();
    assert_eq!(prog_id(&ns.link("va")), None);

    let c1 = ns.run(|| {
        let mut c = Classifier::load().unwrap();
        assert_eq!(c.attach("va", XdpMode::Native).unwrap(), XdpMode::Native);
        c
    });
    let l = ns.link("va");
    assert_eq!(shown_mode(&l), Some("native"), "{l}");
    let id1 = prog_id(&l).unwrap();

    // A second classifier replaces the first one's link.
    let c2 = ns.run(|| {
        let mut c = Classifier::load().unwrap();
        assert_eq!(c.attach("va", XdpMode::Auto).unwrap(), XdpMode::Native);
        c
    });
    let id2 = prog_id(&ns.link("va")).unwrap();
    assert_ne!(id1, id2, "replaced");
    // The first one going away does not take the second one's program with it.
    drop(c1);
    assert_eq!(prog_id(&ns.link("va")), Some(id2));
    // detach_all removes it; drop after that is harmless.
    let mut c2 = c2;
    c2.detach_all();
    assert_eq!(prog_id(&ns.link("va")), None, "{}", ns.link("va"));
    drop(c2);

    // Generic mode; Drop detaches.
    let c3 = ns.run(|| {
        let mut c = Classifier::load().unwrap();
        assert_eq!(c.attach("vb", XdpMode::Generic).unwrap(), XdpMode::Generic);
        c
    });
    assert_eq!(shown_mode(&ns.link("vb")), Some("generic"));
    drop(c3);
    assert_eq!(prog_id(&ns.link("vb")), None);
}

#[test]
fn classifier_replaces_a_netlink_attached_leftover() {
    if !privileged("XDP attach in a netns") {
        return;
    }
    let ns = Netns::new();
    // A netlink attachment (as `ip link set dev va xdpgeneric obj ...` makes) survives
    // its process; rvs_decap is attached that way.
    ns.run(|| decap::attach("va", XdpMode::Generic, &[]).unwrap());
    let old = prog_id(&ns.link("va")).unwrap();
    assert_eq!(shown_mode(&ns.link("va")), Some("generic"));
    let c = ns.run(|| {
        let mut c = Classifier::load().unwrap();
        assert_eq!(c.attach("va", XdpMode::Auto).unwrap(), XdpMode::Native);
        c
    });
    let l = ns.link("va");
    assert_eq!(shown_mode(&l), Some("native"), "{l}");
    assert_ne!(prog_id(&l), Some(old));
    drop(c);
    assert_eq!(prog_id(&ns.link("va")), None);
}

#[test]
fn decap_outlives_its_process_and_detaches() {
    if !privileged("XDP attach in a netns") {
        return;
    }
    let ns = Netns::new();
    assert!(
        !ns.run(|| decap::detach("va").unwrap()),
        "nothing there yet"
    );
    // attach() drops its loader before returning: the program stays on the interface.
    assert_eq!(
        ns.run(|| decap::attach("va", XdpMode::Auto, &[6080]).unwrap()),
        XdpMode::Native
    );
    let id1 = prog_id(&ns.link("va")).unwrap();
    assert_eq!(
        ns.run(|| decap::attached("va").unwrap()),
        Some(XdpMode::Native)
    );
    // Attaching again replaces it (also across modes).
    assert_eq!(
        ns.run(|| decap::attach("va", XdpMode::Generic, &[6080, 6081]).unwrap()),
        XdpMode::Generic
    );
    let l = ns.link("va");
    assert_eq!(shown_mode(&l), Some("generic"), "{l}");
    assert_ne!(prog_id(&l), Some(id1));
    assert!(ns.run(|| decap::detach("va").unwrap()));
    assert_eq!(prog_id(&ns.link("va")), None);
    assert!(!ns.run(|| decap::detach("va").unwrap()));

    // detach leaves a program that is not rvs_decap alone.
    let c = ns.run(|| {
        let mut c = Classifier::load().unwrap();
        c.attach("vb", XdpMode::Native).unwrap();
        c
    });
    assert!(!ns.run(|| decap::detach("vb").unwrap()));
    assert!(prog_id(&ns.link("vb")).is_some());
    drop(c);
}

#[test]
fn unknown_interface_is_a_typed_error() {
    if !privileged("XDP attach in a netns") {
        return;
    }
    let ns = Netns::new();
    let e = ns.run(|| {
        let mut c = Classifier::load().unwrap();
        c.attach("nosuchif0", XdpMode::Auto)
            .unwrap_err()
            .to_string()
    });
    assert!(e.contains("nosuchif0"), "{e}");
    assert!(ns.run(|| decap::detach("nosuchif0").is_err()));
}

#[test]
fn live_frames_are_classified_on_the_attached_interface() {
    if !privileged("XDP attach in a netns") {
        return;
    }
    let ns = Netns::new();
    // va sends, vb receives with the classifier on it.
    let vb_mac = {
        let l = ns.link("vb");
        let i = l.find("link/ether ").unwrap();
        l[i + 11..i + 28].to_string()
    };
    ns.ip(&["addr", "add", "198.18.9.1/24", "dev", "va"]);
    ns.ip(&[
        "neigh",
        "add",
        "198.18.9.100",
        "lladdr",
        &vb_mac,
        "dev",
        "va",
        "nud",
        "permanent",
    ]);
    let c = ns.run(|| {
        let mut c = Classifier::load().unwrap();
        c.attach("vb", XdpMode::Auto).unwrap();
        let mut classes = rvs_xdp::Classes::default();
        classes
            .services
            .insert(("198.18.9.100".parse().unwrap(), 17, 80));
        c.set_classes(&classes).unwrap();
        let s = std::net::UdpSocket::bind("198.18.9.1:0").unwrap();
        for port in [80, 80, 80, 81] {
            s.send_to(b"x", ("198.18.9.100", port)).unwrap();
        }
        c
    });
    // Delivery through the veth is asynchronous: wait (bounded) for the counters.
    let mut got = c.counters().unwrap();
    for _ in 0..100 {
        if got.hit_service >= 3 && got.not_ours >= 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        got = c.counters().unwrap();
    }
    assert_eq!(got.hit_service, 3, "{got:?}");
    // No socket is registered for vb's queue: the hits went to the kernel.
    assert_eq!(got.no_xsk, 3, "{got:?}");
    assert_eq!(got.redirected, 0);
    assert!(got.not_ours >= 1, "{got:?}");
}

#[test]
fn register_xsk_rejects_a_socket_that_is_not_af_xdp() {
    if !privileged("classifier load") {
        return;
    }
    let mut c = Classifier::load().unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(c.register_xsk(1, 0, udp.as_raw_fd()).is_err());
    assert!(!c.unregister_xsk(1, 0).unwrap(), "nothing was registered");
}

/// A 60-byte UDP/IPv4 frame to port 9000 without a UDP checksum.
fn bench_frame() -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([198, 18, 20, 2], [198, 18, 20, 100], 64)
        .udp(10_000, 9000)
        .write(&mut f, &[b'x'; 18])
        .unwrap();
    f[40..42].copy_from_slice(&[0, 0]);
    f
}

#[test]
fn the_bench_generator_reaches_the_sink_directly_and_through_the_wire() {
    if !privileged("bench generator and sink") {
        return;
    }
    let ns = Netns::new();
    ns.ip(&["link", "add", "vc", "type", "veth", "peer", "name", "vd"]);
    ns.ip(&["link", "set", "vc", "up"]);
    ns.ip(&["link", "set", "vd", "up"]);
    let (direct, wired, other) = ns.run(|| {
        use rvs_xdp::bench::{Generator, Sink, Wire};
        let f = bench_frame();
        // va → vb: every frame the generator sends is counted once.
        let sink = Sink::attach("vb", 9000).unwrap();
        let mut g = Generator::new("va", &f, 10_000, 8).unwrap();
        g.send(&f, 10_000).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let direct = sink.count().unwrap();
        drop(sink);
        // va → vb (wire) → vc → vd.
        let sink = Sink::attach("vd", 9000).unwrap();
        let _w = Wire::attach("vb", "vc", [2, 0, 0, 0, 0, 3], [2, 0, 0, 0, 0, 4]).unwrap();
        g.send(&f, 5_000).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let wired = sink.count().unwrap();
        // Another port is not counted.
        let mut f2 = f.clone();
        f2[36..38].copy_from_slice(&9001u16.to_be_bytes());
        let mut g2 = Generator::new("va", &f2, 10_000, 8).unwrap();
        g2.send(&f2, 100).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        (direct, wired, sink.count().unwrap())
    });
    assert_eq!(direct, (10_000, 600_000), "(packets, bytes) at the sink");
    assert_eq!(wired, (5_000, 300_000));
    assert_eq!(other, wired, "UDP to another port passes uncounted");
}
