//! The lab's configuration and everything derived from it without touching the system:
//! addresses, namespace names, rules.txt (ipvsadm-save format for rvsd) and the nftables
//! ruleset of `--balancer nftables`.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// IPv4 VIP of every lab.
pub const VIP4: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 100);
/// IPv6 VIP of every lab.
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x100);
/// FULLNAT local address (IPv4), on the director's eth2.
pub const LIP4: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);
/// FULLNAT local address (IPv6), on the director's eth2.
pub const LIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 2, 0, 0, 0, 0, 0, 2);
/// UDP port of GUE tunnels (`--tun-type gue`).
pub const GUE_PORT: u16 = 6080;
/// Virtual HTTP port.
pub const HTTP_PORT: u16 = 80;
/// HTTP port NAT maps the virtual port to.
pub const NAT_HTTP_PORT: u16 = 8080;
/// UDP echo port (virtual and real).
pub const UDP_PORT: u16 = 9000;

/// Forwarding method of the lab (and the topology it needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Direct routing: real servers on the director's LAN with the VIP on lo.
    Dr,
    /// Masquerading: real servers behind the director, VIP:80 → RIP:8080.
    Nat,
    /// Tunnelling: real servers on the director's LAN, decapsulating.
    Tun,
    /// Full NAT: real servers behind the director, see a LIP as source.
    Fullnat,
}

/// What balances the traffic to the VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Balancer {
    /// rvsd on the director.
    Rvs,
    /// nftables DNAT with `numgen inc` on the director (NAT topology).
    Nftables,
    /// No balancer: the director only routes; clients reach RIPs directly.
    None,
}

/// Encapsulation of `--mode tun`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TunType {
    /// IP in IP (also 6in6, 4in6, 6in4).
    Ipip,
    /// Generic UDP encapsulation on port [`GUE_PORT`].
    Gue,
    /// GRE.
    Gre,
}

/// Everything `rvs lab up` was asked for; saved as `lab.json` in the state directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabConfig {
    /// Lab name, prefix of every namespace.
    pub name: String,
    /// Forwarding method.
    pub mode: Mode,
    /// Number of real servers (1..=50).
    pub servers: u8,
    /// Scheduler name for rules.txt.
    pub sched: String,
    /// One weight per real server.
    pub weights: Vec<u32>,
    /// The balancer.
    pub balancer: Balancer,
    /// rvsd's `--xdp-mode`.
    pub xdp_mode: String,
    /// Tunnel type for TUN.
    pub tun_type: TunType,
    /// nginx serves HTTP on the real servers instead of the built-in server.
    pub nginx: bool,
    /// Directors (1, or 2 with VRRP and connection sync between them).
    #[serde(default = "one")]
    pub directors: u8,
    /// rvsd forwards established flows in XDP (its fast path; `--no-fastpath` when false).
    #[serde(default = "yes")]
    pub fastpath: bool,
    /// rvsd pins its fast-path maps and XDP links (`--pin-dir`) in a bpffs the lab mounts
    /// at `<state>/bpf`, so a restarted rvsd takes over without a gap.
    #[serde(default)]
    pub pin: bool,
}

fn yes() -> bool {
    true
}

fn one() -> u8 {
    1
}

/// VRRP router id of the VIP instance of a two-director lab (also the sync id).
pub const VRID_VIP: u8 = 51;
/// VRRP router id of the real servers' gateway instance (NAT, two directors).
pub const VRID_GW: u8 = 52;
/// The real servers' gateway on the server LAN (NAT, FULLNAT): the director's address, or
/// with two directors a VRRP address that moves with the VIP.
pub const GW4: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);

/// A bad lab configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The name does not start with `rvs` or has characters other than [a-z0-9].
    #[error(
        "lab name {0:?} must start with \"rvs\", use only a-z and 0-9, and be at most 12 characters"
    )]
    Name(String),
    /// Server count out of range.
    #[error("--servers must be between 1 and 50, got {0}")]
    Servers(u8),
    /// Wrong number of weights.
    #[error("--weights has {got} values for {servers} servers")]
    Weights {
        /// Values given.
        got: usize,
        /// Servers.
        servers: u8,
    },
    /// Scheduler name with characters that do not belong in a rules file.
    #[error("bad scheduler name {0:?}")]
    Sched(String),
    /// Two directors only with rvs in DR, NAT or FULLNAT mode, without `--pin`.
    #[error("--directors 2 needs --balancer rvs and --mode dr, nat or fullnat (and no --pin)")]
    Directors,
}

