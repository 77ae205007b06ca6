//! The engine's fuzz harness, shared by the `engine_process` fuzz target and the replay
//! test of its corpus (`tests/engine_corpus.rs`).
//!
//! An input is a sequence of records, each `CTRL LEN_HI LEN_LO BYTES…` (the last record's
//! bytes are cut at the end of the input; a trailing record shorter than 3 bytes is
//! ignored). Every record is one frame processed, in order, by one [`kitchen_sink`]
//! engine, so connections, FULLNAT ports and expiry carry from frame to frame. `CTRL`:
//!
//! - bit 0 ([`CTRL_INT`]): the frame arrives on `int` (else `ext`);
//! - bit 1 ([`CTRL_TIGHT`]): the frame fills its buffer exactly — no headroom, no
//!   tailroom — instead of [`HEADROOM`] before it and 2048 bytes after it;
//! - bits 2–4 × the unit of bits 5–7 (1 ms, 100 ms, 1 s, 10 s, 1 min, 5 min, 15 min, 1 h):
//!   how far time moves forward before the frame ([`ctrl_delay`]).
//!
//! An empty frame only moves time ([`Engine::advance`]). After each frame the harness
//! panics if an invariant does not hold:
//!
//! - a transmitted frame (`Transmit` or `Unresolved`) parses with
//!   [`parse_frame`]; its source MAC is the egress interface's; its destination MAC is
//!   the next hop's (`Transmit`) or zero (`Unresolved`, and the next hop is indeed
//!   unknown);
//! - `Pass` leaves the frame's bytes unchanged;
//! - the frame lies inside its buffer;
//! - counters add up: `rx == tx + unresolved + passed + dropped`, one more frame each time;
//! - FULLNAT keeps no more port allocations than there are connections.

use crate::engine::{Engine, Frame, HEADROOM, Neighbours, Verdict};
use crate::time::{Dur, Time};
use crate::wire::parse_frame;

use super::{EXT, INT, LabNeighbours, kitchen_sink};

/// `CTRL` bit: the frame arrives on `int`.
pub const CTRL_INT: u8 = 0x01;
/// `CTRL` bit: the frame fills its buffer exactly.
pub const CTRL_TIGHT: u8 = 0x02;
/// Bytes after the frame in its buffer unless [`CTRL_TIGHT`].
pub const TAILROOM: usize = 2048;
/// At most this many records of an input are processed.
pub const MAX_FRAMES: usize = 256;
/// The FULLNAT port range of the harness engine: small, so that fuzzing exhausts it.
pub const PORT_RANGE: (u16, u16) = (40000, 40007);

const UNITS_MS: [u64; 8] = [1, 100, 1000, 10_000, 60_000, 300_000, 900_000, 3_600_000];

/// How far time moves forward before a frame with this `CTRL`.
pub fn ctrl_delay(ctrl: u8) -> Dur {
    let mult = u64::from((ctrl >> 2) & 7);
    Dur(mult * UNITS_MS[usize::from(ctrl >> 5)])
}

/// The `CTRL` byte for a frame on `int` or `ext`, roomy, after about `delay_ms`
/// (rounded down to what the encoding can say; at most 7 h).
pub fn ctrl_for(int: bool, delay_ms: u64) -> u8 {
    let mut ctrl = u8::from(int);
    for (unit, ms) in UNITS_MS.iter().enumerate().rev() {
        let mult = (delay_ms / ms).min(7);
        if mult > 0 {
            // unit < 8 and mult < 8: both fit their bits.
            ctrl |= ((unit as u8) << 5) | ((mult as u8) << 2);
            break;
        }
    }
    ctrl
}

/// Encode records `(CTRL, frame)` as a harness input.
pub fn encode(records: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ctrl, frame) in records {
        let len = frame.len().min(usize::from(u16::MAX));
        out.push(*ctrl);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&frame[..len]);
    }
    out
}

/// Decode a harness input into its records `(CTRL, frame)` (at most [`MAX_FRAMES`]).
pub fn decode(mut data: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 3 && out.len() < MAX_FRAMES {
        let ctrl = data[0];
        let len = usize::from(u16::from_be_bytes([data[1], data[2]]));
        let rest = &data[3..];
        let n = len.min(rest.len());
        out.push((ctrl, &rest[..n]));
        data = &rest[n..];
    }
    out
}

