//! Replays the fuzz seed corpora of the `wire_parse_frame` and `wire_views` targets through
//! the same code the fuzz targets run, so the seeds stay valid and never panic.

use std::fs;
use std::path::PathBuf;

use rvs_core::wire::robust::{exercise_frame, exercise_views};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn wire_parse_frame_corpus() {
    let files = corpus("wire_parse_frame");
    let seeds = files.iter().filter(|(n, _)| n.starts_with("seed-")).count();
    assert!(seeds >= 5, "expected the checked-in seeds, found {seeds}");
    for (name, data) in &files {
        let ok = exercise_frame(data);
        // The checked-in seeds are valid frames; other files (from fuzz runs) need only
        // not panic.
        if name.starts_with("seed-") {
            assert!(
                ok,
                "seed {name} does not parse: {:?}",
                rvs_core::wire::parse_frame(data)
            );
        }
        exercise_views(data);
    }
}

#[test]
fn wire_views_corpus() {
    let files = corpus("wire_views");
    let seeds = files.iter().filter(|(n, _)| n.starts_with("seed-")).count();
    assert!(seeds >= 5, "expected the checked-in seeds, found {seeds}");
    for (name, data) in &files {
        let n = exercise_views(data);
        if name.starts_with("seed-") {
            assert!(n > 0, "no view accepts seed {name}");
        }
        exercise_frame(data);
    }
}

#[test]
fn seed_frames_have_valid_checksums() {
    use rvs_core::wire::{FrameKind, L4Info, icmpv4, ipv4, parse_frame, tcp, udp};
    let mut checked = 0;
    for (name, data) in corpus("wire_parse_frame") {
        if !name.starts_with("seed-") {
            continue;
        }
        let info = parse_frame(&data).unwrap();
        let FrameKind::Ip(ip) = info.kind else {
            continue;
        };
        if ip.src.is_ipv4() {
            assert!(
                ipv4::Packet::new_checked(&data[info.l3..])
                    .unwrap()
                    .verify_checksum(),
                "{name}"
            );
        }
        let seg = &data[ip.l4..info.l3 + ip.total_len];
        match ip.l4info {
            L4Info::Tcp { .. } => {
                assert!(
                    tcp::Packet::new_checked(seg)
                        .unwrap()
                        .verify_checksum(&ip.src, &ip.dst),
                    "{name}"
                )
            }
            L4Info::Udp { .. } => {
                assert!(
                    udp::Packet::new_checked(seg)
                        .unwrap()
                        .verify_checksum(&ip.src, &ip.dst),
                    "{name}"
                )
            }
            L4Info::Icmp { .. } if ip.src.is_ipv4() => {
                assert!(
                    icmpv4::Packet::new_checked(seg).unwrap().verify_checksum(),
                    "{name}"
                )
            }
            _ => continue,
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} seeds checked");
}
