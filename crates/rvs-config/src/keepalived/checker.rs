//! Health-checker blocks (`TCP_CHECK`, `HTTP_GET`, ...): read as written, resolved later
//! against the real server and virtual server ([`RawChecker::resolve`]).

use std::net::IpAddr;
use std::time::Duration;

use super::diag::{Diags, Pos};
use super::model::{
    CheckTiming, Checker, CheckerKind, DnsCheck, FileCheck, HttpCheck, HttpProtocol, MiscCheck,
    SmtpCheck, UdpCheck, Url,
};
use super::tree::Node;
use super::values::{flag, int, ip, need, port, rest, timer, uint};

/// Checker keywords that open a checker block.
pub(crate) const CHECKERS: &[&str] = &[
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "DNS_CHECK",
    "SMTP_CHECK",
    "PING_CHECK",
    "UDP_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
];

/// Timing as given at one level (checker, real server or virtual server).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timing {
    pub(crate) delay_loop: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) retry: Option<u32>,
    pub(crate) delay_before_retry: Option<Duration>,
    pub(crate) warmup: Option<Duration>,
    pub(crate) alpha: Option<bool>,
}

impl Timing {
    /// Handles a timing keyword; `false` when `n` is not one.
    pub(crate) fn keyword(&mut self, n: &Node, retry_min: u64, d: &mut Diags) -> bool {
        let tiny = Duration::from_micros(1);
        match n.kw() {
            "delay_loop" => self.delay_loop = timer(n, 0, tiny, d).or(self.delay_loop),
            "connect_timeout" => {
                self.connect_timeout = timer(n, 0, tiny, d).or(self.connect_timeout)
            }
            "retry" | "nb_get_retry" => {
                if n.kw() == "nb_get_retry" {
                    d.warn(n.pos(), "nb_get_retry is deprecated - please use 'retry'");
                }
                self.retry = uint(n, 0, retry_min, u64::from(u32::MAX), d)
                    .map(|v| v as u32)
                    .or(self.retry)
            }
            "delay_before_retry" => {
                self.delay_before_retry = timer(n, 0, Duration::ZERO, d).or(self.delay_before_retry)
            }
            "warmup" => self.warmup = timer(n, 0, Duration::ZERO, d).or(self.warmup),
            "alpha" => self.alpha = flag(n, d).or(self.alpha),
            _ => return false,
        }
        true
    }
}

/// A checker as written.
#[derive(Clone, Debug)]
pub(crate) struct RawChecker {
    kind: CheckerKind,
    timing: Timing,
    default_retry: u32,
    /// `None`: defaults to the delay loop (DNS_CHECK).
    default_dbr: Option<Duration>,
    connect_ip: Option<IpAddr>,
    connect_port: Option<u16>,
    bindto: Option<IpAddr>,
    bind_port: Option<u16>,
    bind_if: Option<String>,
    fwmark: Option<u32>,
    log_all_failures: bool,
    pos: Pos,
}

impl RawChecker {
    /// Resolves timing: checker, else real server (`rs`, already defaulted from the virtual
    /// server), else the checker type's default.
    pub(crate) fn resolve(self, rs: &Timing, vs_delay: Duration, vs_cto: Duration) -> Checker {
        let t = &self.timing;
        let delay_loop = t.delay_loop.or(rs.delay_loop).unwrap_or(vs_delay);
        let timing = CheckTiming {
            delay_loop,
            connect_timeout: t.connect_timeout.or(rs.connect_timeout).unwrap_or(vs_cto),
            retry: t.retry.or(rs.retry).unwrap_or(self.default_retry),
            delay_before_retry: t
                .delay_before_retry
                .or(rs.delay_before_retry)
                .or(self.default_dbr)
                .unwrap_or(delay_loop),
            warmup: t.warmup.or(rs.warmup).unwrap_or(delay_loop),
            alpha: t.alpha.or(rs.alpha).unwrap_or(false),
        };
        Checker {
            kind: self.kind,
            timing,
            connect_ip: self.connect_ip,
            connect_port: self.connect_port,
            bindto: self.bindto,
            bind_port: self.bind_port,
            bind_if: self.bind_if,
            fwmark: self.fwmark,
            log_all_failures: self.log_all_failures,
            pos: self.pos,
        }
    }
}

