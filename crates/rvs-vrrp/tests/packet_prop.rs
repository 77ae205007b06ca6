//! Round trip of the advert codec over generated adverts, v2 and v3, IPv4 and IPv6; and
//! the fuzz corpus (fuzz/corpus/vrrp_packet) replayed through the fuzz target's body.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rvs_vrrp::packet::{Advert, Auth};

fn advert() -> impl Strategy<Value = (Advert, IpAddr, IpAddr)> {
    let v2 = (
        any::<u8>(),
        any::<u8>(),
        1u16..=255,
        any::<[u8; 8]>(),
        prop::collection::vec(any::<u32>(), 0..20),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(|(vrid, priority, secs, pass, addrs, src, auth)| {
            let a = Advert {
                version: 2,
                vrid,
                priority,
                interval_cs: secs * 100,
                auth: if auth { Auth::Pass(pass) } else { Auth::None },
                addrs: addrs
                    .into_iter()
                    .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                    .collect(),
            };
            (
                a,
                IpAddr::V4(Ipv4Addr::from(src)),
                IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            )
        });
    let v3 = (
        any::<u8>(),
        any::<u8>(),
        1u16..=0x0fff,
        prop::collection::vec(any::<u128>(), 0..10),
        any::<u128>(),
        any::<bool>(),
    )
        .prop_map(|(vrid, priority, cs, addrs, src, six)| {
            let addrs: Vec<IpAddr> = addrs
                .into_iter()
                .map(|a| {
                    if six {
                        IpAddr::V6(Ipv6Addr::from(a))
                    } else {
                        IpAddr::V4(Ipv4Addr::from(a as u32))
                    }
                })
                .collect();
            let (s, d) = if six {
                (
                    IpAddr::V6(Ipv6Addr::from(src)),
                    IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
                )
            } else {
                (
                    IpAddr::V4(Ipv4Addr::from(src as u32)),
                    IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
                )
            };
            let a = Advert {
                version: 3,
                vrid,
                priority,
                interval_cs: cs,
                auth: Auth::None,
                addrs,
            };
            (a, s, d)
        });
    prop_oneof![v2, v3]
}

proptest! {
    #[test]
    fn round_trip((a, src, dst) in advert()) {
        let bytes = a.encode(src, dst).unwrap();
        prop_assert_eq!(Advert::decode(&bytes, src, dst), Ok(a));
    }

    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        rvs_vrrp::packet::exercise(&bytes);
    }
}

#[test]
fn fuzz_corpus_replays() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/vrrp_packet");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        rvs_vrrp::packet::exercise(&bytes);
        n += 1;
    }
    assert!(n >= 3, "{n} corpus files");
}
