//! The JSON the API returns, built from the director's listing rows.

use std::net::IpAddr;

use rvs_core::addr::{Af, Protocol};
use rvs_core::conn::{Conn, state, template_state};
use rvs_core::dest::{FwdMethod, TunCsum, TunType};
use rvs_core::listing::{DestRow, ServiceRow};
use rvs_core::sched::flags::{SCHED1, SCHED2, SCHED3};
use rvs_core::service::{ServiceKey, flags};
use rvs_core::stats::{Counters, Rates};
use serde::Serialize;

use crate::ids::{DestKey, service_id};
use crate::runtime::Health;

/// Counters since the last zeroing (`ipvsadm -Z`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatsJson {
    /// New connections.
    pub conns: u64,
    /// Packets client → server.
    pub inpkts: u64,
    /// Packets server → client (NAT and FULLNAT only).
    pub outpkts: u64,
    /// Bytes client → server.
    pub inbytes: u64,
    /// Bytes server → client.
    pub outbytes: u64,
}

impl From<Counters> for StatsJson {
    fn from(c: Counters) -> Self {
        StatsJson {
            conns: c.conns,
            inpkts: c.inpkts,
            outpkts: c.outpkts,
            inbytes: c.inbytes,
            outbytes: c.outbytes,
        }
    }
}

/// Rates of IPVS's estimator (2-second period, as `ipvsadm --rate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RatesJson {
    /// Connections per second.
    pub cps: u64,
    /// Packets per second in.
    pub inpps: u64,
    /// Packets per second out.
    pub outpps: u64,
    /// Bytes per second in.
    pub inbps: u64,
    /// Bytes per second out.
    pub outbps: u64,
}

impl From<Rates> for RatesJson {
    fn from(r: Rates) -> Self {
        RatesJson {
            cps: r.cps,
            inpps: r.inpps,
            outpps: r.outpps,
            inbps: r.inbps,
            outbps: r.outbps,
        }
    }
}

/// A tunnel dest's encapsulation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TunnelJson {
    /// `ipip`, `gue`, `gre`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// GUE UDP port (0 otherwise).
    pub port: u16,
    /// `nocsum`, `csum`, `remcsum`.
    pub checksum: &'static str,
}

/// A real server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DestJson {
    /// Its id within the service (`ADDR-PORT`).
    pub id: String,
    /// Address.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
    /// `dr`, `nat`, `tun`, `fullnat` (or `local`, shown only).
    pub forward: &'static str,
    /// Weight (0 = drained: no new connections).
    pub weight: i32,
    /// Upper connection threshold (0 = none).
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none).
    pub lower_threshold: u32,
    /// Tunnel options (tun only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelJson>,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Persistence templates.
    pub persistent_conns: u32,
    /// Health-check state.
    pub health: Health,
    /// Counters.
    pub stats: StatsJson,
    /// Rates.
    pub rates: RatesJson,
}

/// A virtual service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceJson {
    /// Its id (see [`crate::ids`]).
    pub id: String,
    /// `tcp`, `udp`, `sctp`, or `fwmark`.
    pub protocol: &'static str,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// Virtual address (address services).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// Virtual port (address services; 0 = every port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Firewall mark (fwmark services).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// Scheduler.
    pub scheduler: String,
    /// Persistence timeout in seconds, `null` when not persistent.
    pub persistent: Option<u32>,
    /// Persistence netmask (IPv4 dotted quad or IPv6 prefix length), `null` for /32 or
    /// /128.
    pub netmask: Option<String>,
    /// Persistence engine.
    pub pe: Option<String>,
    /// One-packet scheduling.
    pub onepacket: bool,
    /// Scheduler flags as ipvsadm names them (`sh-port`, `mh-fallback`, `flag-1`).
    pub sched_flags: Vec<&'static str>,
    /// Counters.
    pub stats: StatsJson,
    /// Rates.
    pub rates: RatesJson,
    /// Real servers, sorted by address and port.
    pub dests: Vec<DestJson>,
}

/// The name of a forwarding method in the API.
pub const fn fwd_name(m: FwdMethod) -> &'static str {
    match m {
        FwdMethod::Masq => "nat",
        FwdMethod::Local => "local",
        FwdMethod::Tunnel => "tun",
        FwdMethod::Route => "dr",
        FwdMethod::FullNat => "fullnat",
    }
}

/// `ipv4` / `ipv6`.
pub const fn family_name(af: Af) -> &'static str {
    match af {
        Af::Inet => "ipv4",
        Af::Inet6 => "ipv6",
    }
}

