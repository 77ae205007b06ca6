//! End-to-end tests of `rvs sim`: the real binary on real files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvs-sim-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sim(name: &str, rules: &str, flows: &str, extra: &[&str]) -> (Output, PathBuf, PathBuf) {
    let d = tmpdir(name);
    let r = d.join("rules");
    let f = d.join("flows");
    std::fs::write(&r, rules).unwrap();
    std::fs::write(&f, flows).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rvs"))
        .arg("sim")
        .arg("--rules")
        .arg(&r)
        .arg("--flows")
        .arg(&f)
        .args(extra)
        .output()
        .unwrap();
    (out, r, f)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn last_fields(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect()
}

const WRR: &str = "-A -t 198.18.0.100:80 -s wrr
-a -t 198.18.0.100:80 -r 198.18.1.13:80 -g -w 2
-a -t 198.18.0.100:80 -r 198.18.1.12:80 -g -w 3
-a -t 198.18.0.100:80 -r 198.18.1.11:80 -g -w 4
";

fn opens(n: usize) -> String {
    (0..n)
        .map(|i| format!("{}.0 tcp 198.18.2.{}:4000 198.18.0.100:80 open\n", i, i + 1))
        .collect()
}

#[test]
fn wrr_sequence_matches_the_kernel() {
    // Added C(2), B(3), A(4): list order A,B,C, cw starts at 1 → A B C, then the cycle.
    let (o, ..) = sim("wrr", WRR, &opens(12), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want: Vec<String> = [
        "11", "12", "13", "11", "11", "12", "11", "12", "13", "11", "12", "13",
    ]
    .iter()
    .map(|n| format!("198.18.1.{n}:80"))
    .collect();
    assert_eq!(last_fields(&o), want);
}

#[test]
fn one_line_per_event_and_listings() {
    let flows = format!(
        "# comment\n\n{}5.0 cmd -e -t 198.18.0.100:80 -r 198.18.1.11:80 -g -w 0\n\
         6.0 tcp 198.18.2.50:4000 198.18.0.100:80 open\n\
         7.0 tcp 198.18.2.1:4000 198.18.0.100:80 close\n",
        opens(3)
    );
    let (o, ..) = sim(
        "list",
        WRR,
        &flows,
        &["--list", "--stats", "--rate", "--conns"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let fields = last_fields(&o);
    assert_eq!(fields.len(), 5, "{out}");
    assert_ne!(
        fields[3], "198.18.1.11:80",
        "quiesced dest gets no new conns"
    );
    assert_eq!(fields[4], "198.18.1.11:80", "close reports the bound dest");
    assert!(out.contains("IP Virtual Server version 1.2.1 (size=4096)\n"));
    assert!(
        out.contains("  -> 198.18.1.11:80               Route   0      0          1         \n"),
        "{out}"
    );
    assert!(out.contains(
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
    ));
    assert!(out.contains(
        "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n"
    ));
    assert!(out.contains("IPVS connection entries\n"));
    assert!(
        out.contains("FIN_WAIT    198.18.2.1:4000    198.18.0.100:80    198.18.1.11:80\n"),
        "{out}"
    );
}

#[test]
fn no_dest_prints_dash() {
    let rules = "-A -u 198.18.0.53:53 -s rr\n";
    let (o, ..) = sim(
        "nodest",
        rules,
        "0 udp 198.18.2.1:5000 198.18.0.53:53 packet\n",
        &[],
    );
    assert!(o.status.success());
    assert_eq!(last_fields(&o), ["-"]);
    assert!(stdout(&o).contains("unreachable"));
}

#[test]
fn ipv6_and_fwmark_rules() {
    let rules = "--add-fwmark-rule 7 tcp fd00::100 80,443
-A -f 7 -6 -s rr -p 60
-a -f 7 -6 -r [fd00::11]:0 -g -w 1
-a -f 7 -6 -r [fd00::12]:0 -g -w 1
";
    let flows = "0 tcp [fd00::2:1]:4000 [fd00::100]:80 open
1 tcp [fd00::2:1]:4001 [fd00::100]:443 open
2 tcp [fd00::2:1]:4002 [fd00::100]:22 open
";
    let (o, ..) = sim("v6", rules, flows, &["--conns"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = last_fields(&o);
    assert_eq!(
        f[0].rsplit_once(':').unwrap().0,
        f[1].rsplit_once(':').unwrap().0
    );
    assert!(f[0].ends_with(":80") && f[1].ends_with(":443"), "{f:?}");
    assert_eq!(f[2], "-");
    assert!(
        stdout(&o).contains("IP  "),
        "fwmark template row: {}",
        stdout(&o)
    );
}

fn assert_error(name: &str, rules: &str, flows: &str, want: &str) {
    let (o, r, f) = sim(name, rules, flows, &[]);
    assert_eq!(o.status.code(), Some(2), "{name}: {}", stdout(&o));
    let err = stderr(&o)
        .replace(&r.display().to_string(), "RULES")
        .replace(&f.display().to_string(), "FLOWS");
    assert_eq!(err.trim_end(), want, "{name}");
}

#[test]
fn bad_input_is_reported_with_file_and_line() {
    assert_error(
        "sched",
        "-A -t 198.18.0.100:80 -s wrr\n-A -t 198.18.0.101:80 -s nosuch\n",
        "",
        "RULES:2: Scheduler or persistence engine not found",
    );
    assert_error(
        "malformed",
        WRR,
        "0 tcp 198.18.2.1:1 198.18.0.100:80 open\n1 tcp 198.18.2.1:1 open\n",
        "FLOWS:2: malformed line: expected `TIME PROTO SRC DST EVENT` or `TIME cmd ARGS...`",
    );
    assert_error(
        "backwards",
        WRR,
        "5 tcp 198.18.2.1:1 198.18.0.100:80 open\n4 tcp 198.18.2.2:1 198.18.0.100:80 open\n",
        "FLOWS:2: time goes backwards: 4.000 after 5.000",
    );
    assert_error(
        "unknown-close",
        WRR,
        "# x\n1 tcp 198.18.2.1:1 198.18.0.100:80 close\n",
        "FLOWS:2: close of an unknown connection tcp 198.18.2.1:1 -> 198.18.0.100:80",
    );
    assert_error(
        "bad-cmd",
        WRR,
        "1 cmd -e -t 198.18.0.100:80 -r 198.18.1.99:80 -w 0\n",
        "FLOWS:1: No such destination",
    );
    assert_error(
        "list-in-rules",
        "-L -n\n",
        "",
        "RULES:1: `-L' does not change rules: a rules file takes -A -E -D -C -a -e -d -Z --set and --add-fwmark-rule / --del-fwmark-rule",
    );
    assert_error(
        "bad-rule-syntax",
        "-A -t 198.18.0.100:80 -s wrr -w 3\n",
        "",
        "RULES:1: Illegal 'weight' option with the 'add-service' command",
    );
}

#[test]
fn demo_example_runs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/sim");
    let o = Command::new(env!("CARGO_BIN_EXE_rvs"))
        .args(["sim", "--rules"])
        .arg(root.join("rules.txt"))
        .arg("--flows")
        .arg(root.join("flows.txt"))
        .arg("--list")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let events = std::fs::read_to_string(root.join("flows.txt"))
        .unwrap()
        .lines()
        .filter(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#') && l.split_whitespace().nth(1) != Some("cmd")
        })
        .count();
    assert_eq!(last_fields(&o).len(), events);
}
