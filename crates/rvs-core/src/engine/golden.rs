//! Golden fixtures: a text format for "these frames, on the lab topology, with these rules,
//! give exactly these verdicts and bytes", and a runner that replays one through the
//! [`Engine`]. The same files are replayed by other data planes (the XDP program through
//! `BPF_PROG_TEST_RUN`) and must give the same bytes.
//!
//! ```text
//! # comment
//! case nat-v4-tcp
//! description NAT, IPv4, TCP: a whole flow
//! rule -A -t 198.18.0.100:80 -s rr
//! rule -a -t 198.18.0.100:80 -r 198.18.1.11:8080 -m
//! local 198.18.1.200
//!
//! # the client's SYN
//! in 1000 ext 02000000000102000000001008004500…
//! expect transmit int forward nat new
//! out 02000000010b02000000000208004500…
//! ```
//!
//! * `case NAME` (once, first), `description TEXT` (any number of lines), `rule ARGS`
//!   (ipvsadm-save syntax, applied in order at time 0), `local IP[@PROTO:VIP:PORT]`
//!   (a FULLNAT local address, global or for one service; PROTO is tcp, udp or sctp);
//! * then the steps: `in TIME_MS IFACE HEX` (a frame arriving on the interface of that
//!   name at that time), `expect VERDICT` ([`verdict_line`]), and `out HEX` when the frame
//!   is transmitted. Comment lines just before an `in` line are the step's note.
//!
//! The engine is built by [`lab::engine`]: the [`super::lab`] topology and neighbours,
//! default settings, seed 1.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use super::{Frame, HEADROOM, Routes, Verdict, lab};
use crate::command::Command;
use crate::time::Time;
use crate::{Protocol, ServiceKey};

/// A golden fixture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Case {
    /// Short name (the file name without `.case`).
    pub name: String,
    /// What the case shows; may span lines.
    pub description: String,
    /// Rules in ipvsadm-save syntax (`-A -t 198.18.0.100:80 -s rr`), applied in order.
    pub rules: Vec<String>,
    /// FULLNAT local addresses.
    pub local: Vec<LocalAddress>,
    /// The frames, in order.
    pub steps: Vec<Step>,
}

/// A FULLNAT local address, global or for one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAddress {
    /// The address.
    pub addr: IpAddr,
    /// The service whose pool it joins (`None`: the global pool).
    pub service: Option<ServiceKey>,
}

/// One frame in and what must come of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// A comment (may span lines).
    pub note: String,
    /// Arrival time in milliseconds.
    pub time_ms: u64,
    /// Name of the ingress interface (`ext` or `int` in the lab).
    pub ingress: String,
    /// The frame as it arrives.
    pub input: Vec<u8>,
    /// The expected verdict, as [`verdict_line`] writes it.
    pub expect: String,
    /// The expected frame when it is transmitted.
    pub output: Option<Vec<u8>>,
}

/// What one step actually gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// The verdict, as [`verdict_line`] writes it.
    pub verdict: String,
    /// The frame, when transmitted (or unresolved).
    pub output: Option<Vec<u8>>,
}

/// A syntax error in a fixture.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct GoldenError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Why a fixture could not be run.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// A rule did not parse or apply.
    #[error("rule {index} `{rule}`: {message}")]
    Rule {
        /// 1-based index among the rules.
        index: usize,
        /// The rule.
        rule: String,
        /// What went wrong.
        message: String,
    },
    /// A step names an interface the lab does not have.
    #[error("step {0}: no interface named {1}")]
    UnknownInterface(usize, String),
    /// A step's frame does not fit the runner's buffer.
    #[error("step {0}: frame too large")]
    FrameTooLarge(usize),
}

/// The verdict as one stable line: `transmit IFACE KIND`, `unresolved IFACE via HOP KIND`,
/// `pass REASON`, `drop REASON` (interfaces by name, kinds and reasons as
/// [`super::TxKind`]'s `Display` and `as_str` write them).
pub fn verdict_line(v: &Verdict, routes: &Routes) -> String {
    let name = |id: super::IfaceId| {
        routes
            .iface(id)
            .map_or_else(|| format!("if{}", id.0), |i| i.name.clone())
    };
    match v {
        Verdict::Transmit { egress, kind, .. } => format!("transmit {} {kind}", name(*egress)),
        Verdict::Unresolved {
            egress,
            next_hop,
            kind,
        } => format!("unresolved {} via {next_hop} {kind}", name(*egress)),
        Verdict::Pass(r) => format!("pass {}", r.as_str()),
        Verdict::Drop(r) => format!("drop {}", r.as_str()),
    }
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Bytes of a hex string (even length, no separators).
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .enumerate()
        .map(|(i, p)| match (digit(p[0]), digit(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(format!("bad hex digit at byte {i}")),
        })
        .collect()
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

impl fmt::Display for LocalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        match &self.service {
            None => Ok(()),
            Some(ServiceKey::Addr { proto, addr, port }) => {
                write!(
                    f,
                    "@{}:{}",
                    proto_name(*proto),
                    SocketAddr::new(*addr, *port)
                )
            }
            Some(ServiceKey::Fwmark { mark, .. }) => write!(f, "@fwmark:{mark}"),
        }
    }
}

