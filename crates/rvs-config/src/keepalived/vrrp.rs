//! `vrrp_instance`, `vrrp_script`, `vrrp_sync_group`: parsed and validated (types, ranges,
//! required fields, references); their behaviour belongs to rvs-vrrp.

use std::time::Duration;

use super::diag::Diags;
use super::model::{
    AuthType, GlobalDefs, Track, Vip, VrrpAuth, VrrpInstance, VrrpScript, VrrpState, VrrpSyncGroup,
};
use super::tree::Node;
use super::values::{int, ip, need, parse_int, parse_ip, parse_uint, rest, timer, uint};

/// `vrrp_instance` keywords keepalived knows that rvs accepts without using.
const INSTANCE_IGNORED: &[&str] = &[
    "use_vmac_addr",
    "vmac_xmit_base",
    "use_ipvlan",
    "unicast_fault_no_peer",
    "check_unicast_src",
    "old_unicast_checksum",
    "native_ipv6",
    "vrf",
    "track_file",
    "track_process",
    "track_bfd",
    "mcast_dst_ip",
    "track_src_ip",
    "unicast_ttl",
    "promote_secondaries",
    "linkbeat_use_polling",
    "virtual_routes",
    "virtual_rules",
    "skip_check_adv_addr",
    "strict_mode",
    "debug",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "smtp_alert",
    "notify_priority_changes",
    "lvs_sync_daemon_interface",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "down_timer_adverts",
    "garp_extra_if",
    "vmac_garp_intvl",
    "lower_prio_no_advert",
    "higher_prio_send_advert",
    "kernel_rx_buf_size",
    "preempt",
];

