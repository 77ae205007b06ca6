//! The typed configuration, with keepalived 2.2.7's defaults already applied (inheritance
//! from virtual server to real server to checker resolved, keepalived's automatic fixes
//! made — each fix reported as a warning).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rvs_core::Af;
use rvs_core::Protocol;
use rvs_core::addr::Netmask;
use rvs_core::dest::TunConfig;

use super::diag::Pos;

/// A whole keepalived.conf.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `virtual_server_group` blocks, in file order.
    pub groups: Vec<VirtualServerGroup>,
    /// `virtual_server` blocks, in file order (virtual servers without real servers are
    /// dropped, as keepalived does).
    pub virtual_servers: Vec<VirtualServer>,
    /// `vrrp_script` blocks.
    pub vrrp_scripts: Vec<VrrpScript>,
    /// `vrrp_instance` blocks.
    pub vrrp_instances: Vec<VrrpInstance>,
    /// `vrrp_sync_group` blocks.
    pub vrrp_sync_groups: Vec<VrrpSyncGroup>,
}

/// `global_defs`: the parts rvs reads, plus rvs's own keywords.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalDefs {
    /// `router_id` (keepalived defaults to the host name; `None` here).
    pub router_id: Option<String>,
    /// `lvs_timeouts tcp S tcpfin S udp S` (`ipvsadm --set`); `None` = leave unchanged.
    pub lvs_timeouts: LvsTimeouts,
    /// `lvs_sync_daemon`.
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// `lvs_flush`: flush the whole table at start.
    pub lvs_flush: bool,
    /// `lvs_flush_on_stop` (`true`) / `lvs_flush_on_stop VS` (`false` + only ours).
    pub lvs_flush_on_stop: Option<FlushOnStop>,
    /// `vrrp_version` (2 or 3; default 2).
    pub vrrp_version: u8,
    /// `vrrp_mcast_group4` (default 224.0.0.18).
    pub vrrp_mcast_group4: IpAddr,
    /// `vrrp_mcast_group6` (default ff02::12).
    pub vrrp_mcast_group6: IpAddr,
    /// `vrrp_garp_master_delay` seconds (default 5).
    pub vrrp_garp_master_delay: u32,
    /// `vrrp_garp_master_repeat` (default 5).
    pub vrrp_garp_master_repeat: u32,
    /// `vrrp_strict`.
    pub vrrp_strict: bool,
    /// `default_interface` (keepalived: eth0), used by VRRP instances without `interface`.
    pub default_interface: Option<String>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<String>,
    /// rvs's own keywords.
    pub rvs: RvsGlobals,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            lvs_timeouts: LvsTimeouts::default(),
            lvs_sync_daemon: None,
            lvs_flush: false,
            lvs_flush_on_stop: None,
            vrrp_version: 2,
            vrrp_mcast_group4: IpAddr::from([224, 0, 0, 18]),
            vrrp_mcast_group6: IpAddr::from([0xff02, 0, 0, 0, 0, 0, 0, 0x12]),
            vrrp_garp_master_delay: 5,
            vrrp_garp_master_repeat: 5,
            vrrp_strict: false,
            default_interface: None,
            enable_script_security: false,
            script_user: None,
            rvs: RvsGlobals::default(),
        }
    }
}

/// `lvs_flush_on_stop` variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushOnStop {
    /// `lvs_flush_on_stop`: flush the whole table.
    All,
    /// `lvs_flush_on_stop VS`: remove only the services this configuration created.
    Vs,
}

/// `lvs_timeouts`; `None` = not given (leave the director's value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LvsTimeouts {
    /// TCP ESTABLISHED timeout, seconds.
    pub tcp: Option<u32>,
    /// TCP FIN_WAIT timeout, seconds.
    pub tcpfin: Option<u32>,
    /// UDP timeout, seconds.
    pub udp: Option<u32>,
}

/// `lvs_sync_daemon IFNAME [[inst] VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LvsSyncDaemon {
    /// Interface the sync messages use.
    pub interface: String,
    /// VRRP instance whose state (MASTER/BACKUP) drives the daemon's role.
    pub vrrp_instance: Option<String>,
    /// Sync id (`None` = the instance's virtual_router_id).
    pub syncid: Option<u8>,
    /// `maxlen`.
    pub maxlen: Option<u16>,
    /// `port`.
    pub port: Option<u16>,
    /// `ttl`.
    pub ttl: Option<u8>,
    /// `group` (a multicast address).
    pub group: Option<IpAddr>,
}

