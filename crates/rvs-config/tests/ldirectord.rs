//! Golden corpus for the ldirectord.cf parser and converter: every `ldirectord/NAME.cf`
//! either converts to exactly `NAME.keepalived.conf` with exactly the warnings in
//! `NAME.warnings`, or fails with exactly the errors in `NAME.errors`. Set
//! `RVS_BLESS=1` to rewrite the expected files (then review the diff).

use std::fs;
use std::path::{Path, PathBuf};

use rvs_config::ldirectord;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ldirectord");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cf"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "corpus missing in {}", dir.display());
    files
}

/// Compare `actual` with the file `path` (or write it when blessing). Returns a failure
/// message.
fn check(path: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("RVS_BLESS").is_some() {
        if actual.is_empty() {
            let _ = fs::remove_file(path);
        } else {
            fs::write(path, actual).unwrap();
        }
        return None;
    }
    let expected = fs::read_to_string(path).unwrap_or_default();
    (expected != actual).then(|| {
        format!(
            "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )
    })
}

#[test]
fn golden_corpus() {
    let mut failures = Vec::new();
    for cf in corpus() {
        let name = cf.file_name().unwrap().to_str().unwrap().to_string();
        let text = fs::read_to_string(&cf).unwrap();
        let (out, warnings, errors) = match ldirectord::parse(&name, &text) {
            Ok(cfg) => {
                let conv = ldirectord::to_keepalived(&name, &cfg);
                let warnings: String = conv
                    .warnings
                    .iter()
                    .map(|w| w.render(&name) + "\n")
                    .collect();
                (conv.text, warnings, String::new())
            }
            Err(e) => (String::new(), String::new(), format!("{e}\n")),
        };
        let with = |ext: &str| cf.with_extension(ext);
        failures.extend(check(&with("keepalived.conf"), &out));
        failures.extend(check(&with("warnings"), &warnings));
        failures.extend(check(&with("errors"), &errors));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn corpus_covers_success_and_failure() {
    let files = corpus();
    let has = |ext: &str| {
        files
            .iter()
            .filter(|f| f.with_extension(ext).exists())
            .count()
    };
    assert!(has("keepalived.conf") >= 4);
    assert!(has("errors") >= 2);
}

/// What `rvs convert` prints is keepalived.conf that rvsd itself accepts without errors.
#[test]
fn converted_files_load_as_keepalived_conf() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ldirectord");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        if !name.ends_with(".keepalived.conf") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let report = rvs_config::keepalived::check_str(name, &text);
        assert!(
            report.errors.is_empty(),
            "{name} does not load:\n{}",
            report.render()
        );
        assert!(
            !report.config.expect("config").virtual_servers.is_empty(),
            "{name}"
        );
        n += 1;
    }
    assert!(n >= 4, "{n} converted files");
}
