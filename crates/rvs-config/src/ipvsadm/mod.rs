//! ipvsadm 1.31's command line, parsed exactly like ipvsadm parses it.
//!
//! [`parse`] turns an argument vector into an [`Invocation`]: a table change
//! ([`rvs_core::Command`]), a listing, save/restore, help/version, or a sync-daemon
//! start/stop. Everything ipvsadm checks before it talks to the kernel is checked here, in
//! ipvsadm's order and with its exact messages and exit codes ([`ArgError`]):
//!
//! * popt's parsing rules (bundles `-Ln`, `-p` with an optional value, leftovers, `--`);
//! * the first option must be a command, else the "Try ..." hint (exit 255); a later command
//!   option is ``invalid option `-E'`` (exit 2);
//! * per-option checks in argv order (`illegal weight specified`, ...), then the `--set`
//!   values, leftover arguments, `-b` flags (checked against `-s`, default wlc), the
//!   command × option table, and the per-command rules (zero port, one-packet, address
//!   family, tunnel options, list conflicts);
//! * defaults: scheduler wlc, `-p` alone = 360 s, method DR, weight 1; `-g`/`-i` dests of
//!   non-fwmark services get the service port; `-r` without a port takes the service port
//!   known at that point of the line; `-M` is read for the address family known at that
//!   point (an IPv6 service given later resets it to 128, as ipvsadm does).
//!
//! Addresses follow ipvsadm: IPv4 through glibc `inet_aton` rules (`10.1`, `0x0a000001`),
//! IPv6 bare (port 0) or bracketed with a port, ports as numbers or service names. Name
//! lookups go through a [`Resolver`]; [`parse`] uses [`Services::builtin`], which knows
//! common service names and resolves **no host names** — a host name then gets ipvsadm's
//! `illegal ... address[:port] specified` error, as an unresolvable name would.
//!
//! rvs extensions: `--fullnat` (forwarding method [`FwdMethod::FullNat`], counted as the
//! `forwarding-method` option) and the commands `--add-fwmark-rule` /
//! `--del-fwmark-rule MARK PROTO DST[/PLEN] [PORTS]` (see [`rvs_core::fwmark`]).
//!
//! Known gaps: popt's `!#:+` expansion and `POSIXLY_CORRECT` mode are not emulated; `-b`
//! with only commas (which crashes ipvsadm) is refused as ``invalid scheduler flag `'``.

mod cnum;
mod help;
mod names;
mod popt;
mod table;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use rvs_core::addr::Netmask;
use rvs_core::dest::{TunConfig, TunCsum, TunType};
use rvs_core::fwmark::FwmarkRule;
use rvs_core::sched::flags as sched_flags;
use rvs_core::{Af, Command, DestConfig, FwdMethod, Protocol, ServiceConfig, ServiceKey};

pub use help::{VERSION_LINE, help_text};
pub use names::{Resolver, Services};

use popt::Popt;
use table::{Cmd, Tag, optc};

/// ipvsadm's `MAX_TIMEOUT`: 31 days in seconds.
pub const MAX_TIMEOUT: u32 = 86400 * 31;

/// Persistence timeout when `-p` has no value (`IPVS_SVC_PERSISTENT_TIMEOUT`).
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 360;

/// Scheduler used when `-s` is not given.
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// Sync-daemon interface used when `--mcast-interface` is not given.
pub const DEFAULT_MCAST_INTERFACE: &str = "eth0";

/// A refused command line: what ipvsadm prints on stderr and the status it exits with.
///
/// `message` is the text without the final newline ipvsadm adds (one message, `-6 used
/// before -f`, carries an extra `\n` of its own, as in ipvsadm). `exit_code` is 2 for
/// ipvsadm's `fail()` checks and 255 for popt errors and the "Try ..." usage hint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ArgError {
    /// Text printed on stderr (without the trailing newline).
    pub message: String,
    /// Process exit status.
    pub exit_code: i32,
    /// Which of ipvsadm's error paths produced it.
    pub kind: ArgErrorKind,
}

/// ipvsadm's three ways of refusing a command line. They differ in `-R`: `fail()` and the
/// usage hint exit the process (ending the restore), a popt error only fails that line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgErrorKind {
    /// `fail(2, ...)`: a validation error; exits 2.
    Fail,
    /// The "Try `argv0 -h' ..." hint (first option not a command); exits 255.
    Usage,
    /// A popt error after the first option (`-q: unknown option`); the command returns -1
    /// (exit status 255) and `-R` goes on with the next line.
    Popt,
}

