//! Offline replay of flow events through a director (`rvs sim`), sans-IO.
//!
//! A flow file has one event per line: `TIME PROTO SRC DST EVENT`, with `#` comments and
//! blank lines ignored. TIME is in seconds (decimal, non-decreasing); PROTO is
//! `tcp|udp|sctp`; SRC and DST are `ip:port` or `[v6]:port`; EVENT is `open`, `close`,
//! `reset` or `packet`. `TIME cmd ARGS...` runs ipvsadm arguments at that time; the caller
//! parses them (see the `rvs` binary).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

use crate::addr::Protocol;
use crate::conn::state::{self, SctpEvent, Segment, TcpFlags};
use crate::director::{Director, Packet, Verdict};
use crate::time::Time;

/// What happens to a flow at one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A new connection: handshake through to established.
    Open,
    /// Orderly close of an open connection.
    Close,
    /// Abort (TCP RST, SCTP ABORT).
    Reset,
    /// One datagram, or one data segment of an open connection. When SRC:DST is the
    /// reverse of an open flow's real server and client, it is a reply.
    Packet,
}

impl EventKind {
    fn name(self) -> &'static str {
        match self {
            EventKind::Open => "open",
            EventKind::Close => "close",
            EventKind::Reset => "reset",
            EventKind::Packet => "packet",
        }
    }
}

/// One flow event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEvent {
    /// When.
    pub time: Time,
    /// Protocol.
    pub proto: Protocol,
    /// Source (the client, or a real server for replies).
    pub src: SocketAddr,
    /// Destination (the VIP, or the client for replies).
    pub dst: SocketAddr,
    /// What happens.
    pub kind: EventKind,
}

/// One meaningful line of a flow file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowLine {
    /// A flow event.
    Event(FlowEvent),
    /// `TIME cmd ARGS...`: ipvsadm arguments to run at `time`.
    Cmd {
        /// When.
        time: Time,
        /// The ipvsadm arguments.
        args: Vec<String>,
    },
}

/// Why a flow line or event was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// Not `TIME PROTO SRC DST EVENT` or `TIME cmd ARGS...`.
    #[error("malformed line: expected `TIME PROTO SRC DST EVENT` or `TIME cmd ARGS...`")]
    Malformed,
    /// Bad time field.
    #[error("invalid time `{0}'")]
    Time(String),
    /// Unknown protocol.
    #[error("invalid protocol `{0}' (tcp, udp or sctp)")]
    Proto(String),
    /// Bad address.
    #[error("invalid address `{0}' (ip:port or [ipv6]:port)")]
    Addr(String),
    /// Unknown event.
    #[error("invalid event `{0}' (open, close, reset or packet)")]
    Event(String),
    /// Time decreased.
    #[error("time goes backwards: {0} after {1}")]
    Backwards(String, String),
    /// `close`/`reset` of a flow never opened.
    #[error("{0} of an unknown connection {1} {2} -> {3}")]
    UnknownConn(&'static str, Protocol, SocketAddr, SocketAddr),
}

/// Parse a decimal number of seconds into milliseconds.
pub fn parse_time(s: &str) -> Result<Time, SimError> {
    let err = || SimError::Time(s.to_string());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(err());
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let secs: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| err())?
    };
    let mut ms = 0u64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        ms += u64::from(b - b'0') * [100, 10, 1][i];
    }
    secs.checked_mul(1000)
        .and_then(|v| v.checked_add(ms))
        .map(Time)
        .ok_or_else(err)
}

