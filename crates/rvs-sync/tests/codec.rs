//! The sync codec against hand-built kernel layouts (`ip_vs_sync.c`), and round trips.

use std::net::IpAddr;

use proptest::prelude::*;
use rvs_sync::wire::{
    self, DecodeError, MessageBuilder, OPT_RVS_FULLNAT, Seq, SeqData, SkipReason, SyncConn, Version,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn dr_conn() -> SyncConn {
    SyncConn {
        protocol: 6,
        // DR | NOOUTPUT | HASHED: HASHED is never sent.
        flags: 0xc3,
        state: 1,
        cport: 40000,
        vport: 80,
        dport: 8080,
        fwmark: 0,
        timeout: 900,
        caddr: ip("198.18.2.1"),
        vaddr: ip("198.18.0.100"),
        daddr: ip("198.18.1.11"),
        seq: None,
        pe_data: None,
        pe_name: None,
        fullnat: None,
    }
}

/// One IPv4 entry, syncid 7: the kernel's `ip_vs_sync_mesg` + `ip_vs_sync_v4`.
const GOLDEN_V1_V4: [u8; 44] = [
    0x00, 0x07, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00, // reserved, syncid, size, nr, ver, spare
    0x00, 0x06, 0x00, 0x24, // type v4, TCP, ver 0 | size 36
    0x00, 0x00, 0x00, 0x83, // flags (HASHED cleared)
    0x00, 0x01, 0x9c, 0x40, // state ESTABLISHED, cport 40000
    0x00, 0x50, 0x1f, 0x90, // vport 80, dport 8080
    0x00, 0x00, 0x00, 0x00, // fwmark
    0x00, 0x00, 0x03, 0x84, // timeout 900 s
    0xc6, 0x12, 0x02, 0x01, // caddr 198.18.2.1
    0xc6, 0x12, 0x00, 0x64, // vaddr 198.18.0.100
    0xc6, 0x12, 0x01, 0x0b, // daddr 198.18.1.11
];

#[test]
fn golden_v1_ipv4_entry() {
    let mut b = MessageBuilder::new(7, 1472);
    assert!(b.push(&dr_conn()).unwrap());
    assert_eq!(b.finish(), GOLDEN_V1_V4.to_vec());
    let d = wire::decode(&GOLDEN_V1_V4).unwrap();
    assert_eq!(d.version, Version::V1);
    assert_eq!(d.syncid, 7);
    let mut want = dr_conn();
    want.flags = 0x83;
    assert_eq!(d.conns, vec![want]);
    assert!(d.skipped.is_empty() && d.dropped_rest.is_none());
}

fn pe_conn() -> SyncConn {
    SyncConn {
        protocol: 17,
        flags: 0x1000, // template, masq
        state: 0,
        cport: 0,
        vport: 5060,
        dport: 5060,
        fwmark: 0,
        timeout: 360,
        caddr: ip("198.18.2.0"),
        vaddr: ip("198.18.0.100"),
        daddr: ip("198.18.1.12"),
        seq: None,
        pe_data: Some(b"abc".to_vec()),
        pe_name: Some(b"sip".to_vec()),
        fullnat: None,
    }
}

fn v6_seq_conn() -> SyncConn {
    SyncConn {
        protocol: 6,
        flags: 0x0600, // masq, IN_SEQ | OUT_SEQ
        state: 4,
        cport: 1,
        vport: 443,
        dport: 443,
        fwmark: 9,
        timeout: 120,
        caddr: ip("fd00::2"),
        vaddr: ip("fd00::100"),
        daddr: ip("fd00:1::11"),
        seq: Some(SeqData {
            in_seq: Seq {
                init_seq: 0x01020304,
                delta: 5,
                previous_delta: 0xffff_fffe,
            },
            out_seq: Seq {
                init_seq: 0xa0b0c0d0,
                delta: 0,
                previous_delta: 7,
            },
        }),
        pe_data: None,
        pe_name: None,
        fullnat: None,
    }
}

/// Two entries: IPv4 with PE data and name (46 bytes, padded to 48), then IPv6 with
/// sequence data (98 bytes, no padding after the last).
fn golden_two() -> Vec<u8> {
    let mut m = vec![0x00, 0x00, 0x00, 0x9a, 0x02, 0x01, 0x00, 0x00];
    m.extend_from_slice(&[
        0x00, 0x11, 0x00, 0x2e, // v4, UDP, size 46
        0x00, 0x00, 0x10, 0x00, // TEMPLATE
        0x00, 0x00, 0x00, 0x00, // state 0, cport 0
        0x13, 0xc4, 0x13, 0xc4, // vport, dport 5060
        0x00, 0x00, 0x00, 0x00, // fwmark
        0x00, 0x00, 0x01, 0x68, // timeout 360
        0xc6, 0x12, 0x02, 0x00, 0xc6, 0x12, 0x00, 0x64, 0xc6, 0x12, 0x01, 0x0c, // addrs
        0x02, 0x03, b'a', b'b', b'c', // PE_DATA
        0x03, 0x03, b's', b'i', b'p', // PE_NAME
        0x00, 0x00, // padding to 4 bytes
    ]);
    m.extend_from_slice(&[
        0x01, 0x06, 0x00, 0x62, // v6, TCP, size 98
        0x00, 0x00, 0x06, 0x00, // flags
        0x00, 0x04, 0x00, 0x01, // FIN_WAIT, cport 1
        0x01, 0xbb, 0x01, 0xbb, // 443, 443
        0x00, 0x00, 0x00, 0x09, // fwmark 9
        0x00, 0x00, 0x00, 0x78, // timeout 120
    ]);
    for a in ["fd00::2", "fd00::100", "fd00:1::11"] {
        let IpAddr::V6(a) = ip(a) else { unreachable!() };
        m.extend_from_slice(&a.octets());
    }
    m.extend_from_slice(&[
        0x01, 0x18, // SEQ_DATA, 24
        0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x05, 0xff, 0xff, 0xff, 0xfe, // in
        0xa0, 0xb0, 0xc0, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // out
    ]);
    assert_eq!(m.len(), 0x9a);
    m
}

#[test]
fn golden_v1_padding_pe_ipv6_seq() {
    let want = golden_two();
    let msgs = wire::encode_v1(0, 1472, &[pe_conn(), v6_seq_conn()]).unwrap();
    assert_eq!(msgs, vec![want.clone()]);
    let d = wire::decode(&want).unwrap();
    assert_eq!(d.conns, vec![pe_conn(), v6_seq_conn()]);
}

/// A v0 message: one plain entry and one with (host-order, little-endian) sequence data.
fn golden_v0() -> Vec<u8> {
    let mut m = vec![0x02, 0x05, 0x00, 0x4c];
    m.extend_from_slice(&[
        0x00, 0x06, 0x9c, 0x40, 0x00, 0x50, 0x1f, 0x90, // reserved, TCP, cport, vport, dport
        0xc6, 0x12, 0x02, 0x01, 0xc6, 0x12, 0x00, 0x64, 0xc6, 0x12, 0x01, 0x0b, // addrs
        0x00, 0x03, 0x00, 0x01, // flags DR, state ESTABLISHED
    ]);
    m.extend_from_slice(&[
        0x00, 0x06, 0x9c, 0x41, 0x00, 0x50, 0x1f, 0x90, //
        0xc6, 0x12, 0x02, 0x01, 0xc6, 0x12, 0x00, 0x64, 0xc6, 0x12, 0x01, 0x0b, //
        0x04, 0x00, 0x00, 0x04, // flags IN_SEQ (masq), FIN_WAIT
        0x04, 0x03, 0x02, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // in (LE)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, // out (LE)
    ]);
    m
}

#[test]
fn golden_v0_decodes() {
    let d = wire::decode(&golden_v0()).unwrap();
    assert_eq!(d.version, Version::V0);
    assert_eq!(d.syncid, 5);
    assert_eq!(d.conns.len(), 2);
    let mut a = dr_conn();
    a.flags = 0x03;
    a.timeout = 0;
    assert_eq!(d.conns[0], a);
    let b = &d.conns[1];
    assert_eq!((b.cport, b.flags, b.state, b.timeout), (40001, 0x400, 4, 0));
    let s = b.seq.unwrap();
    assert_eq!(
        s.in_seq,
        Seq {
            init_seq: 0x01020304,
            delta: 5,
            previous_delta: 0
        }
    );
    assert_eq!(s.out_seq.previous_delta, 7);
}

#[test]
fn v0_truncated_sequence_drops_the_rest() {
    let mut m = golden_v0();
    m.truncate(m.len() - 4);
    let n = m.len() as u16;
    m[2..4].copy_from_slice(&n.to_be_bytes());
    let d = wire::decode(&m).unwrap();
    assert_eq!(d.conns.len(), 1);
    assert_eq!(d.dropped_rest, Some(DecodeError::EntryTruncated));
}

#[test]
fn size_and_header_rules() {
    assert_eq!(wire::decode(&[0, 0, 0]), Err(DecodeError::HeaderTooShort));
    let mut m = GOLDEN_V1_V4.to_vec();
    m.push(0);
    assert_eq!(
        wire::decode(&m),
        Err(DecodeError::SizeMismatch {
            header: 44,
            actual: 45
        })
    );
    // spare != 0: not v1, read as v0 (nr_conns = reserved byte = 0: nothing).
    let mut m = GOLDEN_V1_V4.to_vec();
    m[7] = 1;
    let d = wire::decode(&m).unwrap();
    assert_eq!((d.version, d.conns.len()), (Version::V0, 0));
}

fn with_param(ptype: u8, data: &[u8]) -> Vec<u8> {
    let mut m = GOLDEN_V1_V4.to_vec();
    m.push(ptype);
    m.push(data.len() as u8);
    m.extend_from_slice(data);
    let size = (36 + 2 + data.len()) as u16;
    m[10..12].copy_from_slice(&size.to_be_bytes());
    let total = m.len() as u16;
    m[2..4].copy_from_slice(&total.to_be_bytes());
    m
}

#[test]
fn parameter_rules() {
    // Unknown optional parameter: skipped, entry kept.
    let d = wire::decode(&with_param(0x45, &[1, 2])).unwrap();
    assert_eq!(d.conns.len(), 1);
    // Unknown mandatory parameter: entry skipped.
    let d = wire::decode(&with_param(0x05, &[1, 2])).unwrap();
    assert_eq!(
        (d.conns.len(), d.skipped.clone()),
        (0, vec![SkipReason::UnknownParam(5)])
    );
    // 0x41 is SEQ_DATA to the kernel (bit 0x40 is masked): a 2-byte one is an error.
    let d = wire::decode(&with_param(0x41, &[1, 2])).unwrap();
    assert_eq!(d.dropped_rest, Some(DecodeError::SeqParam));
    // PE data without name: skipped.
    let d = wire::decode(&with_param(0x02, b"x")).unwrap();
    assert_eq!(d.skipped, vec![SkipReason::PeDataWithoutName]);
    // PE name without data: ignored, entry kept (the kernel only reads the name with data).
    let d = wire::decode(&with_param(0x03, b"sip")).unwrap();
    assert_eq!((d.conns.len(), d.conns[0].pe_name.clone()), (1, None));
    // Zero-length parameter: rest dropped.
    let d = wire::decode(&with_param(0x45, &[])).unwrap();
    assert_eq!(d.dropped_rest, Some(DecodeError::ParamLength));
    // PE name longer than 16.
    let d = wire::decode(&with_param(0x03, &[b'a'; 17])).unwrap();
    assert_eq!(d.dropped_rest, Some(DecodeError::PeNameParam));
    // rvs FULLNAT parameter.
    let d = wire::decode(&with_param(OPT_RVS_FULLNAT, &[198, 18, 0, 2, 0x30, 0x39])).unwrap();
    assert_eq!(d.conns[0].fullnat, Some((ip("198.18.0.2"), 12345)));
    let d = wire::decode(&with_param(OPT_RVS_FULLNAT, &[198, 18, 0, 2])).unwrap();
    assert_eq!(d.skipped, vec![SkipReason::BadFullnat]);
}

#[test]
fn entry_type_and_version_rules() {
    let mut m = GOLDEN_V1_V4.to_vec();
    m[8] = 2;
    assert_eq!(
        wire::decode(&m).unwrap().dropped_rest,
        Some(DecodeError::EntryType(2))
    );
    let mut m = GOLDEN_V1_V4.to_vec();
    m[10] = 0x10;
    assert_eq!(
        wire::decode(&m).unwrap().dropped_rest,
        Some(DecodeError::EntryVersion(1))
    );
    // IPv6 type bit on a 36-byte entry: too short for the IPv6 fixed part.
    let mut m = GOLDEN_V1_V4.to_vec();
    m[8] = 1;
    assert_eq!(
        wire::decode(&m).unwrap().dropped_rest,
        Some(DecodeError::EntryTooShort)
    );
}

#[test]
fn batching_respects_maxlen() {
    let conns: Vec<SyncConn> = (0..100)
        .map(|i| {
            let mut c = dr_conn();
            c.cport = 1000 + i;
            c
        })
        .collect();
    let msgs = wire::encode_v1(1, 1472, &conns).unwrap();
    // (1472 - 8) / 36 = 40 entries per message.
    assert_eq!(
        msgs.iter().map(|m| m[4]).collect::<Vec<_>>(),
        vec![40, 40, 20]
    );
    assert!(msgs.iter().all(|m| m.len() <= 1472));
    let back: Vec<SyncConn> = msgs
        .iter()
        .flat_map(|m| wire::decode(m).unwrap().conns)
        .collect();
    assert_eq!(back.len(), 100);
    assert_eq!(back[99].cport, 1099);
    // nr_conns is one byte: never more than 255 entries in a message.
    let many: Vec<SyncConn> = (0..300).map(|_| dr_conn()).collect();
    let msgs = wire::encode_v1(1, 65_507, &many).unwrap();
    assert_eq!(msgs.iter().map(|m| m[4]).collect::<Vec<_>>(), vec![255, 45]);
}

fn arb_conn() -> impl Strategy<Value = SyncConn> {
    let v4 = any::<[u32; 4]>().prop_map(|a| a.map(|x| IpAddr::from(std::net::Ipv4Addr::from(x))));
    let v6 = any::<[u128; 4]>().prop_map(|a| a.map(|x| IpAddr::from(std::net::Ipv6Addr::from(x))));
    let addrs = prop_oneof![v4, v6];
    let seq = any::<[u32; 6]>().prop_map(|s| SeqData {
        in_seq: Seq {
            init_seq: s[0],
            delta: s[1],
            previous_delta: s[2],
        },
        out_seq: Seq {
            init_seq: s[3],
            delta: s[4],
            previous_delta: s[5],
        },
    });
    (
        (
            any::<u8>(),
            any::<u32>(),
            any::<u16>(),
            any::<[u16; 3]>(),
            any::<u32>(),
            any::<u32>(),
        ),
        addrs,
        proptest::option::of(seq),
        proptest::option::of((
            proptest::collection::vec(any::<u8>(), 1..=255),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=16)),
        )),
        proptest::option::of(any::<u16>()),
    )
        .prop_map(
            |((proto, flags, state, ports, fwmark, timeout), a, seq, pe, fnat)| {
                let (pe_data, pe_name) = match pe {
                    Some((d, n)) => (Some(d), n),
                    None => (None, None),
                };
                SyncConn {
                    protocol: proto,
                    flags: flags & !wire::flags::HASHED,
                    state,
                    cport: ports[0],
                    vport: ports[1],
                    dport: ports[2],
                    fwmark,
                    timeout,
                    caddr: a[0],
                    vaddr: a[1],
                    daddr: a[2],
                    seq,
                    pe_data,
                    pe_name,
                    fullnat: fnat.map(|p| (a[3], p)),
                }
            },
        )
}

