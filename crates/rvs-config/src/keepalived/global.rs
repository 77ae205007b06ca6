//! `global_defs`.

use rvs_core::fwmark::FwmarkRule;

use super::diag::Diags;
use super::model::{FlushOnStop, GlobalDefs, LvsSyncDaemon};
use super::tree::Node;
use super::values::{ip, need, parse_ip, parse_uint, uint};

/// keepalived 2.2.7 `global_defs` keywords rvs accepts without acting on them (mail, SNMP,
/// D-Bus, process scheduling, nftables/iptables, netlink buffers, ...).
const IGNORED: &[&str] = &[
    "process_names",
    "process_name",
    "vrrp_process_name",
    "checker_process_name",
    "lvs_process_name",
    "bfd_process_name",
    "notification_email_from",
    "smtp_server",
    "smtp_helo_name",
    "smtp_connect_timeout",
    "notification_email",
    "smtp_alert",
    "startup_script",
    "startup_script_timeout",
    "shutdown_script",
    "shutdown_script_timeout",
    "max_auto_priority",
    "min_auto_priority_delay",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "checker_log_all_failures",
    "dynamic_interfaces",
    "no_email_faults",
    "disable_local_igmp",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_down_timer_adverts",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_min_garp",
    "vrrp_garp_extra_if",
    "vrrp_vmac_garp_intvl",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_iptables",
    "vrrp_ipsets",
    "nftables",
    "nftables_priority",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "nftables_counters",
    "vrrp_check_unicast_src",
    "vrrp_skip_check_adv_addr",
    "vrrp_priority",
    "vrrp_no_swap",
    "vrrp_rt_priority",
    "vrrp_cpu_affinity",
    "vrrp_rlimit_rttime",
    "vrrp_rlimit_rtime",
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "vrrp_notify_priority_changes",
    "fifo_write_vrrp_states_on_reload",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "checker_priority",
    "checker_no_swap",
    "checker_rt_priority",
    "checker_cpu_affinity",
    "checker_rlimit_rttime",
    "checker_rlimit_rtime",
    "bfd_priority",
    "bfd_no_swap",
    "bfd_rt_priority",
    "bfd_cpu_affinity",
    "bfd_rlimit_rttime",
    "bfd_rlimit_rtime",
    "snmp_socket",
    "enable_traps",
    "enable_snmp_vrrp",
    "enable_snmp_keepalived",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_checker",
    "enable_dbus",
    "dbus_service_name",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "rs_init_notifies",
    "no_checker_emails",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "vrrp_startup_delay",
    "log_unknown_vrids",
    "vmac_prefix",
    "vmac_addr_prefix",
    "umask",
    "random_seed",
    "reload_check_config",
    "reload_time_file",
    "reload_repeat",
    "reload_file",
    "include_check",
    "config_save_dir",
    "tmp_config_directory",
    "data_use_instance",
    "linkbeat_use_polling",
];