/// rvs's own `global_defs` keywords (keepalived does not know them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RvsGlobals {
    /// `rvs_interface IFNAME` (repeatable): data-plane interfaces rvsd attaches to.
    pub interfaces: Vec<String>,
    /// `rvs_control PATH`: the control socket.
    pub control: Option<String>,
    /// `rvs_api ADDR:PORT`: the HTTP API listener.
    pub api: Option<SocketAddr>,
    /// `rvs_local_address ADDR` (repeatable): FULLNAT local addresses (LIPs), global pool.
    pub local_addresses: Vec<IpAddr>,
    /// `rvs_fwmark_rule MARK PROTO DST[/PLEN] [PORTS]` (repeatable): rvs's fwmark classifier
    /// rules (what `iptables -t mangle ... -j MARK` does for keepalived), in order.
    pub fwmark_rules: Vec<rvs_core::fwmark::FwmarkRule>,
    /// `rvs_drain_timeout SECONDS`: a real server removed from the file by a reload is first
    /// set to weight 0 and deleted once it has no active connection, or after this many
    /// seconds. 0 (the default) deletes it at once, as keepalived does.
    pub drain_timeout: u32,
}

/// One entry of a `virtual_server_group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupEntry {
    /// `IP [PORT]`, `IP-LAST [PORT]`, `IP-IP [PORT]` or `IP/PREFIX [PORT]`: every address from
    /// `first` to `last` (inclusive; equal for a single address).
    Range {
        /// First address.
        first: IpAddr,
        /// Last address.
        last: IpAddr,
        /// Port (0 = none).
        port: u16,
        /// Where the entry is.
        pos: Pos,
    },
    /// `fwmark N [inet|inet6]`.
    Fwmark {
        /// The mark.
        mark: u32,
        /// Family, if given.
        af: Option<Af>,
        /// Where the entry is.
        pos: Pos,
    },
}

/// `virtual_server_group NAME { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualServerGroup {
    /// Name.
    pub name: String,
    /// Entries in file order.
    pub entries: Vec<GroupEntry>,
    /// Where it is defined.
    pub pos: Pos,
}

/// What a `virtual_server` header names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VsTarget {
    /// `virtual_server IP [PORT]` (port 0 when absent).
    Addr(IpAddr, u16),
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

/// Forwarding method (`lvs_method` / `lb_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `NAT` (keepalived's default).
    Nat,
    /// `DR`.
    Dr,
    /// `TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`.
    Tun(TunConfig),
    /// `FNAT` / `FULLNAT` (rvs extension, as DPVS's keepalived spells it).
    FullNat,
}

impl Method {
    /// The rvs-core forwarding method.
    pub fn fwd(self) -> rvs_core::FwdMethod {
        match self {
            Method::Nat => rvs_core::FwdMethod::Masq,
            Method::Dr => rvs_core::FwdMethod::Route,
            Method::Tun(_) => rvs_core::FwdMethod::Tunnel,
            Method::FullNat => rvs_core::FwdMethod::FullNat,
        }
    }

    /// Tunnel options (defaults unless `Tun`).
    pub fn tun(self) -> TunConfig {
        match self {
            Method::Tun(t) => t,
            _ => TunConfig::default(),
        }
    }
}

/// Timers and retry counts shared by virtual server, real server and checker levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckTiming {
    /// `delay_loop` (default 60 s).
    pub delay_loop: Duration,
    /// `connect_timeout` (default 5 s).
    pub connect_timeout: Duration,
    /// `retry` / `nb_get_retry` (checker default: 1; MISC_CHECK 0; DNS_CHECK 3).
    pub retry: u32,
    /// `delay_before_retry` (default 1 s; HTTP/SSL 3 s; DNS = delay_loop).
    pub delay_before_retry: Duration,
    /// `warmup`: maximum random delay before the first check (default = delay_loop).
    pub warmup: Duration,
    /// `alpha`: start as failed until the first success.
    pub alpha: bool,
}

