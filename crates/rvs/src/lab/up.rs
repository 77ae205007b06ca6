//! `rvs lab up|down|status|exec`: building the namespaces, links, addresses, routes,
//! balancer and servers of a lab, and taking them away again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};

use super::procs;
use super::sys::{self, ipn, sysctl};
use super::topo::{Balancer, GUE_PORT, LIP4, LIP6, LabConfig, Mode, TunType, VIP4, VIP6, VRID_VIP};

/// Root of the labs' state directories.
pub const STATE_ROOT: &str = "/run/rvs/lab";

/// State directory of lab `name`.
pub fn state_dir(name: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(name)
}

/// The executables a lab runs.
#[derive(Debug, Clone)]
pub struct Exes {
    /// This `rvs` (servers, rs-setup, ctl).
    pub rvs: PathBuf,
    /// rvsd (only needed with `--balancer rvs`).
    pub rvsd: PathBuf,
}

impl Exes {
    /// `rvs` = the running executable; rvsd = `over` or the `rvsd` next to it.
    pub fn locate(over: Option<&Path>) -> Result<Exes> {
        let rvs = std::env::current_exe().context("finding the running rvs executable")?;
        let rvsd = match over {
            Some(p) => p.to_path_buf(),
            None => rvs
                .parent()
                .map(|d| d.join("rvsd"))
                .unwrap_or_else(|| PathBuf::from("rvsd")),
        };
        Ok(Exes { rvs, rvsd })
    }
}

