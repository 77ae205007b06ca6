//! `virtual_server_group`, `virtual_server`, `real_server` and `sorry_server`, with
//! keepalived 2.2.7's defaults and its `validate_check_config` fixes (each reported).

use std::net::IpAddr;
use std::time::Duration;

use rvs_core::addr::Netmask;
use rvs_core::dest::{TunConfig, TunCsum, TunType};
use rvs_core::sched::flags as sf;
use rvs_core::{Af, Protocol};

use super::checker::{self, CHECKERS, RawChecker, Timing};
use super::diag::{Diags, Pos};
use super::model::{
    GroupEntry, Method, RealServer, SorryServer, VirtualServer, VirtualServerGroup, VsTarget,
    VsTiming,
};
use super::tree::Node;

/// The largest real-server weight rvs's table takes (ipvsadm's limit; keepalived would pass
/// up to 2147483647 to the kernel).
const MAX_WEIGHT: u64 = 65535;
use super::values::{flag, ip, need, parse_ip, parse_port, parse_uint, rest, uint};

/// The schedulers keepalived 2.2.7 accepts (`lvs_schedulers[]`).
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];

/// keepalived's `IPVS_SVC_PERSISTENT_TIMEOUT`.
pub const PERSISTENT_TIMEOUT: u32 = 360;

/// Most services one configuration may expand to (groups with address ranges).
pub const MAX_SERVICES: u64 = 65536;

/// Reads `virtual_server_group NAME { ... }`.
pub(crate) fn group(n: &Node, d: &mut Diags) -> Option<VirtualServerGroup> {
    let name = need(n, 0, d)?.to_string();
    if n.block.is_none() {
        d.err(
            n.pos(),
            format!("virtual_server_group {name} needs a {{ }} block"),
        );
        return None;
    }
    let mut entries = Vec::new();
    for e in n.children() {
        if let Some(x) = group_entry(e, d) {
            entries.push(x);
        }
    }
    if entries.is_empty() {
        d.warn(
            n.pos(),
            format!("virtual server group {name} has no entries - removing"),
        );
        return None;
    }
    Some(VirtualServerGroup {
        name,
        entries,
        pos: n.pos().clone(),
    })
}

fn group_entry(e: &Node, d: &mut Diags) -> Option<GroupEntry> {
    let pos = e.pos().clone();
    if e.kw() == "fwmark" {
        let mark = uint(e, 0, 0, u64::from(u32::MAX), d)? as u32;
        let af = match e.arg(1) {
            None => None,
            Some("inet") => Some(Af::Inet),
            Some("inet6") => Some(Af::Inet6),
            Some(s) => {
                d.err(
                    e.arg_pos(1),
                    format!("fwmark {mark}: unknown family '{s}': expected inet or inet6"),
                );
                return None;
            }
        };
        return Some(GroupEntry::Fwmark { mark, af, pos });
    }
    let port = match e.arg(0) {
        None => 0,
        Some(s) => match parse_port(s) {
            Some(p) => p,
            None => {
                d.err(
                    e.arg_pos(0),
                    format!("invalid port '{s}' in virtual server group entry"),
                );
                return None;
            }
        },
    };
    let (first, last) = range(e.kw(), &pos, d)?;
    Some(GroupEntry::Range {
        first,
        last,
        port,
        pos,
    })
}

