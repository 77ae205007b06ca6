//! The per-instance VRRP state machine, sans-IO: events in ([`Input`]), actions out
//! ([`Action`]), timers as one deadline ([`Machine::deadline`]). Time is milliseconds on
//! the caller's monotonic clock.
//!
//! Follows RFC 3768 / RFC 5798 as keepalived 2.2.7 implements them (`vrrp.c`:
//! `vrrp_state_backup`, `vrrp_state_master_rx`, `vrrp_check_packet`): a backup restarts its
//! Master_Down timer on adverts of equal or higher priority (or any priority with
//! nopreempt, or while a preempt_delay runs), a master yields to a higher priority or an
//! equal priority from a higher address and answers a lower priority with an advert of
//! its own; priority 0 makes a backup wait only Skew_Time.

use std::net::IpAddr;

use crate::packet::{Advert, Auth};

/// Milliseconds on the driver's monotonic clock.
pub type Ms = u64;

/// VRRP states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started (or stopped).
    Init,
    /// Standing by.
    Backup,
    /// Holding the addresses.
    Master,
    /// Interface down or a weight-0 track failed.
    Fault,
}

impl State {
    /// keepalived's name (`MASTER`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

/// A tracked interface or script: its weight and whether `reverse` was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrackWeight {
    /// -253..253; 0 = failure means FAULT.
    pub weight: i32,
    /// keepalived's `reverse`: the adjustment goes the other way.
    pub reverse: bool,
}

/// What an instance is configured with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// Instance name (logs, notify).
    pub name: String,
    /// Virtual router id.
    pub vrid: u8,
    /// 2 or 3.
    pub version: u8,
    /// Configured priority 1..255.
    pub priority: u8,
    /// Advertisement interval, centiseconds.
    pub interval_cs: u16,
    /// v2 authentication.
    pub auth: Auth,
    /// The addresses carried in adverts.
    pub vips: Vec<IpAddr>,
    /// Preempt a lower-priority master (keepalived's default; `nopreempt` turns it off).
    pub preempt: bool,
    /// `preempt_delay`, ms.
    pub preempt_delay: Ms,
    /// Our own address: the source of our adverts, compared on equal priority.
    pub primary: IpAddr,
    /// Gratuitous ARP / NA: the second burst, ms after becoming master (0: none).
    pub garp_delay: Ms,
    /// Tracked interfaces and scripts, indexed by [`Input::Track`].
    pub tracks: Vec<TrackWeight>,
}

/// An event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Start (from Init).
    Start,
    /// An advert for our VRID, its TTL / hop limit (and unicast source) already checked.
    Advert {
        /// Source address of the IP header.
        src: IpAddr,
        /// The advert.
        advert: Advert,
    },
    /// The deadline passed.
    Timer,
    /// The instance's interface went up or down.
    Link(bool),
    /// Track `n` (index into [`Params::tracks`]) is now OK or failed.
    Track(usize, bool),
    /// The sync group moves to this state.
    Group(State),
    /// Stop: a master resigns with priority 0 and drops its addresses.
    Shutdown,
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this advert.
    Send(Advert),
    /// Put the VIPs on.
    AddVips,
    /// Take the VIPs off.
    RemoveVips,
    /// A burst of gratuitous ARPs / unsolicited NAs for every VIP.
    Garp,
    /// The state changed (log it, run the notify scripts).
    Transition {
        /// Old state.
        from: State,
        /// New state.
        to: State,
        /// Why, for the log.
        why: &'static str,
    },
    /// The instance stopped (notify_stop).
    Stopped,
    /// An advert was ignored (log it).
    Ignored {
        /// The sender.
        src: IpAddr,
        /// Why.
        why: String,
    },
}

/// One VRRP instance.
#[derive(Clone, Debug)]
pub struct Machine {
    p: Params,
    state: State,
    link_up: bool,
    tracks_ok: Vec<bool>,
    group_fault: bool,
    /// Master_Adver_Interval in cs (v3 learns it from the master).
    master_adver_cs: u16,
    down_at: Option<Ms>,
    advert_at: Option<Ms>,
    garp_at: Option<Ms>,
    preempt_at: Option<Ms>,
    master_src: Option<IpAddr>,
}