/// Parse one line of a flow file; `Ok(None)` for blank and comment lines.
pub fn parse_line(line: &str) -> Result<Option<FlowLine>, SimError> {
    let line = line.split('#').next().unwrap_or("");
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return Ok(None);
    }
    if words.len() >= 2 && words[1] == "cmd" {
        let time = parse_time(words[0])?;
        return Ok(Some(FlowLine::Cmd {
            time,
            args: words[2..].iter().map(|w| w.to_string()).collect(),
        }));
    }
    if words.len() != 5 {
        return Err(SimError::Malformed);
    }
    let time = parse_time(words[0])?;
    let proto = match words[1] {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        p => return Err(SimError::Proto(p.to_string())),
    };
    let addr = |w: &str| {
        w.parse::<SocketAddr>()
            .map_err(|_| SimError::Addr(w.to_string()))
    };
    let src = addr(words[2])?;
    let dst = addr(words[3])?;
    let kind = match words[4] {
        "open" => EventKind::Open,
        "close" => EventKind::Close,
        "reset" => EventKind::Reset,
        "packet" => EventKind::Packet,
        e => return Err(SimError::Event(e.to_string())),
    };
    Ok(Some(FlowLine::Event(FlowEvent {
        time,
        proto,
        src,
        dst,
        kind,
    })))
}

/// What the director did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new connection was scheduled.
    New,
    /// An existing connection carried the packets.
    Hit,
    /// A reply passed back through the director.
    Reply,
    /// No virtual service (or not a connection start): passed to the local stack.
    NoService,
    /// A service matched but no dest was available (ICMP port unreachable).
    Unreachable,
    /// The director dropped the packet.
    Dropped,
    /// The director had no connection any more (it expired); nothing was forwarded.
    Expired,
}

impl Outcome {
    /// Short word for the output line.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::New => "new",
            Outcome::Hit => "hit",
            Outcome::Reply => "reply",
            Outcome::NoService => "no-service",
            Outcome::Unreachable => "unreachable",
            Outcome::Dropped => "dropped",
            Outcome::Expired => "expired",
        }
    }
}

/// The result line of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventResult {
    /// The event.
    pub event: FlowEvent,
    /// What happened.
    pub outcome: Outcome,
    /// Connection state after the event (`-` when there is no connection).
    pub state: &'static str,
    /// The real server the connection is (or was) bound to.
    pub rs: Option<SocketAddr>,
}

impl fmt::Display for EventResult {
    /// `TIME PROTO SRC DST EVENT OUTCOME STATE RS` — the last field is the real server or `-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.event;
        let rs = self.rs.map_or_else(|| "-".to_string(), |a| a.to_string());
        write!(
            f,
            "{:>9} {:<4} {:<22} {:<22} {:<6} {:<11} {:<11} {}",
            e.time.to_string(),
            e.proto.lower_name(),
            e.src.to_string(),
            e.dst.to_string(),
            e.kind.name(),
            self.outcome.name(),
            self.state,
            rs
        )
    }
}

/// IP packet length used for simulated packets (IPv4 + TCP headers, no payload).
const PKT_LEN: u32 = 60;
/// Length of a simulated data packet.
const DATA_LEN: u32 = 576;

#[derive(Clone, Copy, Debug)]
struct Flow {
    rs: Option<SocketAddr>,
}

type FlowKey = (Protocol, SocketAddr, SocketAddr);

/// Replays flow events through a [`Director`], remembering which flows are open.
#[derive(Debug)]
pub struct Simulator {
    /// The director being driven.
    pub director: Director,
    flows: HashMap<FlowKey, Flow>,
    /// `(proto, real server, client)` → the flow, to recognise replies.
    replies: HashMap<FlowKey, FlowKey>,
    last: Time,
}

impl Simulator {
    /// A simulator around a director.
    pub fn new(director: Director) -> Self {
        Simulator {
            director,
            flows: HashMap::new(),
            replies: HashMap::new(),
            last: Time::ZERO,
        }
    }

    /// Check and record an event time.
    pub fn set_time(&mut self, t: Time) -> Result<(), SimError> {
        if t < self.last {
            return Err(SimError::Backwards(t.to_string(), self.last.to_string()));
        }
        self.last = t;
        self.director.advance(t);
        Ok(())
    }

    fn send(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        seg: Segment,
        len: u32,
        t: Time,
    ) -> Verdict {
        let p = Packet {
            saddr: src.ip(),
            sport: src.port(),
            daddr: dst.ip(),
            dport: dst.port(),
            seg,
            len,
            fwmark: 0,
        };
        self.director.process(&p, t)
    }

