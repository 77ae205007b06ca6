//! `ipvsadm -Lc` (`list_conn`, `print_conn`), `--timeout` (`list_timeout`) and `--daemon`
//! (`list_daemon`).

use std::fmt::Write as _;

use crate::addr::Protocol;

use super::names::{Names, Numeric, addr_port, inet_ntop};
use super::{ConnRow, DaemonRow};

/// Render `ipvsadm -Lnc` (numeric): see [`render_conns_with`].
pub fn render_conns(rows: &[ConnRow], persistent_conn: bool) -> String {
    render_conns_with(rows, persistent_conn, &Numeric)
}

/// Render `ipvsadm -Lc` for `rows` in the given (hash table) order: the two title lines,
/// then one line per entry, `MM:SS` with uncapped minutes. With `persistent_conn`, the
/// title gains `pe name`/`pe_data` columns and rows that carry both a PE name and PE data
/// print them (with ipvsadm's swapped column widths); other rows keep the plain layout.
pub fn render_conns_with(rows: &[ConnRow], persistent_conn: bool, names: &dyn Names) -> String {
    let mut out = String::from("IPVS connection entries\n");
    // `pro expire %-11s %-18s %-18s [%-18s %-16s ]%s`, titles filled in.
    out.push_str(if persistent_conn {
        "pro expire state       source             virtual            destination        pe name          pe_data\n"
    } else {
        "pro expire state       source             virtual            destination\n"
    });
    for c in rows {
        let proto = match c.proto {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        };
        let cname = addr_port(names, &c.caddr, c.cport, proto);
        let vname = addr_port(names, &c.vaddr, c.vport, proto);
        let dname = addr_port(names, &c.daddr, c.dport, proto);
        let expire = format!("{:02}:{:02}", c.expires_secs / 60, c.expires_secs % 60);
        let _ = match (&c.pe_name, &c.pe_data) {
            (Some(pe_name), Some(pe_data)) if persistent_conn => writeln!(
                out,
                "{:<3} {:<6} {:<11} {:<18} {:<18} {:<16} {:<18} {}",
                c.proto, expire, c.state, cname, vname, dname, pe_name, pe_data
            ),
            _ => writeln!(
                out,
                "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
                c.proto, expire, c.state, cname, vname, dname
            ),
        };
    }
    out
}

/// Render `ipvsadm -L --timeout`: `Timeout (tcp tcpfin udp): 900 120 300`.
pub fn render_timeout(tcp: u32, tcpfin: u32, udp: u32) -> String {
    format!("Timeout (tcp tcpfin udp): {tcp} {tcpfin} {udp}\n")
}