/// Reads a checker block (`n.kw()` is one of [`CHECKERS`]).
pub(crate) fn build(n: &Node, d: &mut Diags) -> Option<RawChecker> {
    let errors_before = d.list.len();
    let kind0 = match n.kw() {
        "TCP_CHECK" => CheckerKind::Tcp,
        "HTTP_GET" => CheckerKind::Http(HttpCheck::default()),
        "SSL_GET" => CheckerKind::Ssl(HttpCheck::default()),
        "MISC_CHECK" => CheckerKind::Misc(MiscCheck {
            path: String::new(),
            timeout: None,
            dynamic: false,
            user: None,
        }),
        "DNS_CHECK" => CheckerKind::Dns(DnsCheck {
            qtype: "SOA".into(),
            name: ".".into(),
        }),
        "SMTP_CHECK" => CheckerKind::Smtp(SmtpCheck::default()),
        "PING_CHECK" => CheckerKind::Ping,
        "UDP_CHECK" => CheckerKind::Udp(UdpCheck::default()),
        "FILE_CHECK" => CheckerKind::File(FileCheck::default()),
        _ => CheckerKind::Bfd(String::new()),
    };
    let (default_retry, default_dbr) = match &kind0 {
        CheckerKind::Misc(_) => (0, Some(Duration::from_secs(1))),
        CheckerKind::Dns(_) => (3, None),
        CheckerKind::Http(_) | CheckerKind::Ssl(_) => (1, Some(Duration::from_secs(3))),
        _ => (1, Some(Duration::from_secs(1))),
    };
    let mut c = RawChecker {
        kind: kind0,
        timing: Timing::default(),
        default_retry,
        default_dbr,
        connect_ip: None,
        connect_port: None,
        bindto: None,
        bind_port: None,
        bind_if: None,
        fwmark: None,
        log_all_failures: false,
        pos: n.pos().clone(),
    };
    if n.block.is_none() {
        d.err(n.pos(), format!("{} needs a {{ }} block", n.kw()));
        return None;
    }
    for k in n.children() {
        if c.timing.keyword(k, 0, d) || common(k, &mut c, d) {
            continue;
        }
        let kw = k.kw();
        let known = match &mut c.kind {
            CheckerKind::Http(h) | CheckerKind::Ssl(h) => http_keyword(k, h, d),
            CheckerKind::Misc(m) => match kw {
                "misc_path" => {
                    m.path = rest(k, d).unwrap_or_default();
                    true
                }
                "misc_timeout" => {
                    m.timeout =
                        uint(k, 0, 0, u64::from(u32::MAX) / 1_000_000, d).map(Duration::from_secs);
                    true
                }
                "misc_dynamic" => {
                    m.dynamic = true;
                    true
                }
                "user" => {
                    m.user = rest(k, d);
                    true
                }
                _ => false,
            },
            CheckerKind::Dns(q) => match kw {
                "type" => {
                    if let Some(t) = need(k, 0, d) {
                        let up = t.to_ascii_uppercase();
                        if ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"].contains(&up.as_str()) {
                            q.qtype = up;
                        } else {
                            d.err(k.arg_pos(0), format!("unknown DNS_CHECK type '{t}': expected A, NS, CNAME, SOA, MX, TXT or AAAA"));
                        }
                    }
                    true
                }
                "name" => {
                    if let Some(s) = need(k, 0, d) {
                        q.name = s.to_string();
                    }
                    true
                }
                _ => false,
            },
            CheckerKind::Smtp(s) => match kw {
                "helo_name" => {
                    s.helo_name = need(k, 0, d).map(str::to_string);
                    true
                }
                "host" => {
                    d.warn(
                        k.pos(),
                        "SMTP_CHECK host blocks are accepted but not used by rvs",
                    );
                    true
                }
                _ => false,
            },
            CheckerKind::Udp(u) => match kw {
                "payload" => {
                    u.payload = hex(k, d);
                    true
                }
                "require_reply" => {
                    u.require_reply = true;
                    true
                }
                "min_reply_length" => {
                    u.min_reply_length = uint(k, 0, 0, 65535, d).map(|v| v as u32);
                    true
                }
                "max_reply_length" => {
                    u.max_reply_length = uint(k, 0, 0, 65535, d).map(|v| v as u32);
                    true
                }
                _ => false,
            },
            CheckerKind::File(f) => match kw {
                "track_file" => {
                    f.track_file = need(k, 0, d).unwrap_or_default().to_string();
                    true
                }
                "weight" => {
                    f.weight = int(k, 0, -253, 253, d).unwrap_or(0) as i32;
                    true
                }
                _ => false,
            },
            CheckerKind::Bfd(name) => match kw {
                "name" => {
                    *name = need(k, 0, d).unwrap_or_default().to_string();
                    true
                }
                _ => false,
            },
            CheckerKind::Tcp | CheckerKind::Ping => false,
        };
        if !known {
            d.warn(k.pos(), format!("unknown keyword '{kw}' in {}", n.kw()));
        }
    }
    // Required parts.
    match &c.kind {
        CheckerKind::Http(h) | CheckerKind::Ssl(h) if h.urls.is_empty() => {
            d.err(n.pos(), format!("{} has no url", n.kw()))
        }
        CheckerKind::Misc(m) if m.path.is_empty() => d.err(n.pos(), "MISC_CHECK has no misc_path"),
        CheckerKind::File(f) if f.track_file.is_empty() => {
            d.err(n.pos(), "FILE_CHECK has no track_file")
        }
        CheckerKind::Bfd(b) if b.is_empty() => d.err(n.pos(), "BFD_CHECK has no name"),
        _ => {}
    }
    let failed = d.list[errors_before..]
        .iter()
        .any(|x| x.severity == super::diag::Severity::Error);
    (!failed).then_some(c)
}

