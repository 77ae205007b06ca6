//! Replays the `sync_message` fuzz corpus through the code the fuzz target runs.

use std::fs;
use std::path::PathBuf;

#[test]
fn sync_message_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sync_message");
    let mut seeds = 0;
    for e in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        let data = fs::read(&p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let ok = rvs_sync::wire::exercise(&data);
        let installed = rvs_sync::backup::exercise(&data);
        if name.starts_with("seed-") {
            assert!(ok, "seed {name} does not decode to entries");
            seeds += 1;
        }
        if name.starts_with("seed-v1-ipv4") {
            assert_eq!(installed, 2, "installed, then updated");
        }
    }
    assert!(seeds >= 4, "expected the checked-in seeds, found {seeds}");
}