impl ArgError {
    /// A `fail(2, ...)` error.
    fn fail(message: impl Into<String>) -> Self {
        ArgError {
            message: message.into(),
            exit_code: 2,
            kind: ArgErrorKind::Fail,
        }
    }

    /// The usage hint ipvsadm prints when the first option is not a command.
    pub fn try_help(argv0: &str) -> Self {
        ArgError {
            message: format!("Try `{argv0} -h' or '{argv0} --help' for more information."),
            exit_code: 255,
            kind: ArgErrorKind::Usage,
        }
    }

    /// Whether ipvsadm `-R` stops at this error (every kind but [`ArgErrorKind::Popt`]).
    pub fn ends_restore(&self) -> bool {
        self.kind != ArgErrorKind::Popt
    }
}

/// Sync daemon role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncState {
    /// `master`.
    Master,
    /// `backup`.
    Backup,
}

/// `--start-daemon` / `--stop-daemon` parameters. `None` = not given (kernel default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Role.
    pub state: SyncState,
    /// `--mcast-interface` (defaults to `eth0` for `--start-daemon`, empty for stop).
    pub mcast_ifn: String,
    /// `--syncid` (0 = no filtering).
    pub syncid: u8,
    /// `--sync-maxlen`.
    pub sync_maxlen: Option<u16>,
    /// `--mcast-group` (a multicast address).
    pub mcast_group: Option<IpAddr>,
    /// `--mcast-port`.
    pub mcast_port: Option<u16>,
    /// `--mcast-ttl`.
    pub mcast_ttl: Option<u8>,
}

/// What a listing shows, in ipvsadm's priority order (see [`ListOptions::target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListTarget {
    /// `-c`: the connection table.
    Connections,
    /// `-L -t VIP:port` (or `-f`): one service.
    Service(ServiceKey),
    /// `--timeout`.
    Timeout,
    /// `--daemon`.
    Daemon,
    /// Every service, with the version header.
    All,
}

/// `-L`/`-l` and its modifiers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `-n`.
    pub numeric: bool,
    /// `-c`.
    pub connection: bool,
    /// A service selector, if one was given.
    pub service: Option<ServiceKey>,
    /// `--stats`.
    pub stats: bool,
    /// `--rate`.
    pub rate: bool,
    /// `--thresholds`.
    pub thresholds: bool,
    /// `--persistent-conn`.
    pub persistent_conn: bool,
    /// `--tun-info`.
    pub tun_info: bool,
    /// `--nosort`.
    pub nosort: bool,
    /// `--exact` / `-X`.
    pub exact: bool,
    /// `--timeout`.
    pub timeout: bool,
    /// `--daemon`.
    pub daemon: bool,
}

impl ListOptions {
    /// What to list: `-c` first, then a service, `--timeout`, `--daemon`, else all.
    pub fn target(&self) -> ListTarget {
        if self.connection {
            ListTarget::Connections
        } else if let Some(k) = self.service {
            ListTarget::Service(k)
        } else if self.timeout {
            ListTarget::Timeout
        } else if self.daemon {
            ListTarget::Daemon
        } else {
            ListTarget::All
        }
    }
}

/// A parsed ipvsadm command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// A table change: `-A -E -D -C -a -e -d -Z --set`, and rvs's fwmark-rule commands.
    Command(Command),
    /// `-L`/`-l` (also what an empty command line means).
    List(ListOptions),
    /// `-S [-n]`.
    Save {
        /// `-n`.
        numeric: bool,
    },
    /// `-R`: read commands from stdin (see [`parse_restore_line`]).
    Restore,
    /// `-h`: usage on stdout, exit 0 (anything after it is ignored).
    Help,
    /// `-v`: version on stdout, exit 0 (anything after it is ignored).
    Version,
    /// `--start-daemon master|backup`.
    StartDaemon(DaemonConfig),
    /// `--stop-daemon master|backup`.
    StopDaemon(DaemonConfig),
}

static BUILTIN_SERVICES: LazyLock<Services> = LazyLock::new(Services::builtin);

/// Parse `args` (argv without `argv[0]`) as ipvsadm would, with the built-in service-name
/// table and no host-name resolution. `argv0` is used in the usage hint.
pub fn parse(argv0: &str, args: &[String]) -> Result<Invocation, ArgError> {
    parse_with(argv0, args, &*BUILTIN_SERVICES)
}

