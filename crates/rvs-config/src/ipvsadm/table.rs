//! ipvsadm's option table, its internal option and command names, and the
//! command × option legality matrix (`commands_v_options`) with its check.

use super::popt::{ArgKind, OptSpec};

/// What an option word means (popt's `val`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    AddService,
    EditService,
    DeleteService,
    Clear,
    List,
    Zero,
    AddServer,
    EditServer,
    DeleteServer,
    Set,
    Help,
    Version,
    Restore,
    Save,
    StartDaemon,
    StopDaemon,
    TcpService,
    UdpService,
    SctpService,
    FwmarkService,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Masquerading,
    Ipip,
    Gatewaying,
    FullNat,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastInterface,
    SyncId,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNoCsum,
    TunCsum,
    TunRemCsum,
    AddFwmarkRule,
    DelFwmarkRule,
}

const fn o(long: &'static str, short: u8, kind: ArgKind, tag: Tag) -> OptSpec<Tag> {
    OptSpec {
        long,
        short: if short == 0 { None } else { Some(short) },
        kind,
        tag,
    }
}

use ArgKind::{None as N, Optional as O, Required as R};

/// ipvsadm 1.31's popt table, plus rvs's `--fullnat`, `--add-fwmark-rule` and
/// `--del-fwmark-rule` (long names only).
pub const OPTIONS: &[OptSpec<Tag>] = &[
    o("add-service", b'A', N, Tag::AddService),
    o("edit-service", b'E', N, Tag::EditService),
    o("delete-service", b'D', N, Tag::DeleteService),
    o("clear", b'C', N, Tag::Clear),
    o("list", b'L', N, Tag::List),
    o("list", b'l', N, Tag::List),
    o("zero", b'Z', N, Tag::Zero),
    o("add-server", b'a', N, Tag::AddServer),
    o("edit-server", b'e', N, Tag::EditServer),
    o("delete-server", b'd', N, Tag::DeleteServer),
    o("set", 0, N, Tag::Set),
    o("help", b'h', N, Tag::Help),
    o("version", b'v', N, Tag::Version),
    o("restore", b'R', N, Tag::Restore),
    o("save", b'S', N, Tag::Save),
    o("start-daemon", 0, R, Tag::StartDaemon),
    o("stop-daemon", 0, R, Tag::StopDaemon),
    o("tcp-service", b't', R, Tag::TcpService),
    o("udp-service", b'u', R, Tag::UdpService),
    o("sctp-service", 0, R, Tag::SctpService),
    o("fwmark-service", b'f', R, Tag::FwmarkService),
    o("scheduler", b's', R, Tag::Scheduler),
    o("persistent", b'p', O, Tag::Persistent),
    o("netmask", b'M', R, Tag::Netmask),
    o("real-server", b'r', R, Tag::RealServer),
    o("masquerading", b'm', N, Tag::Masquerading),
    o("ipip", b'i', N, Tag::Ipip),
    o("gatewaying", b'g', N, Tag::Gatewaying),
    o("weight", b'w', R, Tag::Weight),
    o("u-threshold", b'x', R, Tag::UThreshold),
    o("l-threshold", b'y', R, Tag::LThreshold),
    o("numeric", b'n', N, Tag::Numeric),
    o("connection", b'c', N, Tag::Connection),
    o("mcast-interface", 0, R, Tag::McastInterface),
    o("syncid", 0, R, Tag::SyncId),
    o("timeout", 0, N, Tag::Timeout),
    o("daemon", 0, N, Tag::Daemon),
    o("stats", 0, N, Tag::Stats),
    o("rate", 0, N, Tag::Rate),
    o("thresholds", 0, N, Tag::Thresholds),
    o("persistent-conn", 0, N, Tag::PersistentConn),
    o("nosort", 0, N, Tag::NoSort),
    o("sort", 0, N, Tag::Sort),
    o("exact", b'X', N, Tag::Exact),
    o("ipv6", b'6', N, Tag::Ipv6),
    o("ops", b'o', N, Tag::Ops),
    o("pe", 0, R, Tag::Pe),
    o("sched-flags", b'b', R, Tag::SchedFlags),
    o("mcast-group", 0, R, Tag::McastGroup),
    o("mcast-port", 0, R, Tag::McastPort),
    o("mcast-ttl", 0, R, Tag::McastTtl),
    o("sync-maxlen", 0, R, Tag::SyncMaxlen),
    o("tun-info", 0, N, Tag::TunInfo),
    o("tun-type", 0, R, Tag::TunType),
    o("tun-port", 0, R, Tag::TunPort),
    o("tun-nocsum", 0, N, Tag::TunNoCsum),
    o("tun-csum", 0, N, Tag::TunCsum),
    o("tun-remcsum", 0, N, Tag::TunRemCsum),
    // rvs extensions.
    o("fullnat", 0, N, Tag::FullNat),
    o("add-fwmark-rule", 0, N, Tag::AddFwmarkRule),
    o("del-fwmark-rule", 0, N, Tag::DelFwmarkRule),
];

