//! The emulated kernel side of IPVS's sockopt interface: `do_ip_vs_set_ctl` and
//! `do_ip_vs_get_ctl` (net/netfilter/ipvs/ip_vs_ctl.c) answered from a [`Director`], and
//! `/proc/net/ip_vs_conn` rendered from its connections.
//!
//! Validation follows the kernel in order: option range and argument length (EINVAL),
//! `-Z` without a service zeroes everything, protocol not TCP/UDP/SCTP (EFAULT, even for
//! fwmark services), service lookup (ESRCH when missing or when the protocol differs), then
//! the command, whose [`OpError`]s become the kernel's errnos. The sockopt interface is
//! IPv4 only: IPv6 services are never listed, and tunnel types other than IPIP, persistence
//! engines and 64-bit packet counters cannot cross it.

use std::net::{IpAddr, Ipv4Addr};

use rvs_core::addr::Netmask;
use rvs_core::listing::{DEFAULT_CONN_TAB_SIZE, DestRow, ServiceRow};
use rvs_core::sched::flags as sched_flags;
use rvs_core::service::flags as svc_flags;
use rvs_core::stats::{Counters, Rates};
use rvs_core::{
    Af, Command, DestConfig, Director, FwdMethod, OpError, Protocol, ServiceConfig, ServiceKey,
    Time,
};

use crate::abi::{self, Writer};

/// `EPERM`.
pub const EPERM: i32 = libc::EPERM;
/// `ENOENT`.
pub const ENOENT: i32 = libc::ENOENT;
/// `ESRCH`.
pub const ESRCH: i32 = libc::ESRCH;
/// `EFAULT`.
pub const EFAULT: i32 = libc::EFAULT;
/// `EEXIST`.
pub const EEXIST: i32 = libc::EEXIST;
/// `EINVAL`.
pub const EINVAL: i32 = libc::EINVAL;
/// `ENOPROTOOPT`.
pub const ENOPROTOOPT: i32 = libc::ENOPROTOOPT;

/// `IP_VS_VERSION_CODE`.
const VERSION_CODE: u32 = 0x0001_0201;
/// `IP_VS_CONN_F_NOOUTPUT`.
const CONN_F_NOOUTPUT: u32 = 0x0080;
/// `IP_VS_CONN_F_INACTIVE`.
const CONN_F_INACTIVE: u32 = 0x0100;

/// `setsockopt(SOL_IP, cmd, arg)` as the kernel answers it; `Err` holds the errno.
pub fn set_ctl(d: &mut Director, cmd: i32, arg: &[u8], now: Time) -> Result<(), i32> {
    if !(abi::BASE_CTL..=abi::SET_MAX).contains(&cmd) || arg.len() != abi::set_arglen(cmd) {
        return Err(EINVAL);
    }
    match cmd {
        abi::SET_FLUSH => return apply(d, &Command::Flush, now),
        abi::SET_TIMEOUT => {
            let t = |off| abi::u32_at(arg, off);
            let cmd = Command::SetTimeouts {
                tcp: t(0),
                tcpfin: t(4),
                udp: t(8),
            };
            return apply(d, &cmd, now);
        }
        // rvs has no connection sync daemon: starting one is refused, and none is running.
        abi::SET_STARTDAEMON => return Err(ENOPROTOOPT),
        abi::SET_STOPDAEMON => return Err(ESRCH),
        _ => {}
    }
    let proto = abi::u16_at(arg, 0);
    let addr = abi::be32_at(arg, 4);
    let port = abi::be16_at(arg, 8);
    let fwmark = abi::u32_at(arg, 12);
    if cmd == abi::SET_ZERO && fwmark == 0 && addr == 0 && port == 0 {
        return apply(d, &Command::Zero(None), now);
    }
    let Some(protocol) = u8::try_from(proto).ok().and_then(Protocol::from_number) else {
        return Err(EFAULT);
    };
    let key = if fwmark == 0 {
        ServiceKey::Addr {
            proto: protocol,
            addr: IpAddr::V4(Ipv4Addr::from(addr)),
            port,
        }
    } else {
        ServiceKey::Fwmark {
            af: Af::Inet,
            mark: fwmark,
        }
    };
    // rvs keeps no protocol for fwmark services; ipvsadm always sends TCP for them.
    let exists = d.table.find(&key).is_some()
        && !(fwmark != 0 && protocol != Protocol::Tcp && cmd != abi::SET_ADD);
    if cmd != abi::SET_ADD && !exists {
        return Err(ESRCH);
    }
    let command = match cmd {
        abi::SET_ADD if exists => return Err(EEXIST),
        abi::SET_ADD => Command::AddService(service_config(key, arg)),
        abi::SET_EDIT => Command::EditService(service_config(key, arg)),
        abi::SET_DEL => Command::DelService(key),
        abi::SET_ZERO => Command::Zero(Some(key)),
        abi::SET_ADDDEST => Command::AddDest(key, dest_config(&arg[abi::SERVICE_ARG_LEN..])?),
        abi::SET_EDITDEST => Command::EditDest(key, dest_config(&arg[abi::SERVICE_ARG_LEN..])?),
        abi::SET_DELDEST => {
            let dc = dest_config(&arg[abi::SERVICE_ARG_LEN..])?;
            Command::DelDest(key, dc.addr, dc.port)
        }
        _ => return Err(EINVAL),
    };
    apply(d, &command, now)
}