impl std::str::FromStr for LocalAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, svc) = match s.split_once('@') {
            Some((i, v)) => (i, Some(v)),
            None => (s, None),
        };
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| format!("\"{ip}\" is not an IP address"))?;
        let Some(svc) = svc else {
            return Ok(LocalAddress {
                addr,
                service: None,
            });
        };
        let bad = || format!("\"{svc}\" is not PROTO:VIP:PORT or fwmark:N");
        let (kind, rest) = svc.split_once(':').ok_or_else(bad)?;
        let proto = match kind {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "sctp" => Protocol::Sctp,
            "fwmark" => {
                let mark: u32 = rest.parse().map_err(|_| bad())?;
                return Ok(LocalAddress {
                    addr,
                    service: Some(ServiceKey::Fwmark {
                        af: crate::Af::of(&addr),
                        mark,
                    }),
                });
            }
            _ => return Err(bad()),
        };
        let sa: SocketAddr = rest.parse().map_err(|_| bad())?;
        Ok(LocalAddress {
            addr,
            service: Some(ServiceKey::Addr {
                proto,
                addr: sa.ip(),
                port: sa.port(),
            }),
        })
    }
}

fn one_line(what: &str, s: &str) -> String {
    debug_assert!(!s.contains('\n'), "{what} spans lines");
    s.replace('\n', " ")
}

impl Case {
    /// The fixture as text; [`parse`] gives back an equal case.
    pub fn to_text(&self) -> String {
        let mut s = String::from("# rvs golden fixture: see crates/rvs/tests/golden/README.md\n");
        let _ = writeln!(s, "case {}", one_line("name", &self.name));
        for l in self.description.lines() {
            let _ = writeln!(s, "description {l}");
        }
        for r in &self.rules {
            let _ = writeln!(s, "rule {}", one_line("rule", r));
        }
        for l in &self.local {
            let _ = writeln!(s, "local {l}");
        }
        for st in &self.steps {
            s.push('\n');
            for l in st.note.lines() {
                let _ = writeln!(s, "# {l}");
            }
            let _ = write!(s, "in {} {}", st.time_ms, st.ingress);
            if !st.input.is_empty() {
                let _ = write!(s, " {}", to_hex(&st.input));
            }
            s.push('\n');
            let _ = writeln!(s, "expect {}", one_line("verdict", &st.expect));
            if let Some(o) = &st.output {
                let _ = writeln!(s, "out {}", to_hex(o));
            }
        }
        s
    }

    /// Set every step's expectation to what `results` say (regenerating a fixture).
    pub fn bless(&mut self, results: &[StepResult]) {
        for (st, r) in self.steps.iter_mut().zip(results) {
            st.expect = r.verdict.clone();
            st.output = r.output.clone();
        }
    }

    /// Differences between the expected and the actual results, one line each (empty:
    /// all steps match).
    pub fn mismatches(&self, results: &[StepResult]) -> Vec<String> {
        let mut out = Vec::new();
        if results.len() != self.steps.len() {
            out.push(format!(
                "{} steps, {} results",
                self.steps.len(),
                results.len()
            ));
        }
        for (i, (st, r)) in self.steps.iter().zip(results).enumerate() {
            let n = i + 1;
            if st.expect != r.verdict {
                out.push(format!(
                    "step {n}: expected `{}`, got `{}`",
                    st.expect, r.verdict
                ));
            }
            match (&st.output, &r.output) {
                (None, None) => {}
                (Some(_), None) => out.push(format!("step {n}: expected a frame, got none")),
                (None, Some(_)) => out.push(format!("step {n}: expected no frame, got one")),
                (Some(e), Some(g)) if e != g => {
                    let at = e
                        .iter()
                        .zip(g.iter())
                        .position(|(a, b)| a != b)
                        .unwrap_or(e.len().min(g.len()));
                    out.push(format!(
                        "step {n}: frames differ at byte {at} (expected {} bytes, got {})\n  \
                         expected {}\n  got      {}",
                        e.len(),
                        g.len(),
                        to_hex(e),
                        to_hex(g)
                    ));
                }
                _ => {}
            }
        }
        out
    }
}