/// Node suffixes that belong to a lab: client, router, dir, dir2, rsN.
pub fn is_node(suffix: &str) -> bool {
    matches!(suffix, "client" | "router" | "dir" | "dir2")
        || suffix
            .strip_prefix("rs")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Existing namespaces of lab `name`.
pub fn lab_namespaces(name: &str) -> Result<Vec<String>> {
    let prefix = format!("{name}-");
    Ok(sys::netns_list()?
        .into_iter()
        .filter(|n| n.strip_prefix(&prefix).is_some_and(is_node))
        .collect())
}

/// Builds the lab; on any failure removes what it made and returns the error.
pub fn up(cfg: &LabConfig, exes: &Exes) -> Result<()> {
    cfg.validate()?;
    if cfg.balancer == Balancer::Rvs && !exes.rvsd.is_file() {
        bail!(
            "rvsd not found at {} (build it: cargo build -p rvs --bin rvsd, or pass --rvsd PATH)",
            exes.rvsd.display()
        );
    }
    let existing = lab_namespaces(&cfg.name)?;
    if !existing.is_empty() {
        bail!(
            "lab {} already exists ({}); run `rvs lab down --name {}` first",
            cfg.name,
            existing.join(", "),
            cfg.name
        );
    }
    let dir = state_dir(&cfg.name);
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing stale {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let r = build(cfg, exes, &dir);
    if let Err(e) = r {
        if let Err(d) = down(&cfg.name, exes) {
            eprintln!("cleanup after failed `lab up` also failed: {d:#}");
        }
        return Err(e.context(format!("rvs lab up {} failed (cleaned up)", cfg.name)));
    }
    Ok(())
}

fn build(cfg: &LabConfig, exes: &Exes, dir: &Path) -> Result<()> {
    fs::write(dir.join("lab.json"), serde_json::to_string_pretty(cfg)?)?;
    if cfg.pin {
        // A bpffs of the lab's own (`ip netns exec` hides /sys/fs/bpf from rvsd).
        let bpf = dir.join("bpf");
        fs::create_dir_all(&bpf)?;
        sys::run("mount", &["-t", "bpf", "bpf", &bpf.to_string_lossy()])?;
    }
    let (c, r, d) = (cfg.ns("client"), cfg.ns("router"), cfg.ns("dir"));
    for ns in cfg.all_ns() {
        sys::ip(&["netns", "add", &ns])?;
        // No duplicate address detection on the links made below (their link-local
        // addresses would be tentative for a second or two and the first ND exchanges lost).
        sysctl(&ns, "net.ipv6.conf.all.accept_dad", "0")?;
        sysctl(&ns, "net.ipv6.conf.default.accept_dad", "0")?;
        ipn(&ns, &["link", "set", "lo", "up"])?;
    }
    // Router: bridges and the veth pairs to every node.
    for br in ["br1", "br2"] {
        ipn(
            &r,
            &["link", "add", br, "type", "bridge", "mcast_snooping", "0"],
        )?;
        ipn(&r, &["link", "set", br, "up"])?;
    }
    let server_br = if cfg.server_lan() { "br2" } else { "br1" };
    let mut links: Vec<(String, &str, String, &str, Option<&str>)> = vec![
        (r.clone(), "eth0", c.clone(), "eth0", None),
        (r.clone(), "dir1", d.clone(), "eth1", Some("br1")),
    ];
    if cfg.server_lan() {
        links.push((r.clone(), "dir2", d.clone(), "eth2", Some("br2")));
    }
    let d2 = cfg.ns("dir2");
    if cfg.directors == 2 {
        links.push((r.clone(), "d2e1", d2.clone(), "eth1", Some("br1")));
        if cfg.server_lan() {
            links.push((r.clone(), "d2e2", d2.clone(), "eth2", Some("br2")));
        }
    }
    let rs_links: Vec<String> = (1..=cfg.servers).map(|n| format!("rs{n}")).collect();
    for (n, l) in (1..=cfg.servers).zip(&rs_links) {
        links.push((r.clone(), l.as_str(), cfg.rs_ns(n), "eth0", Some(server_br)));
    }
    for (ns_a, a, ns_b, b, br) in &links {
        ipn(
            ns_a,
            &[
                "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns_b,
            ],
        )?;
        if let Some(br) = br {
            ipn(ns_a, &["link", "set", a, "master", br])?;
        }
        ipn(ns_a, &["link", "set", a, "up"])?;
        ipn(ns_b, &["link", "set", b, "up"])?;
    }
    // Full checksums on every veth end (see ethtool.rs).
    let mut per_ns: Vec<(String, Vec<&str>)> = Vec::new();
    for (ns_a, a, ns_b, b, _) in &links {
        for (ns, i) in [(ns_a, *a), (ns_b, *b)] {
            match per_ns.iter_mut().find(|(n, _)| n == ns) {
                Some((_, v)) => v.push(i),
                None => per_ns.push((ns.clone(), vec![i])),
            }
        }
    }
    let rvs = exes.rvs.to_string_lossy().into_owned();
    for (ns, ifs) in &per_ns {
        let mut args = vec!["lab", "tx-csum-off"];
        args.extend(ifs.iter().copied());
        sys::nsexec(ns, &rvs, &args)?;
    }
    // GRO (so NAPI) on the router's ends of the director's links: rvsd's XDP fast path
    // sends frames into the director's veths with XDP_TX or a redirect, which a veth
    // drops unless its peer runs NAPI.
    let mut peers = vec!["lab", "gro-on", "dir1"];
    if cfg.server_lan() {
        peers.push("dir2");
    }
    if cfg.directors == 2 {
        peers.push("d2e1");
        if cfg.server_lan() {
            peers.push("d2e2");
        }
    }
    sys::nsexec(&r, &rvs, &peers)?;
    // Addresses and routes.
    let addr = |ns: &str, dev: &str, a: &str| -> Result<()> {
        if a.contains(':') {
            ipn(ns, &["-6", "addr", "add", a, "dev", dev, "nodad"])?;
        } else {
            ipn(ns, &["addr", "add", a, "dev", dev])?;
        }
        Ok(())
    };
    let route = |ns: &str, dst: &str, via: &str| -> Result<()> {
        let fam = if via.contains(':') { "-6" } else { "-4" };
        ipn(ns, &[fam, "route", "add", dst, "via", via])?;
        Ok(())
    };
    addr(&c, "eth0", "198.18.0.2/24")?;
    addr(&c, "eth0", "fd00::2/64")?;
    route(&c, "default", "198.18.0.1")?;
    route(&c, "default", "fd00::1")?;
    addr(&r, "eth0", "198.18.0.1/24")?;
    addr(&r, "eth0", "fd00::1/64")?;
    addr(&r, "br1", "198.18.1.1/24")?;
    addr(&r, "br1", "fd00:1::1/64")?;
    addr(&d, "eth1", "198.18.1.2/24")?;
    addr(&d, "eth1", "fd00:1::2/64")?;
    route(&d, "default", "198.18.1.1")?;
    route(&d, "default", "fd00:1::1")?;
    if cfg.directors == 2 {
        addr(&d2, "eth1", "198.18.1.3/24")?;
        addr(&d2, "eth1", "fd00:1::3/64")?;
        route(&d2, "default", "198.18.1.1")?;
        route(&d2, "default", "fd00:1::1")?;
        if cfg.server_lan() {
            // The gateway 198.18.2.1 is VRRP's (see keepalived_conf); no IPv6 gateway.
            addr(&d, "eth2", &format!("{}/24", cfg.dir_lan2_addr4(1)))?;
            addr(&d, "eth2", "fd00:2::4/64")?;
            addr(&d2, "eth2", &format!("{}/24", cfg.dir_lan2_addr4(2)))?;
            addr(&d2, "eth2", "fd00:2::5/64")?;
            route(&r, "198.18.2.0/24", "198.18.1.2")?;
            route(&r, "fd00:2::/64", "fd00:1::2")?;
        }
    } else if cfg.server_lan() {
        addr(&d, "eth2", "198.18.2.1/24")?;
        addr(&d, "eth2", "fd00:2::1/64")?;
        if cfg.mode == Mode::Fullnat && cfg.balancer == Balancer::Rvs {
            addr(&d, "eth2", &format!("{LIP4}/24"))?;
            addr(&d, "eth2", &format!("{LIP6}/64"))?;
        }
        // The router reaches the server LAN through the director (plain routing, `none`).
        route(&r, "198.18.2.0/24", "198.18.1.2")?;
        route(&r, "fd00:2::/64", "fd00:1::2")?;
    }
    for n in 1..=cfg.servers {
        let ns = cfg.rs_ns(n);
        addr(&ns, "eth0", &format!("{}/24", cfg.rip4(n)))?;
        addr(&ns, "eth0", &format!("{}/64", cfg.rip6(n)))?;
        if cfg.server_lan() {
            route(&ns, "default", "198.18.2.1")?;
            route(&ns, "default", "fd00:2::1")?;
        } else {
            route(&ns, "default", "198.18.1.1")?;
            route(&ns, "default", "fd00:1::1")?;
        }
    }
    let mut routers = vec![&r, &d];
    if cfg.directors == 2 {
        routers.push(&d2);
    }
    for ns in routers {
        sysctl(ns, "net.ipv4.ip_forward", "1")?;
        sysctl(ns, "net.ipv6.conf.all.forwarding", "1")?;
    }
    // Real servers: rs-setup (DR/TUN under rvs), then the servers.
    if cfg.balancer == Balancer::Rvs && matches!(cfg.mode, Mode::Dr | Mode::Tun) {
        for n in 1..=cfg.servers {
            let state = dir.join(format!("rs-setup-rs{n}.json"));
            let state = state.to_string_lossy().into_owned();
            let mode = if cfg.mode == Mode::Dr { "dr" } else { "tun" };
            let (v4, v6) = (VIP4.to_string(), VIP6.to_string());
            let mut args = vec![
                "rs-setup", "--mode", mode, "--vip", &v4, "--vip", &v6, "--iface", "eth0",
                "--state", &state,
            ];
            let gue = GUE_PORT.to_string();
            let tt = match cfg.tun_type {
                TunType::Ipip => "ipip",
                TunType::Gue => "gue",
                TunType::Gre => "gre",
            };
            if cfg.mode == Mode::Tun {
                args.extend(["--tun-type", tt]);
                if cfg.tun_type == TunType::Gue {
                    args.extend(["--gue-port", &gue]);
                }
            }
            args.push("start");
            sys::nsexec(&cfg.rs_ns(n), &rvs, &args)?;
        }
    }
    let mut children: Vec<(String, Child)> = Vec::new();
    for n in 1..=cfg.servers {
        let id = format!("rs{n}");
        let ready = dir.join(format!("ready-{id}"));
        let mut args = vec![
            "lab".to_string(),
            "serve".into(),
            "--id".into(),
            id.clone(),
            "--ready-file".into(),
            ready.to_string_lossy().into_owned(),
        ];
        if cfg.nginx {
            args.push("--no-http".into());
        }
        let log = dir.join(format!("serve-{id}.log"));
        let child = procs::spawn_in_ns(
            dir,
            &format!("serve-{id}"),
            &cfg.rs_ns(n),
            &exes.rvs,
            &args,
            &log,
        )?;
        children.push((id, child));
    }
    for (n, (id, child)) in (1..=cfg.servers).zip(children.iter_mut()) {
        let ready = dir.join(format!("ready-{id}"));
        wait_for(
            &ready,
            Duration::from_secs(5),
            child,
            &dir.join(format!("serve-{id}.log")),
        )
        .with_context(|| format!("server {id} in {}", cfg.rs_ns(n)))?;
    }
    if cfg.nginx {
        start_nginx(cfg, dir)?;
    }
    match cfg.balancer {
        Balancer::None => {}
        Balancer::Nftables => {
            // The director owns the VIPs (rvsd adds them itself with --vip).
            addr(&d, "eth1", &format!("{VIP4}/32"))?;
            addr(&d, "eth1", &format!("{VIP6}/128"))?;
            let f = dir.join("nft.conf");
            fs::write(&f, cfg.nft_conf())?;
            sys::nsexec(&d, "nft", &["-f", &f.to_string_lossy()])?;
        }
        Balancer::Rvs if cfg.directors == 2 => start_rvsd_pair(cfg, exes, dir)?,
        Balancer::Rvs => start_rvsd(cfg, exes, dir)?,
    }
    Ok(())
}

/// The control socket of director `node` (`dir`: rvsd.sock, `dir2`: rvsd-dir2.sock).
pub fn rvsd_socket(dir: &Path, node: &str) -> PathBuf {
    if node == "dir" {
        dir.join("rvsd.sock")
    } else {
        dir.join(format!("rvsd-{node}.sock"))
    }
}

/// Two directors: rvsd with keepalived.conf (VRRP + sync daemon) in each; waits until the
/// VIP is up on the first (the VRRP master).
fn start_rvsd_pair(cfg: &LabConfig, exes: &Exes, dir: &Path) -> Result<()> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    for (n, node) in [(1u8, "dir"), (2, "dir2")] {
        let conf = dir.join(format!("keepalived-{node}.conf"));
        fs::write(&conf, cfg.keepalived_conf(n))?;
        let sock = rvsd_socket(dir, node);
        let log = dir.join(format!("rvsd-{node}.log"));
        let mut args = vec![
            "-f".to_string(),
            s(&conf),
            "--control".into(),
            s(&sock),
            "--xdp-mode".into(),
            cfg.xdp_mode.clone(),
            "--interface".into(),
            "eth1".into(),
        ];
        if cfg.server_lan() {
            args.extend(["--interface".into(), "eth2".into()]);
        }
        if !cfg.fastpath {
            args.push("--no-fastpath".into());
        }
        let label = if node == "dir" {
            "rvsd".to_string()
        } else {
            format!("rvsd-{node}")
        };
        let mut child = procs::spawn_in_ns(dir, &label, &cfg.ns(node), &exes.rvsd, &args, &log)?;
        wait_for(&sock, Duration::from_secs(10), &mut child, &log)
            .with_context(|| format!("rvsd's control socket in {node}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let vip = VIP4.to_string();
    loop {
        let out = sys::run(
            "ip",
            &["-n", &cfg.ns("dir"), "-4", "addr", "show", "dev", "eth1"],
        )?;
        // The VIP is up and the sync master follows (it logs connections from then on).
        let daemons = sys::run(
            &exes.rvs.to_string_lossy(),
            &[
                "ctl",
                "--control",
                &s(&rvsd_socket(dir, "dir")),
                "--",
                "-L",
                "--daemon",
            ],
        )
        .unwrap_or_default();
        if out.contains(&format!("{vip}/32")) && daemons.starts_with("master sync daemon") {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "VRRP instance {VRID_VIP} did not put {vip} on dir (and start the sync master \
                 there) within 15 s; {}",
                log_tail(&dir.join("rvsd-dir.log"))
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Waits until `path` exists; fails early (with the log's tail) when `child` exits.
/// The nginx binary `--nginx` runs.
const NGINX: &str = "/usr/sbin/nginx";

/// nginx's configuration for real server `id`, everything under the lab's state `dir`.
pub fn nginx_conf(id: &str, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;\n\
         daemon off;\n\
         pid {d}/nginx-{id}.pid;\n\
         error_log {d}/nginx-{id}.error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {d}/nginx-{id}-tmp;\n\
         \x20 proxy_temp_path {d}/nginx-{id}-tmp;\n\
         \x20 fastcgi_temp_path {d}/nginx-{id}-tmp;\n\
         \x20 uwsgi_temp_path {d}/nginx-{id}-tmp;\n\
         \x20 scgi_temp_path {d}/nginx-{id}-tmp;\n\
         \x20 server {{\n\
         \x20   listen 80; listen [::]:80; listen 8080; listen [::]:8080;\n\
         \x20   location / {{\n\
         \x20     default_type text/plain;\n\
         \x20     add_header X-Server {id};\n\
         \x20     return 200 \"{id}\\n\";\n\
         \x20   }}\n\
         \x20 }}\n\
         }}\n"
    )
}

/// `--nginx`: nginx in every real server (HTTP on 80 and 8080), waited for by its pid file
/// (nginx writes it once its sockets are bound).
fn start_nginx(cfg: &LabConfig, dir: &Path) -> Result<()> {
    if !Path::new(NGINX).is_file() {
        bail!("--nginx: {NGINX} not found (apt-get install nginx)");
    }
    for n in 1..=cfg.servers {
        let id = format!("rs{n}");
        let conf = dir.join(format!("nginx-{id}.conf"));
        fs::write(&conf, nginx_conf(&id, dir))?;
        let log = dir.join(format!("nginx-{id}.log"));
        let args = vec![
            "-c".to_string(),
            conf.to_string_lossy().into_owned(),
            "-e".into(),
            dir.join(format!("nginx-{id}.error.log"))
                .to_string_lossy()
                .into_owned(),
        ];
        let mut child = procs::spawn_in_ns(
            dir,
            &format!("nginx-{id}"),
            &cfg.rs_ns(n),
            Path::new(NGINX),
            &args,
            &log,
        )?;
        wait_for(
            &dir.join(format!("nginx-{id}.pid")),
            Duration::from_secs(5),
            &mut child,
            &log,
        )
        .with_context(|| format!("nginx {id} in {}", cfg.rs_ns(n)))?;
    }
    Ok(())
}

fn wait_for(path: &Path, limit: Duration, child: &mut Child, log: &Path) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if path.exists() {
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            bail!(
                "exited ({st}) before {} appeared; {}",
                path.display(),
                log_tail(log)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "{} did not appear within {:?}; {}",
                path.display(),
                limit,
                log_tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last lines of a log file, for error messages.
pub fn log_tail(log: &Path) -> String {
    match fs::read_to_string(log) {
        Ok(t) => {
            let lines: Vec<&str> = t.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            format!("{} says:\n{tail}", log.display())
        }
        Err(_) => format!("no log at {}", log.display()),
    }
}

fn start_rvsd(cfg: &LabConfig, exes: &Exes, dir: &Path) -> Result<()> {
    let rules = dir.join("rules.txt");
    fs::write(&rules, cfg.rules_txt())?;
    let sock = dir.join("rvsd.sock");
    let log = dir.join("rvsd.log");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut args = vec![
        "--rules".to_string(),
        s(&rules),
        "--control".into(),
        s(&sock),
        "--xdp-mode".into(),
        cfg.xdp_mode.clone(),
        "--interface".into(),
        "eth1".into(),
    ];
    if cfg.server_lan() {
        args.extend(["--interface".into(), "eth2".into()]);
    }
    if !cfg.fastpath {
        args.push("--no-fastpath".into());
    }
    if cfg.pin {
        args.extend(["--pin-dir".into(), s(&dir.join("bpf").join("rvsd"))]);
    }
    args.extend([
        "--vip".into(),
        format!("{VIP4}/32"),
        "--vip".into(),
        format!("{VIP6}/128"),
        "--vip-interface".into(),
        "eth1".into(),
    ]);
    if cfg.mode == Mode::Fullnat {
        args.extend([
            "--local-address".into(),
            LIP4.to_string(),
            "--local-address".into(),
            LIP6.to_string(),
        ]);
    }
    let mut child = procs::spawn_in_ns(dir, "rvsd", &cfg.ns("dir"), &exes.rvsd, &args, &log)?;
    wait_for(&sock, Duration::from_secs(10), &mut child, &log).context("rvsd's control socket")?;
    let out = sys::run(
        &exes.rvs.to_string_lossy(),
        &["ctl", "--control", &s(&sock), "--", "-Ln"],
    )
    .map_err(|e| anyhow!("{e}; {}", log_tail(&log)))?;
    if !out.contains(&VIP4.to_string()) {
        bail!("rvsd runs but `rvs ctl -- -Ln` does not list {VIP4}:\n{out}");
    }
    Ok(())
}

/// Removes lab `name`: stops its processes (SIGTERM, ≤ 5 s, SIGKILL), undoes rs-setup,
/// deletes its namespaces and state directory. Idempotent.
pub fn down(name: &str, exes: &Exes) -> Result<()> {
    super::topo::check_name(name)?;
    let dir = state_dir(name);
    let recorded = procs::recorded(&dir);
    let killed = procs::stop_all(&recorded, Duration::from_secs(5));
    if !killed.is_empty() {
        eprintln!(
            "rvs lab down {name}: killed {} after 5 s",
            killed.join(", ")
        );
    }
    let nss = lab_namespaces(name)?;
    let rvs = exes.rvs.to_string_lossy().into_owned();
    let mut errors = Vec::new();
    for ns in &nss {
        let Some(node) = ns.strip_prefix(&format!("{name}-")) else {
            continue;
        };
        let state = dir.join(format!("rs-setup-{node}.json"));
        if state.exists()
            && let Err(e) = sys::nsexec(
                ns,
                &rvs,
                &["rs-setup", "--state", &state.to_string_lossy(), "stop"],
            )
        {
            errors.push(e.to_string());
        }
    }
    for ns in &nss {
        procs::kill_ns_pids(ns);
        if let Err(e) = sys::ip(&["netns", "del", ns]) {
            errors.push(e.to_string());
        }
    }
    // The lab's bpffs (`--pin`): its pins go with it.
    let bpf = dir.join("bpf");
    if bpf.exists() {
        let _ = sys::run("umount", &[&bpf.to_string_lossy()]);
    }
    if dir.exists()
        && let Err(e) = fs::remove_dir_all(&dir)
    {
        errors.push(format!("removing {}: {e}", dir.display()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("rvs lab down {name}: {}", errors.join("; ")))
    }
}

/// Reads the saved configuration of lab `name`.
pub fn load(name: &str) -> Result<LabConfig> {
    let f = state_dir(name).join("lab.json");
    let t = fs::read_to_string(&f)
        .with_context(|| format!("lab {name} is not up (no {})", f.display()))?;
    serde_json::from_str(&t).with_context(|| format!("parsing {}", f.display()))
}

/// `rvs lab status`: configuration, namespaces and processes.
pub fn status(name: &str) -> Result<String> {
    let cfg = load(name)?;
    let dir = state_dir(name);
    let mut s = format!(
        "lab {}: mode {:?}, balancer {:?}, {} servers, sched {}, weights {:?}\nstate: {}\n",
        cfg.name,
        cfg.mode,
        cfg.balancer,
        cfg.servers,
        cfg.sched,
        cfg.weights,
        dir.display()
    );
    let present = lab_namespaces(name)?;
    for ns in cfg.all_ns() {
        let mark = if present.contains(&ns) {
            "up"
        } else {
            "MISSING"
        };
        s.push_str(&format!("  netns {ns:<20} {mark}\n"));
    }
    for p in procs::recorded(&dir) {
        let st = if procs::alive(&p) { "running" } else { "DEAD" };
        s.push_str(&format!("  {:<12} pid {:<8} {st}\n", p.label, p.pid));
    }
    Ok(s)
}

/// The namespace of NODE (`client`, `router`, `dir`/`director`, `rsN`) in lab `name`.
pub fn node_ns(name: &str, node: &str) -> Result<String> {
    let node = if node == "director" { "dir" } else { node };
    if !is_node(node) {
        bail!("unknown node {node:?}: client, router, dir, rs1, rs2, …");
    }
    Ok(format!("{name}-{node}"))
}

/// `rvs lab exec NAME NODE -- CMD…`: replaces this process with CMD inside the node.
pub fn exec(name: &str, node: &str, cmd: &[String]) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    super::topo::check_name(name)?;
    let ns = node_ns(name, node)?;
    if cmd.is_empty() {
        bail!("nothing to run: rvs lab exec {name} {node} -- CMD…");
    }
    if !lab_namespaces(name)?.contains(&ns) {
        bail!("namespace {ns} does not exist (is lab {name} up?)");
    }
    let err = Command::new("ip")
        .args(["netns", "exec", &ns])
        .args(cmd)
        .exec();
    Err(anyhow!(
        "running ip netns exec {ns} {}: {err}",
        cmd.join(" ")
    ))
}

/// The topology picture and the commands to try, printed by `up`.
/// `ipv6_first` lists the IPv6 examples before the IPv4 ones.
pub fn describe(cfg: &LabConfig, exes: &Exes, ipv6_first: bool) -> String {
    let n = cfg.name.as_str();
    let rvs = exes.rvs.display().to_string();
    let mut s = String::new();
    let lb = match cfg.balancer {
        Balancer::Rvs => format!("rvsd ({:?}, {})", cfg.mode, cfg.sched).to_lowercase(),
        Balancer::Nftables => "nftables DNAT (numgen inc)".into(),
        Balancer::None => "plain routing".into(),
    };
    s.push_str(&format!("lab {n} is up — balancer: {lb}\n\n"));
    s.push_str(&format!(
        "  {n}-client  eth0 198.18.0.2/24 fd00::2/64\n        |\n  {n}-router  eth0 198.18.0.1 fd00::1 · br1 198.18.1.1/24 fd00:1::1/64 · br2 (no address)\n        | br1\n  {n}-dir     eth1 198.18.1.2 fd00:1::2   VIP {VIP4} {VIP6}\n"
    ));
    if cfg.directors == 2 {
        s.push_str(&format!(
            "  {n}-dir2    eth1 198.18.1.3 fd00:1::3   VRRP backup (vrid {VRID_VIP}); the VIP moves on failover\n\
             \x20           (IPv4 only: VRRP {VIP4}{}, sync daemon on eth1 following VRRP)\n",
            if cfg.server_lan() { " and gateway 198.18.2.1" } else { "" }
        ));
    }
    if cfg.server_lan() {
        s.push_str(&format!(
            "        | eth2 198.18.2.1 fd00:2::1 (br2){}\n",
            if cfg.mode == Mode::Fullnat && cfg.balancer == Balancer::Rvs {
                format!("  LIP {LIP4} {LIP6}")
            } else {
                String::new()
            }
        ));
    } else {
        s.push_str("        (real servers share br1 with the director)\n");
    }
    for i in 1..=cfg.servers {
        s.push_str(&format!(
            "  {n}-rs{i:<4} eth0 {} {}  weight {}\n",
            cfg.rip4(i),
            cfg.rip6(i),
            cfg.weights[usize::from(i - 1)]
        ));
    }
    let target4 = if cfg.balancer == Balancer::None {
        cfg.rip4(1).to_string()
    } else {
        VIP4.to_string()
    };
    let target6 = if cfg.balancer == Balancer::None {
        format!("[{}]", cfg.rip6(1))
    } else {
        format!("[{VIP6}]")
    };
    let port = if cfg.balancer == Balancer::None {
        format!(":{}", cfg.real_http_port())
    } else {
        String::new()
    };
    s.push_str(&format!("\nstate: {}\n\ntry:\n", state_dir(n).display()));
    let mut fams = [(target4, ""), (target6, " -g")];
    if ipv6_first {
        fams.reverse();
    }
    for (t, g) in &fams {
        s.push_str(&format!(
            "  {rvs} lab exec {n} client curl -s{g} http://{t}{port}/\n"
        ));
    }
    for (t, _) in &fams {
        s.push_str(&format!(
            "  {rvs} lab exec {n} client {rvs} lab client http {t}{port} --count 30\n"
        ));
        s.push_str(&format!(
            "  {rvs} lab exec {n} client {rvs} lab client udp {t}:9000 --count 30\n"
        ));
    }
    if cfg.balancer == Balancer::Rvs {
        s.push_str(&format!(
            "  {rvs} ctl --control {}/rvsd.sock -- -Ln --stats\n",
            state_dir(n).display()
        ));
    }
    if cfg.directors == 2 {
        s.push_str(&format!(
            "  {rvs} ctl --control {}/rvsd-dir2.sock -- -Lnc      # the backup's synced connections\n\
             \x20 {rvs} ctl --control {}/rvsd.sock -- -L --daemon\n",
            state_dir(n).display(),
            state_dir(n).display()
        ));
    }
    if cfg.balancer == Balancer::Nftables {
        s.push_str(&format!("  {rvs} lab exec {n} dir nft list ruleset\n"));
    }
    s.push_str(&format!(
        "  {rvs} lab exec {n} rs1 ip addr\n  {rvs} lab down --name {n}\n"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        for ok in ["client", "router", "dir", "rs1", "rs12"] {
            assert!(is_node(ok), "{ok}");
        }
        assert!(is_node("dir2"));
        for bad in ["rs", "rsx", "x-client", "client2", "dir3", ""] {
            assert!(!is_node(bad), "{bad}");
        }
        assert_eq!(node_ns("rvslab", "director").unwrap(), "rvslab-dir");
        assert!(node_ns("rvslab", "db").is_err());
    }
}