/// Reads `vrrp_instance NAME { ... }`.
pub(crate) fn instance(n: &Node, g: &GlobalDefs, d: &mut Diags) -> Option<VrrpInstance> {
    let name = need(n, 0, d)?.to_string();
    let mut v = VrrpInstance {
        name,
        state: None,
        interface: None,
        virtual_router_id: 0,
        priority: 100,
        advert_int: Duration::from_secs(1),
        version: g.vrrp_version,
        virtual_ipaddress: Vec::new(),
        virtual_ipaddress_excluded: Vec::new(),
        mcast_src_ip: None,
        unicast_src_ip: None,
        unicast_peers: Vec::new(),
        authentication: None,
        nopreempt: false,
        preempt_delay: Duration::ZERO,
        track_interface: Vec::new(),
        track_script: Vec::new(),
        notify_master: None,
        notify_backup: None,
        notify_fault: None,
        notify_stop: None,
        notify: None,
        garp_master_delay: g.vrrp_garp_master_delay,
        garp_master_repeat: g.vrrp_garp_master_repeat,
        use_vmac: None,
        accept: None,
        dont_track_primary: false,
        pos: n.pos().clone(),
    };
    let mut have_vrid = false;
    let mut version_given = false;
    let mut priority_given = false;
    for k in n.children() {
        match k.kw() {
            "state" => match need(k, 0, d) {
                Some("MASTER") => v.state = Some(VrrpState::Master),
                Some("BACKUP") => v.state = Some(VrrpState::Backup),
                Some(s) => d.err(
                    k.arg_pos(0),
                    format!("unknown state '{s}': expected MASTER or BACKUP"),
                ),
                None => {}
            },
            "interface" => {
                if let Some(s) = need(k, 0, d) {
                    if s.len() > 15 {
                        d.err(
                            k.arg_pos(0),
                            format!("interface name '{s}' is too long (at most 15 bytes)"),
                        );
                    } else {
                        v.interface = Some(s.to_string());
                    }
                }
            }
            "virtual_router_id" => {
                if let Some(x) = uint(k, 0, 1, 255, d) {
                    v.virtual_router_id = x as u8;
                    have_vrid = true;
                }
            }
            "priority" => {
                if let Some(x) = uint(k, 0, 1, 255, d) {
                    v.priority = x as u8;
                    priority_given = true;
                }
            }
            "advert_int" => {
                if let Some(t) = timer(k, 0, Duration::ZERO, d) {
                    if t.is_zero() || t > Duration::from_secs(255) {
                        d.err(k.arg_pos(0), format!("invalid advert_int '{}': expected more than 0 and at most 255 seconds", k.arg(0).unwrap_or("")));
                    } else {
                        v.advert_int = t;
                    }
                }
            }
            "version" => {
                if let Some(x) = uint(k, 0, 2, 3, d) {
                    v.version = x as u8;
                    version_given = true;
                }
            }
            "virtual_ipaddress" => vips(k, &mut v.virtual_ipaddress, d),
            "virtual_ipaddress_excluded" => vips(k, &mut v.virtual_ipaddress_excluded, d),
            "mcast_src_ip" => v.mcast_src_ip = ip(k, 0, d),
            "unicast_src_ip" => v.unicast_src_ip = ip(k, 0, d),
            "unicast_peer" => {
                for w in words(k) {
                    match parse_ip(&w.text) {
                        Some(a) => v.unicast_peers.push(a),
                        None => d.err(&w.pos, format!("invalid unicast_peer address '{}'", w.text)),
                    }
                }
            }
            "authentication" => v.authentication = auth(k, d),
            "nopreempt" => v.nopreempt = true,
            "preempt_delay" => {
                if let Some(t) = timer(k, 0, Duration::ZERO, d) {
                    if t > Duration::from_secs(1000) {
                        d.err(
                            k.arg_pos(0),
                            format!(
                                "invalid preempt_delay '{}': expected 0..1000 seconds",
                                k.arg(0).unwrap_or("")
                            ),
                        );
                    } else {
                        v.preempt_delay = t;
                    }
                }
            }
            "track_interface" => tracks(k, &mut v.track_interface, d),
            "track_script" => tracks(k, &mut v.track_script, d),
            "notify_master" => v.notify_master = rest(k, d),
            "notify_backup" => v.notify_backup = rest(k, d),
            "notify_fault" => v.notify_fault = rest(k, d),
            "notify_stop" => v.notify_stop = rest(k, d),
            "notify" => v.notify = rest(k, d),
            "garp_master_delay" => {
                if let Some(x) = uint(k, 0, 0, 86400, d) {
                    v.garp_master_delay = x as u32;
                }
            }
            "garp_master_repeat" => {
                if let Some(x) = uint(k, 0, 1, 65535, d) {
                    v.garp_master_repeat = x as u32;
                }
            }
            "use_vmac" => v.use_vmac = Some(k.arg(0).unwrap_or("").to_string()),
            "accept" => v.accept = Some(true),
            "no_accept" => v.accept = Some(false),
            "dont_track_primary" => v.dont_track_primary = true,
            kw if INSTANCE_IGNORED.contains(&kw) => {}
            kw => d.warn(k.pos(), format!("unknown keyword '{kw}' in vrrp_instance")),
        }
    }
    if !have_vrid {
        d.err(
            n.pos(),
            format!("vrrp_instance {}: virtual_router_id is required", v.name),
        );
    }
    // keepalived (vrrp.c, vrrp_complete_instance): without `priority`, `state MASTER`
    // means the address owner.
    if !priority_given && v.state == Some(VrrpState::Master) {
        v.priority = 255;
    }
    let v6 = v
        .virtual_ipaddress
        .first()
        .is_some_and(|x| x.addr.is_ipv6());
    if v6 && !version_given {
        v.version = 3;
    }
    if v.virtual_ipaddress.iter().any(|x| x.addr.is_ipv6() != v6) {
        d.err(
            n.pos(),
            format!(
                "vrrp_instance {}: virtual_ipaddress mixes IPv4 and IPv6",
                v.name
            ),
        );
    }
    if v.version == 3 && v.authentication.is_some() {
        d.warn(
            n.pos(),
            format!(
                "vrrp_instance {}: authentication is not supported by VRRPv3 - ignoring",
                v.name
            ),
        );
        v.authentication = None;
    }
    if v.version == 2 && v.advert_int.subsec_nanos() != 0 {
        d.warn(
            n.pos(),
            format!(
                "vrrp_instance {}: VRRPv2 advert_int must be whole seconds - rounding",
                v.name
            ),
        );
        let s = (v.advert_int.as_secs_f64().round() as u64).max(1);
        v.advert_int = Duration::from_secs(s);
    }
    if v.version == 3 && v.advert_int > Duration::from_millis(40950) {
        d.err(
            n.pos(),
            format!(
                "vrrp_instance {}: VRRPv3 advert_int must be at most 40.95 seconds",
                v.name
            ),
        );
    }
    if (v.nopreempt || !v.preempt_delay.is_zero()) && v.state == Some(VrrpState::Master) {
        d.warn(
            n.pos(),
            format!(
                "vrrp_instance {}: nopreempt/preempt_delay need initial state BACKUP",
                v.name
            ),
        );
    }
    if v.priority == 255 && v.state == Some(VrrpState::Backup) {
        d.warn(
            n.pos(),
            format!(
                "vrrp_instance {}: priority 255 (address owner) with state BACKUP",
                v.name
            ),
        );
    }
    Some(v)
}