proptest! {
    #[test]
    fn v1_round_trip(conns in proptest::collection::vec(arb_conn(), 0..60), syncid: u8,
                     maxlen in 64usize..4000) {
        let msgs = wire::encode_v1(syncid, maxlen, &conns).unwrap();
        let mut back = Vec::new();
        for m in &msgs {
            // A message exceeds maxlen only when one entry alone does.
            prop_assert!(m.len() <= maxlen || m[4] == 1);
            let d = wire::decode(m).unwrap();
            prop_assert_eq!(d.version, Version::V1);
            prop_assert_eq!(d.syncid, syncid);
            prop_assert!(d.dropped_rest.is_none());
            // PE data without a name is sent but skipped by receivers.
            back.extend(d.conns);
        }
        let want: Vec<SyncConn> = conns.into_iter()
            .filter(|c| !(c.pe_data.is_some() && c.pe_name.is_none()))
            .collect();
        prop_assert_eq!(back, want);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut b = bytes;
        if b.len() >= 4 {
            let n = b.len() as u16;
            b[2..4].copy_from_slice(&n.to_be_bytes());
        }
        let _ = wire::decode(&b);
    }
}

/// `RVS_BLESS=1 cargo test -p rvs-sync --test codec write_fuzz_seeds` rewrites the seeds of
/// the `sync_message` fuzz target from the golden messages above.
#[test]
fn write_fuzz_seeds() {
    if std::env::var_os("RVS_BLESS").is_none() {
        return;
    }
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sync_message");
    std::fs::create_dir_all(&dir).unwrap();
    let fnat = {
        let mut c = dr_conn();
        c.fullnat = Some((ip("198.18.0.2"), 40001));
        wire::encode_v1(3, 1472, &[c]).unwrap().remove(0)
    };
    for (name, bytes) in [
        ("seed-v1-ipv4", GOLDEN_V1_V4.to_vec()),
        ("seed-v1-pe-ipv6-seq", golden_two()),
        ("seed-v0-seq", golden_v0()),
        ("seed-v1-fullnat", fnat),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
