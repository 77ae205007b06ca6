//! The ldirectord.cf reader: lines → [`Config`], collecting every error.

use std::collections::HashSet;
use std::net::IpAddr;

use super::diag::{Diagnostic, ParseErrors};
use super::values;
use super::{
    CheckType, Config, Fallback, Forward, Ignored, Proto, Real, Service, Shared, Virtual,
    VirtualAddr,
};

/// Parse the text of an ldirectord.cf. `file` is the name used in diagnostics. On success
/// the [`Config`] carries the parse warnings; on failure every error is returned.
pub fn parse(file: &str, text: &str) -> Result<Config, ParseErrors> {
    let mut p = Parser::default();
    for (i, raw) in text.lines().enumerate() {
        p.line(i + 1, raw.strip_suffix('\r').unwrap_or(raw));
    }
    p.close_block();
    p.check_duplicates();
    if p.errors.is_empty() {
        p.cfg.warnings = p.warnings;
        Ok(p.cfg)
    } else {
        p.errors.sort_by_key(|e| (e.line, e.col));
        Err(ParseErrors {
            file: file.to_string(),
            errors: p.errors,
        })
    }
}

/// One `key = value` line.
struct Directive<'a> {
    line: usize,
    key: &'a str,
    key_col: usize,
    /// The value, comment removed, trimmed; `None` for a bare word without `=`.
    value: Option<&'a str>,
    value_col: usize,
}

#[derive(Default)]
struct Parser {
    cfg: Config,
    block: Option<Virtual>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

/// 1-based column of byte offset `off` in `line`.
fn col(line: &str, off: usize) -> usize {
    line[..off].chars().count() + 1
}

/// Byte offset where a `#` comment starts outside double quotes, or the line length.
fn comment_start(s: &str) -> usize {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return i,
            _ => {}
        }
    }
    s.len()
}

/// Indentation width with a tab counted as four spaces (ldirectord's `s/\t/    /g`), and
/// the byte offset of the first non-blank character.
fn indent(s: &str) -> (usize, usize) {
    let mut width = 0;
    for (i, c) in s.char_indices() {
        match c {
            ' ' => width += 1,
            '\t' => width += 4,
            _ => return (width, i),
        }
    }
    (width, s.len())
}

fn directive(line_no: usize, raw: &str, start: usize) -> Result<Directive<'_>, Diagnostic> {
    let body = &raw[..comment_start(raw)];
    let rest = &body[start..];
    let key_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    let key_col = col(raw, start);
    if key.is_empty() {
        return Err(Diagnostic::error(
            line_no,
            key_col,
            format!("expected `key = value`, found `{}`", rest.trim_end()),
        ));
    }
    let after = &rest[key_len..];
    let eq = after.trim_start();
    let Some(v) = eq.strip_prefix('=') else {
        if eq.trim().is_empty() {
            return Ok(Directive {
                line: line_no,
                key,
                key_col,
                value: None,
                value_col: key_col,
            });
        }
        let off = start + key_len + (after.len() - eq.len());
        return Err(Diagnostic::error(
            line_no,
            col(raw, off),
            format!("expected `=` after `{key}`"),
        ));
    };
    let value = v.trim();
    let value_off = body.len() - v.trim_start().len();
    Ok(Directive {
        line: line_no,
        key,
        key_col,
        value: Some(value),
        value_col: col(raw, value_off.min(raw.len())),
    })
}

impl Parser {
    fn err(&mut self, line: usize, col: usize, msg: impl Into<String>) {
        self.errors.push(Diagnostic::error(line, col, msg));
    }

    fn warn(&mut self, line: usize, col: usize, msg: impl Into<String>) {
        self.warnings.push(Diagnostic::warning(line, col, msg));
    }

