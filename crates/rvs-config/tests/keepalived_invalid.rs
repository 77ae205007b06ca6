//! Invalid keepalived.conf files (tests/keepalived/invalid/*.conf): every problem is
//! reported with its position, exactly as the `.errors` file beside each lists them
//! (errors and warnings, sorted by position, as `Report::render` prints them).
//!
//! `RVS_BLESS=1 cargo test -p rvs-config --test keepalived_invalid` rewrites them.

use std::path::{Path, PathBuf};

use rvs_config::keepalived;

#[test]
fn invalid_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keepalived/invalid");
    let mut confs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    confs.sort();
    assert!(confs.len() >= 3);
    for conf in confs {
        let report = keepalived::load(&conf);
        assert!(report.config.is_none(), "{} was accepted", conf.display());
        assert!(
            report.errors.len() >= 2,
            "{}: several errors expected",
            conf.display()
        );
        let got = report.render().replace(&format!("{}/", dir.display()), "");
        let path = conf.with_extension("errors");
        if std::env::var_os("RVS_BLESS").is_some() {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(got, want, "{}", conf.display());
    }
}