/// All words of a value block (one per line or several per line), or of the statement.
fn words(n: &Node) -> Vec<&super::lexer::Tok> {
    let mut out: Vec<&super::lexer::Tok> = n.args.iter().collect();
    for c in n.children() {
        out.push(&c.name);
        out.extend(c.args.iter());
    }
    out
}

fn vips(n: &Node, out: &mut Vec<Vip>, d: &mut Diags) {
    if n.block.is_none() {
        d.err(n.pos(), format!("{} needs a {{ }} block", n.kw()));
        return;
    }
    for line in n.children() {
        if let Some(v) = vip(line, d) {
            out.push(v);
        }
    }
}

/// `IP[/PREFIX] [brd IP] [dev IF] [scope S] [label L] [...]`.
fn vip(l: &Node, d: &mut Diags) -> Option<Vip> {
    let s = l.kw();
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let Some(addr) = parse_ip(a) else {
        d.err(l.pos(), format!("invalid virtual_ipaddress '{s}'"));
        return None;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => max,
        Some(p) => match parse_uint(p).filter(|v| *v <= max) {
            Some(v) => v,
            None => {
                d.err(l.pos(), format!("invalid prefix length in '{s}'"));
                return None;
            }
        },
    };
    let mut v = Vip {
        addr,
        prefix: prefix as u8,
        brd: None,
        dev: None,
        scope: None,
        label: None,
        pos: l.pos().clone(),
    };
    let mut i = 0;
    while i < l.args.len() {
        let w = l.args[i].text.as_str();
        let val = l.args.get(i + 1);
        let Some(val) = val.filter(|_| {
            matches!(
                w,
                "brd"
                    | "broadcast"
                    | "dev"
                    | "scope"
                    | "label"
                    | "track_group"
                    | "preferred_lft"
                    | "metric"
            )
        }) else {
            match w {
                "no_track" | "home" | "-nodad" | "nodad" | "noprefixroute" | "autojoin" => {}
                // keepalived warns and goes on (`{ A B }` on one line: A only).
                _ => d.warn(
                    &l.args[i].pos,
                    format!("Unknown configuration entry '{w}' for ip address - ignoring"),
                ),
            }
            i += 1;
            continue;
        };
        match w {
            "brd" | "broadcast" => match parse_ip(&val.text) {
                Some(b) if b.is_ipv4() == addr.is_ipv4() => v.brd = Some(b),
                _ => d.err(&val.pos, format!("invalid brd '{}'", val.text)),
            },
            "dev" => v.dev = Some(val.text.clone()),
            "scope" => {
                let ok = matches!(
                    val.text.as_str(),
                    "global" | "host" | "link" | "site" | "nowhere"
                ) || parse_uint(&val.text).is_some_and(|x| x <= 255);
                if ok {
                    v.scope = Some(val.text.clone());
                } else {
                    d.err(&val.pos, format!("invalid scope '{}'", val.text));
                }
            }
            "label" => v.label = Some(val.text.clone()),
            _ => {}
        }
        i += 2;
    }
    Some(v)
}