    fn line(&mut self, no: usize, raw: &str) {
        let (width, start) = indent(raw);
        let blank = start == raw.len();
        if self.block.is_some() {
            if !blank && raw[start..].starts_with('#') {
                return;
            }
            let body_empty = raw[start..comment_start(raw)].trim().is_empty();
            if width >= 4 && !body_empty {
                match directive(no, raw, start) {
                    Ok(d) => self.virtual_directive(&d, raw),
                    Err(e) => self.errors.push(e),
                }
                return;
            }
            self.close_block();
        }
        if blank || raw[start..].starts_with('#') {
            return;
        }
        if start > 0 {
            let word: String = raw[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            self.err(
                no,
                col(raw, start),
                format!(
                    "indented `{word}` outside a virtual section (option lines must directly follow a virtual= line; a blank line ends the section)"
                ),
            );
            return;
        }
        match directive(no, raw, 0) {
            Ok(d) => match d.key {
                "virtual" | "virtual6" => self.open_block(&d),
                _ => self.global_directive(&d),
            },
            Err(e) => self.errors.push(e),
        }
    }

    fn open_block(&mut self, d: &Directive<'_>) {
        let ipv6 = d.key == "virtual6";
        let value = d.value.unwrap_or("");
        let addr = match virtual_addr(value, ipv6) {
            Ok(a) => a,
            Err(msg) => {
                self.err(d.line, d.value_col, msg);
                // Keep parsing the block's lines (for their errors) with a placeholder.
                VirtualAddr::Fwmark { mark: 0, ipv6 }
            }
        };
        let protocol = match addr {
            VirtualAddr::Inet(_, 53) => Proto::Udp,
            VirtualAddr::Inet(..) => Proto::Tcp,
            VirtualAddr::Fwmark { .. } => Proto::Fwm,
        };
        self.block = Some(Virtual {
            line: d.line,
            addr,
            protocol,
            reals: Vec::new(),
            scheduler: "wrr".to_string(),
            schedflags: None,
            persistent: None,
            netmask: None,
            checktype: CheckType::Negotiate,
            service: None,
            checkport: None,
            request: "/".to_string(),
            receive: String::new(),
            http_head: false,
            virtualhost: None,
            checkcommand: "/bin/true".to_string(),
            ops: false,
            fallback: None,
            shared: Shared::default(),
        });
    }

    fn close_block(&mut self) {
        if let Some(v) = self.block.take() {
            if matches!(v.addr, VirtualAddr::Fwmark { mark: 0, .. }) {
                return; // the address was bad and already reported
            }
            if v.netmask.is_some() && v.persistent.is_none() {
                self.warn(
                    v.line,
                    1,
                    "netmask without persistent is ignored (ldirectord passes -M only with -p)",
                );
            }
            self.cfg.virtuals.push(v);
        }
    }

    fn check_duplicates(&mut self) {
        let mut seen = HashSet::new();
        let mut dups = Vec::new();
        for v in &self.cfg.virtuals {
            if !seen.insert((v.protocol as u8, v.addr)) {
                dups.push(v.line);
            }
        }
        for line in dups {
            self.err(line, 1, "duplicate virtual server");
        }
    }

    /// Options valid both globally and in a virtual section. Returns false when `d.key` is
    /// not one of them.
    fn shared_directive(&mut self, d: &Directive<'_>, value: &str, global: bool) -> bool {
        let (line, vcol) = (d.line, d.value_col);
        let number = |p: &mut Parser, what: &str| -> Option<u32> {
            let n = values::positive(value);
            if n.is_none() {
                p.err(
                    line,
                    vcol,
                    format!("invalid {what} `{value}`: a positive whole number is required"),
                );
            }
            n
        };
        match d.key {
            "checktimeout" => {
                if let Some(n) = number(self, "check timeout") {
                    self.shared_mut(global).checktimeout = Some(n);
                }
            }
            "negotiatetimeout" => {
                if let Some(n) = number(self, "negotiate timeout") {
                    self.shared_mut(global).negotiatetimeout = Some(n);
                }
            }
            "connecttimeout" => {
                if let Some(n) = number(self, "connect timeout") {
                    self.warn(
                        line,
                        d.key_col,
                        "connecttimeout is deprecated in favour of negotiatetimeout (current ldirectord rejects it); read as negotiatetimeout",
                    );
                    self.shared_mut(global).negotiatetimeout = Some(n);
                }
            }
            "checkinterval" => {
                if let Some(n) = number(self, "check interval") {
                    self.shared_mut(global).checkinterval = Some(n);
                }
            }
            "checkcount" => {
                if let Some(n) = number(self, "check count") {
                    self.warn(
                        line,
                        d.key_col,
                        "checkcount is deprecated, see failurecount",
                    );
                    self.shared_mut(global).checkcount = Some(n);
                }
            }
            "failurecount" => {
                if let Some(n) = number(self, "failure count") {
                    self.shared_mut(global).failurecount = Some(n);
                }
            }
            "quiescent" => match values::yes_no(value) {
                Some(b) => self.shared_mut(global).quiescent = Some(b),
                None => self.err(line, vcol, "quiescent must be 'yes' or 'no'"),
            },
            "fallbackcommand" => {
                let cmd = values::unquote(value);
                if cmd.is_empty() {
                    self.err(line, vcol, "invalid fallback command");
                } else {
                    self.shared_mut(global).fallbackcommand = Some(cmd.to_string());
                }
            }
            "cleanstop" => {
                if values::yes_no(value).is_none() {
                    self.err(line, vcol, "cleanstop must be 'yes' or 'no'");
                } else {
                    self.ignore(d, value, global);
                }
            }
            "emailalertfreq" => {
                if values::number(value).is_none() {
                    self.err(line, vcol, "invalid email alert frequency");
                } else {
                    self.ignore(d, value, global);
                }
            }
            "emailalert" | "emailalertstatus" | "smtp" => {
                if values::unquote(value).is_empty() {
                    self.err(line, vcol, format!("{} needs a value", d.key));
                } else {
                    self.ignore(d, value, global);
                }
            }
            _ => return false,
        }
        true
    }

    fn shared_mut(&mut self, global: bool) -> &mut Shared {
        match (global, self.block.as_mut()) {
            (false, Some(b)) => &mut b.shared,
            _ => &mut self.cfg.global.shared,
        }
    }

    fn ignore(&mut self, d: &Directive<'_>, value: &str, global: bool) {
        let item = Ignored {
            line: d.line,
            col: d.key_col,
            key: d.key.to_string(),
            value: value.to_string(),
        };
        match (global, self.block.as_mut()) {
            (false, Some(b)) => b.shared.ignored.push(item),
            _ => self.cfg.global.shared.ignored.push(item),
        }
    }

    fn global_directive(&mut self, d: &Directive<'_>) {
        let Some(value) = d.value else {
            if d.key == "supervised" {
                self.warn(
                    d.line,
                    d.key_col,
                    "please update your config not to use a bare supervised directive",
                );
                self.ignore(d, "yes", true);
            } else {
                self.err(d.line, d.key_col, format!("expected `=` after `{}`", d.key));
            }
            return;
        };
        if self.shared_directive(d, value, true) {
            return;
        }
        let (line, vcol) = (d.line, d.value_col);
        match d.key {
            "fallback" | "fallback6" => match fallback(d, value, d.key == "fallback6") {
                Ok(f) if d.key == "fallback6" => self.cfg.global.fallback6 = Some(f),
                Ok(f) => self.cfg.global.fallback = Some(f),
                Err(msg) => self.err(line, vcol, msg),
            },
            "fork" => match values::yes_no(value) {
                Some(b) => self.cfg.global.fork = b,
                None => self.err(line, vcol, "fork must be 'yes' or 'no'"),
            },
            "autoreload" | "readdquiescent" | "supervised" => {
                if values::yes_no(value).is_none() {
                    self.err(line, vcol, format!("{} must be 'yes' or 'no'", d.key));
                } else {
                    self.ignore(d, value, true);
                }
            }
            "callback" | "logfile" | "execute" | "emailalertfrom" | "maintenancedir" => {
                if values::unquote(value).is_empty() {
                    self.err(line, vcol, format!("{} needs a value", d.key));
                } else {
                    self.ignore(d, value, true);
                }
            }
            "timeout" => self.err(
                line,
                d.key_col,
                "timeout directive deprecated in favour of checktimeout and negotiatetimeout",
            ),
            _ => self.err(line, d.key_col, format!("unknown directive `{}`", d.key)),
        }
    }

    fn virtual_directive(&mut self, d: &Directive<'_>, raw: &str) {
        let Some(value) = d.value else {
            self.err(d.line, d.key_col, format!("expected `=` after `{}`", d.key));
            return;
        };
        if self.shared_directive(d, value, false) {
            return;
        }
        let (line, vcol) = (d.line, d.value_col);
        let Some(v) = self.block.as_mut() else {
            return;
        };
        let ipv6 = v.is_ipv6();
        let mut errors: Vec<Diagnostic> = Vec::new();
        let mut err = |c: usize, m: String| errors.push(Diagnostic::error(line, c, m));
        match d.key {
            "real" | "real6" => {
                if (d.key == "real6") != ipv6 {
                    let want = if ipv6 { "real6" } else { "real" };
                    err(
                        d.key_col,
                        format!("cannot specify \"{}\" here, use \"{want}\"", d.key),
                    );
                } else {
                    match reals(line, d.key_col, value, ipv6) {
                        Ok(mut rs) => v.reals.append(&mut rs),
                        Err((off, m)) => err(col(raw, byte_off(raw, value) + off), m),
                    }
                }
            }
            "request" => {
                let r = values::unquote(value);
                if r.is_empty() {
                    err(vcol, "no request string specified".into());
                } else if r.starts_with('/') {
                    v.request = r.to_string();
                } else {
                    v.request = format!("/{r}");
                }
            }
            "receive" => {
                let r = values::unquote(value);
                if r.is_empty() {
                    err(vcol, "invalid receive string".into());
                } else {
                    v.receive = r.to_string();
                }
            }
            "checktype" => match checktype(value) {
                Some(c) => v.checktype = c,
                None => err(
                    vcol,
                    "checktype must be \"connect\", \"negotiate\", \"on\", \"off\", \"ping\", \"external\", \"external-perl\" or a positive number".into(),
                ),
            },
            "checkcommand" => {
                let c = values::unquote(value);
                if c.is_empty() {
                    err(vcol, "invalid check command".into());
                } else {
                    v.checkcommand = c.to_string();
                }
            }
            "checkport" => match values::number(value) {
                Some(p @ 1..=65535) => v.checkport = Some(p as u16),
                _ => err(vcol, "checkport must be in range 1..65535".into()),
            },
            "scheduler" => {
                if !value.is_empty() && value.bytes().all(|b| b.is_ascii_lowercase()) {
                    v.scheduler = value.to_string();
                } else {
                    err(
                        vcol,
                        "invalid scheduler, should be only lowercase letters (a-z)".into(),
                    );
                }
            }
            "schedflags" => {
                if value.is_empty() || value.contains(char::is_whitespace) {
                    err(vcol, "invalid sched-flags".into());
                } else {
                    v.schedflags = Some(value.to_string());
                }
            }
            "persistent" => match values::number(value) {
                Some(n) => v.persistent = Some(n),
                None => err(vcol, "invalid persistent timeout".into()),
            },
            "netmask" => {
                let ok = if ipv6 {
                    matches!(values::number(value), Some(1..=128))
                } else {
                    value.parse::<std::net::Ipv4Addr>().is_ok()
                };
                if ok {
                    v.netmask = Some(value.to_string());
                } else if ipv6 {
                    err(
                        vcol,
                        "invalid netmask: a prefix length between 1 and 128 is required".into(),
                    );
                } else {
                    err(
                        vcol,
                        "invalid netmask: dotted quad notation is required".into(),
                    );
                }
            }
            "protocol" => match (v.protocol, value) {
                (Proto::Fwm, "fwm") => {}
                (Proto::Fwm, _) => err(
                    vcol,
                    "protocol must be fwm if the virtual service is a fwmark (a number)".into(),
                ),
                (_, "tcp") => v.protocol = Proto::Tcp,
                (_, "udp") => v.protocol = Proto::Udp,
                _ => err(
                    vcol,
                    "protocol must be tcp or udp if the virtual service is an address and port"
                        .into(),
                ),
            },
            "ops" => match values::yes_no(value) {
                Some(b) => v.ops = b,
                None => err(vcol, "ops must be 'yes' or 'no'".into()),
            },
            "service" => match Service::ALL.iter().find(|s| s.name() == value) {
                Some(s) => v.service = Some(*s),
                None => err(
                    vcol,
                    "service must be dns, ftp, http, https, http_proxy, imap, imaps, ldap, ldaps, mysql, nntp, none, oracle, pop, pops, radius, pgsql, simpletcp, sip, smtp or submission".into(),
                ),
            },
            "httpmethod" => match value.to_ascii_uppercase().as_str() {
                "GET" => v.http_head = false,
                "HEAD" => v.http_head = true,
                _ => err(vcol, "httpmethod must be GET or HEAD".into()),
            },
            "virtualhost" => {
                let h = values::unquote(value);
                if h.is_empty() {
                    err(vcol, "invalid virtualhost".into());
                } else {
                    v.virtualhost = Some(h.to_string());
                }
            }
            "fallback" | "fallback6" => {
                if (d.key == "fallback6") != ipv6 {
                    let want = if ipv6 { "fallback6" } else { "fallback" };
                    err(
                        d.key_col,
                        format!("cannot specify \"{}\" here, use \"{want}\"", d.key),
                    );
                } else {
                    match fallback(d, value, ipv6) {
                        Ok(f) => v.fallback = Some(f),
                        Err(m) => err(vcol, m),
                    }
                }
            }
            "login" | "passwd" | "database" | "secret" | "load" | "monitorfile"
            | "servicename" | "comment" => {
                let ok = !values::unquote(value).is_empty();
                if ok {
                    self.ignore(d, value, false);
                } else {
                    err(vcol, format!("invalid {}", d.key));
                }
            }
            "maintenancedir" => err(
                d.key_col,
                "maintenancedir is not valid in a virtual section".into(),
            ),
            _ => err(d.key_col, format!("unknown directive `{}`", d.key)),
        }
        self.errors.append(&mut errors);
    }
}

/// Byte offset of `value` (a sub-slice of `raw`) inside `raw`.
fn byte_off(raw: &str, value: &str) -> usize {
    (value.as_ptr() as usize).saturating_sub(raw.as_ptr() as usize)
}

fn checktype(value: &str) -> Option<CheckType> {
    if let Some(n) = values::number(value) {
        return Some(CheckType::Combined(n));
    }
    Some(match value {
        "connect" => CheckType::Connect,
        "negotiate" => CheckType::Negotiate,
        "ping" => CheckType::Ping,
        "external" => CheckType::External,
        "external-perl" => CheckType::ExternalPerl,
        "on" => CheckType::On,
        "off" => CheckType::Off,
        _ => return None,
    })
}

/// `ip:port`, `[v6]:port` or a firewall mark.
fn virtual_addr(value: &str, ipv6: bool) -> Result<VirtualAddr, String> {
    if value.is_empty() {
        return Err("invalid address for virtual server".into());
    }
    if let Some(mark) = values::number(value) {
        return if mark > 0 {
            Ok(VirtualAddr::Fwmark { mark, ipv6 })
        } else {
            Err("a firewall mark must be greater than zero".into())
        };
    }
    let (host, port, bracketed) = values::split_host_port(value)?;
    let Some(port) = port else {
        return Err(format!(
            "invalid address for virtual server `{value}`: expected ip:port or a firewall mark"
        ));
    };
    let addr = values::addr(host, bracketed, ipv6)?;
    let port = values::port(port, None)?;
    Ok(VirtualAddr::Inet(addr, port))
}

/// `ip[:port] [gate|masq|ipip]`.
fn fallback(d: &Directive<'_>, value: &str, ipv6: bool) -> Result<Fallback, String> {
    let mut words = value.split_whitespace();
    let Some(hp) = words.next() else {
        return Err("invalid fallback server: no address".into());
    };
    let forward = match words.next() {
        None => Forward::Gate,
        Some(w) => values::forward(w)
            .ok_or_else(|| "forward method must be gate, masq or ipip".to_string())?,
    };
    if let Some(extra) = words.next() {
        return Err(format!("invalid fallback server: unexpected `{extra}`"));
    }
    let (host, port, bracketed) = values::split_host_port(hp)?;
    let addr = values::addr(host, bracketed, ipv6)?;
    let port = match port {
        Some(p) => Some(values::port(p, None).map_err(|_| "invalid port for fallback server")?),
        None => None,
    };
    Ok(Fallback {
        line: d.line,
        col: d.key_col,
        addr,
        port,
        forward,
    })
}

/// A `real=` value: `ip[->ip][:port] gate|masq|ipip [weight] ["request", "receive"] [l:N]
/// [u:N]`. Errors carry the byte offset inside `value`.
fn reals(line: usize, col: usize, value: &str, ipv6: bool) -> Result<Vec<Real>, (usize, String)> {
    let addr_end = value.find(char::is_whitespace).unwrap_or(value.len());
    let spec = &value[..addr_end];
    let mut rest = &value[addr_end..];
    let off = |rest: &str| value.len() - rest.len();

    // ip[->ip][:port]
    let (range, port_txt) = if let Some(r) = spec.strip_prefix('[') {
        let (host, after) = r
            .split_once(']')
            .ok_or((0, format!("missing `]` in `{spec}`")))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => {
                return Err((0, format!("invalid address for real server `{spec}`")));
            }
        };
        ((host, None), port)
    } else {
        let (hosts, port) = if spec.matches(':').count() > 1 {
            (spec, None)
        } else {
            match spec.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (spec, None),
            }
        };
        match hosts.split_once("->") {
            Some((a, b)) => ((a, Some(b)), port),
            None => ((hosts, None), port),
        }
    };
    let first = values::addr(range.0, spec.starts_with('['), ipv6).map_err(|m| (0, m))?;
    let last = match range.1 {
        Some(b) => {
            if ipv6 {
                return Err((0, "address ranges are not supported for IPv6".into()));
            }
            Some(values::addr(b, false, false).map_err(|m| (0, m))?)
        }
        None => None,
    };
    let port = match port_txt {
        Some(p) => values::port(p, None).map_err(|m| (0, m))?,
        None => 0,
    };

    // method
    let trimmed = rest.trim_start();
    let m_end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
    let method = &trimmed[..m_end];
    let forward = values::forward(method).ok_or((
        off(trimmed),
        if method.is_empty() {
            "real server needs a forward method: gate, masq or ipip".to_string()
        } else {
            format!("forward method must be gate, masq or ipip, not `{method}`")
        },
    ))?;
    rest = &trimmed[m_end..];

    // weight
    let mut weight = 1;
    let t = rest.trim_start();
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        let end = t.find(char::is_whitespace).unwrap_or(t.len());
        weight = values::number(&t[..end])
            .filter(|w| *w <= 65535)
            .ok_or((off(t), format!("invalid weight `{}` (0..65535)", &t[..end])))?;
        rest = &t[end..];
    }

    // "request", "receive"
    let mut check = None;
    let t = rest.trim_start();
    if let Some(q) = t.strip_prefix('"') {
        let bad = || (off(t), "expected \"request\", \"receive\"".to_string());
        let (req, after) = q.split_once('"').ok_or_else(bad)?;
        let after = after.strip_prefix(',').unwrap_or(after).trim_start();
        let after = after.strip_prefix('"').ok_or_else(bad)?;
        let (recv, after) = after.split_once('"').ok_or_else(bad)?;
        let req = if req.starts_with('/') || req.contains("://") {
            req.to_string()
        } else {
            format!("/{req}")
        };
        check = Some((req, recv.to_string()));
        rest = after;
    }

    // l:N and u:N
    let mut l_threshold = None;
    let mut u_threshold = None;
    for (prefix, slot) in [("l:", &mut l_threshold), ("u:", &mut u_threshold)] {
        let t = rest.trim_start();
        if let Some(n) = t.strip_prefix(prefix) {
            let end = n.find(char::is_whitespace).unwrap_or(n.len());
            *slot = Some(
                values::number(&n[..end])
                    .ok_or((off(t), format!("invalid threshold `{}`", &t[..end + 2])))?,
            );
            rest = &n[end..];
        }
    }
    let t = rest.trim_start();
    if !t.is_empty() {
        return Err((off(t), format!("invalid real server line, around `{t}`")));
    }

    let make = |addr: IpAddr| Real {
        line,
        col,
        addr,
        port,
        forward,
        weight,
        check: check.clone(),
        l_threshold,
        u_threshold,
    };
    match (first, last) {
        (IpAddr::V4(a), Some(IpAddr::V4(b))) => {
            let (a, b) = (u32::from(a), u32::from(b));
            if a > b {
                return Err((
                    0,
                    format!("invalid range `{spec}`: the first address is greater than the last"),
                ));
            }
            if b - a >= 4096 {
                return Err((
                    0,
                    format!("range `{spec}` is too large (at most 4096 addresses)"),
                ));
            }
            Ok((a..=b)
                .map(|n| make(IpAddr::V4(std::net::Ipv4Addr::from(n))))
                .collect())
        }
        _ => Ok(vec![make(first)]),
    }
}
