//! Real servers ("dests" in IPVS code) and the arena that owns them.

use std::fmt;
use std::net::IpAddr;

use crate::addr::Af;
use crate::service::ServiceId;
use crate::settings::Compat;
use crate::slab::{Id, Slab};
use crate::stats::Stats;
use crate::time::Time;

/// Handle of a dest in the [`DestArena`] (generation-checked).
pub type DestId = Id<Dest>;

/// Owner of every dest, linked or in the trash.
pub type DestArena = Slab<Dest>;

/// How a dest is reached (ipvsadm `-m`, `-g`, `-i`, and rvs's `--fullnat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FwdMethod {
    /// NAT (`-m`, IPVS code 0).
    Masq,
    /// Local node (IPVS code 1; only shown, never configured).
    Local,
    /// IP-in-IP tunnel (`-i`, code 2).
    Tunnel,
    /// Direct routing (`-g`, code 3, the ipvsadm default).
    Route,
    /// Full NAT, an rvs extension as in DPVS: source and destination rewritten (code 5).
    FullNat,
}

impl FwdMethod {
    /// The IPVS connection-flag code (`IP_VS_CONN_F_FWD_MASK` bits); FULLNAT uses 5.
    pub const fn code(self) -> u32 {
        match self {
            FwdMethod::Masq => 0,
            FwdMethod::Local => 1,
            FwdMethod::Tunnel => 2,
            FwdMethod::Route => 3,
            FwdMethod::FullNat => 5,
        }
    }

    /// Name in `ipvsadm -L` listings (`Masq`, `Local`, `Tunnel`, `Route`, `FullNat`).
    pub const fn list_name(self) -> &'static str {
        match self {
            FwdMethod::Masq => "Masq",
            FwdMethod::Local => "Local",
            FwdMethod::Tunnel => "Tunnel",
            FwdMethod::Route => "Route",
            FwdMethod::FullNat => "FullNat",
        }
    }

    /// The ipvsadm option that selects this method in `-S` output.
    pub const fn save_flag(self) -> &'static str {
        match self {
            FwdMethod::Masq => "-m",
            FwdMethod::Local | FwdMethod::Route => "-g",
            FwdMethod::Tunnel => "-i",
            FwdMethod::FullNat => "--fullnat",
        }
    }

    /// Whether replies come back through the director (NAT and FULLNAT).
    pub const fn sees_replies(self) -> bool {
        matches!(self, FwdMethod::Masq | FwdMethod::FullNat)
    }
}

/// Tunnel encapsulation type (`--tun-type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunType {
    /// IP in IP (default).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation; needs a port.
    Gue,
    /// GRE.
    Gre,
}

/// Tunnel checksum option (`--tun-nocsum`, `--tun-csum`, `--tun-remcsum`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunCsum {
    /// No checksum (default).
    #[default]
    NoCsum,
    /// Checksum.
    Csum,
    /// Remote checksum offload (GUE only).
    RemCsum,
}

/// Tunnel options of a dest; only meaningful for [`FwdMethod::Tunnel`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TunConfig {
    /// Encapsulation.
    pub kind: TunType,
    /// UDP port for GUE (0 when unset).
    pub port: u16,
    /// Checksum mode.
    pub csum: TunCsum,
}

impl fmt::Display for TunConfig {
    /// As `--tun-info` prints it: `ipip`, `gue:<port>:<-c|+c|r+c>`, `gre:<-c|+c>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = match self.csum {
            TunCsum::NoCsum => "-c",
            TunCsum::Csum => "+c",
            TunCsum::RemCsum => "r+c",
        };
        match self.kind {
            TunType::Ipip => f.write_str("ipip"),
            TunType::Gue => write!(f, "gue:{}:{c}", self.port),
            TunType::Gre => write!(f, "gre:{c}"),
        }
    }
}

/// A real server of one service.
///
/// `repr(C)` with the fields every scheduler reads first (weight, flags, connection
/// counts, and the field whose niche holds `Option<Dest>`'s tag) in the first 32 bytes,
/// so a scheduler scanning 1,000 dests touches as few cache lines as possible.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Dest {
    /// Current weight, 0..=65535; 0 = quiescent.
    pub weight: i32,
    /// Connections in an active state.
    pub activeconns: u32,
    /// Connections not in an active state.
    pub inactconns: u32,
    /// Over its upper threshold (IP_VS_DEST_F_OVERLOAD).
    pub overload: bool,
    /// Linked in its service (IP_VS_DEST_F_AVAILABLE); false while in the trash.
    pub available: bool,
    /// Real server port (0 = the packet's destination port, fwmark services).
    pub port: u16,
    /// When the dest was moved to the trash (kept near the hot fields: `Option<Dest>`
    /// stores its discriminant in this field's niche, which every scan checks).
    pub trashed_at: Option<Time>,
    /// Last non-zero weight (the initial weight on add); only `mh` reads it.
    pub last_weight: i32,
    /// Persistence templates bound to this dest.
    pub persistconns: u32,
    /// Real server address (its family may differ from the service's only for tunnels).
    pub addr: IpAddr,
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// Upper connection threshold (0 = off).
    pub u_threshold: u32,
    /// Lower connection threshold (0 = off).
    pub l_threshold: u32,
    /// The service this dest belongs to.
    pub svc: ServiceId,
    /// Connections and templates referring to this dest (keeps it in the trash).
    pub refcnt: u32,
    /// Tunnel options.
    pub tun: TunConfig,
    /// Counters and rates (boxed: cold for the schedulers, which scan dests).
    pub stats: Box<Stats>,
}

impl Dest {
    /// Address family of the real server.
    pub fn af(&self) -> Af {
        Af::of(&self.addr)
    }

    /// Eligible for new connections by the common rule: weight > 0 and not OVERLOAD.
    pub fn is_eligible(&self) -> bool {
        self.weight > 0 && !self.overload
    }

    /// The load measure used by lc, wlc, lblc, lblcr and twos (reference §2.1).
    pub fn overhead(&self, compat: Compat) -> u64 {
        let a = u64::from(self.activeconns);
        let i = u64::from(self.inactconns);
        match compat {
            Compat::Classic => (a << 8) + i,
            Compat::Modern => (a << 8) + a + i,
        }
    }

    /// Connections counted against the thresholds (templates excluded).
    pub fn conns(&self) -> u32 {
        self.activeconns + self.inactconns
    }
}
