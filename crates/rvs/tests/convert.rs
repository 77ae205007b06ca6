//! `rvs convert` end to end: the built binary on the ldirectord.cf golden corpus.

use std::path::PathBuf;
use std::process::Command;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rvs-config/tests/ldirectord")
}

fn rvs_convert(file: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rvs"))
        .args(["convert", file])
        .current_dir(corpus_dir())
        .output()
        .unwrap()
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(corpus_dir().join(name)).unwrap()
}

#[test]
fn converts_to_stdout_with_warnings_on_stderr() {
    for case in ["basic", "quiescent_fallback", "fwmark_persist", "several"] {
        let out = rvs_convert(&format!("{case}.cf"));
        assert!(out.status.success(), "{case}: {:?}", out.status);
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            golden(&format!("{case}.keepalived.conf")),
            "{case} stdout"
        );
        let warnings = std::fs::read_to_string(corpus_dir().join(format!("{case}.warnings")))
            .unwrap_or_default();
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            warnings,
            "{case} stderr"
        );
    }
}

#[test]
fn invalid_file_prints_every_error_and_exits_1() {
    let out = rvs_convert("invalid.cf");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr, golden("invalid.errors"));
    assert!(stderr.lines().count() >= 15, "{stderr}");
}

#[test]
fn missing_file_exits_1() {
    let out = rvs_convert("no-such-file.cf");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("rvs convert: no-such-file.cf: "),
        "{stderr}"
    );
}