/// Split one `-R` input line like ipvsadm's `config_stream_read`: words separated by
/// spaces, tabs, CR or LF; every word equal to `ipvsadm` is dropped. No comment handling.
pub fn split_restore_line(line: &str) -> Vec<String> {
    line.split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty() && *w != "ipvsadm")
        .map(str::to_string)
        .collect()
}

/// One line of `ipvsadm -R` input (or of an ipvsadm-save rules file): `None` for a line
/// without words, else the parse of its words. A `-R` inside restore input is refused
/// with the usage hint (exit 255), as ipvsadm does to avoid recursion. Whether the
/// restore goes on after an error is [`ArgError::ends_restore`].
pub fn parse_restore_line(
    argv0: &str,
    line: &str,
    resolver: &dyn Resolver,
) -> Option<Result<Invocation, ArgError>> {
    let words = split_restore_line(line);
    if words.is_empty() {
        return None;
    }
    Some(match parse_with(argv0, &words, resolver) {
        Ok(Invocation::Restore) => Err(ArgError::try_help(argv0)),
        other => other,
    })
}

/// The service being described (`ce->svc` in ipvsadm).
struct SvcState {
    af: Option<Af>,
    proto: Option<Protocol>,
    addr: Option<IpAddr>,
    port: u16,
    fwmark: u32,
    sched: String,
    persistent: Option<u32>,
    onepacket: bool,
    /// IPv4 mask (host order) or IPv6 prefix length, per `af`.
    netmask: u32,
    pe: String,
}

/// The real server being described (`ce->dest`).
struct DestState {
    af: Option<Af>,
    addr: Option<IpAddr>,
    port: u16,
    fwd: FwdMethod,
    weight: i32,
    u_threshold: u32,
    l_threshold: u32,
    tun_type: usize,
    tun_port: u16,
    tun_flags: u32,
}

/// Everything the option loop collects.
struct State {
    cmd: Cmd,
    options: u64,
    svc: SvcState,
    dest: DestState,
    daemon: DaemonConfig,
    timeouts: (u32, u32, u32),
    sched_flags_arg: String,
}

impl State {
    fn set_option(&mut self, optc: usize) -> Result<(), ArgError> {
        let bit = 1u64 << optc;
        if self.options & bit != 0 {
            return Err(ArgError::fail(format!(
                "multiple '{}' options specified",
                table::OPTNAMES[optc]
            )));
        }
        self.options |= bit;
        Ok(())
    }

    fn has(&self, optc: usize) -> bool {
        self.options & (1u64 << optc) != 0
    }
}

