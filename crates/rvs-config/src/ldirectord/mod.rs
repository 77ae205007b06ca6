//! ldirectord.cf: the configuration file of ldirectord (the Perl health checker of the
//! heartbeat / resource-agents project), parsed into a typed [`Config`] and converted to the
//! equivalent keepalived.conf text by [`to_keepalived`].
//!
//! The parser follows ldirectord's own `read_config`: global `key = value` lines, then
//! `virtual=` / `virtual6=` blocks whose option lines are indented by at least four spaces
//! or a tab (a tab counts as four spaces; a blank line ends a block). Every problem is
//! collected as a [`Diagnostic`] with `FILE:LINE:COL`; host names are not resolved (the
//! converter does no DNS), service names are looked up in a built-in `/etc/services`
//! table. The mapping to keepalived and what cannot be mapped is described in
//! `docs/ldirectord.md`.

mod convert;
mod diag;
mod parse;
mod values;

pub use convert::{Conversion, to_keepalived};
pub use diag::{Diagnostic, ParseErrors, Severity};
pub use parse::parse;

use std::net::IpAddr;

/// A real server's (or fallback server's) forwarding method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    /// `gate`: direct routing (`-g`).
    Gate,
    /// `masq`: NAT (`-m`).
    Masq,
    /// `ipip`: IP-in-IP tunnel (`-i`).
    Ipip,
}

impl Forward {
    /// keepalived's `lb_kind` / `lvs_method` word.
    pub fn keepalived(self) -> &'static str {
        match self {
            Forward::Gate => "DR",
            Forward::Masq => "NAT",
            Forward::Ipip => "TUN",
        }
    }
}

/// The `protocol` of a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// `tcp` (default for an address).
    Tcp,
    /// `udp` (default for port 53).
    Udp,
    /// `fwm`: a firewall-mark service.
    Fwm,
}

/// What a `virtual=` line names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VirtualAddr {
    /// An address and a port.
    Inet(IpAddr, u16),
    /// A firewall mark; `ipv6` is true for `virtual6=`.
    Fwmark {
        /// The mark.
        mark: u32,
        /// Declared with `virtual6=`.
        ipv6: bool,
    },
}

/// The `checktype` of a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckType {
    /// TCP connect (ping for UDP services).
    Connect,
    /// Service-specific request/response check (the default).
    Negotiate,
    /// ICMP echo.
    Ping,
    /// Run `checkcommand` with `vip vport rip rport`.
    External,
    /// Run `checkcommand` as Perl code inside ldirectord.
    ExternalPerl,
    /// Never check: real servers are always up.
    On,
    /// Never check: real servers (and the fallback) are never added.
    Off,
    /// N connect checks, then one negotiate check.
    Combined(u32),
}

/// The `service` used by negotiate checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Service {
    Dns,
    Ftp,
    Http,
    Https,
    HttpProxy,
    Imap,
    Imaps,
    Ldap,
    Ldaps,
    Nntp,
    Mysql,
    None,
    Oracle,
    Pop,
    Pops,
    Radius,
    Pgsql,
    Sip,
    Smtp,
    Submission,
    SimpleTcp,
}

impl Service {
    /// ldirectord's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Service::Dns => "dns",
            Service::Ftp => "ftp",
            Service::Http => "http",
            Service::Https => "https",
            Service::HttpProxy => "http_proxy",
            Service::Imap => "imap",
            Service::Imaps => "imaps",
            Service::Ldap => "ldap",
            Service::Ldaps => "ldaps",
            Service::Nntp => "nntp",
            Service::Mysql => "mysql",
            Service::None => "none",
            Service::Oracle => "oracle",
            Service::Pop => "pop",
            Service::Pops => "pops",
            Service::Radius => "radius",
            Service::Pgsql => "pgsql",
            Service::Sip => "sip",
            Service::Smtp => "smtp",
            Service::Submission => "submission",
            Service::SimpleTcp => "simpletcp",
        }
    }

    /// Every service, for name lookups.
    pub const ALL: [Service; 21] = [
        Service::Dns,
        Service::Ftp,
        Service::Http,
        Service::Https,
        Service::HttpProxy,
        Service::Imap,
        Service::Imaps,
        Service::Ldap,
        Service::Ldaps,
        Service::Nntp,
        Service::Mysql,
        Service::None,
        Service::Oracle,
        Service::Pop,
        Service::Pops,
        Service::Radius,
        Service::Pgsql,
        Service::Sip,
        Service::Smtp,
        Service::Submission,
        Service::SimpleTcp,
    ];

    /// ldirectord's `ld_port_to_service`: the service implied by a virtual port.
    pub fn for_port(port: u16) -> Service {
        match port {
            21 => Service::Ftp,
            25 => Service::Smtp,
            53 => Service::Dns,
            80 => Service::Http,
            110 => Service::Pop,
            119 => Service::Nntp,
            143 => Service::Imap,
            389 => Service::Ldap,
            443 => Service::Https,
            587 => Service::Submission,
            636 => Service::Ldaps,
            993 => Service::Imaps,
            995 => Service::Pops,
            1521 => Service::Oracle,
            1812 => Service::Radius,
            3128 => Service::HttpProxy,
            3306 => Service::Mysql,
            5060 => Service::Sip,
            5432 => Service::Pgsql,
            _ => Service::None,
        }
    }

    /// ldirectord's `ld_service_to_port`: the port checked when neither `checkport` nor
    /// the real server give one.
    pub fn default_port(self) -> Option<u16> {
        Some(match self {
            Service::Ftp => 21,
            Service::Smtp => 25,
            Service::Dns => 53,
            Service::Http => 80,
            Service::Pop => 110,
            Service::Nntp => 119,
            Service::Imap => 143,
            Service::Ldap => 389,
            Service::Https => 443,
            Service::Submission => 587,
            Service::Ldaps => 636,
            Service::Imaps => 993,
            Service::Pops => 995,
            Service::Oracle => 1521,
            Service::Radius => 1812,
            Service::HttpProxy => 3128,
            Service::Mysql => 3306,
            Service::Sip => 5060,
            Service::Pgsql => 5432,
            Service::None | Service::SimpleTcp => return None,
        })
    }
}

