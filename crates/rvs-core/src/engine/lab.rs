//! A standard two-network director topology shared by tests, fuzz targets, benchmarks and
//! the golden fixtures (documented in `tests/golden/README.md` of the `rvs` crate).
//!
//! ```text
//! clients 198.18.0.0/24, fd00::/64 ── ext (02:00:00:00:00:01, .1 / ::1)
//!                                       director
//! servers 198.18.1.0/24, fd00:1::/64 ── int (02:00:00:00:00:02, .1 / ::1)
//! ```
//! Every client address (198.18.0.2–254, fd00::2–ff) has MAC 02:00:00:00:00:10; server
//! address `x.x.x.N` / `…::N` (N = 2–254) has MAC 02:00:00:00:01:NN. A default route
//! leads to 198.18.0.254 / fd00::fe on `ext`.
//!
//! [`kitchen_sink`] puts a service of every kind on it; [`fuzz`] is the engine's fuzz
//! harness over that director.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Engine, IfaceId, Interface, Mac, Neighbours};
use crate::director::Director;
use crate::rng::SplitMix64;
use crate::settings::Settings;

pub mod fuzz;
mod kitchen;

pub use fuzz::{Harness, fuzz_frames};
pub use kitchen::{
    FWMARK, FWMARK_VIP4, LIP4, LIP4_SVC, LIP6, START, SinkService, VIP4, VIP6, kitchen_sink,
    sink_commands, sink_services, try_kitchen_sink,
};

/// The client side's interface.
pub const EXT: IfaceId = IfaceId(0);
/// The server side's interface.
pub const INT: IfaceId = IfaceId(1);
/// MAC of `ext`.
pub const EXT_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
/// MAC of `int`.
pub const INT_MAC: Mac = [0x02, 0, 0, 0, 0, 0x02];
/// MAC of every client (and of the default gateway).
pub const CLIENT_MAC: Mac = [0x02, 0, 0, 0, 0, 0x10];

/// MAC of a server address: 02:00:00:00:01:<last byte>.
pub fn server_mac(addr: &IpAddr) -> Mac {
    let last = match addr {
        IpAddr::V4(v) => v.octets()[3],
        IpAddr::V6(v) => v.octets()[15],
    };
    [0x02, 0, 0, 0, 0x01, last]
}

/// An engine on this topology with no services: default settings, connection-hash seed 1
/// and a fixed random generator, so runs repeat exactly.
pub fn engine() -> Engine {
    let d = Director::new(Settings::default(), 1, Box::new(SplitMix64(1)));
    let mut e = Engine::new(d);
    configure(&mut e);
    e
}

/// Add the two interfaces and the default routes to `engine`.
pub fn configure(engine: &mut Engine) {
    let ext = engine.routes.add_interface(Interface {
        name: "ext".into(),
        mac: EXT_MAC,
        mtu: 1500,
        v4: vec![(Ipv4Addr::new(198, 18, 0, 1), 24)],
        v6: vec![(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1), 64)],
    });
    engine.routes.add_interface(Interface {
        name: "int".into(),
        mac: INT_MAC,
        mtu: 1500,
        v4: vec![(Ipv4Addr::new(198, 18, 1, 1), 24)],
        v6: vec![(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1), 64)],
    });
    // Both routes are well-formed; an error here would be a bug in Routes.
    let _ = engine.routes.add_route(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        0,
        ext,
        Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 254))),
    );
    let _ = engine.routes.add_route(
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        0,
        ext,
        Some(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xfe))),
    );
}

/// The neighbours of the lab: clients and servers by the rule above.
#[derive(Clone, Copy, Debug, Default)]
pub struct LabNeighbours;

impl Neighbours for LabNeighbours {
    fn generation(&self) -> Option<u64> {
        // A fixed rule: answers never change.
        Some(0)
    }

    fn mac(&self, iface: IfaceId, addr: &IpAddr) -> Option<Mac> {
        let (net, last) = match addr {
            IpAddr::V4(v) => {
                let o = v.octets();
                (
                    match (o[0], o[1], o[2]) {
                        (198, 18, 0) => 0,
                        (198, 18, 1) => 1,
                        _ => return None,
                    },
                    o[3],
                )
            }
            IpAddr::V6(v) => {
                let s = v.segments();
                if s[0] != 0xfd00 || s[2..7] != [0, 0, 0, 0, 0] || s[7] > 0xff {
                    return None;
                }
                (
                    match s[1] {
                        0 => 0,
                        1 => 1,
                        _ => return None,
                    },
                    s[7] as u8,
                )
            }
        };
        if !(2..=254).contains(&last) || iface.0 != net {
            return None;
        }
        Some(if net == 0 {
            CLIENT_MAC
        } else {
            server_mac(addr)
        })
    }
}