/// Truncate to at most `n` bytes (backing off to a character boundary), like `strncpy` into
/// ipvsadm's fixed-size name fields.
fn truncate_bytes(s: &str, n: usize) -> String {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// [`parse`] with a caller-supplied [`Resolver`] (e.g. [`Services::parse`] of the
/// system's `/etc/services`, or a resolver that knows host names).
pub fn parse_with(
    argv0: &str,
    args: &[String],
    resolver: &dyn Resolver,
) -> Result<Invocation, ArgError> {
    if args.is_empty() {
        return Ok(Invocation::List(ListOptions::default()));
    }
    let mut p = Popt::new(table::OPTIONS, argv0, args);
    let Ok(Some((first, first_arg))) = p.next_opt() else {
        return Err(ArgError::try_help(argv0));
    };
    let mut daemon = DaemonConfig {
        state: SyncState::Master,
        mcast_ifn: String::new(),
        syncid: 0,
        sync_maxlen: None,
        mcast_group: None,
        mcast_port: None,
        mcast_ttl: None,
    };
    let daemon_state = |arg: Option<String>, msg: &str| match arg.as_deref() {
        Some("master") => Ok(SyncState::Master),
        Some("backup") => Ok(SyncState::Backup),
        _ => Err(ArgError::fail(msg)),
    };
    let cmd = match first {
        Tag::AddService => Cmd::Add,
        Tag::EditService => Cmd::Edit,
        Tag::DeleteService => Cmd::Del,
        Tag::AddServer => Cmd::AddDest,
        Tag::EditServer => Cmd::EditDest,
        Tag::DeleteServer => Cmd::DelDest,
        Tag::Clear => Cmd::Flush,
        Tag::List => Cmd::List,
        Tag::Zero => Cmd::Zero,
        Tag::Set => Cmd::Timeout,
        Tag::Restore => Cmd::Restore,
        Tag::Save => Cmd::Save,
        Tag::StartDaemon => {
            daemon.state = daemon_state(first_arg, "illegal start-daemon parameter specified")?;
            Cmd::StartDaemon
        }
        Tag::StopDaemon => {
            daemon.state = daemon_state(first_arg, "illegal start_daemon specified")?;
            Cmd::StopDaemon
        }
        Tag::Help => return Ok(Invocation::Help),
        Tag::Version => return Ok(Invocation::Version),
        Tag::AddFwmarkRule | Tag::DelFwmarkRule => {
            return fwmark_rule(first == Tag::AddFwmarkRule, &p, args);
        }
        _ => return Err(ArgError::try_help(argv0)),
    };
    let mut st = State {
        cmd,
        options: 0,
        svc: SvcState {
            af: None,
            proto: None,
            addr: None,
            port: 0,
            fwmark: 0,
            sched: String::new(),
            persistent: None,
            onepacket: false,
            netmask: u32::MAX,
            pe: String::new(),
        },
        dest: DestState {
            af: None,
            addr: None,
            port: 0,
            fwd: FwdMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
        },
        daemon,
        timeouts: (0, 0, 0),
        sched_flags_arg: String::new(),
    };

    loop {
        match p.next_opt() {
            Ok(Some((tag, arg))) => {
                option(&mut st, tag, arg.as_deref(), resolver).map_err(|e| match e {
                    OptErr::Arg(e) => e,
                    OptErr::Invalid => {
                        ArgError::fail(format!("invalid option `{}'", p.bad_option()))
                    }
                })?;
            }
            Ok(None) => break,
            Err(e) => {
                return Err(ArgError {
                    message: format!("{}: {}", p.bad_option(), e.text()),
                    exit_code: 255,
                    kind: ArgErrorKind::Popt,
                });
            }
        }
    }

    if st.cmd == Cmd::Timeout {
        let mut vals = [0u32; 3];
        let words: Vec<String> = (0..3)
            .map_while(|_| p.get_arg().map(str::to_string))
            .collect();
        if words.len() < 3 {
            return Err(ArgError::fail("--set option requires 3 timeout values"));
        }
        for (v, w) in vals.iter_mut().zip(&words) {
            *v = parse_timeout(w, 0)?;
        }
        st.timeouts = (vals[0], vals[1], vals[2]);
    }
    if let Some(extra) = p.get_arg() {
        return Err(ArgError::fail(format!("unexpected argument {extra}")));
    }
    let mut svc_flags = 0;
    if !st.sched_flags_arg.is_empty() {
        svc_flags = parse_sched_flags(&st.svc.sched, &st.sched_flags_arg)?;
    }

    table::generic_opt_check(st.cmd, st.options).map_err(ArgError::fail)?;

    if matches!(st.cmd, Cmd::Add | Cmd::Edit) {
        if st.svc.fwmark == 0 && st.svc.port == 0 && st.svc.persistent.is_none() {
            return Err(ArgError::fail(
                "Zero port specified for non-persistent service",
            ));
        }
        if st.svc.onepacket && st.svc.fwmark == 0 && st.svc.proto != Some(Protocol::Udp) {
            return Err(ArgError::fail(
                "One-Packet Scheduling is only for UDP virtual services",
            ));
        }
        if st.svc.sched.is_empty() {
            st.svc.sched = DEFAULT_SCHEDULER.to_string();
        }
    }
    if st.cmd == Cmd::StartDaemon && st.daemon.mcast_ifn.is_empty() {
        st.daemon.mcast_ifn = DEFAULT_MCAST_INTERFACE.to_string();
    }
    if matches!(st.cmd, Cmd::AddDest | Cmd::EditDest) {
        if st.svc.fwmark == 0 && matches!(st.dest.fwd, FwdMethod::Tunnel | FwdMethod::Route) {
            st.dest.port = st.svc.port;
        }
        if st.dest.af != st.svc.af && st.dest.fwd != FwdMethod::Tunnel {
            return Err(ArgError::fail(
                "Different address family is allowed only for tunneling servers",
            ));
        }
        let tun_opts = [
            optc::TUN_TYPE,
            optc::TUN_PORT,
            optc::TUN_NOCSUM,
            optc::TUN_CSUM,
            optc::TUN_REMCSUM,
        ];
        if tun_opts.iter().any(|&o| st.has(o)) && st.dest.fwd != FwdMethod::Tunnel {
            return Err(ArgError::fail(
                "Tunnel options conflict with forward method",
            ));
        }
        table::tunnel_opt_check(st.dest.tun_type, st.options).map_err(ArgError::fail)?;
    }
    if st.cmd == Cmd::List {
        let any = |os: &[usize]| os.iter().any(|&o| st.has(o));
        if (any(&[optc::CONNECTION, optc::TIMEOUT, optc::DAEMON])
            && any(&[optc::STATS, optc::RATE, optc::THRESHOLDS]))
            || (any(&[optc::TIMEOUT, optc::DAEMON]) && st.has(optc::PERSISTENTCONN))
        {
            return Err(ArgError::fail("options conflicts in the list command"));
        }
    }
    Ok(build(st, svc_flags))
}

/// Why one option was refused.
enum OptErr {
    /// A `fail()` error.
    Arg(ArgError),
    /// An option ipvsadm's loop does not handle (a second command): ``invalid option``.
    Invalid,
}

impl From<ArgError> for OptErr {
    fn from(e: ArgError) -> Self {
        OptErr::Arg(e)
    }
}

/// One iteration of ipvsadm's option loop. `value` is the option's argument; only `-p`
/// can lack one (popt's optional argument).
fn option(
    st: &mut State,
    tag: Tag,
    value: Option<&str>,
    resolver: &dyn Resolver,
) -> Result<(), OptErr> {
    let arg = value.unwrap_or("");
    let illegal = |what: &str| ArgError::fail(format!("illegal {what} specified"));
    match tag {
        Tag::TcpService | Tag::UdpService | Tag::SctpService => {
            st.set_option(optc::SERVICE)?;
            let proto = match tag {
                Tag::TcpService => Protocol::Tcp,
                Tag::UdpService => Protocol::Udp,
                _ => Protocol::Sctp,
            };
            st.svc.proto = Some(proto);
            let (addr, port) = parse_service(arg, Some(proto), resolver)
                .ok_or_else(|| illegal("virtual server address[:port]"))?;
            st.svc.af = Some(Af::of(&addr));
            st.svc.addr = Some(addr);
            if addr.is_ipv6() {
                st.svc.netmask = 128;
            }
            if let Some(port) = port {
                st.svc.port = port;
            }
        }
        Tag::FwmarkService => {
            st.set_option(optc::SERVICE)?;
            st.svc.af = Some(Af::Inet);
            st.svc.proto = Some(Protocol::Tcp);
            st.svc.fwmark = cnum::parse_fwmark(arg)
                .ok_or_else(|| ArgError::fail(format!("invalid fwmark value `{arg}' specified")))?;
        }
        Tag::Scheduler => {
            st.set_option(optc::SCHEDULER)?;
            st.svc.sched = truncate_bytes(arg, 15);
        }
        Tag::Persistent => {
            st.set_option(optc::PERSISTENT)?;
            st.svc.persistent = Some(match value {
                Some(v) => parse_timeout(v, 1)?,
                None => DEFAULT_PERSISTENT_TIMEOUT,
            });
        }
        Tag::Netmask => {
            st.set_option(optc::NETMASK)?;
            if st.svc.af != Some(Af::Inet6) {
                let m = cnum::inet_aton(arg)
                    .or_else(|| resolver.host_v4(arg))
                    .ok_or_else(|| illegal("virtual server persistent mask"))?;
                st.svc.netmask = u32::from(m);
            } else {
                let plen = cnum::atoi(arg) as u32;
                if !(1..=128).contains(&plen) {
                    return Err(illegal("ipv6 netmask").into());
                }
                st.svc.netmask = plen;
            }
        }
        Tag::RealServer => {
            st.set_option(optc::SERVER)?;
            let (addr, port) = parse_service(arg, st.svc.proto, resolver)
                .ok_or_else(|| illegal("real server address[:port]"))?;
            st.dest.af = Some(Af::of(&addr));
            st.dest.addr = Some(addr);
            st.dest.port = port.unwrap_or(st.svc.port);
        }
        Tag::Ipip | Tag::Gatewaying | Tag::Masquerading | Tag::FullNat => {
            st.set_option(optc::FORWARD)?;
            st.dest.fwd = match tag {
                Tag::Ipip => FwdMethod::Tunnel,
                Tag::Gatewaying => FwdMethod::Route,
                Tag::Masquerading => FwdMethod::Masq,
                _ => FwdMethod::FullNat,
            };
        }
        Tag::Weight => {
            st.set_option(optc::WEIGHT)?;
            st.dest.weight =
                cnum::string_to_number(arg, 0, 65535).ok_or_else(|| illegal("weight"))? as i32;
        }
        Tag::UThreshold => {
            st.set_option(optc::UTHRESHOLD)?;
            st.dest.u_threshold = cnum::string_to_number(arg, 0, i64::from(i32::MAX))
                .ok_or_else(|| illegal("u_threshold"))? as u32;
        }
        Tag::LThreshold => {
            st.set_option(optc::LTHRESHOLD)?;
            st.dest.l_threshold = cnum::string_to_number(arg, 0, i64::from(i32::MAX))
                .ok_or_else(|| illegal("l_threshold"))? as u32;
        }
        Tag::Connection => st.set_option(optc::CONNECTION)?,
        Tag::Numeric => st.set_option(optc::NUMERIC)?,
        Tag::McastInterface => {
            st.set_option(optc::MCAST)?;
            st.daemon.mcast_ifn = truncate_bytes(arg, 15);
        }
        Tag::SyncId => {
            st.set_option(optc::SYNCID)?;
            st.daemon.syncid =
                cnum::string_to_number(arg, 0, 255).ok_or_else(|| illegal("syncid"))? as u8;
        }
        Tag::Timeout => st.set_option(optc::TIMEOUT)?,
        Tag::Daemon => st.set_option(optc::DAEMON)?,
        Tag::Stats => st.set_option(optc::STATS)?,
        Tag::Rate => st.set_option(optc::RATE)?,
        Tag::Thresholds => st.set_option(optc::THRESHOLDS)?,
        Tag::PersistentConn => st.set_option(optc::PERSISTENTCONN)?,
        Tag::NoSort => st.set_option(optc::NOSORT)?,
        Tag::Sort => {}
        Tag::Exact => st.set_option(optc::EXACT)?,
        Tag::Ipv6 => {
            if st.svc.fwmark == 0 {
                return Err(ArgError::fail("-6 used before -f\n").into());
            }
            st.svc.af = Some(Af::Inet6);
            st.svc.netmask = 128;
        }
        Tag::Ops => {
            st.set_option(optc::ONEPACKET)?;
            st.svc.onepacket = true;
        }
        Tag::Pe => {
            st.set_option(optc::PERSISTENCE_ENGINE)?;
            st.svc.pe = truncate_bytes(arg, 16);
        }
        Tag::SchedFlags => {
            st.set_option(optc::SCHED_FLAGS)?;
            st.sched_flags_arg = truncate_bytes(arg, 127);
        }
        Tag::McastGroup => {
            st.set_option(optc::MCAST_GROUP)?;
            let group = if arg.contains(':') {
                arg.parse::<Ipv6Addr>()
                    .ok()
                    .filter(Ipv6Addr::is_multicast)
                    .map(IpAddr::V6)
                    .ok_or_else(|| ArgError::fail(format!("invalid IPv6 mcast-group `{arg}'")))?
            } else {
                arg.parse::<Ipv4Addr>()
                    .ok()
                    .filter(Ipv4Addr::is_multicast)
                    .map(IpAddr::V4)
                    .ok_or_else(|| ArgError::fail(format!("invalid IPv4 mcast-group `{arg}'")))?
            };
            st.daemon.mcast_group = Some(group);
        }
        Tag::McastPort => {
            st.set_option(optc::MCAST_PORT)?;
            st.daemon.mcast_port = Some(
                cnum::string_to_number(arg, 1, 65535).ok_or_else(|| illegal("mcast-port"))? as u16,
            );
        }
        Tag::McastTtl => {
            st.set_option(optc::MCAST_TTL)?;
            st.daemon.mcast_ttl = Some(
                cnum::string_to_number(arg, 1, 255).ok_or_else(|| illegal("mcast-ttl"))? as u8,
            );
        }
        Tag::SyncMaxlen => {
            st.set_option(optc::SYNC_MAXLEN)?;
            st.daemon.sync_maxlen = Some(
                cnum::string_to_number(arg, 1, 65535 - 20 - 8)
                    .ok_or_else(|| illegal("sync-maxlen"))? as u16,
            );
        }
        Tag::TunInfo => st.set_option(optc::TUN_INFO)?,
        Tag::TunType => {
            st.set_option(optc::TUN_TYPE)?;
            st.dest.tun_type = table::TUNNAMES
                .iter()
                .position(|n| *n == arg)
                .ok_or_else(|| illegal("tunnel type"))?;
        }
        Tag::TunPort => {
            st.set_option(optc::TUN_PORT)?;
            st.dest.tun_port =
                cnum::string_to_number(arg, 1, 65535).ok_or_else(|| illegal("tunnel port"))? as u16;
        }
        Tag::TunNoCsum => st.set_option(optc::TUN_NOCSUM)?,
        Tag::TunCsum => {
            st.set_option(optc::TUN_CSUM)?;
            st.dest.tun_flags |= 1;
        }
        Tag::TunRemCsum => {
            st.set_option(optc::TUN_REMCSUM)?;
            st.dest.tun_flags |= 2;
        }
        // Command options after the first one.
        Tag::AddService
        | Tag::EditService
        | Tag::DeleteService
        | Tag::Clear
        | Tag::List
        | Tag::Zero
        | Tag::AddServer
        | Tag::EditServer
        | Tag::DeleteServer
        | Tag::Set
        | Tag::Help
        | Tag::Version
        | Tag::Restore
        | Tag::Save
        | Tag::StartDaemon
        | Tag::StopDaemon
        | Tag::AddFwmarkRule
        | Tag::DelFwmarkRule => return Err(OptErr::Invalid),
    }
    Ok(())
}

/// ipvsadm's `parse_timeout(buf, min, MAX_TIMEOUT)`.
fn parse_timeout(s: &str, min: i64) -> Result<u32, ArgError> {
    cnum::string_to_number(s, min, i64::from(MAX_TIMEOUT))
        .map(|v| v as u32)
        .ok_or_else(|| ArgError::fail(format!("invalid timeout value `{s}' specified")))
}

/// ipvsadm's `parse_service`: `host[:port]`, `[v6]:port`, or a bare IPv6 literal (port
/// not given). `None` = SERVICE_NONE (refused).
fn parse_service(
    buf: &str,
    proto: Option<Protocol>,
    resolver: &dyn Resolver,
) -> Option<(IpAddr, Option<u16>)> {
    if cnum::str_is_digit(buf) {
        return None;
    }
    let mut host = buf;
    let mut port_str: Option<&str> = None;
    if let Some(rest) = buf.strip_prefix('[') {
        let close = rest.find(']')?;
        let after = rest[close + 1..].strip_prefix(':')?;
        host = &rest[..close];
        port_str = Some(after);
    }
    let addr = if let Ok(a6) = host.parse::<Ipv6Addr>() {
        IpAddr::V6(a6)
    } else {
        // The IPv4 path looks for a port again, inside what is left of the word: a
        // bracketed IPv4 address ("[1.2.3.4]:80") thereby loses its port, as in ipvsadm.
        port_str = None;
        if let Some(i) = host.rfind(':') {
            port_str = Some(&host[i + 1..]);
            host = &host[..i];
        }
        IpAddr::V4(cnum::inet_aton(host).or_else(|| resolver.host_v4(host))?)
    };
    let port = match port_str {
        None => None,
        Some(p) => Some(match cnum::string_to_number(p, 0, 65535) {
            Some(n) => n as u16,
            None => resolver.service_port(p, proto?)?,
        }),
    };
    Some((addr, port))
}

/// ipvsadm's `parse_sched_flags`: comma-separated flag names checked against the
/// scheduler given with `-s` (default wlc).
fn parse_sched_flags(sched: &str, arg: &str) -> Result<u32, ArgError> {
    let sched = if sched.is_empty() {
        DEFAULT_SCHEDULER
    } else {
        sched
    };
    let mut flags = 0;
    let mut any = false;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        any = true;
        let (bit, needs) = match flag {
            "flag-1" => (sched_flags::SCHED1, None),
            "flag-2" => (sched_flags::SCHED2, None),
            "flag-3" => (sched_flags::SCHED3, None),
            "sh-fallback" => (sched_flags::SCHED1, Some("sh")),
            "sh-port" => (sched_flags::SCHED2, Some("sh")),
            "mh-fallback" => (sched_flags::SCHED1, Some("mh")),
            "mh-port" => (sched_flags::SCHED2, Some("mh")),
            _ => {
                return Err(ArgError::fail(format!("invalid scheduler flag `{flag}'")));
            }
        };
        flags |= bit;
        if needs.is_some_and(|s| s != sched) {
            return Err(ArgError::fail(format!(
                "incompatible scheduler flag `{flag}'"
            )));
        }
    }
    if !any {
        return Err(ArgError::fail("invalid scheduler flag `'"));
    }
    Ok(flags)
}

