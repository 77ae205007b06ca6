//! The systems compared: what lab each needs, what runs in its director, where clients
//! send to.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::lab::topo::{Balancer, LabConfig, Mode, NAT_HTTP_PORT, TunType, UDP_PORT, VIP4};

/// A system under test.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// Plain routing through the director's kernel, no balancing (the limit).
    Plain,
    /// nftables DNAT with `numgen inc` (conntrack), the kernel NAT baseline.
    Nftables,
    /// HAProxy `mode tcp` in the director (TCP only).
    Haproxy,
    /// nginx `stream` in the director, TCP and UDP.
    Nginx,
    /// rvsd, NAT (`-m`).
    RvsNat,
    /// rvsd, direct routing (`-g`).
    RvsDr,
    /// rvsd, IPIP tunnelling (`-i`).
    RvsTun,
    /// rvsd, FULLNAT.
    RvsFullnat,
    /// rvsd, NAT, without the XDP fast path (every packet through the AF_XDP worker).
    RvsNatNoFastpath,
    /// rvsd, DR, without the XDP fast path.
    RvsDrNoFastpath,
}

/// Every system, in table order.
pub const ALL: [System; 10] = [
    System::Plain,
    System::Nftables,
    System::Haproxy,
    System::Nginx,
    System::RvsNat,
    System::RvsDr,
    System::RvsTun,
    System::RvsFullnat,
    System::RvsNatNoFastpath,
    System::RvsDrNoFastpath,
];

impl System {
    /// Short key (JSON, command line).
    pub fn key(self) -> &'static str {
        match self {
            System::Plain => "plain",
            System::Nftables => "nftables",
            System::Haproxy => "haproxy",
            System::Nginx => "nginx",
            System::RvsNat => "rvs-nat",
            System::RvsDr => "rvs-dr",
            System::RvsTun => "rvs-tun",
            System::RvsFullnat => "rvs-fullnat",
            System::RvsNatNoFastpath => "rvs-nat-no-fastpath",
            System::RvsDrNoFastpath => "rvs-dr-no-fastpath",
        }
    }

    /// Name in the tables.
    pub fn label(self) -> &'static str {
        match self {
            System::Plain => "plain routing (limit)",
            System::Nftables => "nftables DNAT (numgen)",
            System::Haproxy => "HAProxy mode tcp",
            System::Nginx => "nginx stream",
            System::RvsNat => "rvs NAT",
            System::RvsDr => "rvs DR",
            System::RvsTun => "rvs TUN (IPIP)",
            System::RvsFullnat => "rvs FULLNAT",
            System::RvsNatNoFastpath => "rvs NAT, no fast path",
            System::RvsDrNoFastpath => "rvs DR, no fast path",
        }
    }

    /// True for the rvsd systems.
    pub fn is_rvs(self) -> bool {
        matches!(
            self,
            System::RvsNat
                | System::RvsDr
                | System::RvsTun
                | System::RvsFullnat
                | System::RvsNatNoFastpath
                | System::RvsDrNoFastpath
        )
    }

    /// rvsd with its XDP fast path (established flows forwarded without rvsd's worker).
    pub fn has_fastpath(self) -> bool {
        self.is_rvs() && !matches!(self, System::RvsNatNoFastpath | System::RvsDrNoFastpath)
    }

    /// False for HAProxy (no UDP).
    pub fn has_udp(self) -> bool {
        self != System::Haproxy
    }

    /// The lab it runs in.
    pub fn lab(self, name: &str, servers: u8) -> LabConfig {
        let (mode, balancer) = match self {
            System::Plain | System::Haproxy | System::Nginx => (Mode::Nat, Balancer::None),
            System::Nftables => (Mode::Nat, Balancer::Nftables),
            System::RvsNat | System::RvsNatNoFastpath => (Mode::Nat, Balancer::Rvs),
            System::RvsDr | System::RvsDrNoFastpath => (Mode::Dr, Balancer::Rvs),
            System::RvsTun => (Mode::Tun, Balancer::Rvs),
            System::RvsFullnat => (Mode::Fullnat, Balancer::Rvs),
        };
        LabConfig {
            name: name.to_string(),
            mode,
            servers,
            sched: "rr".into(),
            weights: vec![1; usize::from(servers)],
            balancer,
            xdp_mode: "auto".into(),
            tun_type: TunType::Ipip,
            nginx: false,
            directors: 1,
            fastpath: self.has_fastpath(),
            pin: false,
        }
    }

    /// Where HTTP clients connect: the VIP, or for plain routing real server 1 (wrk has one
    /// target).
    pub fn http_target(self, lab: &LabConfig) -> (IpAddr, u16) {
        match self {
            System::Plain => (IpAddr::V4(lab.rip4(1)), NAT_HTTP_PORT),
            _ => (IpAddr::V4(VIP4), 80),
        }
    }

    /// Where the UDP flood goes: the VIP, or for plain routing every RIP.
    pub fn udp_targets(self, lab: &LabConfig) -> Vec<Ipv4Addr> {
        match self {
            System::Plain => (1..=lab.servers).map(|n| lab.rip4(n)).collect(),
            _ => vec![VIP4],
        }
    }
}

