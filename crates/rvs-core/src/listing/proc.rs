//! The kernel's `/proc/net/ip_vs*` files, for tools that read them instead of running
//! ipvsadm (`rvsadm --proc NAME`, reference §1.12).
//!
//! Layouts follow the kernel's `seq_printf` formats: addresses and ports in upper-case hex
//! (IPv4) or as full, uncompressed IPv6 text (`%pI6`), the persistence timeout in jiffies,
//! rows in table order (unsorted). rvs has no jiffies: the timeout is printed for
//! [`HZ`] = 1000.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};

use super::{ConnRow, DEFAULT_CONN_TAB_SIZE, ServiceRow};
use crate::addr::Netmask;
use crate::dest::FwdMethod;
use crate::service::{ServiceKey, flags};
use crate::stats::{Counters, Rates};

/// The kernel tick rate assumed for the jiffies in `/proc/net/ip_vs`.
pub const HZ: u64 = 1000;

/// `%pI6`: eight groups of four lower-case hex digits.
fn full_v6(a: &Ipv6Addr) -> String {
    let s = a.segments();
    let mut out = String::with_capacity(39);
    for (i, w) in s.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{w:04x}");
    }
    out
}

/// An address as the kernel's IPv4 (`%08X` of the host-order value) or IPv6 (`%pI6`) form.
fn hex_addr(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => format!("{:08X}", u32::from(*v4)),
        IpAddr::V6(v6) => full_v6(v6),
    }
}

/// `ip_vs_fwd_name`: the kernel knows no FULLNAT and prints anything unknown as `Masq`.
fn kernel_fwd_name(fwd: FwdMethod) -> &'static str {
    match fwd {
        FwdMethod::Local => "Local",
        FwdMethod::Tunnel => "Tunnel",
        FwdMethod::Route => "Route",
        FwdMethod::Masq | FwdMethod::FullNat => "Masq",
    }
}

/// `/proc/net/ip_vs`: services and their real servers.
pub fn render_proc_ip_vs(rows: &[ServiceRow]) -> String {
    let mut out = format!(
        "IP Virtual Server version 1.2.1 (size={DEFAULT_CONN_TAB_SIZE})\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
    );
    // The kernel walks the address table first, then the fwmark table.
    let addr_first = rows
        .iter()
        .filter(|r| matches!(r.key, ServiceKey::Addr { .. }))
        .chain(
            rows.iter()
                .filter(|r| matches!(r.key, ServiceKey::Fwmark { .. })),
        );
    for row in addr_first {
        let ops = if row.flags & flags::ONEPACKET != 0 {
            "ops "
        } else {
            ""
        };
        match row.key {
            ServiceKey::Addr {
                proto,
                addr: IpAddr::V6(a),
                port,
            } => {
                let _ = write!(
                    out,
                    "{}  [{}]:{port:04X} {} ",
                    proto.ipvs_name(),
                    full_v6(&a),
                    row.sched_name
                );
            }
            ServiceKey::Addr { proto, addr, port } => {
                let _ = write!(
                    out,
                    "{}  {}:{port:04X} {} {ops} ",
                    proto.ipvs_name(),
                    hex_addr(&addr),
                    row.sched_name
                );
            }
            ServiceKey::Fwmark { mark, .. } => {
                let _ = write!(out, "FWM  {mark:08X} {} {ops}", row.sched_name);
            }
        }
        if row.flags & flags::PERSISTENT != 0 {
            // IPv6 keeps the prefix length in host order and prints it through ntohl.
            let mask = match row.netmask {
                Netmask::V4(m) => m,
                Netmask::V6(plen) => u32::from(plen).swap_bytes(),
            };
            let _ = writeln!(out, "persistent {} {mask:08X}", u64::from(row.timeout) * HZ);
        } else {
            out.push('\n');
        }
        for d in &row.dests {
            let addr = match d.addr {
                IpAddr::V4(_) => hex_addr(&d.addr),
                IpAddr::V6(_) => format!("[{}]", hex_addr(&d.addr)),
            };
            let _ = writeln!(
                out,
                "  -> {addr}:{:04X}      {:<7} {:<6} {:<10} {:<10}",
                d.port,
                kernel_fwd_name(d.fwd),
                d.weight,
                d.activeconns as i32,
                d.inactconns as i32
            );
        }
    }
    out
}

/// One connection row's leading columns, shared by `ip_vs_conn` and `ip_vs_conn_sync`.
fn conn_columns(c: &ConnRow) -> String {
    format!(
        "{:<3} {} {:04X} {} {:04X} {} {:04X} {:<11}",
        c.proto,
        hex_addr(&c.caddr),
        c.cport,
        hex_addr(&c.vaddr),
        c.vport,
        hex_addr(&c.daddr),
        c.dport,
        c.state
    )
}

/// `/proc/net/ip_vs_conn`: connections and templates with expiry in seconds.
pub fn render_proc_ip_vs_conn(rows: &[ConnRow]) -> String {
    let mut out = String::from(
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n",
    );
    for c in rows {
        let pe = match (&c.pe_name, &c.pe_data) {
            (Some(n), Some(d)) => format!(" {n} {d}"),
            _ => String::new(),
        };
        let _ = writeln!(out, "{} {:>7}{pe}", conn_columns(c), c.expires_secs as u32);
    }
    out
}

/// `/proc/net/ip_vs_conn_sync`: like `ip_vs_conn` with an `Origin` column (`LOCAL`, or
/// `SYNC` for entries a sync master sent) and no PE columns.
pub fn render_proc_ip_vs_conn_sync(rows: &[ConnRow]) -> String {
    let mut out =
        String::from("Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\n");
    for c in rows {
        let _ = writeln!(
            out,
            "{} {:<6} {:>7}",
            conn_columns(c),
            if c.synced { "SYNC" } else { "LOCAL" },
            c.expires_secs as u32
        );
    }
    out
}

/// `/proc/net/ip_vs_stats`: totals and rates in hex.
pub fn render_proc_ip_vs_stats(total: &Counters, rates: &Rates) -> String {
    format!(
        "   Total Incoming Outgoing         Incoming         Outgoing\n   \
         Conns  Packets  Packets            Bytes            Bytes\n\
         {:8X} {:8X} {:8X} {:16X} {:16X}\n\n \
         Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n\
         {:8X} {:8X} {:8X} {:16X} {:16X}\n",
        total.conns,
        total.inpkts,
        total.outpkts,
        total.inbytes,
        total.outbytes,
        rates.cps,
        rates.inpps,
        rates.outpps,
        rates.inbps,
        rates.outbps
    )
}

/// Sum of the services' counters and rates: the director-wide totals
/// (`/proc/net/ip_vs_stats`). Unlike the kernel's global counters it does not count
/// packets that matched no service.
pub fn totals(rows: &[ServiceRow]) -> (Counters, Rates) {
    let mut c = Counters::default();
    let mut r = Rates::default();
    for row in rows {
        c.conns += row.counters.conns;
        c.inpkts += row.counters.inpkts;
        c.outpkts += row.counters.outpkts;
        c.inbytes += row.counters.inbytes;
        c.outbytes += row.counters.outbytes;
        r.cps += row.rates.cps;
        r.inpps += row.rates.inpps;
        r.outpps += row.rates.outpps;
        r.inbps += row.rates.inbps;
        r.outbps += row.rates.outbps;
    }
    (c, r)
}
