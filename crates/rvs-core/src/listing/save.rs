//! `ipvsadm -S` (`list_all` with `FMT_RULE`, `print_tunnel_rule`), plus rvs's fwmark
//! classifier rules.

use std::fmt::Write as _;

use crate::addr::{Af, Protocol};
use crate::dest::{FwdMethod, TunCsum, TunType};
use crate::fwmark::FwmarkRule;
use crate::service::{ServiceKey, flags};

use super::names::{Names, addr_port};
use super::{DestRow, ServiceRow, ordered_dests, ordered_services, sched_flag_names};

/// Render `ipvsadm -S[n]`: no header; first rvs's fwmark classifier rules, one
/// `--add-fwmark-rule <rule>` line each in classifier order (an rvs extension: IPVS
/// fwmark services rely on netfilter marks, rvs defines them itself), then every service
/// (`-A ...`) followed by its dests (`-a ...`), in ipvsadm's sort order.
///
/// As in ipvsadm: thresholds are not saved, a LOCALNODE dest is saved as `-g`, the mark
/// is printed as a signed 32-bit number, and tunnel dests carry their `--tun-*` options.
/// FULLNAT dests (rvs) are saved with `--fullnat`.
pub fn render_save(rows: &[ServiceRow], fwmark_rules: &[FwmarkRule], names: &dyn Names) -> String {
    let mut out = String::new();
    for rule in fwmark_rules {
        let _ = writeln!(out, "--add-fwmark-rule {rule}");
    }
    for svc in ordered_services(rows, false) {
        let name = save_name(&svc.key, names);
        service_rule(&mut out, &name, svc);
        let proto = match svc.key {
            ServiceKey::Addr { proto, .. } => Some(proto),
            ServiceKey::Fwmark { .. } => None,
        };
        for d in ordered_dests(&svc.dests, false) {
            dest_rule(&mut out, &name, d, proto, names);
        }
    }
    out
}

/// The service selector: `-t addr:port`, `-u ...`, `--sctp-service ...`, `-f <mark>[ -6]`.
fn save_name(key: &ServiceKey, names: &dyn Names) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            let opt = match proto {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{opt} {}", addr_port(names, addr, *port, Some(*proto)))
        }
        ServiceKey::Fwmark { af, mark } => {
            let v6 = if *af == Af::Inet6 { " -6" } else { "" };
            format!("-f {}{v6}", *mark as i32)
        }
    }
}

fn service_rule(out: &mut String, name: &str, svc: &ServiceRow) {
    let _ = write!(out, "-A {name} -s {}", svc.sched_name);
    if svc.flags & flags::PERSISTENT != 0 {
        let _ = write!(out, " -p {}", svc.timeout);
        if !svc.netmask.is_full() {
            let _ = write!(out, " -M {}", svc.netmask);
        }
    }
    if let Some(pe) = &svc.pe_name {
        let _ = write!(out, " --pe {pe}");
    }
    if svc.flags & flags::ONEPACKET != 0 {
        out.push_str(" -o");
    }
    if svc.flags & crate::sched::flags::MASK != 0 {
        let _ = write!(out, " -b {}", sched_flag_names(&svc.sched_name, svc.flags));
    }
    out.push('\n');
}

fn dest_rule(
    out: &mut String,
    svc_name: &str,
    d: &DestRow,
    proto: Option<Protocol>,
    names: &dyn Names,
) {
    let dname = addr_port(names, &d.addr, d.port, proto);
    let _ = write!(
        out,
        "-a {svc_name} -r {dname} {} -w {}",
        d.fwd.save_flag(),
        d.weight
    );
    if d.fwd == FwdMethod::Tunnel {
        let csum = match d.tun.csum {
            TunCsum::NoCsum => "--tun-nocsum",
            TunCsum::Csum => "--tun-csum",
            TunCsum::RemCsum => "--tun-remcsum",
        };
        let _ = match d.tun.kind {
            TunType::Ipip => write!(out, " --tun-type ipip"),
            TunType::Gue => write!(out, " --tun-type gue --tun-port {} {csum}", d.tun.port),
            TunType::Gre => write!(out, " --tun-type gre {csum}"),
        };
    }
    out.push('\n');
}