/// Render `ipvsadm -L --daemon`: one line per running daemon in the given order (the
/// kernel reports the master first). Parts the kernel does not report (zero / `None`)
/// are left out.
pub fn render_daemon(daemons: &[DaemonRow]) -> String {
    let mut out = String::new();
    for d in daemons {
        let _ = write!(
            out,
            "{} sync daemon (mcast={}, syncid={}",
            d.role.name(),
            d.mcast_ifn,
            d.syncid
        );
        if d.sync_maxlen != 0 {
            let _ = write!(out, ", maxlen={}", d.sync_maxlen);
        }
        if let Some(group) = &d.mcast_group {
            let _ = write!(out, ", group={}", inet_ntop(group));
        }
        if d.mcast_port != 0 {
            let _ = write!(out, ", port={}", d.mcast_port);
        }
        if d.mcast_ttl != 0 {
            let _ = write!(out, ", ttl={}", d.mcast_ttl);
        }
        out.push_str(")\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::SyncRole;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn conn(
        proto: &'static str,
        secs: u64,
        state: &'static str,
        c: (&str, u16),
        v: (&str, u16),
        d: (&str, u16),
    ) -> ConnRow {
        ConnRow {
            proto,
            expires_secs: secs,
            state,
            caddr: ip(c.0),
            cport: c.1,
            vaddr: ip(v.0),
            vport: v.1,
            daddr: ip(d.0),
            dport: d.1,
            pe_name: None,
            pe_data: None,
            synced: false,
        }
    }

    fn reference_rows() -> Vec<ConnRow> {
        vec![
            conn(
                "TCP",
                14 * 60 + 57,
                "ESTABLISHED",
                ("10.1.2.3", 51234),
                ("192.168.10.100", 80),
                ("192.168.10.11", 80),
            ),
            conn(
                "TCP",
                118,
                "FIN_WAIT",
                ("10.1.2.3", 51200),
                ("192.168.10.100", 80),
                ("192.168.10.11", 80),
            ),
            conn(
                "UDP",
                299,
                "UDP",
                ("10.1.2.4", 40000),
                ("10.0.0.1", 53),
                ("10.0.0.11", 53),
            ),
            conn(
                "TCP",
                359,
                "ASSURED",
                ("10.1.2.0", 0),
                ("192.168.10.100", 80),
                ("192.168.10.11", 80),
            ),
            conn(
                "IP",
                359,
                "NONE",
                ("10.1.2.3", 0),
                ("0.0.0.100", 0),
                ("192.168.10.12", 0),
            ),
        ]
    }

    #[test]
    fn reference_example() {
        let expect = "\
IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:57  ESTABLISHED 10.1.2.3:51234     192.168.10.100:80  192.168.10.11:80
TCP 01:58  FIN_WAIT    10.1.2.3:51200     192.168.10.100:80  192.168.10.11:80
UDP 04:59  UDP         10.1.2.4:40000     10.0.0.1:53        10.0.0.11:53
TCP 05:59  ASSURED     10.1.2.0:0         192.168.10.100:80  192.168.10.11:80
IP  05:59  NONE        10.1.2.3:0         0.0.0.100:0        192.168.10.12:0
";
        assert_eq!(render_conns(&reference_rows(), false), expect);
    }

    #[test]
    fn minutes_are_not_capped() {
        let mut r = reference_rows().remove(3);
        r.expires_secs = 86_400;
        let out = render_conns(&[r], false);
        assert!(
            out.ends_with(
                "TCP 1440:00 ASSURED     10.1.2.0:0         192.168.10.100:80  192.168.10.11:80\n"
            ),
            "{out:?}"
        );
        let mut r = reference_rows().remove(0);
        r.expires_secs = 0;
        assert!(render_conns(&[r], false).contains("\nTCP 00:00  ESTABLISHED "));
    }

    #[test]
    fn persistent_conn_variant() {
        let mut sip = conn(
            "UDP",
            3600,
            "ASSURED",
            ("10.1.2.3", 0),
            ("10.0.0.1", 5060),
            ("10.0.0.11", 5060),
        );
        sip.pe_name = Some("sip".into());
        sip.pe_data = Some("abc@host".into());
        let plain = reference_rows().remove(0);
        // A PE name without data is printed as a plain row.
        let mut half = plain.clone();
        half.pe_name = Some("sip".into());
        let out = render_conns(&[sip.clone(), plain, half], true);
        let expect = "\
IPVS connection entries
pro expire state       source             virtual            destination        pe name          pe_data
UDP 60:00  ASSURED     10.1.2.3:0         10.0.0.1:5060      10.0.0.11:5060   sip                abc@host
TCP 14:57  ESTABLISHED 10.1.2.3:51234     192.168.10.100:80  192.168.10.11:80
TCP 14:57  ESTABLISHED 10.1.2.3:51234     192.168.10.100:80  192.168.10.11:80
";
        assert_eq!(out, expect);
        // Without --persistent-conn the PE columns never appear.
        let out = render_conns(&[sip], false);
        assert!(out.ends_with("10.0.0.11:5060\n"), "{out:?}");
    }

    #[test]
    fn ipv6_conns_and_names() {
        let r = conn(
            "TCP",
            65,
            "SYN_RECV",
            ("2001:db8::5", 40000),
            ("2001:db8::100", 80),
            ("2001:db8::11", 80),
        );
        let out = render_conns(std::slice::from_ref(&r), false);
        assert!(
            out.ends_with(
                "TCP 01:05  SYN_RECV    [2001:db8::5]:40000 [2001:db8::100]:80 [2001:db8::11]:80\n"
            ),
            "{out:?}"
        );

        struct Http;
        impl Names for Http {
            fn host(&self, _: &IpAddr) -> Option<String> {
                None
            }
            fn service(&self, port: u16, proto: Protocol) -> Option<String> {
                (port == 80 && proto == Protocol::Tcp).then(|| "http".to_string())
            }
        }
        let out = render_conns_with(&[r], false, &Http);
        assert!(out.contains("[2001:db8::100]:http "), "{out:?}");
        // The IP protocol of fwmark templates never looks ports up.
        let mut t = reference_rows().remove(4);
        t.vport = 80;
        let out = render_conns_with(&[t], false, &Http);
        assert!(out.contains(" 0.0.0.100:80 "), "{out:?}");
    }

    #[test]
    fn timeout_line() {
        assert_eq!(
            render_timeout(900, 120, 300),
            "Timeout (tcp tcpfin udp): 900 120 300\n"
        );
    }

    #[test]
    fn daemon_lines() {
        let master = DaemonRow {
            role: SyncRole::Master,
            mcast_ifn: "eth0".into(),
            syncid: 0,
            sync_maxlen: 1472,
            mcast_group: Some(ip("224.0.0.81")),
            mcast_port: 8848,
            mcast_ttl: 1,
        };
        let backup = DaemonRow {
            role: SyncRole::Backup,
            mcast_ifn: "eth1".into(),
            syncid: 7,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        };
        assert_eq!(
            render_daemon(&[master, backup]),
            "master sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n\
             backup sync daemon (mcast=eth1, syncid=7)\n"
        );
        assert_eq!(render_daemon(&[]), "");
    }
}