/// `IP`, `IP/PREFIX`, `IP-IP`, `IP-LAST` (last octet, decimal; last 16 bits, hex for IPv6).
fn range(s: &str, pos: &Pos, d: &mut Diags) -> Option<(IpAddr, IpAddr)> {
    let bad = |d: &mut Diags, m: String| {
        d.err(pos, m);
        None
    };
    if let Some((a, m)) = s.split_once('/') {
        let Some(addr) = parse_ip(a) else {
            return bad(d, format!("invalid virtual server group address '{s}'"));
        };
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let Some(m) = parse_uint(m).filter(|m| (1..=bits).contains(m)) else {
            return bad(d, format!("invalid netmask in '{s}'"));
        };
        let v = to_u128(addr);
        let host: u128 = if m == bits {
            0
        } else {
            (1u128 << (bits - m)) - 1
        };
        if v & host != 0 {
            return bad(d, format!("address mask bits not empty in '{s}'"));
        }
        return Some((addr, from_u128(addr, v | host)));
    }
    if let Some((a, b)) = s.split_once('-') {
        let Some(first) = parse_ip(a) else {
            return bad(d, format!("invalid virtual server group address '{s}'"));
        };
        let full = (first.is_ipv4() && b.contains('.')) || (first.is_ipv6() && b.contains(':'));
        if full {
            let Some(last) = parse_ip(b) else {
                return bad(d, format!("invalid range end in '{s}'"));
            };
            if last.is_ipv4() != first.is_ipv4() {
                return bad(d, format!("range address families do not match in '{s}'"));
            }
            if to_u128(last) < to_u128(first) {
                return bad(
                    d,
                    format!("address range end is less than address range start in '{s}'"),
                );
            }
            return Some((first, last));
        }
        let (end, mask, start) = if first.is_ipv4() {
            let end = parse_uint(b).filter(|v| *v <= 255);
            (end, 0xffu128, to_u128(first) & 0xff)
        } else {
            let end = u64::from_str_radix(b, 16).ok().filter(|v| *v <= 0xffff);
            (end, 0xffffu128, to_u128(first) & 0xffff)
        };
        let Some(end) = end else {
            return bad(d, format!("invalid range end in '{s}'"));
        };
        let end = u128::from(end);
        if start >= end {
            return bad(
                d,
                format!("address range end is not greater than address range start in '{s}'"),
            );
        }
        return Some((first, from_u128(first, (to_u128(first) & !mask) | end)));
    }
    match parse_ip(s) {
        Some(a) => Some((a, a)),
        None => bad(d, format!("invalid virtual server group address '{s}'")),
    }
}

/// An address as an integer (IPv4 in the low 32 bits).
pub(crate) fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

/// The inverse of [`to_u128`] in `like`'s family.
pub(crate) fn from_u128(like: IpAddr, v: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::from(u32::try_from(v & 0xffff_ffff).unwrap_or(0).to_be_bytes()),
        IpAddr::V6(_) => IpAddr::from(v.to_be_bytes()),
    }
}

/// `lvs_method` / `lb_kind` arguments.
fn method(n: &Node, d: &mut Diags) -> Option<Method> {
    let m = need(n, 0, d)?;
    let base = match m {
        "NAT" => Method::Nat,
        "DR" => Method::Dr,
        "TUN" => Method::Tun(TunConfig::default()),
        "FNAT" | "FULLNAT" => Method::FullNat,
        _ => {
            d.err(
                n.arg_pos(0),
                format!("unknown {} '{m}': expected NAT, DR, TUN or FULLNAT", n.kw()),
            );
            return None;
        }
    };
    let mut tun = TunConfig::default();
    let mut i = 1;
    while i < n.args.len() {
        let w = n.args[i].text.as_str();
        if !matches!(base, Method::Tun(_)) {
            d.err(
                &n.args[i].pos,
                format!("tunnel option '{w}' is only valid with TUN"),
            );
            return None;
        }
        match w {
            "type" => {
                match n.arg(i + 1) {
                    Some("ipip") => tun.kind = TunType::Ipip,
                    Some("gue") => tun.kind = TunType::Gue,
                    Some("gre") => tun.kind = TunType::Gre,
                    Some(t) => {
                        d.err(
                            n.arg_pos(i + 1),
                            format!("unknown tunnel type '{t}': expected ipip, gue or gre"),
                        );
                        return None;
                    }
                    None => {
                        d.err(&n.args[i].pos, "missing tunnel type");
                        return None;
                    }
                }
                i += 2;
            }
            "port" => {
                match n.arg(i + 1).and_then(parse_port).filter(|p| *p != 0) {
                    Some(p) => tun.port = p,
                    None => {
                        d.err(
                            n.arg_pos(i + 1),
                            "invalid gue tunnel port: expected 1..65535",
                        );
                        return None;
                    }
                }
                i += 2;
            }
            "nocsum" | "csum" | "remcsum" => {
                tun.csum = match w {
                    "nocsum" => TunCsum::NoCsum,
                    "csum" => TunCsum::Csum,
                    _ => TunCsum::RemCsum,
                };
                i += 1;
            }
            other => {
                d.err(&n.args[i].pos, format!("invalid tunnel option '{other}'"));
                return None;
            }
        }
    }
    if (tun.kind == TunType::Gue) != (tun.port != 0) {
        d.err(
            n.pos(),
            "gue tunnels require a port, other tunnel types cannot have one",
        );
        return None;
    }
    if tun.kind == TunType::Ipip && tun.csum != TunCsum::NoCsum {
        d.err(n.pos(), "ipip tunnels do not support a checksum option");
        return None;
    }
    if tun.kind == TunType::Gre && tun.csum == TunCsum::RemCsum {
        d.err(
            n.pos(),
            "gre tunnels do not support the remote checksum option",
        );
        return None;
    }
    Some(match base {
        Method::Tun(_) => Method::Tun(tun),
        m => m,
    })
}