/// Checks a lab name: `rvs` prefix, [a-z0-9], short enough for interface-free use in names.
pub fn check_name(name: &str) -> Result<(), ConfigError> {
    let ok = name.starts_with("rvs")
        && name.len() <= 12
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Name(name.to_string()))
    }
}

impl LabConfig {
    /// Checks name, server count, weights and scheduler.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name(&self.name)?;
        if !(1..=50).contains(&self.servers) {
            return Err(ConfigError::Servers(self.servers));
        }
        if self.weights.len() != usize::from(self.servers) {
            return Err(ConfigError::Weights {
                got: self.weights.len(),
                servers: self.servers,
            });
        }
        if self.sched.is_empty() || !self.sched.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError::Sched(self.sched.clone()));
        }
        if self.directors != 1
            && (self.directors != 2
                || self.balancer != Balancer::Rvs
                || !matches!(self.mode, Mode::Dr | Mode::Nat | Mode::Fullnat)
                || self.pin)
        {
            return Err(ConfigError::Directors);
        }
        Ok(())
    }

    /// True when the real servers sit behind the director on br2 (NAT, FULLNAT, nftables).
    pub fn server_lan(&self) -> bool {
        self.balancer == Balancer::Nftables || matches!(self.mode, Mode::Nat | Mode::Fullnat)
    }

    /// Namespace of a node: `client`, `router`, `dir`, `rs1`…
    pub fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    /// Namespace of real server `n` (1-based).
    pub fn rs_ns(&self, n: u8) -> String {
        format!("{}-rs{n}", self.name)
    }

    /// The directors' node names: `dir`, and `dir2` with two directors.
    pub fn director_nodes(&self) -> Vec<&'static str> {
        if self.directors == 2 {
            vec!["dir", "dir2"]
        } else {
            vec!["dir"]
        }
    }

    /// All namespaces of the lab, in creation order.
    pub fn all_ns(&self) -> Vec<String> {
        let mut v = vec![self.ns("client"), self.ns("router")];
        v.extend(self.director_nodes().iter().map(|d| self.ns(d)));
        v.extend((1..=self.servers).map(|n| self.rs_ns(n)));
        v
    }

    /// IPv4 address of real server `n`.
    pub fn rip4(&self, n: u8) -> Ipv4Addr {
        let net = if self.server_lan() { 2 } else { 1 };
        Ipv4Addr::new(198, 18, net, 10 + n)
    }

    /// IPv6 address of real server `n`.
    pub fn rip6(&self, n: u8) -> Ipv6Addr {
        let net = if self.server_lan() { 2 } else { 1 };
        Ipv6Addr::new(0xfd00, net, 0, 0, 0, 0, 0, 10 + u16::from(n))
    }

    /// The real port HTTP is forwarded to (8080 for NAT and nftables, else 80).
    pub fn real_http_port(&self) -> u16 {
        if self.balancer == Balancer::Nftables || self.mode == Mode::Nat {
            NAT_HTTP_PORT
        } else {
            HTTP_PORT
        }
    }

    /// rules.txt for rvsd: TCP VIP:80 and UDP VIP:9000, IPv4 and IPv6.
    pub fn rules_txt(&self) -> String {
        let method = match self.mode {
            Mode::Dr => "-g".to_string(),
            Mode::Nat => "-m".to_string(),
            Mode::Fullnat => "--fullnat".to_string(),
            Mode::Tun => match self.tun_type {
                TunType::Ipip => "-i".to_string(),
                TunType::Gue => format!("-i --tun-type gue --tun-port {GUE_PORT}"),
                TunType::Gre => "-i --tun-type gre".to_string(),
            },
        };
        let mut s = format!(
            "# rvs lab {}: mode {:?}, {} servers\n",
            self.name, self.mode, self.servers
        );
        let vips = [IpAddr::V4(VIP4), IpAddr::V6(VIP6)];
        for vip in vips {
            for (flag, vport, rport) in [
                ("-t", HTTP_PORT, self.real_http_port()),
                ("-u", UDP_PORT, UDP_PORT),
            ] {
                let _ = writeln!(s, "-A {flag} {} -s {}", sock(vip, vport), self.sched);
                for n in 1..=self.servers {
                    let rip = match vip {
                        IpAddr::V4(_) => IpAddr::V4(self.rip4(n)),
                        IpAddr::V6(_) => IpAddr::V6(self.rip6(n)),
                    };
                    let w = self.weights[usize::from(n - 1)];
                    let _ = writeln!(
                        s,
                        "-a {flag} {} -r {} {method} -w {w}",
                        sock(vip, vport),
                        sock(rip, rport)
                    );
                }
            }
        }
        s
    }

    /// The nftables ruleset of `--balancer nftables`: DNAT of VIP:80 → RIP:8080 and
    /// VIP:9000 → RIP:9000, round robin by `numgen inc`, weights by repeated map entries.
    pub fn nft_conf(&self) -> String {
        let total: u32 = self.weights.iter().sum();
        let map = |v6: bool, port: u16| {
            let mut entries = Vec::new();
            let mut i = 0u32;
            for n in 1..=self.servers {
                for _ in 0..self.weights[usize::from(n - 1)] {
                    let addr = if v6 {
                        format!("{}", self.rip6(n))
                    } else {
                        format!("{}", self.rip4(n))
                    };
                    entries.push(format!("{i} : {addr} . {port}"));
                    i += 1;
                }
            }
            entries.join(", ")
        };
        let mut s = format!("table inet {} {{\n", self.name);
        s.push_str(
            "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n",
        );
        for (fam, v6, vip) in [
            ("ip", false, VIP4.to_string()),
            ("ip6", true, VIP6.to_string()),
        ] {
            for (proto, vport, rport) in [
                ("tcp", HTTP_PORT, NAT_HTTP_PORT),
                ("udp", UDP_PORT, UDP_PORT),
            ] {
                let _ = writeln!(
                    s,
                    "    {fam} daddr {vip} {proto} dport {vport} dnat {fam} addr . port to numgen inc mod {total} map {{ {} }}",
                    map(v6, rport)
                );
            }
        }
        s.push_str("  }\n}\n");
        s
    }
}