fn auth(n: &Node, d: &mut Diags) -> Option<VrrpAuth> {
    let mut kind = None;
    let mut pass = None;
    for k in n.children() {
        match k.kw() {
            "auth_type" => match need(k, 0, d) {
                Some("PASS") => kind = Some(AuthType::Pass),
                Some("AH") => kind = Some(AuthType::Ah),
                Some(s) => d.err(
                    k.arg_pos(0),
                    format!("unknown auth_type '{s}': expected PASS or AH"),
                ),
                None => {}
            },
            "auth_pass" => {
                if let Some(p) = need(k, 0, d) {
                    let mut p = p.to_string();
                    if p.len() > 8 {
                        d.warn(
                            k.arg_pos(0),
                            "auth_pass is longer than 8 characters - truncating",
                        );
                        let mut cut = 8;
                        while !p.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        p.truncate(cut);
                    }
                    pass = Some(p);
                }
            }
            kw => d.warn(k.pos(), format!("unknown keyword '{kw}' in authentication")),
        }
    }
    match (kind, pass) {
        (Some(kind), Some(pass)) => Some(VrrpAuth { kind, pass }),
        (Some(kind), None) if kind == AuthType::Ah => Some(VrrpAuth {
            kind,
            pass: String::new(),
        }),
        (None, _) => {
            d.err(n.pos(), "authentication needs auth_type");
            None
        }
        (Some(_), None) => {
            d.err(n.pos(), "auth_type PASS needs auth_pass");
            None
        }
    }
}

/// `track_interface { IF [weight W] }`, `track_script { NAME [weight W] [reverse] }`.
fn tracks(n: &Node, out: &mut Vec<Track>, d: &mut Diags) {
    let mut lines: Vec<(&super::lexer::Tok, &[super::lexer::Tok])> = Vec::new();
    if let Some(first) = n.args.first() {
        lines.push((first, &n.args[1..]));
    }
    for c in n.children() {
        lines.push((&c.name, &c.args));
    }
    for (name, args) in lines {
        let mut t = Track {
            name: name.text.clone(),
            weight: None,
            reverse: false,
            pos: name.pos.clone(),
        };
        let mut i = 0;
        while i < args.len() {
            match args[i].text.as_str() {
                "weight" => {
                    match args
                        .get(i + 1)
                        .and_then(|w| parse_int(&w.text))
                        .filter(|w| (-253..=253).contains(w))
                    {
                        Some(w) => t.weight = Some(w as i32),
                        None => d.err(
                            &args[i].pos,
                            format!(
                                "invalid {} weight for '{}': expected -253..253",
                                n.kw(),
                                t.name
                            ),
                        ),
                    }
                    i += 2;
                }
                "reverse" => {
                    t.reverse = true;
                    i += 1;
                }
                other => {
                    d.err(&args[i].pos, format!("invalid {} option '{other}'", n.kw()));
                    i += 1;
                }
            }
        }
        out.push(t);
    }
}

/// Reads `vrrp_script NAME { ... }`.
pub(crate) fn script(n: &Node, d: &mut Diags) -> Option<VrrpScript> {
    let name = need(n, 0, d)?.to_string();
    let mut s = VrrpScript {
        name,
        script: String::new(),
        interval: Duration::from_secs(1),
        timeout: Duration::ZERO,
        weight: 0,
        reverse: false,
        rise: 1,
        fall: 1,
        user: None,
        init_fail: false,
        pos: n.pos().clone(),
    };
    let mut timeout = None;
    for k in n.children() {
        match k.kw() {
            "script" => s.script = rest(k, d).unwrap_or_default(),
            "interval" => {
                s.interval = timer(k, 0, Duration::from_micros(1), d).unwrap_or(s.interval)
            }
            "timeout" => timeout = timer(k, 0, Duration::from_micros(1), d),
            "weight" => {
                s.weight = int(k, 0, -253, 253, d).unwrap_or(0) as i32;
                match k.arg(1) {
                    None => {}
                    Some("reverse") => s.reverse = true,
                    Some(o) => d.err(
                        k.arg_pos(1),
                        format!("invalid weight option '{o}': expected reverse"),
                    ),
                }
            }
            "rise" => s.rise = uint(k, 0, 1, u64::from(u32::MAX), d).map_or(1, |v| v as u32),
            "fall" => s.fall = uint(k, 0, 1, u64::from(u32::MAX), d).map_or(1, |v| v as u32),
            "user" => s.user = rest(k, d),
            "init_fail" => s.init_fail = true,
            kw => d.warn(k.pos(), format!("unknown keyword '{kw}' in vrrp_script")),
        }
    }
    if s.script.is_empty() {
        d.err(n.pos(), format!("vrrp_script {}: no script", s.name));
        return None;
    }
    s.timeout = timeout.unwrap_or(s.interval);
    Some(s)
}