/// A `real=` server (a range is expanded into one entry per address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Real {
    /// Line of the `real=` directive.
    pub line: usize,
    /// Column of the `real=` directive.
    pub col: usize,
    /// Address.
    pub addr: IpAddr,
    /// Port; 0 when omitted.
    pub port: u16,
    /// Forwarding method.
    pub forward: Forward,
    /// Weight (default 1).
    pub weight: u32,
    /// Per-real `"request", "receive"` pair overriding the virtual's.
    pub check: Option<(String, String)>,
    /// `l:N` lower connection threshold.
    pub l_threshold: Option<u32>,
    /// `u:N` upper connection threshold.
    pub u_threshold: Option<u32>,
}

/// A `fallback=` server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallback {
    /// Line of the directive.
    pub line: usize,
    /// Column of the directive.
    pub col: usize,
    /// Address.
    pub addr: IpAddr,
    /// Port; `None` means "the virtual's port".
    pub port: Option<u16>,
    /// Forwarding method (default gate).
    pub forward: Forward,
}

/// A directive that was parsed but has no keepalived equivalent; the converter turns it
/// into a comment and a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// Line of the directive.
    pub line: usize,
    /// Column of the directive.
    pub col: usize,
    /// The directive's name.
    pub key: String,
    /// Its value as written (trimmed).
    pub value: String,
}

/// Options that may be set globally and overridden per virtual.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shared {
    /// `checktimeout` (seconds).
    pub checktimeout: Option<u32>,
    /// `negotiatetimeout` (seconds).
    pub negotiatetimeout: Option<u32>,
    /// `checkinterval` (seconds).
    pub checkinterval: Option<u32>,
    /// `checkcount` (deprecated: ping tries).
    pub checkcount: Option<u32>,
    /// `failurecount`.
    pub failurecount: Option<u32>,
    /// `quiescent`.
    pub quiescent: Option<bool>,
    /// `fallbackcommand`.
    pub fallbackcommand: Option<String>,
    /// Directives kept only to be reported.
    pub ignored: Vec<Ignored>,
}

/// A `virtual=` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Virtual {
    /// Line of the `virtual=` directive.
    pub line: usize,
    /// What it balances.
    pub addr: VirtualAddr,
    /// `protocol`.
    pub protocol: Proto,
    /// `real=` servers, in file order.
    pub reals: Vec<Real>,
    /// `scheduler` (default wrr).
    pub scheduler: String,
    /// `schedflags` (comma list as written).
    pub schedflags: Option<String>,
    /// `persistent` timeout.
    pub persistent: Option<u32>,
    /// `netmask` as written (dotted quad, or prefix for IPv6).
    pub netmask: Option<String>,
    /// `checktype` (default negotiate).
    pub checktype: CheckType,
    /// `service`; `None` when not given (derived from the port).
    pub service: Option<Service>,
    /// `checkport`.
    pub checkport: Option<u16>,
    /// `request` (default `/`, always starting with `/`).
    pub request: String,
    /// `receive` (default empty): a Perl regex.
    pub receive: String,
    /// `httpmethod` is HEAD.
    pub http_head: bool,
    /// `virtualhost`.
    pub virtualhost: Option<String>,
    /// `checkcommand` (default /bin/true).
    pub checkcommand: String,
    /// `ops = yes`.
    pub ops: bool,
    /// `fallback`.
    pub fallback: Option<Fallback>,
    /// Options shared with the global section.
    pub shared: Shared,
}

impl Virtual {
    /// The service negotiate checks use: explicit, or derived from the port.
    pub fn effective_service(&self) -> Service {
        match (self.service, self.addr) {
            (Some(s), _) => s,
            (None, VirtualAddr::Inet(_, port)) => Service::for_port(port),
            (None, VirtualAddr::Fwmark { .. }) => Service::None,
        }
    }

    /// True for `virtual6=` services.
    pub fn is_ipv6(&self) -> bool {
        match self.addr {
            VirtualAddr::Inet(ip, _) => ip.is_ipv6(),
            VirtualAddr::Fwmark { ipv6, .. } => ipv6,
        }
    }
}

/// Global (non-virtual) settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Global {
    /// Options a virtual may override.
    pub shared: Shared,
    /// `fallback=` for IPv4 services.
    pub fallback: Option<Fallback>,
    /// `fallback6=` for IPv6 services.
    pub fallback6: Option<Fallback>,
    /// `fork = yes` (only then is a per-virtual `checkinterval` honoured).
    pub fork: bool,
}

/// A parsed ldirectord.cf.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Global settings.
    pub global: Global,
    /// Virtual services in file order.
    pub virtuals: Vec<Virtual>,
    /// Warnings found while parsing (deprecated or ignored directives).
    pub warnings: Vec<Diagnostic>,
}