impl LabConfig {
    /// keepalived.conf of director `n` (1 or 2) of a two-director lab: VRRP for the VIP
    /// (and, for NAT, the real servers' gateway, in one sync group), the sync daemon
    /// following the VIP instance, and the IPv4 virtual servers of rules.txt. Director 1
    /// starts as MASTER with the higher priority.
    pub fn keepalived_conf(&self, n: u8) -> String {
        let nat = self.server_lan();
        let fullnat = self.mode == Mode::Fullnat;
        let (state, prio) = if n == 1 {
            ("MASTER", 150)
        } else {
            ("BACKUP", 100)
        };
        let lips = if fullnat {
            format!("    rvs_local_address {LIP4}\n")
        } else {
            String::new()
        };
        let mut s = format!(
            "# rvs lab {}: director {n} of 2\n\
             global_defs {{\n    router_id {}-dir{n}\n    lvs_sync_daemon eth1 VI_VIP id {VRID_VIP}\n{lips}}}\n\n",
            self.name, self.name
        );
        if nat {
            s.push_str(
                "vrrp_sync_group VG {\n    group {\n        VI_VIP\n        VI_GW\n    }\n}\n\n",
            );
        }
        let inst = |name: &str, ifname: &str, vrid: u8, vips: &[String]| {
            let vips = vips.join("\n        ");
            format!(
                "vrrp_instance {name} {{\n    state {state}\n    interface {ifname}\n    \
                 virtual_router_id {vrid}\n    priority {prio}\n    advert_int 1\n    \
                 virtual_ipaddress {{\n        {vips}\n    }}\n}}\n\n"
            )
        };
        s.push_str(&inst("VI_VIP", "eth1", VRID_VIP, &[format!("{VIP4}/32")]));
        if fullnat {
            // The LIP moves with the gateway: the real servers' replies reach the new master.
            s.push_str(&inst(
                "VI_GW",
                "eth2",
                VRID_GW,
                &[format!("{GW4}/24"), format!("{LIP4}/24")],
            ));
        } else if nat {
            s.push_str(&inst("VI_GW", "eth2", VRID_GW, &[format!("{GW4}/24")]));
        }
        let kind = match self.mode {
            Mode::Fullnat => "FNAT",
            Mode::Nat => "NAT",
            _ => "DR",
        };
        for (proto, vport, rport) in [
            ("TCP", HTTP_PORT, self.real_http_port()),
            ("UDP", UDP_PORT, UDP_PORT),
        ] {
            let _ = write!(
                s,
                "virtual_server {VIP4} {vport} {{\n    lb_algo {}\n    lb_kind {kind}\n    protocol {proto}\n",
                self.sched
            );
            for r in 1..=self.servers {
                let _ = write!(
                    s,
                    "    real_server {} {rport} {{\n        weight {}\n    }}\n",
                    self.rip4(r),
                    self.weights[usize::from(r - 1)]
                );
            }
            s.push_str("}\n\n");
        }
        s
    }