/// `virtual_server`.
#[derive(Clone, Debug, PartialEq)]
pub struct VirtualServer {
    /// Header target.
    pub target: VsTarget,
    /// Address family (from the address, `ip_family`, or the real servers; IPv4 otherwise).
    pub af: Af,
    /// `protocol` (UDP with a warning when missing on an address service, as keepalived
    /// does; irrelevant for fwmark services).
    pub protocol: Protocol,
    /// `lvs_sched` / `lb_algo` (default wlc).
    pub scheduler: String,
    /// `flag-1/2/3`, `sh-*`, `mh-*` bits (`rvs_core::sched::flags`).
    pub sched_flags: u32,
    /// `ops`.
    pub ops: bool,
    /// `hashed` (accepted, no effect).
    pub hashed: bool,
    /// `lvs_method` / `lb_kind` of the virtual server (default NAT).
    pub method: Method,
    /// `persistence_timeout` (seconds), `None` = not persistent.
    pub persistence_timeout: Option<u32>,
    /// `persistence_granularity`.
    pub persistence_granularity: Option<Netmask>,
    /// `persistence_engine`.
    pub persistence_engine: Option<String>,
    /// Virtual-server-level check defaults.
    pub timing: VsTiming,
    /// `inhibit_on_failure`.
    pub inhibit_on_failure: bool,
    /// `alpha`.
    pub alpha: bool,
    /// `omega`.
    pub omega: bool,
    /// `quorum` (default 1; reduced to the total real-server weight when larger).
    pub quorum: u32,
    /// `hysteresis` (default 0; below quorum).
    pub hysteresis: u32,
    /// `quorum_up` script.
    pub quorum_up: Option<String>,
    /// `quorum_down` script.
    pub quorum_down: Option<String>,
    /// `weight`: default weight of real servers (default 1).
    pub weight: i32,
    /// `virtualhost`.
    pub virtualhost: Option<String>,
    /// `ha_suspend`.
    pub ha_suspend: bool,
    /// `smtp_alert`.
    pub smtp_alert: Option<bool>,
    /// `sorry_server`.
    pub sorry_server: Option<SorryServer>,
    /// `rvs_local_address ADDR` (repeatable; rvs extension): this service's own FULLNAT LIPs.
    pub local_addresses: Vec<IpAddr>,
    /// Real servers (duplicates removed).
    pub real_servers: Vec<RealServer>,
    /// Where the block starts.
    pub pos: Pos,
}

/// Virtual-server-level check settings, `None` where not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VsTiming {
    /// `delay_loop` (default 60 s).
    pub delay_loop: Duration,
    /// `connect_timeout` (default 5 s).
    pub connect_timeout: Duration,
    /// `retry`.
    pub retry: Option<u32>,
    /// `delay_before_retry`.
    pub delay_before_retry: Option<Duration>,
    /// `warmup`.
    pub warmup: Option<Duration>,
}

/// `sorry_server IP [PORT]` with `sorry_server_inhibit` and `sorry_server_lvs_method`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SorryServer {
    /// Address.
    pub addr: IpAddr,
    /// Port (resolved like a real server's).
    pub port: u16,
    /// Forwarding method (inherits the virtual server's).
    pub method: Method,
    /// `sorry_server_inhibit`: installed with weight 0 while not in use.
    pub inhibit: bool,
}

/// `real_server IP [PORT] { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct RealServer {
    /// Address.
    pub addr: IpAddr,
    /// Port: for NAT the given port (the virtual server's when absent); for other methods
    /// the virtual server's port (0 for fwmark services), as keepalived forces it.
    pub port: u16,
    /// `weight` (default: the virtual server's `weight`, 1).
    pub weight: i32,
    /// `lvs_method` (default: the virtual server's).
    pub method: Method,
    /// `uthreshold` (0 = off).
    pub uthreshold: u32,
    /// `lthreshold` (0 = off).
    pub lthreshold: u32,
    /// `inhibit_on_failure` (default: the virtual server's).
    pub inhibit_on_failure: bool,
    /// `alpha` (default: the virtual server's).
    pub alpha: bool,
    /// `notify_up` script.
    pub notify_up: Option<String>,
    /// `notify_down` script.
    pub notify_down: Option<String>,
    /// `virtualhost`.
    pub virtualhost: Option<String>,
    /// `smtp_alert`.
    pub smtp_alert: Option<bool>,
    /// Health checkers, in file order.
    pub checkers: Vec<Checker>,
    /// Where the block starts.
    pub pos: Pos,
}

impl RealServer {
    /// Whether keepalived installs this server as alive at start: no checker starts in
    /// alpha mode (a checker in alpha mode counts as failed until it first succeeds).
    pub fn starts_alive(&self) -> bool {
        !self.checkers.iter().any(|c| c.timing.alpha)
    }
}

/// A health checker block.
#[derive(Clone, Debug, PartialEq)]
pub struct Checker {
    /// Kind and kind-specific options.
    pub kind: CheckerKind,
    /// Timing, fully resolved (checker, then real server, then virtual server, then the
    /// checker type's default).
    pub timing: CheckTiming,
    /// `connect_ip`.
    pub connect_ip: Option<IpAddr>,
    /// `connect_port`.
    pub connect_port: Option<u16>,
    /// `bindto`.
    pub bindto: Option<IpAddr>,
    /// `bind_port`.
    pub bind_port: Option<u16>,
    /// `bind_if`.
    pub bind_if: Option<String>,
    /// `fwmark`.
    pub fwmark: Option<u32>,
    /// `log_all_failures`.
    pub log_all_failures: bool,
    /// Where the block starts.
    pub pos: Pos,
}