/// Reads a `global_defs` block into `g`; `rules` receives `rvs_fwmark_rule` lines.
pub(crate) fn build(node: &Node, g: &mut GlobalDefs, rules: &mut Vec<FwmarkRule>, d: &mut Diags) {
    for n in node.children() {
        match n.kw() {
            "router_id" => g.router_id = need(n, 0, d).map(str::to_string),
            "lvs_timeouts" => lvs_timeouts(n, g, d),
            "lvs_sync_daemon" => {
                if g.lvs_sync_daemon.is_some() {
                    d.err(n.pos(), "lvs_sync_daemon has already been specified");
                } else {
                    g.lvs_sync_daemon = sync_daemon(n, d);
                }
            }
            "lvs_flush" => g.lvs_flush = true,
            "lvs_flush_on_stop" | "lvs_flush_onstop" => match n.arg(0) {
                None => g.lvs_flush_on_stop = Some(FlushOnStop::All),
                Some("VS") => g.lvs_flush_on_stop = Some(FlushOnStop::Vs),
                Some(s) => d.err(
                    n.arg_pos(0),
                    format!("invalid lvs_flush_on_stop '{s}': expected nothing or VS"),
                ),
            },
            "vrrp_version" => {
                if let Some(v) = uint(n, 0, 2, 3, d) {
                    g.vrrp_version = v as u8;
                }
            }
            "vrrp_mcast_group4" => {
                if let Some(a) = ip(n, 0, d) {
                    if a.is_ipv4() && a.is_multicast() {
                        g.vrrp_mcast_group4 = a;
                    } else {
                        d.err(
                            n.arg_pos(0),
                            "vrrp_mcast_group4 must be an IPv4 multicast address",
                        );
                    }
                }
            }
            "vrrp_mcast_group6" => {
                if let Some(a) = ip(n, 0, d) {
                    if a.is_ipv6() && a.is_multicast() {
                        g.vrrp_mcast_group6 = a;
                    } else {
                        d.err(
                            n.arg_pos(0),
                            "vrrp_mcast_group6 must be an IPv6 multicast address",
                        );
                    }
                }
            }
            "vrrp_garp_master_delay" => {
                if let Some(v) = uint(n, 0, 0, 86400, d) {
                    g.vrrp_garp_master_delay = v as u32;
                }
            }
            "vrrp_garp_master_repeat" => {
                if let Some(v) = uint(n, 0, 1, 65535, d) {
                    g.vrrp_garp_master_repeat = v as u32;
                }
            }
            "vrrp_strict" => g.vrrp_strict = true,
            "default_interface" => g.default_interface = need(n, 0, d).map(str::to_string),
            "enable_script_security" => g.enable_script_security = true,
            "script_user" => g.script_user = need(n, 0, d).map(str::to_string),
            "rvs_interface" => {
                if let Some(s) = need(n, 0, d) {
                    if s.len() > 15 {
                        d.err(
                            n.arg_pos(0),
                            format!("interface name '{s}' is too long (at most 15 bytes)"),
                        );
                    } else if g.rvs.interfaces.iter().any(|i| i == s) {
                        d.warn(n.arg_pos(0), format!("rvs_interface '{s}' given twice"));
                    } else {
                        g.rvs.interfaces.push(s.to_string());
                    }
                }
            }
            "rvs_control" => g.rvs.control = need(n, 0, d).map(str::to_string),
            "rvs_api" => {
                if let Some(s) = need(n, 0, d) {
                    match s.parse() {
                        Ok(a) => g.rvs.api = Some(a),
                        Err(_) => d.err(
                            n.arg_pos(0),
                            format!(
                                "invalid rvs_api '{s}': expected ADDR:PORT ([V6]:PORT for IPv6)"
                            ),
                        ),
                    }
                }
            }
            "rvs_drain_timeout" => {
                g.rvs.drain_timeout =
                    uint(n, 0, 0, u64::from(u32::MAX), d).map_or(g.rvs.drain_timeout, |v| v as u32)
            }
            "rvs_local_address" => {
                if let Some(a) = ip(n, 0, d)
                    && !g.rvs.local_addresses.contains(&a)
                {
                    g.rvs.local_addresses.push(a);
                }
            }
            "rvs_fwmark_rule" => {
                let words: Vec<&str> = n.args.iter().map(|t| t.text.as_str()).collect();
                match FwmarkRule::from_words(&words) {
                    Ok(r) => rules.push(r),
                    Err(e) => d.err(n.arg_pos(0), format!("invalid rvs_fwmark_rule: {e}")),
                }
            }
            kw if IGNORED.contains(&kw) => {}
            kw => d.warn(n.pos(), format!("unknown keyword '{kw}' in global_defs")),
        }
    }
}