/// Reads `vrrp_sync_group NAME { ... }`.
pub(crate) fn sync_group(n: &Node, d: &mut Diags) -> Option<VrrpSyncGroup> {
    let name = need(n, 0, d)?.to_string();
    let mut g = VrrpSyncGroup {
        name,
        group: Vec::new(),
        track_interface: Vec::new(),
        track_script: Vec::new(),
        notify_master: None,
        notify_backup: None,
        notify_fault: None,
        notify_stop: None,
        notify: None,
        pos: n.pos().clone(),
    };
    for k in n.children() {
        match k.kw() {
            "group" => g.group.extend(words(k).into_iter().map(|t| t.text.clone())),
            "track_interface" => tracks(k, &mut g.track_interface, d),
            "track_script" => tracks(k, &mut g.track_script, d),
            "notify_master" => g.notify_master = rest(k, d),
            "notify_backup" => g.notify_backup = rest(k, d),
            "notify_fault" => g.notify_fault = rest(k, d),
            "notify_stop" => g.notify_stop = rest(k, d),
            "notify" => g.notify = rest(k, d),
            "smtp_alert"
            | "global_tracking"
            | "sync_group_tracking_weight"
            | "notify_priority_changes"
            | "track_file"
            | "track_process"
            | "track_bfd" => {}
            kw => d.warn(
                k.pos(),
                format!("unknown keyword '{kw}' in vrrp_sync_group"),
            ),
        }
    }
    if g.group.is_empty() {
        d.err(
            n.pos(),
            format!("vrrp_sync_group {}: no group members", g.name),
        );
        return None;
    }
    Some(g)
}

/// Cross-references: unique names, tracked scripts exist, sync-group members exist and
/// belong to one group, unique (interface, family, VRID).
pub(crate) fn cross_check(
    instances: &[VrrpInstance],
    scripts: &[VrrpScript],
    groups: &[VrrpSyncGroup],
    d: &mut Diags,
) {
    for (i, a) in instances.iter().enumerate() {
        if instances[..i].iter().any(|b| b.name == a.name) {
            d.err(&a.pos, format!("vrrp_instance {} is defined twice", a.name));
        }
        for t in &a.track_script {
            if !scripts.iter().any(|s| s.name == t.name) {
                d.err(
                    &t.pos,
                    format!("track_script '{}' is not a defined vrrp_script", t.name),
                );
            }
        }
        let fam = |v: &VrrpInstance| {
            v.virtual_ipaddress
                .first()
                .is_some_and(|x| x.addr.is_ipv6())
        };
        if a.virtual_router_id != 0
            && let Some(b) = instances[..i].iter().find(|b| {
                b.virtual_router_id == a.virtual_router_id
                    && b.interface == a.interface
                    && fam(b) == fam(a)
                    && b.unicast_peers.is_empty()
                    && a.unicast_peers.is_empty()
            })
        {
            d.err(
                &a.pos,
                format!(
                    "vrrp_instance {}: virtual_router_id {} is already used by {} on the same interface",
                    a.name, a.virtual_router_id, b.name
                ),
            );
        }
    }
    for (i, s) in scripts.iter().enumerate() {
        if scripts[..i].iter().any(|x| x.name == s.name) {
            d.err(&s.pos, format!("vrrp_script {} is defined twice", s.name));
        }
    }
    let mut member_of: Vec<(&str, &str)> = Vec::new();
    for g in groups {
        for t in &g.track_script {
            if !scripts.iter().any(|s| s.name == t.name) {
                d.err(
                    &t.pos,
                    format!("track_script '{}' is not a defined vrrp_script", t.name),
                );
            }
        }
        for m in &g.group {
            if !instances.iter().any(|x| &x.name == m) {
                d.err(
                    &g.pos,
                    format!("vrrp_sync_group {}: instance '{m}' is not defined", g.name),
                );
            } else if let Some((_, other)) = member_of.iter().find(|(x, _)| x == m) {
                d.err(
                    &g.pos,
                    format!(
                        "vrrp_sync_group {}: instance '{m}' is already in sync group {other}",
                        g.name
                    ),
                );
            } else {
                member_of.push((m, &g.name));
            }
        }
    }
}
