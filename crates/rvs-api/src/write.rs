//! Requests that change the table. A JSON body becomes an ipvsadm argument vector, which
//! `rvs_config::ipvsadm` parses into a [`Command`] exactly as for rvsadm: the same checks,
//! the same messages. Argument errors are 400 (nothing changed); the table's refusals
//! ([`rvs_core::OpError`]) are 404 or 409 with ipvsadm's text.
//!
//! Edits merge: a field left out keeps its current value, `null` clears an optional one
//! (`persistent`, `netmask`, `pe`).

use std::net::{IpAddr, SocketAddr};

use rvs_config::ipvsadm::{self, Invocation};
use rvs_core::Command;
use rvs_core::dest::{FwdMethod, TunCsum, TunType};
use rvs_core::listing::{DestRow, ServiceRow};
use rvs_core::service::{ServiceKey, flags};
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;
use crate::model::sched_flag_names;

/// The program name in the parser's messages.
pub const ARGV0: &str = "rvsadm";

/// A field that may be absent (keep), `null` (clear) or a value (set).
fn patch<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Options of a service, as `-A`/`-E` take them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceOptions {
    /// Scheduler (`rr`, `wlc`, ...; default `wlc`).
    #[serde(default)]
    pub scheduler: Option<String>,
    /// Persistence timeout in seconds; `null` = not persistent.
    #[serde(default, deserialize_with = "patch")]
    pub persistent: Option<Option<u32>>,
    /// Persistence netmask.
    #[serde(default, deserialize_with = "patch")]
    pub netmask: Option<Option<String>>,
    /// Persistence engine.
    #[serde(default, deserialize_with = "patch")]
    pub pe: Option<Option<String>>,
    /// One-packet scheduling.
    #[serde(default)]
    pub onepacket: Option<bool>,
    /// Scheduler flags.
    #[serde(default)]
    pub sched_flags: Option<Vec<String>>,
}

/// `POST /api/v1/services`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    /// `tcp`, `udp`, `sctp` or `fwmark`.
    pub protocol: String,
    /// Virtual address (not for fwmark).
    #[serde(default)]
    pub address: Option<IpAddr>,
    /// Virtual port (not for fwmark).
    #[serde(default)]
    pub port: Option<u16>,
    /// Mark (fwmark only).
    #[serde(default)]
    pub fwmark: Option<u32>,
    /// `ipv4` (default) or `ipv6` (fwmark only).
    #[serde(default)]
    pub family: Option<String>,
    /// Scheduler.
    #[serde(default)]
    pub scheduler: Option<String>,
    /// Persistence timeout in seconds.
    #[serde(default)]
    pub persistent: Option<u32>,
    /// Persistence netmask.
    #[serde(default)]
    pub netmask: Option<String>,
    /// Persistence engine.
    #[serde(default)]
    pub pe: Option<String>,
    /// One-packet scheduling.
    #[serde(default)]
    pub onepacket: Option<bool>,
    /// Scheduler flags.
    #[serde(default)]
    pub sched_flags: Option<Vec<String>>,
}

/// A tunnel dest's encapsulation.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelInput {
    /// `ipip`, `gue`, `gre`.
    #[serde(rename = "type")]
    pub kind: String,
    /// GUE UDP port.
    #[serde(default)]
    pub port: Option<u16>,
    /// `nocsum`, `csum`, `remcsum`.
    #[serde(default)]
    pub checksum: Option<String>,
}

/// Options of a real server, as `-a`/`-e` take them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestOptions {
    /// `dr` (default), `nat`, `tun`, `fullnat`.
    #[serde(default)]
    pub forward: Option<String>,
    /// Weight, 0..=65535 (default 1).
    #[serde(default)]
    pub weight: Option<i64>,
    /// Upper connection threshold (0 = none).
    #[serde(default)]
    pub upper_threshold: Option<i64>,
    /// Lower connection threshold (0 = none).
    #[serde(default)]
    pub lower_threshold: Option<i64>,
    /// Tunnel options (forward `tun` only).
    #[serde(default)]
    pub tunnel: Option<TunnelInput>,
}

/// `POST /api/v1/services/{id}/dests`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDest {
    /// Address.
    pub address: IpAddr,
    /// Port (default: the service's).
    #[serde(default)]
    pub port: Option<u16>,
    /// Forwarding method.
    #[serde(default)]
    pub forward: Option<String>,
    /// Weight.
    #[serde(default)]
    pub weight: Option<i64>,
    /// Upper threshold.
    #[serde(default)]
    pub upper_threshold: Option<i64>,
    /// Lower threshold.
    #[serde(default)]
    pub lower_threshold: Option<i64>,
    /// Tunnel options.
    #[serde(default)]
    pub tunnel: Option<TunnelInput>,
}