/// Internal option indices (`OPTC_*`), which are also bit numbers in the option set.
pub mod optc {
    pub const NUMERIC: usize = 0;
    pub const CONNECTION: usize = 1;
    pub const SERVICE: usize = 2;
    pub const SCHEDULER: usize = 3;
    pub const PERSISTENT: usize = 4;
    pub const NETMASK: usize = 5;
    pub const SERVER: usize = 6;
    pub const FORWARD: usize = 7;
    pub const WEIGHT: usize = 8;
    pub const UTHRESHOLD: usize = 9;
    pub const LTHRESHOLD: usize = 10;
    pub const MCAST: usize = 11;
    pub const TIMEOUT: usize = 12;
    pub const DAEMON: usize = 13;
    pub const STATS: usize = 14;
    pub const RATE: usize = 15;
    pub const THRESHOLDS: usize = 16;
    pub const PERSISTENTCONN: usize = 17;
    pub const NOSORT: usize = 18;
    pub const SYNCID: usize = 19;
    pub const EXACT: usize = 20;
    pub const ONEPACKET: usize = 21;
    pub const PERSISTENCE_ENGINE: usize = 22;
    pub const SCHED_FLAGS: usize = 23;
    pub const MCAST_GROUP: usize = 24;
    pub const MCAST_PORT: usize = 25;
    pub const MCAST_TTL: usize = 26;
    pub const SYNC_MAXLEN: usize = 27;
    pub const TUN_INFO: usize = 28;
    pub const TUN_TYPE: usize = 29;
    pub const TUN_PORT: usize = 30;
    pub const TUN_NOCSUM: usize = 31;
    pub const TUN_CSUM: usize = 32;
    pub const TUN_REMCSUM: usize = 33;
}

/// Option names as ipvsadm's messages print them, indexed by [`optc`].
pub const OPTNAMES: [&str; 34] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

/// ipvsadm's commands (`CMD_*` − 1), in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
}

impl Cmd {
    /// The command name used in messages (`cmdnames[]`).
    pub fn name(self) -> &'static str {
        CMDNAMES[self as usize]
    }
}

const CMDNAMES: [&str; 14] = [
    "add-service",
    "edit-service",
    "delete-service",
    "flush",
    "list",
    "add-server",
    "delete-server",
    "edit-server",
    "set",
    "start-daemon",
    "stop-daemon",
    "restore",
    "save",
    "zero",
];

/// `commands_v_options`: per command, one character per option index:
/// `+` compulsory, `x` illegal, `1` at most one of the `1` options, ` ` optional.
const COMMANDS_V_OPTIONS: [&[u8; 34]; 14] = [
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // add-service
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // edit-service
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-service
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // flush
    b" 11xxxxxxxxx11       xxxxxxx xxxxx", // list
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // add-server
    b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-server
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // edit-server
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // set
    b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx", // start-daemon
    b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx", // stop-daemon
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // restore
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // save
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // zero
];

/// `generic_opt_check`: the first violation in option-index order, as ipvsadm's message.
pub fn generic_opt_check(cmd: Cmd, options: u64) -> Result<(), String> {
    let row = COMMANDS_V_OPTIONS[cmd as usize];
    let mut last: Option<usize> = None;
    for (j, &rule) in row.iter().enumerate() {
        let set = options & (1u64 << j) != 0;
        if !set {
            if rule == b'+' {
                return Err(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    OPTNAMES[j],
                    cmd.name()
                ));
            }
            continue;
        }
        if rule == b'x' {
            return Err(format!(
                "Illegal '{}' option with the '{}' command",
                OPTNAMES[j],
                cmd.name()
            ));
        }
        if rule == b'1' {
            if let Some(l) = last {
                return Err(format!(
                    "The option '{}' conflicts with the '{}' option in the '{}' command",
                    OPTNAMES[j],
                    OPTNAMES[l],
                    cmd.name()
                ));
            }
            last = Some(j);
        }
    }
    Ok(())
}

/// Tunnel type names (`tunnames[]`), indexed by type code.
pub const TUNNAMES: [&str; 3] = ["ipip", "gue", "gre"];

/// The options `tunnel_types_v_options` rules over, in column order.
const TUNOPTS: [usize; 4] = [
    optc::TUN_PORT,
    optc::TUN_NOCSUM,
    optc::TUN_CSUM,
    optc::TUN_REMCSUM,
];

/// `tunnel_types_v_options`: per tunnel type, the rule for each of [`TUNOPTS`].
const TUNNEL_TYPES_V_OPTIONS: [&[u8; 4]; 3] = [b"xxxx", b"+111", b"x11x"];

/// `tunnel_opt_check` for a tunnel type code (0 ipip, 1 gue, 2 gre).
pub fn tunnel_opt_check(tun_type: usize, options: u64) -> Result<(), String> {
    let row = TUNNEL_TYPES_V_OPTIONS[tun_type];
    let tname = TUNNAMES[tun_type];
    let mut last: Option<usize> = None;
    for (j, &k) in TUNOPTS.iter().enumerate() {
        let set = options & (1u64 << k) != 0;
        if !set {
            if row[j] == b'+' {
                return Err(format!(
                    "You need to supply the '{}' option for the '{tname}' tunnel type",
                    OPTNAMES[k]
                ));
            }
            continue;
        }
        if row[j] == b'x' {
            return Err(format!(
                "Illegal '{}' option with the '{tname}' tunnel type",
                OPTNAMES[k]
            ));
        }
        if row[j] == b'1' {
            if let Some(l) = last {
                return Err(format!(
                    "The option '{}' conflicts with the '{}' option in the '{tname}' tunnel type",
                    OPTNAMES[k], OPTNAMES[l]
                ));
            }
            last = Some(k);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shapes() {
        // Each short letter and each long name (except ipvsadm's two "list" entries) is unique.
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                assert!(a.short.is_none() || a.short != b.short, "{}", a.long);
                assert!(a.long != b.long || a.long == "list", "{}", a.long);
            }
        }
        assert!(generic_opt_check(Cmd::Flush, 0).is_ok());
        assert_eq!(
            generic_opt_check(Cmd::List, (1 << optc::CONNECTION) | (1 << optc::DAEMON)),
            Err(
                "The option 'daemon' conflicts with the 'connection' option in the 'list' command"
                    .into()
            )
        );
    }
}