fn apply(d: &mut Director, cmd: &Command, now: Time) -> Result<(), i32> {
    d.apply(cmd, now).map_err(|e| errno_of(&e))
}

/// The errno the kernel returns for what rvs refused.
pub fn errno_of(e: &OpError) -> i32 {
    e.errno()
}

/// `ip_vs_copy_usvc_compat`: the service options of a SET argument.
fn service_config(key: ServiceKey, arg: &[u8]) -> ServiceConfig {
    let flags = abi::u32_at(arg, 32);
    let timeout = abi::u32_at(arg, 36);
    ServiceConfig {
        key,
        scheduler: abi::cstr_at(arg, 16, 16),
        persistent: (flags & svc_flags::PERSISTENT != 0).then_some(timeout),
        netmask: Some(Netmask::V4(abi::be32_at(arg, 40))),
        pe: None,
        onepacket: flags & svc_flags::ONEPACKET != 0,
        sched_flags: flags & sched_flags::MASK,
    }
}

/// `ip_vs_copy_udest_compat`: the dest of a SET argument (no tunnel options: IPIP).
fn dest_config(b: &[u8]) -> Result<DestConfig, i32> {
    let fwd = match abi::u32_at(b, 8) & 0x7 {
        0 => FwdMethod::Masq,
        1 => FwdMethod::Local,
        2 => FwdMethod::Tunnel,
        3 => FwdMethod::Route,
        // BYPASS and the undefined codes have no rvs counterpart.
        _ => return Err(EINVAL),
    };
    let mut c = DestConfig::new(
        IpAddr::V4(Ipv4Addr::from(abi::be32_at(b, 0))),
        abi::be16_at(b, 4),
    );
    c.fwd = fwd;
    c.weight = abi::u32_at(b, 12) as i32;
    c.u_threshold = abi::u32_at(b, 16);
    c.l_threshold = abi::u32_at(b, 20);
    Ok(c)
}