/// The names ipvsadm gives the scheduler flag bits of `flags` for scheduler `sched`.
pub fn sched_flag_names(sched: &str, flags: u32) -> Vec<&'static str> {
    let table: &[(u32, &'static str)] = match sched {
        "sh" => &[(SCHED1, "sh-fallback"), (SCHED2, "sh-port")],
        "mh" => &[(SCHED1, "mh-fallback"), (SCHED2, "mh-port")],
        _ => &[(SCHED1, "flag-1"), (SCHED2, "flag-2"), (SCHED3, "flag-3")],
    };
    table
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// A dest row as JSON, with its health.
pub fn dest_json(d: &DestRow, health: Health) -> DestJson {
    let tunnel = (d.fwd == FwdMethod::Tunnel).then_some(TunnelJson {
        kind: match d.tun.kind {
            TunType::Ipip => "ipip",
            TunType::Gue => "gue",
            TunType::Gre => "gre",
        },
        port: d.tun.port,
        checksum: match d.tun.csum {
            TunCsum::NoCsum => "nocsum",
            TunCsum::Csum => "csum",
            TunCsum::RemCsum => "remcsum",
        },
    });
    DestJson {
        id: DestKey {
            addr: d.addr,
            port: d.port,
        }
        .to_string(),
        address: d.addr,
        port: d.port,
        forward: fwd_name(d.fwd),
        weight: d.weight,
        upper_threshold: d.u_threshold,
        lower_threshold: d.l_threshold,
        tunnel,
        active_conns: d.activeconns,
        inactive_conns: d.inactconns,
        persistent_conns: d.persistconns,
        health,
        stats: d.counters.into(),
        rates: d.rates.into(),
    }
}

/// A service row as JSON; `health` gives each dest's state.
pub fn service_json(
    s: &ServiceRow,
    health: &dyn Fn(&ServiceKey, &DestRow) -> Health,
) -> ServiceJson {
    let (protocol, address, port, fwmark) = match s.key {
        ServiceKey::Addr { proto, addr, port } => {
            (proto.lower_name(), Some(addr), Some(port), None)
        }
        ServiceKey::Fwmark { mark, .. } => ("fwmark", None, None, Some(mark)),
    };
    let persistent = s.flags & flags::PERSISTENT != 0;
    let mut dests: Vec<&DestRow> = s.dests.iter().collect();
    dests.sort_by_key(|d| (d.addr, d.port));
    ServiceJson {
        id: service_id(&s.key),
        protocol,
        family: family_name(s.key.af()),
        address,
        port,
        fwmark,
        scheduler: s.sched_name.clone(),
        persistent: persistent.then_some(s.timeout),
        netmask: (persistent && !s.netmask.is_full()).then(|| s.netmask.to_string()),
        pe: s.pe_name.clone(),
        onepacket: s.flags & flags::ONEPACKET != 0,
        sched_flags: sched_flag_names(&s.sched_name, s.flags),
        stats: s.counters.into(),
        rates: s.rates.into(),
        dests: dests
            .into_iter()
            .map(|d| dest_json(d, health(&s.key, d)))
            .collect(),
    }
}

/// A connection or persistence template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnJson {
    /// `TCP`, `UDP`, `SCTP`, or `IP` (fwmark templates).
    pub protocol: &'static str,
    /// Protocol state (`ESTABLISHED`, ...; templates: `NONE` or `ASSURED`).
    pub state: &'static str,
    /// Whether this is a persistence template.
    pub template: bool,
    /// Seconds until it expires.
    pub expires_secs: u64,
    /// Client address.
    pub client_address: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Virtual address (the mark as an IPv4 address for fwmark templates).
    pub virtual_address: IpAddr,
    /// Virtual port.
    pub virtual_port: u16,
    /// Real server address.
    pub dest_address: IpAddr,
    /// Real server port.
    pub dest_port: u16,
}

/// A connection as JSON (the fields of `ipvsadm -Lcn`).
pub fn conn_json(c: &Conn, now: rvs_core::Time) -> ConnJson {
    let proto = Protocol::from_number(c.proto);
    let template = c.is_template();
    let state = if template {
        if c.state == template_state::ASSURED {
            "ASSURED"
        } else {
            "NONE"
        }
    } else {
        proto.map_or("ERR!", |p| state::state_name(p, c.state))
    };
    ConnJson {
        protocol: proto.map_or("IP", Protocol::ipvs_name),
        state,
        template,
        expires_secs: c.expires.millis_since(now) / 1000,
        client_address: c.caddr,
        client_port: c.cport,
        virtual_address: c.vaddr,
        virtual_port: c.vport,
        dest_address: c.daddr,
        dest_port: c.dport,
    }
}