/// Connection options shared by the network checkers.
fn common(k: &Node, c: &mut RawChecker, d: &mut Diags) -> bool {
    match k.kw() {
        "connect_ip" => c.connect_ip = ip(k, 0, d),
        "connect_port" => c.connect_port = port(k, 0, d),
        "bindto" => c.bindto = ip(k, 0, d),
        "bind_port" => c.bind_port = port(k, 0, d),
        "bind_if" => c.bind_if = need(k, 0, d).map(str::to_string),
        "fwmark" => c.fwmark = uint(k, 0, 0, u64::from(u32::MAX), d).map(|v| v as u32),
        "log_all_failures" => c.log_all_failures = flag(k, d).unwrap_or(true),
        _ => return false,
    }
    true
}

fn http_keyword(k: &Node, h: &mut HttpCheck, d: &mut Diags) -> bool {
    match k.kw() {
        "url" => {
            if let Some(u) = url(k, d) {
                h.urls.push(u);
            }
        }
        "http_protocol" => match need(k, 0, d) {
            Some("1.0") => h.http_protocol = HttpProtocol::V1_0,
            Some("1.0C") | Some("1.0c") => h.http_protocol = HttpProtocol::V1_0C,
            Some("1.1") => h.http_protocol = HttpProtocol::V1_1,
            Some(s) => d.err(
                k.arg_pos(0),
                format!("invalid http_protocol '{s}': expected 1.0, 1.0C or 1.1"),
            ),
            None => {}
        },
        "virtualhost" => h.virtualhost = need(k, 0, d).map(str::to_string),
        "fast_recovery" => h.fast_recovery = flag(k, d).unwrap_or(true),
        "enable_sni" => h.enable_sni = flag(k, d).unwrap_or(true),
        _ => return false,
    }
    true
}

fn url(n: &Node, d: &mut Diags) -> Option<Url> {
    let mut u = Url {
        path: String::new(),
        digest: None,
        status_codes: Vec::new(),
        virtualhost: None,
        regex: None,
        regex_no_match: false,
    };
    for k in n.children() {
        match k.kw() {
            "path" => u.path = need(k, 0, d).unwrap_or_default().to_string(),
            "digest" => {
                if let Some(s) = need(k, 0, d) {
                    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                        u.digest = Some(s.to_ascii_lowercase());
                    } else {
                        d.err(
                            k.arg_pos(0),
                            format!("invalid digest '{s}': expected 32 hex digits (an MD5 sum)"),
                        );
                    }
                }
            }
            "status_code" => {
                need(k, 0, d);
                for t in &k.args {
                    match status_range(&t.text) {
                        Some(r) => u.status_codes.push(r),
                        None => d.err(
                            &t.pos,
                            format!(
                                "invalid status_code '{}': expected CODE or FIRST-LAST in 100..599",
                                t.text
                            ),
                        ),
                    }
                }
            }
            "virtualhost" => u.virtualhost = need(k, 0, d).map(str::to_string),
            "regex" => u.regex = rest(k, d),
            "regex_no_match" => u.regex_no_match = true,
            "regex_options" | "regex_min_offset" | "regex_max_offset" | "regex_stack" => {}
            kw => d.warn(k.pos(), format!("unknown keyword '{kw}' in url")),
        }
    }
    if u.path.is_empty() {
        d.err(n.pos(), "url has no path");
        return None;
    }
    if u.status_codes.is_empty() {
        u.status_codes.push((200, 299));
    }
    Some(u)
}

fn status_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = super::values::parse_uint(a)?.try_into().ok()?;
    let b: u16 = super::values::parse_uint(b)?.try_into().ok()?;
    ((100..=599).contains(&a) && (100..=599).contains(&b) && a <= b).then_some((a, b))
}

fn hex(n: &Node, d: &mut Diags) -> Option<Vec<u8>> {
    let s: String = n
        .args
        .iter()
        .flat_map(|t| t.text.chars())
        .filter(|c| *c != ':' && *c != '-')
        .collect();
    let ok = !s.is_empty() && s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        d.err(
            n.arg_pos(0),
            format!("invalid {}: expected hex bytes", n.kw()),
        );
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}
