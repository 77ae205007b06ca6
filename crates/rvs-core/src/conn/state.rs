//! Protocol state machines of IPVS connections: TCP (normal and input-only tables), UDP
//! and SCTP, with their state names, default timeouts and "active" states (reference §2.4).

use crate::addr::Protocol;

/// Direction of a packet relative to the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client → director (→ real server).
    Input,
    /// Real server → client (seen by the director for NAT/FULLNAT).
    Output,
}

/// TCP flags a state transition looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// FIN.
    pub fin: bool,
    /// ACK.
    pub ack: bool,
    /// RST.
    pub rst: bool,
}

impl TcpFlags {
    /// A bare SYN.
    pub const SYN: TcpFlags = TcpFlags {
        syn: true,
        fin: false,
        ack: false,
        rst: false,
    };
    /// SYN+ACK.
    pub const SYN_ACK: TcpFlags = TcpFlags {
        syn: true,
        fin: false,
        ack: true,
        rst: false,
    };
    /// A bare ACK (also any data segment).
    pub const ACK: TcpFlags = TcpFlags {
        syn: false,
        fin: false,
        ack: true,
        rst: false,
    };
    /// FIN+ACK.
    pub const FIN_ACK: TcpFlags = TcpFlags {
        syn: false,
        fin: true,
        ack: true,
        rst: false,
    };
    /// RST.
    pub const RST: TcpFlags = TcpFlags {
        syn: false,
        fin: false,
        ack: false,
        rst: true,
    };

    /// From the TCP header flag byte.
    pub const fn from_bits(b: u8) -> TcpFlags {
        TcpFlags {
            fin: b & 0x01 != 0,
            syn: b & 0x02 != 0,
            rst: b & 0x04 != 0,
            ack: b & 0x10 != 0,
        }
    }

    /// Whether this segment may start a new connection (`SYN` without `RST`).
    pub const fn starts_conn(self) -> bool {
        self.syn && !self.rst
    }

    /// `is_new_conn()`: a SYN without ACK, FIN or RST (used by conn reuse).
    pub const fn is_pure_syn(self) -> bool {
        self.syn && !self.ack && !self.fin && !self.rst
    }
}

/// SCTP chunk classes the state machine distinguishes (`IP_VS_SCTP_*` events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SctpEvent {
    /// DATA, SACK, HEARTBEAT(-ACK), ECN chunks and unknown types.
    Data = 0,
    /// INIT.
    Init = 1,
    /// INIT ACK.
    InitAck = 2,
    /// COOKIE ECHO.
    CookieEcho = 3,
    /// COOKIE ACK.
    CookieAck = 4,
    /// SHUTDOWN.
    Shutdown = 5,
    /// SHUTDOWN ACK.
    ShutdownAck = 6,
    /// SHUTDOWN COMPLETE.
    ShutdownComplete = 7,
    /// ERROR.
    Error = 8,
    /// ABORT.
    Abort = 9,
}

impl SctpEvent {
    /// The event of an SCTP chunk type number.
    pub const fn from_chunk_type(t: u8) -> SctpEvent {
        match t {
            1 => SctpEvent::Init,
            2 => SctpEvent::InitAck,
            6 => SctpEvent::Abort,
            7 => SctpEvent::Shutdown,
            8 => SctpEvent::ShutdownAck,
            9 => SctpEvent::Error,
            10 => SctpEvent::CookieEcho,
            11 => SctpEvent::CookieAck,
            14 => SctpEvent::ShutdownComplete,
            _ => SctpEvent::Data,
        }
    }
}

/// What a packet carries, as far as the state machines care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A TCP segment with these flags.
    Tcp(TcpFlags),
    /// A UDP datagram.
    Udp,
    /// An SCTP packet whose first (state-deciding) chunk is this.
    Sctp(SctpEvent),
}