    fn conn_state(&self, v: &Verdict, proto: Protocol) -> &'static str {
        let id = match v {
            Verdict::Forward { conn: Some(id), .. } | Verdict::Reply { conn: id, .. } => *id,
            _ => return "-",
        };
        self.director
            .conns
            .get(id)
            .map_or("-", |c| state::state_name(proto, c.state))
    }

    fn open_flow(&mut self, key: FlowKey, rs: Option<SocketAddr>) {
        self.close_flow(&key);
        if let Some(rs) = rs {
            self.replies.insert((key.0, rs, key.1), key);
        }
        self.flows.insert(key, Flow { rs });
    }

    fn close_flow(&mut self, key: &FlowKey) {
        if let Some(Flow { rs: Some(rs) }) = self.flows.remove(key) {
            self.replies.remove(&(key.0, rs, key.1));
        }
    }

    /// Run one event; errors leave the director unchanged.
    pub fn event(&mut self, ev: &FlowEvent) -> Result<EventResult, SimError> {
        self.set_time(ev.time)?;
        let key: FlowKey = (ev.proto, ev.src, ev.dst);
        let t = ev.time;
        let known = self.flows.get(&key).copied();
        if matches!(ev.kind, EventKind::Close | EventKind::Reset) && known.is_none() {
            return Err(SimError::UnknownConn(
                ev.kind.name(),
                ev.proto,
                ev.src,
                ev.dst,
            ));
        }
        // A reply: SRC:DST reverses an open flow's real server and client.
        let reply_of = self
            .replies
            .get(&key)
            .and_then(|k| self.flows.get(k))
            .copied();
        let (first, rest): (Segment, &[(bool, Segment)]) = match (ev.kind, ev.proto) {
            (EventKind::Open, Protocol::Tcp) => (
                Segment::Tcp(TcpFlags::SYN),
                &[
                    (true, Segment::Tcp(TcpFlags::SYN_ACK)),
                    (false, Segment::Tcp(TcpFlags::ACK)),
                ],
            ),
            (EventKind::Open, Protocol::Sctp) => (
                Segment::Sctp(SctpEvent::Init),
                &[
                    (true, Segment::Sctp(SctpEvent::InitAck)),
                    (false, Segment::Sctp(SctpEvent::CookieEcho)),
                    (true, Segment::Sctp(SctpEvent::CookieAck)),
                ],
            ),
            (EventKind::Close, Protocol::Tcp) => (
                Segment::Tcp(TcpFlags::FIN_ACK),
                &[
                    (true, Segment::Tcp(TcpFlags::FIN_ACK)),
                    (false, Segment::Tcp(TcpFlags::ACK)),
                ],
            ),
            (EventKind::Close, Protocol::Sctp) => (
                Segment::Sctp(SctpEvent::Shutdown),
                &[
                    (true, Segment::Sctp(SctpEvent::ShutdownAck)),
                    (false, Segment::Sctp(SctpEvent::ShutdownComplete)),
                ],
            ),
            (EventKind::Reset, Protocol::Tcp) => (Segment::Tcp(TcpFlags::RST), &[]),
            (EventKind::Reset, Protocol::Sctp) => (Segment::Sctp(SctpEvent::Abort), &[]),
            (EventKind::Packet, Protocol::Tcp) => (Segment::Tcp(TcpFlags::ACK), &[]),
            (EventKind::Packet, Protocol::Sctp) => (Segment::Sctp(SctpEvent::Data), &[]),
            (_, Protocol::Udp) => (Segment::Udp, &[]),
        };
        // UDP close/reset only end the flow in the simulator; no packet is sent.
        if ev.proto == Protocol::Udp && matches!(ev.kind, EventKind::Close | EventKind::Reset) {
            self.close_flow(&key);
            return Ok(EventResult {
                event: *ev,
                outcome: Outcome::Hit,
                state: "-",
                rs: known.and_then(|f| f.rs),
            });
        }
        let len = if ev.kind == EventKind::Packet {
            DATA_LEN
        } else {
            PKT_LEN
        };
        let v = self.send(ev.src, ev.dst, first, len, t);
        let (outcome, rs) = match v {
            Verdict::Forward {
                new, daddr, dport, ..
            } => (
                if new { Outcome::New } else { Outcome::Hit },
                Some(SocketAddr::new(daddr, dport)),
            ),
            Verdict::Reply { .. } => (Outcome::Reply, reply_of.and_then(|f| f.rs)),
            Verdict::Pass if known.is_some() => (Outcome::Expired, known.and_then(|f| f.rs)),
            Verdict::Pass => (Outcome::NoService, None),
            Verdict::Unreachable => (Outcome::Unreachable, None),
            Verdict::Drop(_) => (Outcome::Dropped, known.and_then(|f| f.rs)),
        };
        let mut last = v;
        if let (Verdict::Forward { fwd, .. }, Some(rs_addr)) = (v, rs) {
            for &(reply, seg) in rest {
                if reply && !fwd.sees_replies() {
                    continue;
                }
                let (s, d) = if reply {
                    (rs_addr, ev.src)
                } else {
                    (ev.src, ev.dst)
                };
                last = self.send(s, d, seg, PKT_LEN, t);
            }
        }
        let state = self.conn_state(&last, ev.proto);
        match ev.kind {
            EventKind::Open => self.open_flow(key, rs),
            EventKind::Close | EventKind::Reset => self.close_flow(&key),
            EventKind::Packet => {
                if reply_of.is_none() && !self.flows.contains_key(&key) && rs.is_some() {
                    // A datagram that created a connection opens a flow.
                    self.open_flow(key, rs);
                }
            }
        }
        Ok(EventResult {
            event: *ev,
            outcome,
            state,
            rs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        assert_eq!(parse_line("  # hi").unwrap(), None);
        assert_eq!(parse_line("").unwrap(), None);
        let l = parse_line("1.5 tcp 198.18.2.1:40000 198.18.0.100:80 open # c").unwrap();
        let Some(FlowLine::Event(e)) = l else {
            panic!("{l:?}")
        };
        assert_eq!(e.time, Time(1500));
        assert_eq!(e.kind, EventKind::Open);
        let l = parse_line("2 udp [fd00::1]:53 [fd00::100]:53 packet").unwrap();
        assert!(matches!(l, Some(FlowLine::Event(_))));
        let l = parse_line("5 cmd -e -t 198.18.0.100:80 -r 198.18.1.12:80 -g -w 0").unwrap();
        let Some(FlowLine::Cmd { time, args }) = l else {
            panic!()
        };
        assert_eq!(time, Time(5000));
        assert_eq!(args.len(), 8);
    }

    #[test]
    fn rejects_bad_lines() {
        assert_eq!(
            parse_line("1 tcp 1.2.3.4:1 open").unwrap_err(),
            SimError::Malformed
        );
        assert!(matches!(
            parse_line("x tcp 1.2.3.4:1 1.2.3.4:2 open"),
            Err(SimError::Time(_))
        ));
        assert!(matches!(
            parse_line("1 icmp 1.2.3.4:1 1.2.3.4:2 open"),
            Err(SimError::Proto(_))
        ));
        assert!(matches!(
            parse_line("1 tcp 1.2.3.4 1.2.3.4:2 open"),
            Err(SimError::Addr(_))
        ));
        assert!(matches!(
            parse_line("1 tcp 1.2.3.4:1 1.2.3.4:2 shut"),
            Err(SimError::Event(_))
        ));
        assert!(matches!(parse_time("1.2.3"), Err(SimError::Time(_))));
        assert_eq!(parse_time(".25").unwrap(), Time(250));
        assert_eq!(parse_time("3.14159").unwrap(), Time(3141));
    }
}

#[cfg(test)]
mod robustness {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn flow_lines_never_panic(line in "[ -~\t]{0,60}") {
            let _ = parse_line(&line);
        }

        #[test]
        fn fwmark_rules_never_panic(line in "[0-9a-z./:, -]{0,40}") {
            if let Ok(r) = line.parse::<crate::fwmark::FwmarkRule>() {
                // What parses prints back to something that parses to the same rule.
                let again: crate::fwmark::FwmarkRule = r.to_string().parse().unwrap();
                prop_assert_eq!(again, r);
            }
        }
    }
}