/// rvs's `--add-fwmark-rule` / `--del-fwmark-rule MARK PROTO DST[/PLEN] [PORTS]`.
fn fwmark_rule(add: bool, p: &Popt<'_, Tag>, args: &[String]) -> Result<Invocation, ArgError> {
    if let Some(extra) = p.leftovers().first() {
        return Err(ArgError::fail(format!("unexpected argument {extra}")));
    }
    let words: Vec<&str> = args[p.position()..].iter().map(String::as_str).collect();
    let rule = FwmarkRule::from_words(&words).map_err(|e| ArgError::fail(e.to_string()))?;
    Ok(Invocation::Command(if add {
        Command::AddFwmarkRule(rule)
    } else {
        Command::DelFwmarkRule(rule)
    }))
}

/// Turn the checked state into the invocation.
fn build(st: State, svc_flags: u32) -> Invocation {
    let key = service_key(&st.svc, st.has(optc::SERVICE));
    let numeric = st.has(optc::NUMERIC);
    let cmd = match st.cmd {
        Cmd::List => {
            return Invocation::List(ListOptions {
                numeric,
                connection: st.has(optc::CONNECTION),
                service: key,
                stats: st.has(optc::STATS),
                rate: st.has(optc::RATE),
                thresholds: st.has(optc::THRESHOLDS),
                persistent_conn: st.has(optc::PERSISTENTCONN),
                tun_info: st.has(optc::TUN_INFO),
                nosort: st.has(optc::NOSORT),
                exact: st.has(optc::EXACT),
                timeout: st.has(optc::TIMEOUT),
                daemon: st.has(optc::DAEMON),
            });
        }
        Cmd::Save => return Invocation::Save { numeric },
        Cmd::Restore => return Invocation::Restore,
        Cmd::StartDaemon => return Invocation::StartDaemon(st.daemon),
        Cmd::StopDaemon => return Invocation::StopDaemon(st.daemon),
        Cmd::Flush => Command::Flush,
        Cmd::Timeout => Command::SetTimeouts {
            tcp: st.timeouts.0,
            tcpfin: st.timeouts.1,
            udp: st.timeouts.2,
        },
        Cmd::Zero => Command::Zero(key),
        Cmd::Add | Cmd::Edit | Cmd::Del | Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
            // The command table makes the service compulsory for these commands.
            let Some(key) = key else {
                return Invocation::Command(Command::Flush);
            };
            match st.cmd {
                Cmd::Add => Command::AddService(service_config(key, st.svc, svc_flags)),
                Cmd::Edit => Command::EditService(service_config(key, st.svc, svc_flags)),
                Cmd::Del => Command::DelService(key),
                _ => {
                    let addr = st.dest.addr.unwrap_or(key.af().unspecified());
                    if st.cmd == Cmd::DelDest {
                        Command::DelDest(key, addr, st.dest.port)
                    } else {
                        let dest = dest_config(addr, &st.dest);
                        if st.cmd == Cmd::AddDest {
                            Command::AddDest(key, dest)
                        } else {
                            Command::EditDest(key, dest)
                        }
                    }
                }
            }
        }
    };
    Invocation::Command(cmd)
}

