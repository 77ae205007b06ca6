//! `ipvsadm -L` (`list_all`, `list_service`, `print_title`, `print_service_entry`).

use std::fmt::Write as _;

use crate::addr::{Af, Protocol};
use crate::dest::FwdMethod;
use crate::service::{ServiceKey, flags};
use crate::stats::{Counters, Rates};

use super::names::{Names, addr_port, cut};
use super::num::push_largenum;
use super::{
    DestRow, IPVS_VERSION, Layout, ListOptions, ServiceRow, ordered_dests, ordered_services,
    sched_flag_names,
};

/// IPv4 service names (`"TCP  a.b.c.d:port"`) are cut at 33 bytes.
const SVC_NAME_MAX_V4: usize = 33;
/// IPv4 dest names are cut at 28 bytes.
const DEST_NAME_MAX_V4: usize = 28;

/// Render `ipvsadm -L[n]` for `rows`: the version header (if `opts.header`), the title
/// lines of the chosen layout, then each service line followed by its dest lines, sorted
/// as ipvsadm sorts unless `opts.nosort`. For `-L -t VIP` pass the one service with
/// `header: false`.
pub fn render_services(rows: &[ServiceRow], opts: &ListOptions, names: &dyn Names) -> String {
    let mut out = String::new();
    if opts.header {
        let _ = writeln!(
            out,
            "IP Virtual Server version {IPVS_VERSION} (size={})",
            opts.conn_tab_size
        );
    }
    let layout = opts.layout();
    out.push_str(title(layout));
    for svc in ordered_services(rows, opts.nosort) {
        service_line(&mut out, svc, layout, opts.exact, names);
        let proto = proto_of(&svc.key);
        for d in ordered_dests(&svc.dests, opts.nosort) {
            dest_line(&mut out, d, proto, layout, opts.exact, names);
        }
    }
    out
}

/// The two title lines of each layout.
fn title(layout: Layout) -> &'static str {
    match layout {
        Layout::Stats => concat!(
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
            "  -> RemoteAddress:Port\n"
        ),
        Layout::Rate => concat!(
            "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n",
            "  -> RemoteAddress:Port\n"
        ),
        Layout::Thresholds => concat!(
            "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n",
            "  -> RemoteAddress:Port\n"
        ),
        Layout::PersistentConn => concat!(
            "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n",
            "  -> RemoteAddress:Port\n"
        ),
        Layout::TunInfo => concat!(
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
        ),
        Layout::Default => concat!(
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        ),
    }
}

/// The protocol used for port-name lookups: none for fwmark services (the kernel reports
/// no protocol for them).
fn proto_of(key: &ServiceKey) -> Option<Protocol> {
    match key {
        ServiceKey::Addr { proto, .. } => Some(*proto),
        ServiceKey::Fwmark { .. } => None,
    }
}

/// The service column: `TCP  addr:port` (IPv4 cut at 33 bytes), `FWM  <mark>` or
/// `FWM  <mark> IPv6`, the mark printed as a signed 32-bit number.
fn list_name(key: &ServiceKey, names: &dyn Names) -> String {
    match key {
        ServiceKey::Fwmark { af, mark } => {
            let v6 = if *af == Af::Inet6 { " IPv6" } else { "" };
            format!("FWM  {}{v6}", *mark as i32)
        }
        ServiceKey::Addr { proto, addr, port } => {
            let mut s = format!(
                "{:<4} {}",
                proto.ipvs_name(),
                addr_port(names, addr, *port, Some(*proto))
            );
            if !addr.is_ipv6() {
                cut(&mut s, SVC_NAME_MAX_V4);
            }
            s
        }
    }
}

/// Five counters, each through `print_largenum`.
fn push_counters(out: &mut String, c: &Counters, exact: bool) {
    for n in [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes] {
        push_largenum(out, n, exact);
    }
}

fn service_line(
    out: &mut String,
    svc: &ServiceRow,
    layout: Layout,
    exact: bool,
    names: &dyn Names,
) {
    let name = list_name(&svc.key, names);
    match layout {
        Layout::Stats => {
            let _ = write!(out, "{name:<33}");
            push_counters(out, &svc.counters, exact);
        }
        Layout::Rate => {
            let _ = write!(out, "{name:<33}");
            let r: &Rates = &svc.rates;
            for n in [r.cps, r.inpps, r.outpps, r.inbps, r.outbps] {
                push_largenum(out, n, exact);
            }
        }
        _ => {
            let _ = write!(out, "{name} {}", svc.sched_name);
            if svc.flags & crate::sched::flags::MASK != 0 {
                let _ = write!(out, " ({})", sched_flag_names(&svc.sched_name, svc.flags));
            }
            if svc.flags & flags::PERSISTENT != 0 {
                let _ = write!(out, " persistent {}", svc.timeout);
                if !svc.netmask.is_full() {
                    let _ = write!(out, " mask {}", svc.netmask);
                }
                if let Some(pe) = &svc.pe_name {
                    let _ = write!(out, " pe {pe}");
                }
            }
            if svc.flags & flags::ONEPACKET != 0 {
                out.push_str(" ops");
            }
        }
    }
    out.push('\n');
}

fn dest_line(
    out: &mut String,
    d: &DestRow,
    proto: Option<Protocol>,
    layout: Layout,
    exact: bool,
    names: &dyn Names,
) {
    let mut name = addr_port(names, &d.addr, d.port, proto);
    if !d.addr.is_ipv6() {
        cut(&mut name, DEST_NAME_MAX_V4);
    }
    let _ = write!(out, "  -> {name:<28}");
    let _ = match layout {
        Layout::Stats => {
            push_counters(out, &d.counters, exact);
            Ok(())
        }
        Layout::Rate => {
            let r = &d.rates;
            let _ = write!(out, " {:>8} {:>8} {:>8}", r.cps, r.inpps, r.outpps);
            push_largenum(out, r.inbps, exact);
            push_largenum(out, r.outbps, exact);
            Ok(())
        }
        Layout::Thresholds => write!(
            out,
            " {:<10} {:<10} {:<10} {:<10}",
            d.u_threshold, d.l_threshold, d.activeconns, d.inactconns
        ),
        Layout::PersistentConn => write!(
            out,
            " {:<9} {:<11} {:<10} {:<10}",
            // %u of an int.
            d.weight as u32,
            d.persistconns,
            d.activeconns,
            d.inactconns
        ),
        Layout::TunInfo => {
            let info = match d.fwd {
                FwdMethod::Tunnel => d.tun.to_string(),
                _ => "n/a".to_string(),
            };
            write!(
                out,
                " {:<7} {:<13} {:<6} {:<10} {:<10}",
                d.fwd.list_name(),
                info,
                d.weight,
                d.activeconns,
                d.inactconns
            )
        }
        Layout::Default => write!(
            out,
            " {:<7} {:<6} {:<10} {:<10}",
            d.fwd.list_name(),
            d.weight,
            d.activeconns,
            d.inactconns
        ),
    };
    out.push('\n');
}