    /// Address of director `n` (1 or 2) on the server LAN: the gateway itself with one
    /// director, else a fixed address of its own (the gateway is a VRRP address).
    pub fn dir_lan2_addr4(&self, n: u8) -> Ipv4Addr {
        if self.directors == 2 {
            Ipv4Addr::new(198, 18, 2, 3 + n)
        } else {
            GW4
        }
    }
}

/// `addr:port`, IPv6 in brackets.
pub fn sock(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: Mode, balancer: Balancer) -> LabConfig {
        LabConfig {
            name: "rvslab".into(),
            mode,
            servers: 2,
            sched: "wrr".into(),
            weights: vec![3, 1],
            balancer,
            xdp_mode: "auto".into(),
            tun_type: TunType::Gue,
            nginx: false,
            directors: 1,
            fastpath: true,
            pin: false,
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("rvslab").is_ok());
        assert!(check_name("rvst1a2b").is_ok());
        assert!(check_name("lab").is_err());
        assert!(check_name("rvs-x").is_err());
        assert!(check_name("rvsaaaaaaaaaa").is_err());
        let mut c = cfg(Mode::Dr, Balancer::Rvs);
        assert!(c.validate().is_ok());
        c.weights = vec![1];
        assert!(c.validate().is_err());
        c.weights = vec![1, 1];
        c.sched = "rr; x".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn dr_rules() {
        let r = cfg(Mode::Dr, Balancer::Rvs).rules_txt();
        let lines: Vec<&str> = r.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "-A -t 198.18.1.100:80 -s wrr",
                "-a -t 198.18.1.100:80 -r 198.18.1.11:80 -g -w 3",
                "-a -t 198.18.1.100:80 -r 198.18.1.12:80 -g -w 1",
                "-A -u 198.18.1.100:9000 -s wrr",
                "-a -u 198.18.1.100:9000 -r 198.18.1.11:9000 -g -w 3",
                "-a -u 198.18.1.100:9000 -r 198.18.1.12:9000 -g -w 1",
                "-A -t [fd00:1::100]:80 -s wrr",
                "-a -t [fd00:1::100]:80 -r [fd00:1::b]:80 -g -w 3",
                "-a -t [fd00:1::100]:80 -r [fd00:1::c]:80 -g -w 1",
                "-A -u [fd00:1::100]:9000 -s wrr",
                "-a -u [fd00:1::100]:9000 -r [fd00:1::b]:9000 -g -w 3",
                "-a -u [fd00:1::100]:9000 -r [fd00:1::c]:9000 -g -w 1",
            ]
        );
    }

    #[test]
    fn nat_fullnat_tun_rules() {
        let r = cfg(Mode::Nat, Balancer::Rvs).rules_txt();
        assert!(
            r.contains("-a -t 198.18.1.100:80 -r 198.18.2.11:8080 -m -w 3\n"),
            "{r}"
        );
        assert!(
            r.contains("-a -u [fd00:1::100]:9000 -r [fd00:2::c]:9000 -m -w 1\n"),
            "{r}"
        );
        let r = cfg(Mode::Fullnat, Balancer::Rvs).rules_txt();
        assert!(
            r.contains("-a -t 198.18.1.100:80 -r 198.18.2.11:80 --fullnat -w 3\n"),
            "{r}"
        );
        let r = cfg(Mode::Tun, Balancer::Rvs).rules_txt();
        assert!(
            r.contains(
                "-a -t 198.18.1.100:80 -r 198.18.1.11:80 -i --tun-type gue --tun-port 6080 -w 3\n"
            ),
            "{r}"
        );
    }

    #[test]
    fn two_directors() {
        let mut c = cfg(Mode::Nat, Balancer::Rvs);
        c.directors = 2;
        assert!(c.validate().is_ok());
        assert_eq!(
            c.all_ns()[2..4],
            ["rvslab-dir".to_string(), "rvslab-dir2".to_string()]
        );
        assert_eq!(c.dir_lan2_addr4(2), Ipv4Addr::new(198, 18, 2, 5));
        let k = c.keepalived_conf(2);
        assert!(k.contains("lvs_sync_daemon eth1 VI_VIP id 51\n"), "{k}");
        assert!(k.contains("vrrp_sync_group VG"), "{k}");
        assert!(
            k.contains(
                "    state BACKUP\n    interface eth2\n    virtual_router_id 52\n    priority 100\n"
            ),
            "{k}"
        );
        assert!(k.contains("        198.18.2.1/24\n"), "{k}");
        assert!(k.contains("virtual_server 198.18.1.100 80 {\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n    real_server 198.18.2.11 8080 {\n        weight 3\n"), "{k}");
        let report = rvs_config::keepalived::check_str("k.conf", &k);
        assert!(report.is_ok(), "{}", report.render());
        let cfg = report.config.unwrap();
        let sd = cfg.global.lvs_sync_daemon.unwrap();
        assert_eq!(
            (
                sd.interface.as_str(),
                sd.vrrp_instance.as_deref(),
                sd.syncid
            ),
            ("eth1", Some("VI_VIP"), Some(51))
        );
        c.mode = Mode::Fullnat;
        let k = c.keepalived_conf(1);
        assert!(k.contains("    rvs_local_address 198.18.2.2\n"), "{k}");
        assert!(
            k.contains("        198.18.2.1/24\n        198.18.2.2/24\n"),
            "{k}"
        );
        assert!(k.contains("    lb_kind FNAT\n"), "{k}");
        let report = rvs_config::keepalived::check_str("f.conf", &k);
        assert!(report.is_ok(), "{}", report.render());
        c.mode = Mode::Tun;
        assert!(c.validate().is_err());
        c.mode = Mode::Dr;
        assert!(!c.keepalived_conf(1).contains("VI_GW"));
        assert_eq!(c.dir_lan2_addr4(1), Ipv4Addr::new(198, 18, 2, 4));
        c.directors = 1;
        assert_eq!(c.dir_lan2_addr4(1), GW4);
    }

    #[test]
    fn nftables_topology_and_ruleset() {
        let c = cfg(Mode::Dr, Balancer::Nftables);
        assert!(c.server_lan());
        assert_eq!(c.rip4(1), Ipv4Addr::new(198, 18, 2, 11));
        let n = c.nft_conf();
        assert!(
            n.contains("ip daddr 198.18.1.100 tcp dport 80 dnat ip addr . port to numgen inc mod 4 map { 0 : 198.18.2.11 . 8080, 1 : 198.18.2.11 . 8080, 2 : 198.18.2.11 . 8080, 3 : 198.18.2.12 . 8080 }"),
            "{n}"
        );
        assert!(n.contains("ip6 daddr fd00:1::100 udp dport 9000 dnat ip6 addr . port to numgen inc mod 4 map { 0 : fd00:2::b . 9000,"), "{n}");
        let d = cfg(Mode::Dr, Balancer::None);
        assert!(!d.server_lan());
        assert_eq!(d.all_ns()[3], "rvslab-rs1");
    }
}