/// Checker kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckerKind {
    /// `TCP_CHECK`.
    Tcp,
    /// `HTTP_GET`.
    Http(HttpCheck),
    /// `SSL_GET`.
    Ssl(HttpCheck),
    /// `MISC_CHECK`.
    Misc(MiscCheck),
    /// `DNS_CHECK`.
    Dns(DnsCheck),
    /// `SMTP_CHECK`.
    Smtp(SmtpCheck),
    /// `PING_CHECK`.
    Ping,
    /// `UDP_CHECK`.
    Udp(UdpCheck),
    /// `FILE_CHECK`.
    File(FileCheck),
    /// `BFD_CHECK`.
    Bfd(String),
}

impl CheckerKind {
    /// The keyword that opens the block.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Http(_) => "HTTP_GET",
            CheckerKind::Ssl(_) => "SSL_GET",
            CheckerKind::Misc(_) => "MISC_CHECK",
            CheckerKind::Dns(_) => "DNS_CHECK",
            CheckerKind::Smtp(_) => "SMTP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
            CheckerKind::Udp(_) => "UDP_CHECK",
            CheckerKind::File(_) => "FILE_CHECK",
            CheckerKind::Bfd(_) => "BFD_CHECK",
        }
    }
}

/// HTTP version `HTTP_GET` speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpProtocol {
    /// `1.0` (default).
    #[default]
    V1_0,
    /// `1.0C`: 1.0 with `Connection: close`.
    V1_0C,
    /// `1.1`.
    V1_1,
}

/// `HTTP_GET` / `SSL_GET` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpCheck {
    /// `url` blocks (at least one).
    pub urls: Vec<Url>,
    /// `http_protocol`.
    pub http_protocol: HttpProtocol,
    /// `virtualhost` (Host header).
    pub virtualhost: Option<String>,
    /// `fast_recovery`.
    pub fast_recovery: bool,
    /// `enable_sni` (SSL_GET).
    pub enable_sni: bool,
}

/// `url { path ...; digest ...; status_code ...; virtualhost ...; regex ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `path` (required).
    pub path: String,
    /// `digest`: MD5 of the body, 32 lowercase hex digits.
    pub digest: Option<String>,
    /// `status_code` ranges (inclusive); default 200-299.
    pub status_codes: Vec<(u16, u16)>,
    /// `virtualhost`.
    pub virtualhost: Option<String>,
    /// `regex`.
    pub regex: Option<String>,
    /// `regex_no_match`.
    pub regex_no_match: bool,
}

/// `MISC_CHECK` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiscCheck {
    /// `misc_path` (required): the command line.
    pub path: String,
    /// `misc_timeout` (default: the checker's delay_loop).
    pub timeout: Option<Duration>,
    /// `misc_dynamic`: exit code 2..255 sets weight = code − 2.
    pub dynamic: bool,
    /// `user USER [GROUP]`.
    pub user: Option<String>,
}

/// `DNS_CHECK` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsCheck {
    /// `type` (default SOA).
    pub qtype: String,
    /// `name` (default `.`).
    pub name: String,
}

/// `SMTP_CHECK` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmtpCheck {
    /// `helo_name`.
    pub helo_name: Option<String>,
}

/// `UDP_CHECK` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpCheck {
    /// `payload` (hex bytes).
    pub payload: Option<Vec<u8>>,
    /// `require_reply [HEX]`.
    pub require_reply: bool,
    /// `min_reply_length`.
    pub min_reply_length: Option<u32>,
    /// `max_reply_length`.
    pub max_reply_length: Option<u32>,
}

/// `FILE_CHECK` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileCheck {
    /// `track_file NAME`.
    pub track_file: String,
    /// `weight W [reverse]`.
    pub weight: i32,
}

/// Initial VRRP state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VrrpState {
    /// `MASTER`.
    Master,
    /// `BACKUP`.
    Backup,
}

/// A `virtual_ipaddress` line: `IP[/PREFIX] [brd IP] [dev IF] [scope S] [label L] ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vip {
    /// Address.
    pub addr: IpAddr,
    /// Prefix length (default 32 / 128).
    pub prefix: u8,
    /// `brd`.
    pub brd: Option<IpAddr>,
    /// `dev`.
    pub dev: Option<String>,
    /// `scope` (`global`, `host`, `link`, `site`, `nowhere` or a number).
    pub scope: Option<String>,
    /// `label`.
    pub label: Option<String>,
    /// Where the line is.
    pub pos: Pos,
}