impl Segment {
    /// The protocol of the segment.
    pub const fn protocol(self) -> Protocol {
        match self {
            Segment::Tcp(_) => Protocol::Tcp,
            Segment::Udp => Protocol::Udp,
            Segment::Sctp(_) => Protocol::Sctp,
        }
    }
}

/// TCP state numbers (`IP_VS_TCP_S_*`).
pub mod tcp {
    /// NONE.
    pub const NONE: u8 = 0;
    /// ESTABLISHED.
    pub const ESTABLISHED: u8 = 1;
    /// SYN_SENT.
    pub const SYN_SENT: u8 = 2;
    /// SYN_RECV.
    pub const SYN_RECV: u8 = 3;
    /// FIN_WAIT.
    pub const FIN_WAIT: u8 = 4;
    /// TIME_WAIT.
    pub const TIME_WAIT: u8 = 5;
    /// CLOSE.
    pub const CLOSE: u8 = 6;
    /// CLOSE_WAIT.
    pub const CLOSE_WAIT: u8 = 7;
    /// LAST_ACK.
    pub const LAST_ACK: u8 = 8;
    /// LISTEN.
    pub const LISTEN: u8 = 9;
    /// SYNACK.
    pub const SYNACK: u8 = 10;
    /// Number of TCP states.
    pub const COUNT: usize = 11;

    /// Names as `ipvsadm -Lc` prints them.
    pub const NAMES: [&str; COUNT] = [
        "NONE",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "SYNACK",
    ];