/// A real server as written.
struct RawRs {
    addr: IpAddr,
    port: u16,
    weight: Option<i32>,
    method: Option<Method>,
    uthreshold: u32,
    lthreshold: u32,
    inhibit: Option<bool>,
    timing: Timing,
    notify_up: Option<String>,
    notify_down: Option<String>,
    virtualhost: Option<String>,
    smtp_alert: Option<bool>,
    checkers: Vec<RawChecker>,
    pos: Pos,
}

/// `IP [PORT]` of a real/sorry server header.
fn addr_port(n: &Node, what: &str, d: &mut Diags) -> Option<(IpAddr, u16)> {
    let a = need(n, 0, d)?;
    let Some(addr) = parse_ip(a) else {
        d.err(n.arg_pos(0), format!("invalid {what} address '{a}'"));
        return None;
    };
    let port = match n.arg(1) {
        None => 0,
        Some(p) => match parse_port(p) {
            Some(p) => p,
            None => {
                d.err(
                    n.arg_pos(1),
                    format!("invalid {what} port '{p}': expected 0..65535"),
                );
                return None;
            }
        },
    };
    Some((addr, port))
}

fn real_server(n: &Node, d: &mut Diags) -> Option<RawRs> {
    let (addr, port) = addr_port(n, "real server", d)?;
    let mut rs = RawRs {
        addr,
        port,
        weight: None,
        method: None,
        uthreshold: 0,
        lthreshold: 0,
        inhibit: None,
        timing: Timing::default(),
        notify_up: None,
        notify_down: None,
        virtualhost: None,
        smtp_alert: None,
        checkers: Vec::new(),
        pos: n.pos().clone(),
    };
    for k in n.children() {
        if rs.timing.keyword(k, 1, d) {
            continue;
        }
        match k.kw() {
            "weight" => rs.weight = uint(k, 0, 0, MAX_WEIGHT, d).map(|v| v as i32).or(rs.weight),
            "lvs_method" | "lb_kind" => rs.method = method(k, d).or(rs.method),
            "uthreshold" => {
                rs.uthreshold = uint(k, 0, 0, u64::from(u32::MAX), d).unwrap_or(0) as u32
            }
            "lthreshold" => {
                rs.lthreshold = uint(k, 0, 0, u64::from(u32::MAX), d).unwrap_or(0) as u32
            }
            "inhibit_on_failure" => rs.inhibit = flag(k, d).or(rs.inhibit),
            "notify_up" => script_once(k, &mut rs.notify_up, d),
            "notify_down" => script_once(k, &mut rs.notify_down, d),
            "virtualhost" => rs.virtualhost = need(k, 0, d).map(str::to_string),
            "smtp_alert" => rs.smtp_alert = flag(k, d),
            "snmp_name" => {}
            kw if CHECKERS.contains(&kw) => {
                if let Some(c) = checker::build(k, d) {
                    rs.checkers.push(c);
                }
            }
            kw => d.warn(k.pos(), format!("unknown keyword '{kw}' in real_server")),
        }
    }
    if rs.uthreshold != 0 && rs.lthreshold > rs.uthreshold {
        d.err(
            n.pos(),
            format!(
                "real server lthreshold {} is above uthreshold {}",
                rs.lthreshold, rs.uthreshold
            ),
        );
    }
    Some(rs)
}