fn lvs_timeouts(n: &Node, g: &mut GlobalDefs, d: &mut Diags) {
    if n.args.len() < 2 {
        d.err(n.pos(), "lvs_timeouts requires at least one option");
        return;
    }
    let mut i = 0;
    while i < n.args.len() {
        let which = n.args[i].text.as_str();
        let slot = match which {
            "tcp" => &mut g.lvs_timeouts.tcp,
            "tcpfin" => &mut g.lvs_timeouts.tcpfin,
            "udp" => &mut g.lvs_timeouts.udp,
            other => {
                d.err(
                    n.arg_pos(i),
                    format!("unknown lvs_timeouts option '{other}': expected tcp, tcpfin or udp"),
                );
                i += 1;
                continue;
            }
        };
        match n.args.get(i + 1) {
            None => d.err(n.arg_pos(i), format!("no value for lvs_timeouts {which}")),
            Some(t) => match parse_uint(&t.text) {
                Some(v) if v <= u64::from(crate::ipvsadm::MAX_TIMEOUT) => *slot = Some(v as u32),
                _ => d.err(
                    &t.pos,
                    format!(
                        "invalid lvs_timeouts {which} '{}': expected 0..{}",
                        t.text,
                        crate::ipvsadm::MAX_TIMEOUT
                    ),
                ),
            },
        }
        i += 2;
    }
}

fn sync_daemon(n: &Node, d: &mut Diags) -> Option<LvsSyncDaemon> {
    let ifname = need(n, 0, d)?;
    if ifname.len() > 15 {
        d.err(
            n.arg_pos(0),
            format!("lvs_sync_daemon interface name '{ifname}' too long"),
        );
        return None;
    }
    let mut s = LvsSyncDaemon {
        interface: ifname.to_string(),
        vrrp_instance: None,
        syncid: None,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    };
    let mut i = 1;
    let mut ok = true;
    while i < n.args.len() {
        let w = n.args[i].text.as_str();
        let val = n.args.get(i + 1).map(|t| (t.text.as_str(), &t.pos));
        let num = |max: u64, min: u64| {
            val.and_then(|(v, _)| parse_uint(v))
                .filter(|v| (min..=max).contains(v))
        };
        let bad = |d: &mut Diags, what: &str| match val {
            Some((v, p)) => d.err(
                p,
                format!("invalid lvs_sync_daemon {w} '{v}': expected {what}"),
            ),
            None => d.err(&n.args[i].pos, format!("no value for lvs_sync_daemon {w}")),
        };
        match w {
            "inst" => match val {
                Some((v, _)) => s.vrrp_instance = Some(v.to_string()),
                None => bad(d, "an instance name"),
            },
            "id" => match num(255, 0) {
                Some(v) => s.syncid = Some(v as u8),
                None => {
                    bad(d, "0..255");
                    ok = false;
                }
            },
            "maxlen" => match num(65535 - 20 - 8, 1) {
                Some(v) => s.maxlen = Some(v as u16),
                None => {
                    bad(d, "1..65507");
                    ok = false;
                }
            },
            "port" => match num(65535, 1) {
                Some(v) => s.port = Some(v as u16),
                None => {
                    bad(d, "1..65535");
                    ok = false;
                }
            },
            "ttl" => match num(255, 1) {
                Some(v) => s.ttl = Some(v as u8),
                None => {
                    bad(d, "1..255");
                    ok = false;
                }
            },
            "group" => match val.and_then(|(v, _)| parse_ip(v)) {
                Some(a) if a.is_multicast() => s.group = Some(a),
                _ => {
                    bad(d, "a multicast address");
                    ok = false;
                }
            },
            other if i == 1 => {
                // `lvs_sync_daemon IF INSTANCE` (without `inst`).
                s.vrrp_instance = Some(other.to_string());
                i += 1;
                continue;
            }
            other => {
                d.err(
                    &n.args[i].pos,
                    format!("unknown lvs_sync_daemon option '{other}'"),
                );
                ok = false;
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    ok.then_some(s)
}