/// The harness: a kitchen-sink engine, a clock and the lab's neighbours.
#[derive(Debug)]
pub struct Harness {
    /// The engine under test.
    pub engine: Engine,
    /// The current time.
    pub now: Time,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A fresh [`kitchen_sink`] engine with the FULLNAT ports narrowed to [`PORT_RANGE`].
    pub fn new() -> Self {
        let mut engine = kitchen_sink();
        engine.fullnat.set_port_range(PORT_RANGE.0, PORT_RANGE.1);
        Harness {
            engine,
            now: super::START,
        }
    }

    /// Process one record and check the invariants (panics if one fails). Returns the
    /// verdict and the frame's bytes afterwards, or `None` for an empty frame (time only).
    pub fn step(&mut self, ctrl: u8, frame: &[u8]) -> Option<(Verdict, Vec<u8>)> {
        self.now = Time(self.now.0.saturating_add(ctrl_delay(ctrl).0));
        if frame.is_empty() {
            self.engine.advance(self.now);
            self.check_state();
            return None;
        }
        let ingress = if ctrl & CTRL_INT != 0 { INT } else { EXT };
        let (start, cap) = if ctrl & CTRL_TIGHT != 0 {
            (0, frame.len())
        } else {
            (HEADROOM, HEADROOM + frame.len() + TAILROOM)
        };
        let mut buf = vec![0u8; cap];
        buf[start..start + frame.len()].copy_from_slice(frame);
        let rx = self.engine.counters.rx;
        let (v, out) = {
            let mut f = match Frame::new(&mut buf, start, frame.len()) {
                Ok(f) => f,
                Err(e) => panic!("harness frame refused: {e}"),
            };
            let v = self
                .engine
                .process(&mut f, ingress, self.now, &LabNeighbours);
            assert!(
                f.start() + f.len() <= cap,
                "frame outside its buffer: start {} len {} buffer {cap}",
                f.start(),
                f.len()
            );
            (v, f.data().to_vec())
        };
        match v {
            Verdict::Transmit {
                egress, next_hop, ..
            }
            | Verdict::Unresolved {
                egress, next_hop, ..
            } => {
                if let Err(e) = parse_frame(&out) {
                    panic!("{v}: output does not parse ({e}): {out:02x?}");
                }
                let mac = self.engine.routes.iface(egress).map(|i| i.mac);
                assert_eq!(
                    mac.as_ref().map(|m| &m[..]),
                    out.get(6..12),
                    "{v}: source MAC is not the egress interface's"
                );
                let known = LabNeighbours.mac(egress, &next_hop);
                if matches!(v, Verdict::Transmit { .. }) {
                    assert_eq!(
                        known.as_ref().map(|m| &m[..]),
                        out.get(0..6),
                        "{v}: destination MAC is not the next hop's"
                    );
                } else {
                    assert_eq!(known, None, "{v}: the next hop is known");
                    assert_eq!(out.get(0..6), Some(&[0u8; 6][..]), "{v}: MAC not zero");
                }
            }
            Verdict::Pass(_) => assert_eq!(out, frame, "{v}: passed frame was changed"),
            Verdict::Drop(_) => {}
        }
        assert_eq!(self.engine.counters.rx, rx + 1, "rx counts every frame");
        self.check_state();
        Some((v, out))
    }

    fn check_state(&self) {
        let c = &self.engine.counters;
        assert_eq!(
            c.rx,
            c.tx + c.unresolved + c.passed + c.dropped_total(),
            "counters do not add up: {c:?}"
        );
        assert!(
            self.engine.fullnat.len() <= self.engine.director.conns.len(),
            "{} FULLNAT allocations for {} connections",
            self.engine.fullnat.len(),
            self.engine.director.conns.len()
        );
    }
}

/// Run a harness input (see the module documentation) through a fresh harness, checking
/// every invariant after every frame; panics on a violation.
pub fn fuzz_frames(data: &[u8]) {
    let mut h = Harness::new();
    for (ctrl, frame) in decode(data) {
        h.step(ctrl, frame);
    }
}