fn script_once(k: &Node, slot: &mut Option<String>, d: &mut Diags) {
    if slot.is_some() {
        d.err(k.pos(), format!("{} script already specified", k.kw()));
        return;
    }
    *slot = rest(k, d);
}

/// Display name of a virtual server, as keepalived's `FMT_VS` (roughly).
fn vs_name(t: &VsTarget) -> String {
    match t {
        VsTarget::Addr(a, p) => rvs_core::addr::fmt_addr_port(a, *p),
        VsTarget::Fwmark(m) => format!("FWM {m}"),
        VsTarget::Group(g) => format!("group {g}"),
    }
}

/// Reads `virtual_server ... { ... }` and applies keepalived's validation.
pub(crate) fn virtual_server(
    n: &Node,
    groups: &[VirtualServerGroup],
    d: &mut Diags,
) -> Option<VirtualServer> {
    let p1 = need(n, 0, d)?;
    let target = match p1 {
        "group" => VsTarget::Group(need(n, 1, d)?.to_string()),
        "fwmark" => VsTarget::Fwmark(uint(n, 1, 0, u64::from(u32::MAX), d)? as u32),
        a => {
            let Some(addr) = parse_ip(a) else {
                d.err(
                    n.arg_pos(0),
                    format!("invalid virtual server address '{a}'"),
                );
                return None;
            };
            let port = match n.arg(1) {
                None => 0,
                Some(p) => match parse_port(p) {
                    Some(p) => p,
                    None => {
                        d.err(
                            n.arg_pos(1),
                            format!("invalid virtual server port '{p}': expected 0..65535"),
                        );
                        return None;
                    }
                },
            };
            VsTarget::Addr(addr, port)
        }
    };
    if n.block.is_none() {
        d.err(n.pos(), "virtual_server needs a { } block");
        return None;
    }
    let group = match &target {
        VsTarget::Group(g) => match groups.iter().find(|x| &x.name == g) {
            Some(x) => Some(x),
            None => {
                d.err(
                    n.arg_pos(1),
                    format!("virtual_server_group '{g}' is not defined"),
                );
                return None;
            }
        },
        _ => None,
    };
    let name = vs_name(&target);
    let mut af: Option<Af> = match &target {
        VsTarget::Addr(a, _) => Some(Af::of(a)),
        _ => None,
    };
    let mut protocol: Option<Protocol> = None;
    let mut scheduler: Option<String> = None;
    let mut sched_flags = 0u32;
    let mut ops = false;
    let mut hashed = false;
    let mut vs_method: Option<Method> = None;
    let mut persistence: Option<u32> = None;
    let mut granularity: Option<Netmask> = None;
    let mut pe: Option<String> = None;
    let mut timing = Timing::default();
    let mut inhibit = false;
    let mut omega = false;
    let mut quorum = 1u32;
    let mut hysteresis = 0u32;
    let mut quorum_up = None;
    let mut quorum_down = None;
    let mut weight = 1i32;
    let mut virtualhost = None;
    let mut ha_suspend = false;
    let mut smtp_alert = None;
    let mut sorry: Option<(IpAddr, u16, Option<Method>, bool, Pos)> = None;
    let mut lips = Vec::new();
    let mut rss: Vec<RawRs> = Vec::new();

    for k in n.children() {
        if k.kw() != "alpha" && timing.keyword(k, 1, d) {
            continue;
        }
        match k.kw() {
            "alpha" => timing.alpha = Some(true),
            "ip_family" => {
                match need(k, 0, d) {
                    Some(f @ ("inet" | "inet6")) => {
                        let new = if f == "inet" { Af::Inet } else { Af::Inet6 };
                        if af.is_some_and(|a| a != new) {
                            d.err(k.arg_pos(0), format!("ip_family {f} conflicts with the virtual server's address family"));
                        } else {
                            af = Some(new);
                        }
                    }
                    Some(f) => d.err(
                        k.arg_pos(0),
                        format!("unknown address family '{f}': expected inet or inet6"),
                    ),
                    None => {}
                }
            }
            "inhibit_on_failure" => inhibit = true,
            "lb_algo" | "lvs_sched" => {
                if let Some(s) = need(k, 0, d) {
                    if SCHEDULERS.contains(&s) {
                        scheduler = Some(s.to_string());
                    } else {
                        d.err(
                            k.arg_pos(0),
                            format!(
                                "invalid {} '{s}': expected one of {}",
                                k.kw(),
                                SCHEDULERS.join(" ")
                            ),
                        );
                    }
                }
            }
            "hashed" => hashed = true,
            "ops" => ops = true,
            "flag-1" => sched_flags |= sf::SCHED1,
            "flag-2" => sched_flags |= sf::SCHED2,
            "flag-3" => sched_flags |= sf::SCHED3,
            f @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback") => {
                let s = scheduler.as_deref().unwrap_or("");
                if s != &f[..2] {
                    d.err(
                        k.pos(),
                        format!(
                            "{f} only applies to the {} scheduler (set lvs_sched {} before it)",
                            &f[..2],
                            &f[..2]
                        ),
                    );
                } else if f.ends_with("fallback") {
                    sched_flags |= sf::SCHED1;
                } else {
                    sched_flags |= sf::SCHED2;
                }
            }
            "lb_kind" | "lvs_method" => vs_method = method(k, d).or(vs_method),
            "persistence_engine" => pe = need(k, 0, d).map(str::to_string),
            "persistence_timeout" => match k.arg(0) {
                None => persistence = Some(PERSISTENT_TIMEOUT),
                Some(_) => {
                    if let Some(v) = uint(k, 0, 1, u64::from(crate::ipvsadm::MAX_TIMEOUT), d) {
                        persistence = Some(v as u32);
                    }
                }
            },
            "persistence_granularity" => {
                if let Some(s) = need(k, 0, d) {
                    let fam = af.unwrap_or(if s.contains('.') { Af::Inet } else { Af::Inet6 });
                    let m = match fam {
                        Af::Inet6 => parse_uint(s)
                            .filter(|v| (1..=128).contains(v))
                            .map(|v| Netmask::V6(v as u8)),
                        Af::Inet => s
                            .parse::<std::net::Ipv4Addr>()
                            .ok()
                            .map(|a| Netmask::V4(u32::from(a))),
                    };
                    match m {
                        Some(m) => {
                            granularity = Some(m);
                            af.get_or_insert(fam);
                            persistence.get_or_insert(PERSISTENT_TIMEOUT);
                        }
                        None => d.err(
                            k.arg_pos(0),
                            format!(
                                "invalid {} persistence_granularity '{s}': expected {}",
                                if fam == Af::Inet { "IPv4" } else { "IPv6" },
                                if fam == Af::Inet {
                                    "a dotted netmask"
                                } else {
                                    "a prefix length 1..128"
                                }
                            ),
                        ),
                    }
                }
            }
            "protocol" => match need(k, 0, d).map(str::to_ascii_uppercase).as_deref() {
                Some("TCP") => protocol = Some(Protocol::Tcp),
                Some("UDP") => protocol = Some(Protocol::Udp),
                Some("SCTP") => protocol = Some(Protocol::Sctp),
                Some(_) => d.err(
                    k.arg_pos(0),
                    format!(
                        "unknown protocol '{}': expected TCP, UDP or SCTP",
                        k.arg(0).unwrap_or("")
                    ),
                ),
                None => {}
            },
            "ha_suspend" => ha_suspend = true,
            "smtp_alert" => smtp_alert = flag(k, d),
            "virtualhost" => virtualhost = need(k, 0, d).map(str::to_string),
            "snmp_name" => {}
            "omega" => omega = true,
            "quorum_up" => script_once(k, &mut quorum_up, d),
            "quorum_down" => script_once(k, &mut quorum_down, d),
            "quorum" => quorum = uint(k, 0, 1, u64::from(u32::MAX), d).map_or(quorum, |v| v as u32),
            "hysteresis" => {
                hysteresis = uint(k, 0, 0, u64::from(u32::MAX), d).map_or(hysteresis, |v| v as u32)
            }
            "weight" => weight = uint(k, 0, 1, MAX_WEIGHT, d).map_or(weight, |v| v as i32),
            "sorry_server" => {
                if let Some((a, p)) = addr_port(k, "sorry server", d) {
                    if sorry.is_some() {
                        d.warn(k.pos(), "sorry_server given twice - using the last one");
                    }
                    sorry = Some((a, p, None, false, k.pos().clone()));
                }
            }
            "sorry_server_inhibit" => match &mut sorry {
                Some(s) => s.3 = true,
                None => d.err(
                    k.pos(),
                    "sorry_server_inhibit used before or without sorry_server",
                ),
            },
            "sorry_server_lvs_method" => match &mut sorry {
                Some(s) => s.2 = method(k, d).or(s.2),
                None => d.err(
                    k.pos(),
                    "sorry_server_lvs_method used before or without sorry_server",
                ),
            },
            "rvs_local_address" => {
                if let Some(a) = ip(k, 0, d)
                    && !lips.contains(&a)
                {
                    lips.push(a);
                }
            }
            "real_server" => {
                if let Some(rs) = real_server(k, d) {
                    // Address family: tunnelled servers may differ (keepalived rs_end_handler).
                    let m = rs.method.or(vs_method);
                    if !matches!(m, Some(Method::Tun(_))) {
                        let raf = Af::of(&rs.addr);
                        match af {
                            None if group.is_none() => af = Some(raf),
                            Some(a) if a != raf && group.is_none() => {
                                d.err(k.pos(), format!("address family of virtual server and real server {} don't match", rs.addr));
                                continue;
                            }
                            _ => {}
                        }
                    }
                    rss.push(rs);
                }
            }
            kw if CHECKERS.contains(&kw) => {
                d.err(k.pos(), format!("{kw} must be inside a real_server block"));
            }
            kw => d.warn(k.pos(), format!("unknown keyword '{kw}' in virtual_server")),
        }
    }

    if rss.is_empty() {
        d.warn(
            n.pos(),
            format!("virtual server {name} has no real servers - ignoring"),
        );
        return None;
    }
    let has_fwmark = match (&target, group) {
        (VsTarget::Fwmark(_), _) => true,
        (_, Some(g)) => g
            .entries
            .iter()
            .any(|e| matches!(e, GroupEntry::Fwmark { .. })),
        _ => false,
    };
    let has_addr = match (&target, group) {
        (VsTarget::Addr(..), _) => true,
        (_, Some(g)) => g
            .entries
            .iter()
            .any(|e| matches!(e, GroupEntry::Range { .. })),
        _ => false,
    };
    if ha_suspend && has_fwmark {
        d.warn(
            n.pos(),
            format!(
                "virtual server {name}: cannot use ha_suspend with fwmarks - clearing ha_suspend"
            ),
        );
        ha_suspend = false;
    }
    if has_addr {
        if protocol.is_none() {
            d.warn(
                n.pos(),
                format!("virtual server {name}: no protocol set - defaulting to UDP"),
            );
            protocol = Some(Protocol::Udp);
        }
        if ops && protocol != Some(Protocol::Udp) {
            d.warn(
                n.pos(),
                format!("virtual server {name}: one packet scheduling requires UDP - resetting"),
            );
            ops = false;
        }
        if persistence.is_none() {
            let zero = match (&target, group) {
                (VsTarget::Addr(_, 0), _) => true,
                (_, Some(g)) => g
                    .entries
                    .iter()
                    .any(|e| matches!(e, GroupEntry::Range { port: 0, .. })),
                _ => false,
            };
            if zero {
                d.warn(n.pos(), format!("virtual server {name}: zero port only valid for persistent services - setting persistence_timeout {PERSISTENT_TIMEOUT}"));
                persistence = Some(PERSISTENT_TIMEOUT);
            }
        }
    } else if protocol.is_some() {
        d.warn(
            n.pos(),
            format!(
                "virtual server {name}: protocol specified for fwmark - protocol will be ignored"
            ),
        );
        protocol = None;
    }
    let scheduler = scheduler.unwrap_or_else(|| {
        d.warn(
            n.pos(),
            format!("virtual server {name}: no scheduler set, setting default 'wlc'"),
        );
        "wlc".to_string()
    });

    // Forwarding method default (warned once, when some server needs it).
    let needs_default =
        rss.iter().any(|r| r.method.is_none()) || sorry.as_ref().is_some_and(|s| s.2.is_none());
    let vs_method = match vs_method {
        Some(m) => m,
        None => {
            if needs_default {
                d.warn(
                    n.pos(),
                    format!("virtual server {name}: no forwarding method set, setting default NAT"),
                );
            }
            Method::Nat
        }
    };
    let vs_port = match &target {
        VsTarget::Addr(_, p) => *p,
        _ => 0,
    };
    let af = af.unwrap_or_else(|| {
        // fwmark/group with only tunnelled servers: first server's family, else IPv4.
        rss.first().map_or(Af::Inet, |r| Af::of(&r.addr))
    });

    let vs_timing = VsTiming {
        delay_loop: timing.delay_loop.unwrap_or(Duration::from_secs(60)),
        connect_timeout: timing.connect_timeout.unwrap_or(Duration::from_secs(5)),
        retry: timing.retry,
        delay_before_retry: timing.delay_before_retry,
        warmup: timing.warmup,
    };
    let vs_alpha = timing.alpha.unwrap_or(false);

    let mut real_servers: Vec<RealServer> = Vec::new();
    let mut seen: Vec<(IpAddr, u16)> = Vec::new();
    for rs in rss {
        if seen.contains(&(rs.addr, rs.port)) {
            d.warn(
                &rs.pos,
                format!(
                    "virtual server {name}: real server {} is duplicated - removing second rs",
                    rvs_core::addr::fmt_addr_port(&rs.addr, rs.port)
                ),
            );
            continue;
        }
        seen.push((rs.addr, rs.port));
        let method = rs.method.unwrap_or(vs_method);
        let port = server_port(
            &name,
            &target,
            method,
            rs.addr,
            rs.port,
            vs_port,
            "real server",
            &rs.pos,
            d,
        );
        let rs_timing = Timing {
            delay_loop: rs.timing.delay_loop.or(timing.delay_loop),
            connect_timeout: rs.timing.connect_timeout.or(timing.connect_timeout),
            retry: rs.timing.retry.or(timing.retry),
            delay_before_retry: rs.timing.delay_before_retry.or(timing.delay_before_retry),
            warmup: rs.timing.warmup.or(timing.warmup),
            alpha: Some(rs.timing.alpha.unwrap_or(vs_alpha)),
        };
        let checkers = rs
            .checkers
            .into_iter()
            .map(|c| c.resolve(&rs_timing, vs_timing.delay_loop, vs_timing.connect_timeout))
            .collect();
        real_servers.push(RealServer {
            addr: rs.addr,
            port,
            weight: rs.weight.unwrap_or(weight),
            method,
            uthreshold: rs.uthreshold,
            lthreshold: rs.lthreshold,
            inhibit_on_failure: rs.inhibit.unwrap_or(inhibit),
            alpha: rs_timing.alpha.unwrap_or(false),
            notify_up: rs.notify_up,
            notify_down: rs.notify_down,
            virtualhost: rs.virtualhost,
            smtp_alert: rs.smtp_alert,
            checkers,
            pos: rs.pos,
        });
    }

    let sorry_server = sorry.and_then(|(addr, port, m, inh, pos)| {
        let method = m.unwrap_or(vs_method);
        if !matches!(method, Method::Tun(_)) && Af::of(&addr) != af {
            d.err(&pos, format!("address family of virtual server and sorry server {addr} don't match"));
            return None;
        }
        let port = server_port(&name, &target, method, addr, port, vs_port, "sorry server", &pos, d);
        let mut inhibit = inh;
        if let Some(r) = real_servers.iter().find(|r| r.addr == addr && r.port == port)
            && r.inhibit_on_failure != inhibit
        {
            d.warn(&pos, format!("virtual server {name}: real server {addr} matches sorry server, but inhibit setting differs - using the real server's"));
            inhibit = r.inhibit_on_failure;
        }
        Some(SorryServer { addr, port, method, inhibit })
    });

    let total: u64 = real_servers.iter().map(|r| r.weight.max(0) as u64).sum();
    if u64::from(quorum) > total {
        let t = u32::try_from(total).unwrap_or(u32::MAX);
        d.warn(n.pos(), format!("quorum {quorum} for virtual server {name} exceeds total weight of real servers {t}, reducing quorum to {t}"));
        quorum = t;
    }
    if hysteresis >= quorum && hysteresis > 0 {
        let h = quorum.saturating_sub(1);
        d.warn(n.pos(), format!("virtual server {name}: hysteresis {hysteresis} >= quorum {quorum}; setting hysteresis to {h}"));
        hysteresis = h;
    }

    // Group entries: families must fit non-tunnel servers.
    if let Some(g) = group {
        for e in &g.entries {
            let (eaf, epos) = match e {
                GroupEntry::Range { first, pos, .. } => (Af::of(first), pos),
                GroupEntry::Fwmark {
                    af: Some(a), pos, ..
                } => (*a, pos),
                GroupEntry::Fwmark { .. } => continue,
            };
            for r in &real_servers {
                if !matches!(r.method, Method::Tun(_)) && Af::of(&r.addr) != eaf {
                    d.err(&r.pos, format!("real server {} and group {} entry at {epos} have different address families", r.addr, g.name));
                }
            }
        }
    }

    Some(VirtualServer {
        target,
        af,
        protocol: protocol.unwrap_or(Protocol::Tcp),
        scheduler,
        sched_flags,
        ops,
        hashed,
        method: vs_method,
        persistence_timeout: persistence,
        persistence_granularity: granularity.filter(|m| !m.is_full()),
        persistence_engine: pe,
        timing: vs_timing,
        inhibit_on_failure: inhibit,
        alpha: vs_alpha,
        omega,
        quorum,
        hysteresis,
        quorum_up,
        quorum_down,
        weight,
        virtualhost,
        ha_suspend,
        smtp_alert,
        sorry_server,
        local_addresses: lips,
        real_servers,
        pos: n.pos().clone(),
    })
}