/// Parse a JSON body into `T`; any problem is a 400.
pub fn body<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

/// The ipvsadm words that select `key`.
pub fn service_selector(key: &ServiceKey) -> Vec<String> {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            let opt = match proto {
                rvs_core::Protocol::Tcp => "-t",
                rvs_core::Protocol::Udp => "-u",
                rvs_core::Protocol::Sctp => "--sctp-service",
            };
            vec![opt.into(), SocketAddr::new(*addr, *port).to_string()]
        }
        ServiceKey::Fwmark { af, mark } => {
            let mut v = vec!["-f".into(), mark.to_string()];
            if *af == rvs_core::Af::Inet6 {
                v.push("-6".into());
            }
            v
        }
    }
}

/// A word given by the client that becomes an option's argument: no option look-alikes,
/// no spaces or control characters.
fn word(what: &str, s: &str) -> Result<String, ApiError> {
    let ok = !s.is_empty()
        && !s.starts_with('-')
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:,/-".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(ApiError::bad_request(format!("invalid {what} `{s}'")))
    }
}

/// The key of a new service.
pub fn new_service_key(n: &NewService) -> Result<ServiceKey, ApiError> {
    match n.protocol.as_str() {
        "fwmark" => {
            if n.address.is_some() || n.port.is_some() {
                return Err(ApiError::bad_request(
                    "a fwmark service has no address or port",
                ));
            }
            let mark = n
                .fwmark
                .ok_or_else(|| ApiError::bad_request("fwmark is required"))?;
            let af = match n.family.as_deref() {
                None | Some("ipv4") => rvs_core::Af::Inet,
                Some("ipv6") => rvs_core::Af::Inet6,
                Some(f) => {
                    return Err(ApiError::bad_request(format!(
                        "invalid family `{f}' (ipv4 or ipv6)"
                    )));
                }
            };
            if mark == 0 {
                return Err(ApiError::bad_request("illegal fwmark specified"));
            }
            Ok(ServiceKey::Fwmark { af, mark })
        }
        p => {
            let proto = match p {
                "tcp" => rvs_core::Protocol::Tcp,
                "udp" => rvs_core::Protocol::Udp,
                "sctp" => rvs_core::Protocol::Sctp,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid protocol `{p}' (tcp, udp, sctp or fwmark)"
                    )));
                }
            };
            if n.fwmark.is_some() || n.family.is_some() {
                return Err(ApiError::bad_request(
                    "fwmark and family are for fwmark services only",
                ));
            }
            let addr = n
                .address
                .ok_or_else(|| ApiError::bad_request("address is required"))?;
            let port = n
                .port
                .ok_or_else(|| ApiError::bad_request("port is required"))?;
            Ok(ServiceKey::Addr { proto, addr, port })
        }
    }
}

/// The options of a new service.
pub fn new_service_options(n: &NewService) -> ServiceOptions {
    ServiceOptions {
        scheduler: n.scheduler.clone(),
        persistent: n.persistent.map(Some),
        netmask: n.netmask.clone().map(Some),
        pe: n.pe.clone().map(Some),
        onepacket: n.onepacket,
        sched_flags: n.sched_flags.clone(),
    }
}

/// The options a service has now, for merging an edit.
pub fn current_service_options(row: &ServiceRow) -> ServiceOptions {
    let persistent = row.flags & flags::PERSISTENT != 0;
    ServiceOptions {
        scheduler: Some(row.sched_name.clone()),
        persistent: Some(persistent.then_some(row.timeout)),
        netmask: Some((persistent && !row.netmask.is_full()).then(|| row.netmask.to_string())),
        pe: Some(row.pe_name.clone()),
        onepacket: Some(row.flags & flags::ONEPACKET != 0),
        sched_flags: Some(
            sched_flag_names(&row.sched_name, row.flags)
                .into_iter()
                .map(String::from)
                .collect(),
        ),
    }
}

/// `over` on top of `base`.
pub fn merge_service(base: ServiceOptions, over: ServiceOptions) -> ServiceOptions {
    ServiceOptions {
        scheduler: over.scheduler.or(base.scheduler),
        persistent: over.persistent.or(base.persistent),
        netmask: over.netmask.or(base.netmask),
        pe: over.pe.or(base.pe),
        onepacket: over.onepacket.or(base.onepacket),
        sched_flags: over.sched_flags.or(base.sched_flags),
    }
}

/// `-A`/`-E` argv for `key` with `o`.
pub fn service_argv(
    cmd: &str,
    key: &ServiceKey,
    o: &ServiceOptions,
) -> Result<Vec<String>, ApiError> {
    let mut v = vec![cmd.to_string()];
    v.extend(service_selector(key));
    if let Some(s) = &o.scheduler {
        v.extend(["-s".into(), word("scheduler", s)?]);
    }
    if let Some(Some(t)) = o.persistent {
        v.extend(["-p".into(), t.to_string()]);
    }
    if let Some(Some(m)) = &o.netmask {
        v.extend(["-M".into(), word("netmask", m)?]);
    }
    if let Some(Some(pe)) = &o.pe {
        v.extend(["--pe".into(), word("pe", pe)?]);
    }
    if o.onepacket == Some(true) {
        v.push("-o".into());
    }
    if let Some(f) = o.sched_flags.as_ref().filter(|f| !f.is_empty()) {
        let names = f
            .iter()
            .map(|s| word("sched_flags", s))
            .collect::<Result<Vec<_>, _>>()?;
        v.extend(["-b".into(), names.join(",")]);
    }
    Ok(v)
}

/// The options of a new dest.
pub fn new_dest_options(n: &NewDest) -> DestOptions {
    DestOptions {
        forward: n.forward.clone(),
        weight: n.weight,
        upper_threshold: n.upper_threshold,
        lower_threshold: n.lower_threshold,
        tunnel: n.tunnel.clone(),
    }
}

/// The options a dest has now, for merging an edit.
pub fn current_dest_options(d: &DestRow) -> DestOptions {
    let forward = match d.fwd {
        FwdMethod::Masq => "nat",
        FwdMethod::Local | FwdMethod::Route => "dr",
        FwdMethod::Tunnel => "tun",
        FwdMethod::FullNat => "fullnat",
    };
    let tunnel = (d.fwd == FwdMethod::Tunnel).then(|| TunnelInput {
        kind: match d.tun.kind {
            TunType::Ipip => "ipip",
            TunType::Gue => "gue",
            TunType::Gre => "gre",
        }
        .into(),
        port: (d.tun.kind == TunType::Gue).then_some(d.tun.port),
        checksum: (d.tun.kind != TunType::Ipip).then(|| {
            match d.tun.csum {
                TunCsum::NoCsum => "nocsum",
                TunCsum::Csum => "csum",
                TunCsum::RemCsum => "remcsum",
            }
            .into()
        }),
    });
    DestOptions {
        forward: Some(forward.into()),
        weight: Some(d.weight.into()),
        upper_threshold: Some(d.u_threshold.into()),
        lower_threshold: Some(d.l_threshold.into()),
        tunnel,
    }
}

/// `over` on top of `base`. Tunnel options go with the method: changing `forward` away
/// from `tun` drops them.
pub fn merge_dest(base: DestOptions, over: DestOptions) -> DestOptions {
    let forward = over.forward.or(base.forward);
    let tunnel = if forward.as_deref() == Some("tun") {
        over.tunnel.or(base.tunnel)
    } else {
        over.tunnel
    };
    DestOptions {
        forward,
        weight: over.weight.or(base.weight),
        upper_threshold: over.upper_threshold.or(base.upper_threshold),
        lower_threshold: over.lower_threshold.or(base.lower_threshold),
        tunnel,
    }
}

/// `-a`/`-e` argv for dest `addr[:port]` of `key` with `o`.
pub fn dest_argv(
    cmd: &str,
    key: &ServiceKey,
    addr: IpAddr,
    port: Option<u16>,
    o: &DestOptions,
) -> Result<Vec<String>, ApiError> {
    let mut v = vec![cmd.to_string()];
    v.extend(service_selector(key));
    let rs = match (addr, port) {
        (a, Some(p)) => SocketAddr::new(a, p).to_string(),
        (a, None) => a.to_string(),
    };
    v.extend(["-r".into(), rs]);
    let fwd = o.forward.as_deref().unwrap_or("dr");
    v.push(
        match fwd {
            "dr" => "-g",
            "nat" => "-m",
            "tun" => "-i",
            "fullnat" => "--fullnat",
            f => {
                return Err(ApiError::bad_request(format!(
                    "invalid forward `{f}' (dr, nat, tun or fullnat)"
                )));
            }
        }
        .into(),
    );
    if let Some(w) = o.weight {
        v.extend(["-w".into(), w.to_string()]);
    }
    if let Some(x) = o.upper_threshold {
        v.extend(["-x".into(), x.to_string()]);
    }
    if let Some(y) = o.lower_threshold {
        v.extend(["-y".into(), y.to_string()]);
    }
    if let Some(t) = &o.tunnel {
        if fwd != "tun" {
            return Err(ApiError::bad_request("tunnel options need forward `tun'"));
        }
        v.extend(["--tun-type".into(), word("tunnel type", &t.kind)?]);
        if let Some(p) = t.port {
            v.extend(["--tun-port".into(), p.to_string()]);
        }
        match t.checksum.as_deref() {
            None => {}
            Some("nocsum") => v.push("--tun-nocsum".into()),
            Some("csum") => v.push("--tun-csum".into()),
            Some("remcsum") => v.push("--tun-remcsum".into()),
            Some(c) => {
                return Err(ApiError::bad_request(format!(
                    "invalid tunnel checksum `{c}' (nocsum, csum or remcsum)"
                )));
            }
        }
    }
    Ok(v)
}