/// `getsockopt(SOL_IP, cmd)` as the kernel answers it: `arg` is what the caller passed
/// (its first `get_arglen(cmd)` bytes at least), `len` its buffer length. Returns the bytes
/// to copy back to the start of the buffer and the new `*optlen` when the kernel sets it.
pub fn get_ctl(
    d: &Director,
    cmd: i32,
    arg: &[u8],
    len: usize,
) -> Result<(Vec<u8>, Option<usize>), i32> {
    if !(abi::BASE_CTL..=abi::GET_MAX).contains(&cmd) || len < abi::get_arglen(cmd) {
        return Err(EINVAL);
    }
    match cmd {
        abi::GET_VERSION => {
            let mut v = format!("IP Virtual Server version 1.2.1 (size={DEFAULT_CONN_TAB_SIZE})")
                .into_bytes();
            v.push(0);
            let n = v.len();
            Ok((v, Some(n)))
        }
        abi::GET_INFO => {
            let mut b = vec![0u8; abi::GETINFO_LEN];
            let mut w = Writer(&mut b);
            w.u32(0, VERSION_CODE);
            w.u32(4, DEFAULT_CONN_TAB_SIZE);
            w.u32(8, u32::try_from(d.table.len()).unwrap_or(u32::MAX));
            Ok((b, None))
        }
        abi::GET_SERVICES => {
            let n = abi::u32_at(arg, 0) as usize;
            if len != abi::GET_SERVICES_LEN + n * abi::SERVICE_ENTRY_LEN {
                return Err(EINVAL);
            }
            let rows = d.service_rows(None).unwrap_or_default();
            let mut b = arg[..abi::GET_SERVICES_LEN].to_vec();
            for row in rows.iter().filter(|r| r.key.af() == Af::Inet).take(n) {
                b.extend_from_slice(&service_entry(row));
            }
            Ok((b, None))
        }
        abi::GET_SERVICE => {
            let key = entry_key(arg, 0, 4, 8, 12)?;
            let rows = d.service_rows(Some(&key)).ok_or(ESRCH)?;
            let row = rows.first().ok_or(ESRCH)?;
            Ok((service_entry(row), None))
        }
        abi::GET_DESTS => {
            let n = abi::u32_at(arg, 16) as usize;
            if len != abi::GET_DESTS_LEN + n * abi::DEST_ENTRY_LEN {
                return Err(EINVAL);
            }
            let key = entry_key(arg, 0, 4, 8, 12)?;
            let rows = d.service_rows(Some(&key)).ok_or(ESRCH)?;
            let row = rows.first().ok_or(ESRCH)?;
            let mut b = arg[..abi::GET_DESTS_LEN].to_vec();
            for dest in row.dests.iter().filter(|x| x.addr.is_ipv4()).take(n) {
                b.extend_from_slice(&dest_entry(dest));
            }
            Ok((b, None))
        }
        abi::GET_TIMEOUT => {
            use rvs_core::conn::state::tcp;
            let t = &d.timeouts;
            let mut b = vec![0u8; abi::TIMEOUT_ARG_LEN];
            let mut w = Writer(&mut b);
            w.u32(0, t.tcp[tcp::ESTABLISHED as usize]);
            w.u32(4, t.tcp[tcp::FIN_WAIT as usize]);
            w.u32(8, t.udp);
            Ok((b, None))
        }
        // No sync daemon runs: both slots report state 0.
        abi::GET_DAEMON => Ok((vec![0u8; abi::GET_DAEMON_LEN], None)),
        _ => Err(EINVAL),
    }
}

/// The service a GET argument names (fwmark first, as the kernel looks it up).
fn entry_key(arg: &[u8], p: usize, a: usize, port: usize, m: usize) -> Result<ServiceKey, i32> {
    let mark = abi::u32_at(arg, m);
    if mark != 0 {
        return Ok(ServiceKey::Fwmark { af: Af::Inet, mark });
    }
    let proto = u8::try_from(abi::u16_at(arg, p))
        .ok()
        .and_then(Protocol::from_number)
        .ok_or(ESRCH)?;
    Ok(ServiceKey::Addr {
        proto,
        addr: IpAddr::V4(Ipv4Addr::from(abi::be32_at(arg, a))),
        port: abi::be16_at(arg, port),
    })
}

/// `ip_vs_copy_service`: one `ip_vs_service_entry`.
fn service_entry(row: &ServiceRow) -> Vec<u8> {
    let mut b = vec![0u8; abi::SERVICE_ENTRY_LEN];
    let mut w = Writer(&mut b);
    match row.key {
        ServiceKey::Addr { proto, addr, port } => {
            w.u16(0, u16::from(proto.number()));
            if let IpAddr::V4(a) = addr {
                w.be32(4, u32::from(a));
            }
            w.be16(8, port);
        }
        ServiceKey::Fwmark { mark, .. } => {
            w.u16(0, u16::from(Protocol::Tcp.number()));
            w.u32(12, mark);
        }
    }
    w.cstr(16, 16, &row.sched_name);
    w.u32(32, row.flags | svc_flags::HASHED);
    w.u32(36, row.timeout);
    let mask = match row.netmask {
        Netmask::V4(m) => m,
        Netmask::V6(_) => u32::MAX,
    };
    w.be32(40, mask);
    w.u32(44, u32::try_from(row.dests.len()).unwrap_or(u32::MAX));
    stats(&mut w, 48, &row.counters, &row.rates);
    b
}