/// keepalived's port rules: NAT/FULLNAT keep their port (the service's when 0); other
/// methods get the service's port (0 for fwmark services), with a warning when a different
/// one was given. Group services keep the given port (the entry's port when 0, decided when
/// the table is built).
#[allow(clippy::too_many_arguments)]
fn server_port(
    name: &str,
    target: &VsTarget,
    method: Method,
    addr: IpAddr,
    port: u16,
    vs_port: u16,
    what: &str,
    pos: &Pos,
    d: &mut Diags,
) -> u16 {
    let nat = matches!(method, Method::Nat | Method::FullNat);
    match target {
        VsTarget::Group(_) => port,
        VsTarget::Fwmark(_) => {
            if !nat && port != 0 {
                d.warn(
                    pos,
                    format!(
                        "fwmark virtual server {name}, {what} {addr} has port specified - clearing"
                    ),
                );
                0
            } else {
                port
            }
        }
        VsTarget::Addr(..) => {
            if port == 0 {
                vs_port
            } else if !nat && port != vs_port {
                d.warn(
                    pos,
                    format!(
                        "virtual server {name} and {what} {} ports don't match - resetting",
                        rvs_core::addr::fmt_addr_port(&addr, port)
                    ),
                );
                vs_port
            } else {
                port
            }
        }
    }
}