/// Parse `argv` as rvsadm would (built-in service names, no host names): a table command,
/// or a 400 with ipvsadm's message.
pub fn command(argv: &[String]) -> Result<Command, ApiError> {
    match ipvsadm::parse(ARGV0, argv) {
        Ok(Invocation::Command(c)) => Ok(c),
        Ok(other) => Err(ApiError::bad_request(format!(
            "not a table command: {other:?}"
        ))),
        Err(e) => Err(ApiError::bad_request(e.message.trim_end().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::DestConfig;

    fn key(s: &str) -> ServiceKey {
        crate::ids::parse_service_id(s).unwrap()
    }

    #[test]
    fn service_commands_parse_back() {
        let k = key("udp-fd00:1::100-9000");
        let o = ServiceOptions {
            scheduler: Some("sh".into()),
            persistent: Some(Some(300)),
            netmask: Some(Some("64".into())),
            onepacket: Some(true),
            sched_flags: Some(vec!["sh-port".into()]),
            ..ServiceOptions::default()
        };
        let argv = service_argv("-A", &k, &o).unwrap();
        let Command::AddService(c) = command(&argv).unwrap() else {
            panic!("{argv:?}")
        };
        assert_eq!(c.key, k);
        assert_eq!(c.scheduler, "sh");
        assert_eq!(c.persistent, Some(300));
        assert!(c.onepacket);
        assert_eq!(c.sched_flags, rvs_core::sched::flags::SCHED2);
        let argv = service_argv("-A", &key("fwm6-7"), &ServiceOptions::default()).unwrap();
        assert_eq!(argv, ["-A", "-f", "7", "-6"]);
        assert!(matches!(command(&argv), Ok(Command::AddService(_))));
    }

    #[test]
    fn dest_commands_parse_back() {
        let k = key("tcp-198.18.1.100-80");
        let o = DestOptions {
            forward: Some("tun".into()),
            weight: Some(3),
            upper_threshold: Some(10),
            lower_threshold: Some(2),
            tunnel: Some(TunnelInput {
                kind: "gue".into(),
                port: Some(6080),
                checksum: Some("csum".into()),
            }),
        };
        let a: IpAddr = "198.18.1.11".parse().unwrap();
        let argv = dest_argv("-a", &k, a, Some(8080), &o).unwrap();
        let Command::AddDest(sk, d) = command(&argv).unwrap() else {
            panic!()
        };
        assert_eq!(sk, k);
        // As in ipvsadm, only NAT (and FULLNAT) dests keep a port of their own.
        let mut want = DestConfig::new(a, 80);
        want.fwd = FwdMethod::Tunnel;
        want.weight = 3;
        want.u_threshold = 10;
        want.l_threshold = 2;
        want.tun.kind = TunType::Gue;
        want.tun.port = 6080;
        want.tun.csum = TunCsum::Csum;
        assert_eq!(d, want);
        // No port: the service's.
        let argv = dest_argv("-a", &k, a, None, &DestOptions::default()).unwrap();
        let Command::AddDest(_, d) = command(&argv).unwrap() else {
            panic!()
        };
        assert_eq!(d.port, 80);
        let argv = dest_argv(
            "-a",
            &key("tcp-fd00:1::100-80"),
            "fd00:1::11".parse().unwrap(),
            None,
            &DestOptions::default(),
        )
        .unwrap();
        let Command::AddDest(_, d) = command(&argv).unwrap() else {
            panic!()
        };
        assert_eq!(d.port, 80);
    }

    #[test]
    fn bad_values_are_ipvsadm_errors() {
        let k = key("tcp-198.18.1.100-80");
        let a: IpAddr = "198.18.1.11".parse().unwrap();
        let o = DestOptions {
            weight: Some(70000),
            ..DestOptions::default()
        };
        let e = command(&dest_argv("-a", &k, a, None, &o).unwrap()).unwrap_err();
        assert_eq!(e.message, "illegal weight specified");
        let o = DestOptions {
            forward: Some("route".into()),
            ..DestOptions::default()
        };
        assert!(dest_argv("-a", &k, a, None, &o).is_err());
        let o = ServiceOptions {
            scheduler: Some("-C".into()),
            ..ServiceOptions::default()
        };
        assert!(service_argv("-A", &k, &o).is_err());
    }
}