/// HAProxy's configuration: VIP:80 → every RIP:8080, round robin, `mode tcp`.
pub fn haproxy_conf(lab: &LabConfig, dir: &Path) -> String {
    let mut s = format!(
        "global\n  maxconn 8000\n  pidfile {}/haproxy.pid\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend vip\n  bind {VIP4}:80\n  default_backend rs\n\
         backend rs\n  balance roundrobin\n",
        dir.display()
    );
    for n in 1..=lab.servers {
        let _ = writeln!(s, "  server rs{n} {}:{NAT_HTTP_PORT}", lab.rip4(n));
    }
    s
}

/// nginx's configuration: `stream` only, VIP:80/tcp → RIP:8080, VIP:9000/udp → RIP:9000,
/// round robin; state under `dir`.
pub fn nginx_stream_conf(lab: &LabConfig, dir: &Path) -> String {
    let d = dir.display();
    let mut tcp = String::new();
    let mut udp = String::new();
    for n in 1..=lab.servers {
        let _ = write!(tcp, " server {}:{NAT_HTTP_PORT};", lab.rip4(n));
        let _ = write!(udp, " server {}:{UDP_PORT};", lab.rip4(n));
    }
    format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
         worker_processes auto;\n\
         daemon off;\n\
         pid {d}/nginx-stream.pid;\n\
         error_log {d}/nginx-stream.error.log;\n\
         worker_rlimit_nofile 200000;\n\
         events {{ worker_connections 50000; }}\n\
         stream {{\n\
         \x20 upstream http {{{tcp} }}\n\
         \x20 upstream echo {{{udp} }}\n\
         \x20 server {{ listen {VIP4}:80 reuseport; proxy_pass http; }}\n\
         \x20 server {{ listen {VIP4}:{UDP_PORT} udp reuseport; proxy_pass echo; proxy_timeout 10s; }}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labs_and_targets() {
        let l = System::Plain.lab("rvsbx", 3);
        assert_eq!((l.mode, l.balancer), (Mode::Nat, Balancer::None));
        assert_eq!(
            System::Plain.http_target(&l),
            ("198.18.2.11".parse().unwrap(), 8080)
        );
        assert_eq!(System::Plain.udp_targets(&l).len(), 3);
        let l = System::RvsDr.lab("rvsbx", 2);
        assert_eq!((l.mode, l.balancer), (Mode::Dr, Balancer::Rvs));
        assert_eq!(System::RvsDr.http_target(&l), (IpAddr::V4(VIP4), 80));
        assert!(l.validate().is_ok());
        assert!(!System::Haproxy.has_udp() && System::Nginx.has_udp());
        assert!(ALL.iter().filter(|s| s.is_rvs()).count() == 6);
        assert!(System::RvsDr.has_fastpath() && !System::RvsDrNoFastpath.has_fastpath());
        assert!(!System::Plain.has_fastpath() && !System::Nginx.has_fastpath());
        assert!(l.fastpath);
        let l = System::RvsDrNoFastpath.lab("rvsbx", 2);
        assert_eq!(
            (l.mode, l.balancer, l.fastpath),
            (Mode::Dr, Balancer::Rvs, false)
        );
    }

    #[test]
    fn proxy_configs_name_every_server() {
        let l = System::Nginx.lab("rvsbx", 3);
        let n = nginx_stream_conf(&l, Path::new("/run/x"));
        assert!(n.contains("server 198.18.2.13:8080;"));
        assert!(n.contains("server 198.18.2.11:9000;"));
        assert!(n.contains("listen 198.18.1.100:9000 udp"));
        let h = haproxy_conf(&l, Path::new("/run/x"));
        assert!(h.contains("bind 198.18.1.100:80"));
        assert_eq!(h.matches("server rs").count(), 3);
    }
}