/// Parse a fixture.
pub fn parse(text: &str) -> Result<Case, GoldenError> {
    let mut case = Case::default();
    let mut seen_case = false;
    let mut notes: Vec<&str> = Vec::new();
    let mut desc: Vec<&str> = Vec::new();
    // Whether the last step still lacks its `expect` / may take an `out`.
    let mut need_expect = false;
    let mut may_out = false;
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        last_line = line;
        let err = |m: String| GoldenError { line, message: m };
        let l = raw.trim_end();
        if l.trim().is_empty() {
            notes.clear();
            continue;
        }
        if let Some(c) = l.strip_prefix('#') {
            notes.push(c.strip_prefix(' ').unwrap_or(c));
            continue;
        }
        let (kw, rest) = l.split_once(' ').unwrap_or((l, ""));
        if !seen_case && kw != "case" {
            return Err(err("a fixture starts with `case NAME`".into()));
        }
        let header = case.steps.is_empty();
        if need_expect && kw != "expect" {
            return Err(err("`expect VERDICT` must follow `in`".into()));
        }
        match kw {
            "case" => {
                if seen_case {
                    return Err(err("`case` given twice".into()));
                }
                if rest.trim().is_empty() {
                    return Err(err("`case` needs a name".into()));
                }
                case.name = rest.trim().to_string();
                seen_case = true;
            }
            "description" | "rule" | "local" if !header => {
                return Err(err(format!("`{kw}` must come before the first `in`")));
            }
            "description" => desc.push(rest),
            "rule" => {
                if rest.trim().is_empty() {
                    return Err(err("empty rule".into()));
                }
                case.rules.push(rest.trim().to_string());
            }
            "local" => case.local.push(rest.trim().parse().map_err(err)?),
            "in" => {
                let mut f = rest.split_whitespace();
                // An empty frame has no hex at all.
                let (Some(t), Some(iface), hex, None) = (f.next(), f.next(), f.next(), f.next())
                else {
                    return Err(err("expected `in TIME_MS IFACE HEX`".into()));
                };
                let time_ms = t
                    .parse()
                    .map_err(|_| err(format!("bad time \"{t}\" (milliseconds)")))?;
                let input = from_hex(hex.unwrap_or_default()).map_err(err)?;
                case.steps.push(Step {
                    note: notes.join("\n"),
                    time_ms,
                    ingress: iface.to_string(),
                    input,
                    expect: String::new(),
                    output: None,
                });
                need_expect = true;
                may_out = false;
            }
            "expect" => {
                if !need_expect {
                    return Err(err("`expect` without `in`".into()));
                }
                if rest.trim().is_empty() {
                    return Err(err("`expect` needs a verdict".into()));
                }
                if let Some(st) = case.steps.last_mut() {
                    st.expect = rest.trim().to_string();
                }
                need_expect = false;
                may_out = true;
            }
            "out" => {
                if !may_out {
                    return Err(err("`out` must follow `expect`".into()));
                }
                let bytes = from_hex(rest.trim()).map_err(err)?;
                if let Some(st) = case.steps.last_mut() {
                    st.output = Some(bytes);
                }
                may_out = false;
            }
            _ => return Err(err(format!("unknown keyword `{kw}`"))),
        }
        notes.clear();
    }
    if !seen_case {
        return Err(GoldenError {
            line: last_line.max(1),
            message: "no `case NAME` line".into(),
        });
    }
    if need_expect {
        return Err(GoldenError {
            line: last_line,
            message: "the last `in` has no `expect`".into(),
        });
    }
    case.description = desc.join("\n");
    Ok(case)
}