fn service_key(svc: &SvcState, given: bool) -> Option<ServiceKey> {
    if !given {
        return None;
    }
    if svc.fwmark != 0 {
        return Some(ServiceKey::Fwmark {
            af: svc.af.unwrap_or(Af::Inet),
            mark: svc.fwmark,
        });
    }
    Some(ServiceKey::Addr {
        proto: svc.proto.unwrap_or(Protocol::Tcp),
        addr: svc.addr?,
        port: svc.port,
    })
}

fn service_config(key: ServiceKey, svc: SvcState, sched_flags: u32) -> ServiceConfig {
    let netmask = match key.af() {
        Af::Inet => Netmask::V4(svc.netmask),
        Af::Inet6 => Netmask::V6(u8::try_from(svc.netmask).unwrap_or(128)),
    };
    ServiceConfig {
        key,
        scheduler: svc.sched,
        persistent: svc.persistent,
        netmask: (!netmask.is_full()).then_some(netmask),
        pe: (!svc.pe.is_empty()).then_some(svc.pe),
        onepacket: svc.onepacket,
        sched_flags,
    }
}

fn dest_config(addr: IpAddr, d: &DestState) -> DestConfig {
    let kind = match d.tun_type {
        1 => TunType::Gue,
        2 => TunType::Gre,
        _ => TunType::Ipip,
    };
    let csum = if d.tun_flags & 2 != 0 {
        TunCsum::RemCsum
    } else if d.tun_flags & 1 != 0 {
        TunCsum::Csum
    } else {
        TunCsum::NoCsum
    };
    DestConfig {
        addr,
        port: d.port,
        fwd: d.fwd,
        weight: d.weight,
        u_threshold: d.u_threshold,
        l_threshold: d.l_threshold,
        tun: TunConfig {
            kind,
            port: d.tun_port,
            csum,
        },
    }
}