/// `authentication { auth_type PASS|AH; auth_pass P }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpAuth {
    /// `auth_type`.
    pub kind: AuthType,
    /// `auth_pass`, truncated to 8 bytes as keepalived does.
    pub pass: String,
}

/// VRRPv2 authentication types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    /// `PASS`: simple text.
    Pass,
    /// `AH`: IPsec AH.
    Ah,
}

/// A tracked interface or script with its weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// Interface or script name.
    pub name: String,
    /// Weight override (-253..253); `None` = the script's own / 0.
    pub weight: Option<i32>,
    /// `reverse`.
    pub reverse: bool,
    /// Where.
    pub pos: Pos,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct VrrpInstance {
    /// Name.
    pub name: String,
    /// `state` (initial; `None` = BACKUP, keepalived's default).
    pub state: Option<VrrpState>,
    /// `interface`.
    pub interface: Option<String>,
    /// `virtual_router_id` 1..255 (required).
    pub virtual_router_id: u8,
    /// `priority` 1..255 (default 100).
    pub priority: u8,
    /// `advert_int` (default 1 s).
    pub advert_int: Duration,
    /// `version` (default: global `vrrp_version`; 3 for IPv6).
    pub version: u8,
    /// `virtual_ipaddress`.
    pub virtual_ipaddress: Vec<Vip>,
    /// `virtual_ipaddress_excluded`.
    pub virtual_ipaddress_excluded: Vec<Vip>,
    /// `mcast_src_ip`.
    pub mcast_src_ip: Option<IpAddr>,
    /// `unicast_src_ip`.
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { IP ... }`.
    pub unicast_peers: Vec<IpAddr>,
    /// `authentication`.
    pub authentication: Option<VrrpAuth>,
    /// `nopreempt` (default: preempt).
    pub nopreempt: bool,
    /// `preempt_delay` 0..1000 s.
    pub preempt_delay: Duration,
    /// `track_interface`.
    pub track_interface: Vec<Track>,
    /// `track_script`.
    pub track_script: Vec<Track>,
    /// `notify_master`.
    pub notify_master: Option<String>,
    /// `notify_backup`.
    pub notify_backup: Option<String>,
    /// `notify_fault`.
    pub notify_fault: Option<String>,
    /// `notify_stop`.
    pub notify_stop: Option<String>,
    /// `notify`.
    pub notify: Option<String>,
    /// `garp_master_delay` (default: global `vrrp_garp_master_delay`).
    pub garp_master_delay: u32,
    /// `garp_master_repeat` (default: global `vrrp_garp_master_repeat`).
    pub garp_master_repeat: u32,
    /// `use_vmac [NAME]`: `Some("")` when given without a name.
    pub use_vmac: Option<String>,
    /// `accept` / `no_accept` (`None` = keepalived's default: accept unless vrrp_strict).
    pub accept: Option<bool>,
    /// `dont_track_primary`.
    pub dont_track_primary: bool,
    /// Where the block starts.
    pub pos: Pos,
}

/// `vrrp_script NAME { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpScript {
    /// Name.
    pub name: String,
    /// `script` (required).
    pub script: String,
    /// `interval` (default 1 s).
    pub interval: Duration,
    /// `timeout` (default: interval).
    pub timeout: Duration,
    /// `weight` -253..253 (default 0).
    pub weight: i32,
    /// `weight W reverse`.
    pub reverse: bool,
    /// `rise` (default 1).
    pub rise: u32,
    /// `fall` (default 1).
    pub fall: u32,
    /// `user USER [GROUP]`.
    pub user: Option<String>,
    /// `init_fail`.
    pub init_fail: bool,
    /// Where.
    pub pos: Pos,
}

/// `vrrp_sync_group NAME { group { I1 I2 } ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpSyncGroup {
    /// Name.
    pub name: String,
    /// Member instances.
    pub group: Vec<String>,
    /// `track_interface`.
    pub track_interface: Vec<Track>,
    /// `track_script`.
    pub track_script: Vec<Track>,
    /// `notify_master`.
    pub notify_master: Option<String>,
    /// `notify_backup`.
    pub notify_backup: Option<String>,
    /// `notify_fault`.
    pub notify_fault: Option<String>,
    /// `notify_stop`.
    pub notify_stop: Option<String>,
    /// `notify`.
    pub notify: Option<String>,
    /// Where.
    pub pos: Pos,
}