/// Run a fixture: a [`lab::engine`], the case's rules turned into commands by `to_command`
/// (the caller's ipvsadm parser) and applied at time 0, its local addresses, then every
/// step through [`Engine::process`] with [`lab::LabNeighbours`].
pub fn run(
    case: &Case,
    to_command: impl Fn(&str) -> Result<Command, String>,
) -> Result<Vec<StepResult>, RunError> {
    let mut e = lab::engine();
    for (i, r) in case.rules.iter().enumerate() {
        let rule_err = |message: String| RunError::Rule {
            index: i + 1,
            rule: r.clone(),
            message,
        };
        let cmd = to_command(r).map_err(rule_err)?;
        e.director
            .apply(&cmd, Time::ZERO)
            .map_err(|x| rule_err(x.to_string()))?;
    }
    for l in &case.local {
        e.fullnat.add_local_address(l.service, l.addr);
    }
    let neigh = lab::LabNeighbours;
    let mut out = Vec::with_capacity(case.steps.len());
    for (i, st) in case.steps.iter().enumerate() {
        let n = i + 1;
        let ingress = e
            .routes
            .by_name(&st.ingress)
            .ok_or_else(|| RunError::UnknownInterface(n, st.ingress.clone()))?;
        let mut buf = vec![0u8; HEADROOM + st.input.len() + 2048];
        buf[HEADROOM..HEADROOM + st.input.len()].copy_from_slice(&st.input);
        let mut f = Frame::new(&mut buf, HEADROOM, st.input.len())
            .map_err(|_| RunError::FrameTooLarge(n))?;
        let v = e.process(&mut f, ingress, Time(st.time_ms), &neigh);
        let output = match v {
            Verdict::Transmit { .. } | Verdict::Unresolved { .. } => Some(f.data().to_vec()),
            Verdict::Pass(_) | Verdict::Drop(_) => None,
        };
        out.push(StepResult {
            verdict: verdict_line(&v, &e.routes),
            output,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# header\n\
case demo\n\
description two\n\
description lines\n\
rule -A -t 198.18.0.100:80 -s rr\n\
rule -a -t 198.18.0.100:80 -r 198.18.1.11:8080 -m\n\
local 198.18.1.200\n\
local fd00:1::c8@tcp:[fd00::100]:80\n\
\n\
# first\n\
# note\n\
in 1000 ext 0a0B\n\
expect transmit int forward nat new\n\
out 0c0d\n\
\n\
in 1001 int 00\n\
expect pass no-service\n\
in 1002 int\n\
expect drop truncated-ethernet\n";

    #[test]
    fn parse_reads_every_field_and_round_trips() {
        let c = parse(TEXT).unwrap();
        assert_eq!(c.name, "demo");
        assert_eq!(c.description, "two\nlines");
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.local[0].service, None);
        assert_eq!(
            c.local[1].service,
            Some(ServiceKey::Addr {
                proto: Protocol::Tcp,
                addr: "fd00::100".parse().unwrap(),
                port: 80
            })
        );
        assert_eq!(c.steps.len(), 3);
        assert!(c.steps[2].input.is_empty());
        assert_eq!(c.steps[0].note, "first\nnote");
        assert_eq!(c.steps[0].input, vec![0x0a, 0x0b]);
        assert_eq!(c.steps[0].output, Some(vec![0x0c, 0x0d]));
        assert_eq!(c.steps[1].ingress, "int");
        assert_eq!(c.steps[1].time_ms, 1001);
        assert_eq!(c.steps[1].output, None);
        let again = parse(&c.to_text()).unwrap();
        assert_eq!(again, c);
        assert_eq!(again.to_text(), c.to_text());
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("rule -A\n", 1),
            ("case a\ncase b\n", 2),
            ("case a\nin 1 ext 00\nout 00\n", 3),
            ("case a\nin 1 ext 0\nexpect pass x\n", 2),
            ("case a\nin x ext 00\nexpect pass x\n", 2),
            ("case a\nin 1 ext 00\n", 2),
            ("case a\nin 1\nexpect pass x\n", 2),
            ("case a\nexpect pass x\n", 2),
            ("case a\nin 1 ext 00\nexpect pass x\nrule -A\n", 4),
            ("case a\nlocal nope\n", 2),
            ("case a\nbogus\n", 2),
            ("case a\nin 1 ext 00\nexpect drop x\nout 00\nout 00\n", 5),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let b: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&b)).unwrap(), b);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
    }

    #[test]
    fn mismatches_report_verdicts_and_bytes() {
        let c = parse(TEXT).unwrap();
        let good = vec![
            StepResult {
                verdict: "transmit int forward nat new".into(),
                output: Some(vec![0x0c, 0x0d]),
            },
            StepResult {
                verdict: "pass no-service".into(),
                output: None,
            },
            StepResult {
                verdict: "drop truncated-ethernet".into(),
                output: None,
            },
        ];
        assert!(c.mismatches(&good).is_empty());
        let mut bad = good.clone();
        bad[0].output = Some(vec![0x0c, 0x0e]);
        bad[1].verdict = "drop x".into();
        let m = c.mismatches(&bad);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].contains("byte 1"), "{m:?}");
        let mut blessed = c.clone();
        blessed.bless(&bad);
        assert!(blessed.mismatches(&bad).is_empty());
    }

    #[test]
    fn run_applies_rules_and_reports_unknown_interfaces() {
        let mut c = parse(TEXT).unwrap();
        // Without a parser, the rules fail with their index.
        let e = run(&c, |_| Err("no parser".into())).unwrap_err();
        assert!(matches!(e, RunError::Rule { index: 1, .. }), "{e}");
        c.rules.clear();
        c.steps[1].ingress = "nope".into();
        let e = run(&c, |_| Err("unused".into())).unwrap_err();
        assert_eq!(e, RunError::UnknownInterface(2, "nope".into()));
        c.steps.truncate(1);
        // A two-byte frame is malformed.
        let r = run(&c, |_| Err("unused".into())).unwrap();
        assert_eq!(r[0].verdict, "drop truncated-ethernet");
        assert_eq!(r[0].output, None);
    }
}