/// One `ip_vs_dest_entry`.
fn dest_entry(dest: &DestRow) -> Vec<u8> {
    let mut b = vec![0u8; abi::DEST_ENTRY_LEN];
    let mut w = Writer(&mut b);
    if let IpAddr::V4(a) = dest.addr {
        w.be32(0, u32::from(a));
    }
    w.be16(4, dest.port);
    let mut flags = dest.fwd.code() | CONN_F_INACTIVE;
    if dest.fwd != FwdMethod::Masq {
        flags |= CONN_F_NOOUTPUT;
    }
    w.u32(8, flags);
    w.u32(12, dest.weight as u32);
    w.u32(16, dest.u_threshold);
    w.u32(20, dest.l_threshold);
    w.u32(24, dest.activeconns);
    w.u32(28, dest.inactconns);
    w.u32(32, dest.persistconns);
    stats(&mut w, 40, &dest.counters, &dest.rates);
    b
}

/// `ip_vs_export_stats_user`: 32-bit counters (truncated) and rates, 64-bit byte counts.
fn stats(w: &mut Writer<'_>, off: usize, c: &Counters, r: &Rates) {
    w.u32(off, c.conns as u32);
    w.u32(off + 4, c.inpkts as u32);
    w.u32(off + 8, c.outpkts as u32);
    w.u64(off + 16, c.inbytes);
    w.u64(off + 24, c.outbytes);
    w.u32(off + 32, r.cps as u32);
    w.u32(off + 36, r.inpps as u32);
    w.u32(off + 40, r.outpps as u32);
    w.u32(off + 44, r.inbps as u32);
    w.u32(off + 48, r.outbps as u32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::{Settings, SplitMix64};

    fn director() -> Director {
        Director::new(Settings::default(), 1, Box::new(SplitMix64(1)))
    }

    fn svc_arg(proto: u16, addr: [u8; 4], port: u16, sched: &str, flags: u32) -> Vec<u8> {
        let mut b = vec![0u8; abi::SERVICE_ARG_LEN];
        let mut w = Writer(&mut b);
        w.u16(0, proto);
        w.be32(4, u32::from(Ipv4Addr::from(addr)));
        w.be16(8, port);
        w.cstr(16, 16, sched);
        w.u32(32, flags);
        w.u32(36, 300);
        w.be32(40, 0xFFFF_FF00);
        b
    }

    fn dest_arg(svc: &[u8], addr: [u8; 4], port: u16, flags: u32, weight: i32) -> Vec<u8> {
        let mut b = svc.to_vec();
        b.resize(abi::SVCDEST_ARG_LEN, 0);
        let mut w = Writer(&mut b[abi::SERVICE_ARG_LEN..]);
        w.be32(0, u32::from(Ipv4Addr::from(addr)));
        w.be16(4, port);
        w.u32(8, flags);
        w.u32(12, weight as u32);
        b
    }

    #[test]
    fn set_commands_follow_the_kernel_order_of_checks() {
        let mut d = director();
        let t = Time::ZERO;
        let s = svc_arg(6, [10, 0, 0, 1], 80, "rr", svc_flags::PERSISTENT);
        assert_eq!(set_ctl(&mut d, abi::SET_ADD, &s[..40], t), Err(EINVAL));
        assert_eq!(set_ctl(&mut d, abi::SET_EDIT, &s, t), Err(ESRCH));
        assert_eq!(set_ctl(&mut d, abi::SET_ADD, &s, t), Ok(()));
        assert_eq!(set_ctl(&mut d, abi::SET_ADD, &s, t), Err(EEXIST));
        let bad = svc_arg(1, [10, 0, 0, 1], 80, "rr", 0);
        assert_eq!(set_ctl(&mut d, abi::SET_ADD, &bad, t), Err(EFAULT));
        let nosched = svc_arg(17, [10, 0, 0, 1], 80, "nope", 0);
        assert_eq!(set_ctl(&mut d, abi::SET_ADD, &nosched, t), Err(ENOENT));
        assert_eq!(
            set_ctl(
                &mut d,
                abi::SET_ADDDEST,
                &dest_arg(&s, [10, 0, 0, 2], 80, 0, 3),
                t
            ),
            Ok(())
        );
        assert_eq!(
            set_ctl(
                &mut d,
                abi::SET_ADDDEST,
                &dest_arg(&s, [10, 0, 0, 2], 80, 0, 3),
                t
            ),
            Err(EEXIST)
        );
        assert_eq!(
            set_ctl(
                &mut d,
                abi::SET_ADDDEST,
                &dest_arg(&s, [10, 0, 0, 3], 80, 3, -1),
                t
            ),
            Err(libc::ERANGE)
        );
        assert_eq!(
            set_ctl(
                &mut d,
                abi::SET_EDITDEST,
                &dest_arg(&s, [10, 0, 0, 9], 80, 3, 1),
                t
            ),
            Err(ENOENT)
        );
        let rows = d.service_rows(None).unwrap();
        assert_eq!(rows[0].timeout, 300);
        assert_eq!(rows[0].netmask, Netmask::V4(0xFFFF_FF00));
        assert_eq!(
            (rows[0].dests[0].weight, rows[0].dests[0].fwd),
            (3, FwdMethod::Masq)
        );
        assert_eq!(set_ctl(&mut d, abi::SET_FLUSH, &[], t), Ok(()));
        assert_eq!(d.table.len(), 0);
    }

    #[test]
    fn get_services_and_dests_fill_kernel_structs() {
        let mut d = director();
        let s = svc_arg(6, [192, 168, 0, 1], 443, "wrr", 0);
        set_ctl(&mut d, abi::SET_ADD, &s, Time::ZERO).unwrap();
        set_ctl(
            &mut d,
            abi::SET_ADDDEST,
            &dest_arg(&s, [10, 1, 1, 1], 443, 3, 5),
            Time::ZERO,
        )
        .unwrap();
        let (info, _) = get_ctl(&d, abi::GET_INFO, &[0; 12], 12).unwrap();
        assert_eq!(abi::u32_at(&info, 8), 1);
        let mut arg = vec![0u8; 8];
        arg[0] = 1;
        let len = 8 + abi::SERVICE_ENTRY_LEN;
        assert_eq!(get_ctl(&d, abi::GET_SERVICES, &arg, len - 1), Err(EINVAL));
        let (b, _) = get_ctl(&d, abi::GET_SERVICES, &arg, len).unwrap();
        assert_eq!(b.len(), len);
        let e = &b[8..];
        assert_eq!(abi::be32_at(e, 4), 0xC0A8_0001);
        assert_eq!(abi::be16_at(e, 8), 443);
        assert_eq!(abi::cstr_at(e, 16, 16), "wrr");
        assert_eq!(abi::u32_at(e, 44), 1);
        let mut q = vec![0u8; abi::GET_DESTS_LEN];
        q[..12].copy_from_slice(&e[..12]);
        q[16] = 1;
        let (b, _) = get_ctl(
            &d,
            abi::GET_DESTS,
            &q,
            abi::GET_DESTS_LEN + abi::DEST_ENTRY_LEN,
        )
        .unwrap();
        let de = &b[abi::GET_DESTS_LEN..];
        assert_eq!(abi::be32_at(de, 0), 0x0A01_0101);
        assert_eq!(abi::u32_at(de, 8) & 7, 3);
        assert_eq!(abi::u32_at(de, 12), 5);
        q[4] = 1;
        assert_eq!(
            get_ctl(
                &d,
                abi::GET_DESTS,
                &q,
                abi::GET_DESTS_LEN + abi::DEST_ENTRY_LEN
            ),
            Err(ESRCH)
        );
    }

    #[test]
    fn proc_conn_rows_use_kernel_hex_format() {
        let row = rvs_core::listing::ConnRow {
            proto: "TCP",
            expires_secs: 897,
            state: "ESTABLISHED",
            caddr: "10.1.2.3".parse().unwrap(),
            cport: 51234,
            vaddr: "192.168.10.100".parse().unwrap(),
            vport: 80,
            daddr: "192.168.10.11".parse().unwrap(),
            dport: 80,
            pe_name: None,
            pe_data: None,
            synced: false,
        };
        let s = rvs_core::listing::render_proc_ip_vs_conn(&[row]);
        assert_eq!(
            s.lines().nth(1).unwrap(),
            "TCP 0A010203 C822 C0A80A64 0050 C0A80A0B 0050 ESTABLISHED     897"
        );
    }
}
