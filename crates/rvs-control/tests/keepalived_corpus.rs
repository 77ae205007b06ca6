//! The keepalived.conf corpus (crates/rvs-config/tests/keepalived/*.conf): every file loads
//! without errors, its commands apply to a fresh `Director`, and `ipvsadm -Ln` then prints
//! exactly the table in the `.ipvsadm` file beside it. Warnings are compared with the
//! `.warnings` file (absent = none expected).
//!
//! `RVS_BLESS=1 cargo test -p rvs-control --test keepalived_corpus` rewrites the expected
//! files (review the diff before committing).

use std::path::{Path, PathBuf};

use rvs_config::keepalived::{self, Desired, diff};
use rvs_control::exec;
use rvs_core::{Director, Settings, SplitMix64, Time};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rvs-config/tests/keepalived")
}

fn director() -> Director {
    Director::new(Settings::default(), 1, Box::new(SplitMix64(1)))
}

fn list(d: &mut Director) -> String {
    let out = exec::run(d, "ipvsadm", &["-Ln".to_string()], None, Time::ZERO);
    assert_eq!(out.reply.exit_code, 0, "{}", out.reply.stderr);
    out.reply.stdout
}

fn apply(d: &mut Director, cmds: &[rvs_core::Command]) {
    for c in cmds {
        d.apply(c, Time::ZERO)
            .unwrap_or_else(|e| panic!("{c:?}: {e}"));
    }
}

fn check_expected(path: &Path, got: &str) {
    if std::env::var_os("RVS_BLESS").is_some() {
        if got.is_empty() {
            let _ = std::fs::remove_file(path);
        } else {
            std::fs::write(path, got).unwrap();
        }
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(got, want, "{}", path.display());
}

#[test]
fn corpus_tables() {
    let dir = corpus_dir();
    let mut confs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    confs.sort();
    assert!(confs.len() >= 10, "{} corpus files", confs.len());
    for conf in confs {
        let report = keepalived::load(&conf);
        let prefix = format!("{}/", dir.display());
        let rel = |s: String| s.replace(&prefix, "");
        assert!(
            report.errors.is_empty(),
            "{}: {}",
            conf.display(),
            rel(report.render())
        );
        let warnings: String = report
            .warnings
            .iter()
            .map(|w| rel(w.to_string()) + "\n")
            .collect();
        check_expected(&conf.with_extension("warnings"), &warnings);
        let cfg = report.config.expect("config");
        let mut d = director();
        apply(&mut d, &cfg.to_commands());
        check_expected(&conf.with_extension("ipvsadm"), &list(&mut d));

        // Reloading the same file changes nothing.
        let again = cfg.desired();
        assert!(diff(&again, &cfg.desired()).is_empty());
        // Nor does diffing against the running table.
        let rows = d.service_rows(None).unwrap_or_default();
        let running = Desired::from_rows(&rows, d.classifier.rules());
        let mut want = cfg.desired();
        want.timeouts = None;
        assert_eq!(diff(&running, &want), vec![], "{}", conf.display());
    }
}

fn cfg(text: &str) -> keepalived::Config {
    let r = keepalived::check_str("/t.conf", text);
    assert!(r.errors.is_empty(), "{}", r.render());
    r.config.unwrap()
}

const OLD: &str = "
virtual_server 198.18.0.1 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.1 80 { weight 1 }
    real_server 198.18.1.2 80 { weight 1 }
    real_server 198.18.1.3 80 { weight 1 }
}
virtual_server 198.18.0.2 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.1 80 { }
}
virtual_server 198.18.0.3 80 {
    lb_algo wlc
    lb_kind DR
    protocol TCP
    real_server 198.18.1.1 80 { }
}
";

const NEW: &str = "
global_defs { lvs_timeouts tcp 600 }
virtual_server 198.18.0.1 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.1 80 { weight 1 }
    real_server 198.18.1.2 80 { weight 5 }
    real_server 198.18.1.4 80 { weight 1 }
}
virtual_server 198.18.0.3 80 {
    lb_algo wrr
    lb_kind DR
    protocol TCP
    persistence_timeout 60
    real_server 198.18.1.1 80 { }
}
virtual_server 198.18.0.4 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.0.1 8080 { }
}
";

#[test]
fn reload_diff_touches_only_changes() {
    use rvs_core::Command;
    let old = cfg(OLD).desired();
    let new = cfg(NEW).desired();
    let cmds = diff(&old, &new);
    let kinds: Vec<String> = cmds
        .iter()
        .map(|c| match c {
            Command::SetTimeouts { tcp, .. } => format!("set {tcp}"),
            Command::DelService(k) => format!("-D {k}"),
            Command::EditService(s) => format!("-E {} {}", s.key, s.scheduler),
            Command::AddService(s) => format!("-A {}", s.key),
            Command::DelDest(k, a, _) => format!("-d {k} {a}"),
            Command::EditDest(k, d) => format!("-e {k} {} w{}", d.addr, d.weight),
            Command::AddDest(k, d) => format!("-a {k} {}", d.addr),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "set 600",
            "-D -t 198.18.0.2:80",
            "-d -t 198.18.0.1:80 198.18.1.3",
            "-e -t 198.18.0.1:80 198.18.1.2 w5",
            "-a -t 198.18.0.1:80 198.18.1.4",
            "-E -t 198.18.0.3:80 wrr",
            "-A -t 198.18.0.4:80",
            "-a -t 198.18.0.4:80 10.0.0.1",
        ]
    );

    // Applying old then the diff gives the same table as applying new from scratch.
    let mut a = director();
    apply(&mut a, &old.commands());
    apply(&mut a, &cmds);
    let mut b = director();
    apply(&mut b, &new.commands());
    assert_eq!(list(&mut a), list(&mut b));

    // Nothing changed → nothing to do; the unchanged dest keeps its identity.
    assert!(diff(&new, &new).is_empty());
}

#[test]
fn reload_against_running_table_restores_drift() {
    let new = cfg(NEW).desired();
    let mut d = director();
    apply(&mut d, &new.commands());
    // An operator changed a weight and added a dest by hand.
    for line in [
        "-e -t 198.18.0.1:80 -r 198.18.1.1:80 -g -w 9",
        "-a -t 198.18.0.4:80 -r 10.0.0.9:8080 -m",
    ] {
        let args: Vec<String> = line.split(' ').map(String::from).collect();
        assert_eq!(
            exec::run(&mut d, "ipvsadm", &args, None, Time::ZERO)
                .reply
                .exit_code,
            0
        );
    }
    let rows = d.service_rows(None).unwrap();
    let running = Desired::from_rows(&rows, d.classifier.rules());
    let mut want = new.clone();
    want.timeouts = None;
    let cmds = diff(&running, &want);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    apply(&mut d, &cmds);
    let mut fresh = director();
    apply(&mut fresh, &new.commands());
    assert_eq!(list(&mut d), list(&mut fresh));
}