    /// Default timeouts in seconds.
    pub const TIMEOUTS: [u32; COUNT] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];

    /// States that count as active connections.
    pub const fn is_active(s: u8) -> bool {
        matches!(s, ESTABLISHED | SYN_SENT | SYN_RECV | SYNACK)
    }

    const ES: u8 = ESTABLISHED;
    const SS: u8 = SYN_SENT;
    const SR: u8 = SYN_RECV;
    const FW: u8 = FIN_WAIT;
    const TW: u8 = TIME_WAIT;
    const CL: u8 = CLOSE;
    const CW: u8 = CLOSE_WAIT;
    const LA: u8 = LAST_ACK;
    const LI: u8 = LISTEN;

    /// Transition tables `[table][class][state]`: tables INPUT, OUTPUT, INPUT-ONLY;
    /// classes syn, fin, ack, rst (reference §2.4).
    pub(crate) const TABLE: [[[u8; COUNT]; 4]; 3] = [
        // INPUT
        [
            [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
            [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
            [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
            [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
        ],
        // OUTPUT
        [
            [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
            [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
            [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
            [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
        ],
        // INPUT-ONLY
        [
            [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
            [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
            [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
            [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
        ],
    ];
}

/// UDP's single state.
pub mod udp {
    /// The one UDP state (`UDP` in listings).
    pub const NORMAL: u8 = 0;
    /// Default timeout in seconds.
    pub const TIMEOUT: u32 = 300;
}

/// SCTP state numbers (`IP_VS_SCTP_S_*`).
pub mod sctp {
    /// NONE.
    pub const NONE: u8 = 0;
    /// ESTABLISHED.
    pub const ESTABLISHED: u8 = 8;
    /// CLOSED.
    pub const CLOSED: u8 = 13;
    /// Number of SCTP states.
    pub const COUNT: usize = 14;

    /// Names as `ipvsadm -Lc` prints them.
    pub const NAMES: [&str; COUNT] = [
        "NONE",
        "INIT1",
        "INIT",
        "C-SENT",
        "C-REPLIED",
        "C-WAIT",
        "COOKIE",
        "C-ECHOED",
        "ESTABLISHED",
        "S-SENT",
        "S-RECEIVED",
        "S-ACK-SENT",
        "REJECTED",
        "CLOSED",
    ];

    /// Default timeouts in seconds (max RTO 61 s for handshake and shutdown states).
    pub const TIMEOUTS: [u32; COUNT] = [2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61];

    const I1: u8 = 1;
    const IN: u8 = 2;
    const CS: u8 = 3;
    const CR: u8 = 4;
    const CW: u8 = 5;
    const CO: u8 = 6;
    const CE: u8 = 7;
    const ES: u8 = 8;
    const SS: u8 = 9;
    const SR: u8 = 10;
    const SA: u8 = 11;
    const RJ: u8 = 12;
    const CL: u8 = 13;

    /// Transition tables `[table][event][state]`: INPUT, OUTPUT, INPUT-ONLY; events in
    /// [`super::SctpEvent`] order.
    pub(crate) const TABLE: [[[u8; COUNT]; 10]; 3] = [
        // INPUT
        [
            [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
            [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
            [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
            [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
            [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
            [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
            [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
            [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
        ],
        // OUTPUT
        [
            [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
            [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
            [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
            [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
            [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
            [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        ],
        // INPUT-ONLY
        [
            [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
            [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
            [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
            [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
            [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
            [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
            [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
            [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
            [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
        ],
    ];
}

/// Per-protocol, per-state timeouts in seconds; `--set` changes three of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP timeouts indexed by state.
    pub tcp: [u32; tcp::COUNT],
    /// UDP timeout.
    pub udp: u32,
    /// SCTP timeouts indexed by state.
    pub sctp: [u32; sctp::COUNT],
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp: tcp::TIMEOUTS,
            udp: udp::TIMEOUT,
            sctp: sctp::TIMEOUTS,
        }
    }
}

impl Timeouts {
    /// `--set tcp tcpfin udp`: non-zero values replace ESTABLISHED, FIN_WAIT and UDP.
    pub fn set(&mut self, tcp_es: u32, tcp_fin: u32, udp: u32) {
        if tcp_es != 0 {
            self.tcp[tcp::ESTABLISHED as usize] = tcp_es;
        }
        if tcp_fin != 0 {
            self.tcp[tcp::FIN_WAIT as usize] = tcp_fin;
        }
        if udp != 0 {
            self.udp = udp;
        }
    }

    /// The three values `--timeout` prints: TCP ESTABLISHED, TCP FIN_WAIT, UDP.
    pub fn shown(&self) -> (u32, u32, u32) {
        (
            self.tcp[tcp::ESTABLISHED as usize],
            self.tcp[tcp::FIN_WAIT as usize],
            self.udp,
        )
    }

    /// The timeout of `state` for `proto`, in seconds.
    pub fn get(&self, proto: Protocol, state: u8) -> u32 {
        match proto {
            Protocol::Tcp => self.tcp.get(state as usize).copied().unwrap_or(2),
            Protocol::Udp => self.udp,
            Protocol::Sctp => self.sctp.get(state as usize).copied().unwrap_or(2),
        }
    }
}

/// The next state for a packet, given whether the conn is still input-only (NOOUTPUT).
/// Returns `(next_state, still_input_only)`.
pub fn next_state(seg: Segment, dir: Direction, state: u8, input_only: bool) -> (u8, bool) {
    // An output packet ends input-only mode; input packets of an input-only conn use
    // the INPUT-ONLY table.
    let (table, input_only) = match (dir, input_only) {
        (Direction::Output, _) => (1, false),
        (Direction::Input, true) => (2, true),
        (Direction::Input, false) => (0, false),
    };
    let next = match seg {
        Segment::Tcp(f) => {
            let class = if f.rst {
                3
            } else if f.syn {
                0
            } else if f.fin {
                1
            } else if f.ack {
                2
            } else {
                // A segment with none of S/F/A/R moves the conn to CLOSE.
                return (tcp::CLOSE, input_only);
            };
            tcp::TABLE[table][class]
                .get(state as usize)
                .copied()
                .unwrap_or(tcp::CLOSE)
        }
        Segment::Udp => udp::NORMAL,
        Segment::Sctp(ev) => sctp::TABLE[table][ev as usize]
            .get(state as usize)
            .copied()
            .unwrap_or(sctp::CLOSED),
    };
    (next, input_only)
}

/// Whether `state` of `proto` counts as an active connection.
pub fn is_active(proto: Protocol, state: u8) -> bool {
    match proto {
        Protocol::Tcp => tcp::is_active(state),
        Protocol::Udp => false,
        Protocol::Sctp => state == sctp::ESTABLISHED,
    }
}

/// The state name `ipvsadm -Lc` prints.
pub fn state_name(proto: Protocol, state: u8) -> &'static str {
    match proto {
        Protocol::Tcp => tcp::NAMES.get(state as usize).copied().unwrap_or("ERR!"),
        Protocol::Udp => "UDP",
        Protocol::Sctp => sctp::NAMES.get(state as usize).copied().unwrap_or("ERR!"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcp::*;

    fn run(dir_flags: &[(Direction, TcpFlags)], input_only: bool) -> Vec<&'static str> {
        let mut s = NONE;
        let mut io = input_only;
        dir_flags
            .iter()
            .map(|&(d, f)| {
                (s, io) = next_state(Segment::Tcp(f), d, s, io);
                NAMES[s as usize]
            })
            .collect()
    }

    #[test]
    fn nat_lifecycle() {
        use Direction::*;
        let got = run(
            &[
                (Input, TcpFlags::SYN),
                (Output, TcpFlags::SYN_ACK),
                (Input, TcpFlags::ACK),
                (Input, TcpFlags::FIN_ACK),
                (Output, TcpFlags::FIN_ACK),
                (Input, TcpFlags::ACK),
            ],
            false,
        );
        assert_eq!(
            got,
            [
                "SYN_RECV",
                "SYN_RECV",
                "ESTABLISHED",
                "CLOSE_WAIT",
                "TIME_WAIT",
                "TIME_WAIT"
            ]
        );
    }

    #[test]
    fn dr_lifecycle_uses_input_only_table() {
        use Direction::*;
        let got = run(
            &[
                (Input, TcpFlags::SYN),
                (Input, TcpFlags::ACK),
                (Input, TcpFlags::FIN_ACK),
                (Input, TcpFlags::RST),
            ],
            true,
        );
        assert_eq!(got, ["SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE"]);
    }

    #[test]
    fn flagless_segment_closes() {
        let (s, _) = next_state(
            Segment::Tcp(TcpFlags::default()),
            Direction::Input,
            ESTABLISHED,
            false,
        );
        assert_eq!(s, CLOSE);
    }

    #[test]
    fn output_clears_input_only() {
        let (_, io) = next_state(
            Segment::Tcp(TcpFlags::ACK),
            Direction::Output,
            ESTABLISHED,
            true,
        );
        assert!(!io);
    }

    #[test]
    fn sctp_handshake_and_shutdown() {
        use Direction::*;
        let steps = [
            (Input, SctpEvent::Init, "INIT1"),
            (Output, SctpEvent::InitAck, "C-SENT"),
            (Input, SctpEvent::CookieEcho, "C-REPLIED"),
            (Output, SctpEvent::CookieAck, "ESTABLISHED"),
            (Input, SctpEvent::Data, "ESTABLISHED"),
            (Input, SctpEvent::Shutdown, "S-RECEIVED"),
            (Output, SctpEvent::ShutdownAck, "S-ACK-SENT"),
            (Input, SctpEvent::ShutdownComplete, "CLOSED"),
        ];
        let mut s = sctp::NONE;
        for (d, ev, want) in steps {
            (s, _) = next_state(Segment::Sctp(ev), d, s, false);
            assert_eq!(state_name(Protocol::Sctp, s), want, "{ev:?}");
        }
        assert!(!super::is_active(Protocol::Sctp, s));
    }

    #[test]
    fn set_timeouts_keeps_zero_fields() {
        let mut t = Timeouts::default();
        t.set(0, 30, 0);
        assert_eq!(t.shown(), (900, 30, 300));
    }
}