impl Machine {
    /// A machine in Init; every track starts OK and the link up.
    pub fn new(p: Params) -> Machine {
        let n = p.tracks.len();
        let cs = p.interval_cs;
        Machine {
            p,
            state: State::Init,
            link_up: true,
            tracks_ok: vec![true; n],
            group_fault: false,
            master_adver_cs: cs,
            down_at: None,
            advert_at: None,
            garp_at: None,
            preempt_at: None,
            master_src: None,
        }
    }

    /// The configuration.
    pub fn params(&self) -> &Params {
        &self.p
    }

    /// Set our own address (the driver learns it when the interface has one).
    pub fn set_primary(&mut self, addr: IpAddr) {
        self.p.primary = addr;
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Where the last accepted advert came from (the master, as far as we know).
    pub fn master_src(&self) -> Option<IpAddr> {
        self.master_src
    }

    /// The effective priority: the configured one plus the weights of the tracks, clamped
    /// to 1..254; an owner (255) is not altered.
    pub fn priority(&self) -> u8 {
        if self.p.priority == 255 {
            return 255;
        }
        let mut prio = i32::from(self.p.priority);
        for (t, ok) in self.p.tracks.iter().zip(&self.tracks_ok) {
            let adj = match (t.weight > 0, *ok) {
                (true, true) => t.weight,
                (false, false) => t.weight,
                _ => 0,
            };
            prio += if t.reverse { -adj } else { adj };
        }
        prio.clamp(1, 254) as u8
    }

    fn faulty(&self) -> bool {
        !self.link_up
            || self.group_fault
            || self
                .p
                .tracks
                .iter()
                .zip(&self.tracks_ok)
                .any(|(t, ok)| t.weight == 0 && !ok)
    }

    /// Skew_Time in ms: v2 `(256 − prio)/256` s, v3 `(256 − prio) × Master_Adver_Interval / 256`.
    pub fn skew(&self) -> Ms {
        let prio = u64::from(256 - u16::from(self.priority()));
        if self.p.version == 2 {
            prio * 1000 / 256
        } else {
            prio * u64::from(self.master_adver_cs) * 10 / 256
        }
    }

    /// Master_Down_Interval in ms: 3 × the (master's) advert interval + Skew_Time.
    pub fn master_down(&self) -> Ms {
        let cs = if self.p.version == 2 {
            self.p.interval_cs
        } else {
            self.master_adver_cs
        };
        3 * u64::from(cs) * 10 + self.skew()
    }

    /// The next time [`Input::Timer`] is due.
    pub fn deadline(&self) -> Option<Ms> {
        [self.down_at, self.advert_at, self.garp_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn advert(&self, priority: u8) -> Advert {
        Advert {
            version: self.p.version,
            vrid: self.p.vrid,
            priority,
            interval_cs: self.p.interval_cs,
            auth: if self.p.version == 2 {
                self.p.auth
            } else {
                Auth::None
            },
            addrs: self.p.vips.clone(),
        }
    }

    fn transition(&mut self, to: State, why: &'static str, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        out.push(Action::Transition { from, to, why });
    }

    fn become_master(&mut self, now: Ms, why: &'static str, out: &mut Vec<Action>) {
        // The advert goes first so that the old master drops the VIPs before our ARPs.
        out.push(Action::Send(self.advert(self.priority())));
        out.push(Action::AddVips);
        out.push(Action::Garp);
        self.master_adver_cs = self.p.interval_cs;
        self.down_at = None;
        self.preempt_at = None;
        self.advert_at = Some(now + u64::from(self.p.interval_cs) * 10);
        self.garp_at = (self.p.garp_delay > 0).then(|| now + self.p.garp_delay);
        self.transition(State::Master, why, out);
    }

    fn become_backup(&mut self, now: Ms, why: &'static str, out: &mut Vec<Action>) {
        if self.state == State::Master {
            out.push(Action::RemoveVips);
        }
        self.advert_at = None;
        self.garp_at = None;
        self.preempt_at = None;
        self.down_at = Some(now + self.master_down());
        self.transition(State::Backup, why, out);
    }

    fn become_fault(&mut self, why: &'static str, out: &mut Vec<Action>) {
        if self.state == State::Master {
            if self.link_up {
                out.push(Action::Send(self.advert(0)));
            }
            out.push(Action::RemoveVips);
        }
        self.advert_at = None;
        self.garp_at = None;
        self.down_at = None;
        self.preempt_at = None;
        self.master_adver_cs = self.p.interval_cs;
        self.transition(State::Fault, why, out);
    }

    /// Leave Init or Fault: master at once as the address owner, else backup.
    fn start_or_recover(&mut self, now: Ms, out: &mut Vec<Action>) {
        if self.faulty() {
            if self.state != State::Fault {
                self.become_fault("interface or track down", out);
            }
        } else if self.priority() == 255 {
            self.become_master(now, "address owner (priority 255)", out);
        } else {
            self.master_adver_cs = self.p.interval_cs;
            self.become_backup(now, "started", out);
        }
    }

    /// Why keepalived would drop `a` (`vrrp_check_packet`), if it would.
    fn check(&self, a: &Advert) -> Option<String> {
        if a.version != self.p.version {
            return Some(format!(
                "wrong version: received {}, expect {}",
                a.version, self.p.version
            ));
        }
        if self.p.version == 2 {
            let (want, got) = (self.p.auth, a.auth);
            if std::mem::discriminant(&want) != std::mem::discriminant(&got) {
                return Some("authentication type mismatch".into());
            }
            if let (Auth::Pass(w), Auth::Pass(g)) = (want, got)
                && w != g
            {
                return Some("authentication mismatch: invalid password".into());
            }
            if a.interval_cs != self.p.interval_cs {
                return Some(format!(
                    "advertisement interval mismatch: mine {} s, received {} s",
                    self.p.interval_cs / 100,
                    a.interval_cs / 100
                ));
            }
        }
        if a.priority != 0 {
            let mut mine = self.p.vips.clone();
            let mut theirs = a.addrs.clone();
            mine.sort();
            theirs.sort();
            if mine != theirs {
                return Some(format!(
                    "virtual addresses differ: received {:?}, expect {:?}",
                    a.addrs, self.p.vips
                ));
            }
        }
        None
    }

    /// Handle `input` at `now`.
    pub fn handle(&mut self, now: Ms, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Start => {
                if self.state == State::Init {
                    self.start_or_recover(now, &mut out);
                }
            }
            Input::Advert { src, advert } => self.on_advert(now, src, advert, &mut out),
            Input::Timer => self.on_timer(now, &mut out),
            Input::Link(up) => {
                self.link_up = up;
                self.recheck(now, &mut out);
            }
            Input::Track(n, ok) => {
                if let Some(t) = self.tracks_ok.get_mut(n) {
                    *t = ok;
                }
                self.recheck(now, &mut out);
            }
            Input::Group(to) => self.on_group(now, to, &mut out),
            Input::Shutdown => {
                if self.state == State::Master {
                    out.push(Action::Send(self.advert(0)));
                    out.push(Action::RemoveVips);
                }
                self.down_at = None;
                self.advert_at = None;
                self.garp_at = None;
                if self.state != State::Init {
                    self.state = State::Init;
                    out.push(Action::Stopped);
                }
            }
        }
        out
    }

    fn recheck(&mut self, now: Ms, out: &mut Vec<Action>) {
        match (self.state, self.faulty()) {
            (State::Init, _) => {}
            (State::Fault, false) => self.start_or_recover(now, out),
            (State::Fault, true) => {}
            (_, true) => self.become_fault("interface or track down", out),
            (State::Backup, false) if self.priority() == 255 => {
                self.become_master(now, "address owner (priority 255)", out)
            }
            (State::Master, false) => {
                // A new priority is announced at once.
                out.push(Action::Send(self.advert(self.priority())));
                self.advert_at = Some(now + u64::from(self.p.interval_cs) * 10);
            }
            _ => {}
        }
    }

    fn on_group(&mut self, now: Ms, to: State, out: &mut Vec<Action>) {
        match to {
            State::Fault => {
                self.group_fault = true;
                if self.state != State::Fault && self.state != State::Init {
                    self.become_fault("sync group in FAULT", out);
                }
            }
            State::Backup => {
                self.group_fault = false;
                match self.state {
                    State::Master => self.become_backup(now, "sync group in BACKUP", out),
                    State::Fault if !self.faulty() => {
                        self.become_backup(now, "sync group in BACKUP", out)
                    }
                    _ => {}
                }
            }
            State::Master => {
                if self.state == State::Backup {
                    self.become_master(now, "sync group in MASTER", out);
                }
            }
            State::Init => {}
        }
    }

    fn on_timer(&mut self, now: Ms, out: &mut Vec<Action>) {
        if self.state == State::Master {
            if self.advert_at.is_some_and(|t| t <= now) {
                out.push(Action::Send(self.advert(self.priority())));
                self.advert_at = Some(now + u64::from(self.p.interval_cs) * 10);
            }
            if self.garp_at.is_some_and(|t| t <= now) {
                self.garp_at = None;
                out.push(Action::Garp);
            }
        } else if self.state == State::Backup && self.down_at.is_some_and(|t| t <= now) {
            self.become_master(now, "no advert within Master_Down_Interval", out);
        }
    }

    fn on_advert(&mut self, now: Ms, src: IpAddr, a: Advert, out: &mut Vec<Action>) {
        if a.vrid != self.p.vrid {
            return;
        }
        if src == self.p.primary {
            return;
        }
        if let Some(why) = self.check(&a) {
            out.push(Action::Ignored { src, why });
            return;
        }
        let mine = self.priority();
        match self.state {
            State::Backup => {
                if a.priority == 0 {
                    self.down_at = Some(now + self.skew());
                    return;
                }
                let delaying = self.p.preempt_delay > 0 && self.preempt_at.is_none_or(|t| t > now);
                if !self.p.preempt || a.priority >= mine || delaying {
                    if self.p.version == 3 && a.interval_cs > 0 {
                        self.master_adver_cs = a.interval_cs;
                    }
                    self.master_src = Some(src);
                    self.down_at = Some(now + self.master_down());
                    if self.p.preempt_delay > 0 {
                        if a.priority >= mine {
                            self.preempt_at = None;
                        } else if self.preempt_at.is_none() {
                            self.preempt_at = Some(now + self.p.preempt_delay);
                        }
                    }
                } else {
                    out.push(Action::Ignored {
                        src,
                        why: format!("lower priority ({}) advert, discarding", a.priority),
                    });
                }
            }
            State::Master => {
                let higher = a.priority > mine || (a.priority == mine && src > self.p.primary);
                if a.priority == 0 {
                    out.push(Action::Send(self.advert(mine)));
                    self.advert_at = Some(now + u64::from(self.p.interval_cs) * 10);
                } else if higher {
                    if self.p.version == 3 && a.interval_cs > 0 {
                        self.master_adver_cs = a.interval_cs;
                    }
                    self.master_src = Some(src);
                    self.become_backup(now, "higher priority advert", out);
                } else {
                    // keepalived answers a lower priority at once ("forcing new election").
                    out.push(Action::Send(self.advert(mine)));
                    self.advert_at = Some(now + u64::from(self.p.interval_cs) * 10);
                }
            }
            State::Init | State::Fault => {}
        }
    }
}

/// Several instances and their sync groups: when one member of a group changes state on
/// its own, the others follow (keepalived's `vrrp_sync_group`).
#[derive(Clone, Debug, Default)]
pub struct Router {
    /// The instances.
    pub machines: Vec<Machine>,
    /// Sync groups as indexes into `machines`.
    pub groups: Vec<Vec<usize>>,
}

impl Router {
    /// Handle `input` for instance `i`; returns the actions per instance, the followers'
    /// ones after the leader's.
    pub fn handle(&mut self, i: usize, now: Ms, input: Input) -> Vec<(usize, Action)> {
        let Some(m) = self.machines.get_mut(i) else {
            return Vec::new();
        };
        let follow = !matches!(input, Input::Shutdown | Input::Group(_));
        let mut out: Vec<(usize, Action)> =
            m.handle(now, input).into_iter().map(|a| (i, a)).collect();
        if !follow {
            return out;
        }
        let moved: Vec<State> = out
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Transition { to, .. } => Some(*to),
                _ => None,
            })
            .collect();
        for to in moved {
            for g in self.groups.iter().filter(|g| g.contains(&i)) {
                for &j in g.iter().filter(|&&j| j != i) {
                    if let Some(m) = self.machines.get_mut(j) {
                        out.extend(m.handle(now, Input::Group(to)).into_iter().map(|a| (j, a)));
                    }
                }
            }
        }
        out
    }

    /// The earliest deadline of any instance, with its index.
    pub fn deadline(&self) -> Option<(Ms, usize)> {
        self.machines
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.deadline().map(|d| (d, i)))
            .min()
    }
}
