//! rvsadm against a real rvsd (control plane only): ipvsadm's argv, output bytes, messages
//! and exit codes end to end; the ipvsadm-save/-restore personalities through symlinks;
//! `--proc`; and the message when no rvsd answers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvsadm-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// rvsd with a control socket in `dir` and no interfaces.
struct Daemon {
    child: Child,
    sock: PathBuf,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        let sock = dir.join("rvsd.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_rvsd"))
            .arg("--control")
            .arg(&sock)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while !sock.exists() {
            assert!(t0.elapsed() < Duration::from_secs(10), "no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, sock }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `program` (rvsadm or a symlink to it) with `args`, `RVS_SOCKET` = `sock`.
fn run_as(program: &Path, sock: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("RVS_SOCKET", sock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn rvsadm(sock: &Path, line: &str) -> Output {
    let args: Vec<&str> = line.split_whitespace().collect();
    run_as(Path::new(env!("CARGO_BIN_EXE_rvsadm")), sock, &args, None)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// (exit code, stdout, stderr)
fn outcome(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        text(&o.stdout),
        text(&o.stderr),
    )
}

#[test]
fn commands_listings_and_errors_end_to_end() {
    let dir = tmpdir("e2e");
    let d = Daemon::start(&dir);
    let s = &d.sock;
    for line in [
        "-A -t 198.18.1.100:80 -s wrr",
        "-a -t 198.18.1.100:80 -r 198.18.1.11 -g -w 3",
        "-a -t 198.18.1.100:80 -r 198.18.1.12:80 -g -w 1 -x 100 -y 10",
        "-At [fd00:1::100]:443 -s sh -b sh-port -p 600 -M 64",
        "-a -t [fd00:1::100]:443 -r [fd00:1::11]:8443 -m",
        "-A -f 100 -s rr -p",
        "-a -f 100 -r 198.18.1.13 -i --tun-type gue --tun-port 6080",
    ] {
        assert_eq!(
            outcome(&rvsadm(s, line)),
            (0, String::new(), String::new()),
            "{line}"
        );
    }
    let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.1.100:80 wrr
  -> 198.18.1.11:80               Route   3      0          0         
  -> 198.18.1.12:80               Route   1      0          0         
TCP  [fd00:1::100]:443 sh (sh-port) persistent 600 mask 64
  -> [fd00:1::11]:8443            Masq    1      0          0         
FWM  100 rr persistent 360
  -> 198.18.1.13:0                Tunnel  1      0          0         
";
    assert_eq!(outcome(&rvsadm(s, "-Ln")), (0, want.into(), String::new()));
    let thr = text(&rvsadm(s, "-Ln --thresholds").stdout);
    assert!(
        thr.contains(
            "  -> 198.18.1.12:80               100        10         0          0         \n"
        ),
        "{thr}"
    );
    let tun = text(&rvsadm(s, "-Ln --tun-info").stdout);
    assert!(tun.contains(" Tunnel  gue:6080:-c   1      "), "{tun}");
    // Table errors: the kernel's texts, exit 255; listing a missing service, exit 1.
    let cases: &[(&str, i32, &str)] = &[
        ("-A -t 198.18.1.100:80", 255, "Service already exists\n"),
        (
            "-a -t 198.18.1.100:80 -r 198.18.1.11",
            255,
            "Destination already exists\n",
        ),
        (
            "-e -t 198.18.1.100:80 -r 198.18.1.99",
            255,
            "No such destination\n",
        ),
        (
            "-a -t 198.18.1.100:81 -r 198.18.1.11",
            255,
            "Service not defined\n",
        ),
        ("-D -t 198.18.1.100:81", 255, "No such service\n"),
        (
            "-E -t 198.18.1.100:80 -s nosuch",
            255,
            "Scheduler or persistence engine not found\n",
        ),
        ("-Ln -t 198.18.1.100:81", 1, "No such service\n"),
        // Argument errors: ipvsadm's texts and exit codes.
        (
            "-a -t 198.18.1.100:80 -r 198.18.1.11 -w x",
            2,
            "illegal weight specified\n",
        ),
        (
            "-A -t 198.18.1.100:0",
            2,
            "Zero port specified for non-persistent service\n",
        ),
        (
            "-A -t 198.18.1.100:82 -o",
            2,
            "One-Packet Scheduling is only for UDP virtual services\n",
        ),
        (
            "-A -t 198.18.1.100:84 -s rr -s wlc",
            2,
            "multiple 'scheduler' options specified\n",
        ),
        ("-A -t 198.18.1.100:84 -6", 2, "-6 used before -f\n\n"),
        (
            "-n -L",
            255,
            "Try `RVSADM -h' or 'RVSADM --help' for more information.\n",
        ),
        ("-L -L", 2, "invalid option `-L'\n"),
        (
            "-L -c --stats",
            2,
            "options conflicts in the list command\n",
        ),
        ("--set 1 2", 2, "--set option requires 3 timeout values\n"),
        (
            "-A -t 198.18.1.100:83 -s sh -b mh-port",
            2,
            "incompatible scheduler flag `mh-port'\n",
        ),
    ];
    for (line, code, err) in cases {
        let o = rvsadm(s, line);
        let err = err.replace("RVSADM", env!("CARGO_BIN_EXE_rvsadm"));
        assert_eq!(outcome(&o), (*code, String::new(), err), "{line}");
    }
    // Names: /etc/services and /etc/hosts, as ipvsadm does without -n.
    assert_eq!(outcome(&rvsadm(s, "-A -t localhost:http-alt -s rr")).0, 0);
    let named = text(&rvsadm(s, "-L -t 127.0.0.1:8080").stdout);
    assert!(named.contains("TCP  localhost:http-alt rr\n"), "{named}");
    // --set / --timeout, -Z, -D, -C.
    assert_eq!(outcome(&rvsadm(s, "--set 10 20 30")).0, 0);
    assert_eq!(
        text(&rvsadm(s, "-L --timeout").stdout),
        "Timeout (tcp tcpfin udp): 10 20 30\n"
    );
    assert_eq!(outcome(&rvsadm(s, "-Z")).0, 0);
    assert_eq!(outcome(&rvsadm(s, "-D -t 127.0.0.1:8080")).0, 0);
    assert_eq!(outcome(&rvsadm(s, "-C")).0, 0);
    assert_eq!(
        text(&rvsadm(s, "-Ln").stdout),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    );
    // -h and -v answer without rvsd.
    let none = dir.join("none.sock");
    let v = rvsadm(&none, "-v");
    assert_eq!(
        outcome(&v),
        (
            0,
            "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n".into(),
            String::new()
        )
    );
}

#[test]
fn save_restore_personalities_and_proc() {
    let dir = tmpdir("pers");
    let d = Daemon::start(&dir);
    let s = &d.sock;
    for name in ["ipvsadm-save", "ipvsadm-restore", "rvsadm-save"] {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_rvsadm"), dir.join(name)).unwrap();
    }
    let rules = "\
# saved by hand
-A -u 198.18.1.100:53 -s rr -o
-a -u 198.18.1.100:53 -r 198.18.2.11:53 -m -w 2
-A -t 198.18.1.100:80 -s wlc
-a -t 198.18.1.100:80 -r 198.18.1.11:80 -g -w 1
";
    // Something to be cleared first.
    assert_eq!(outcome(&rvsadm(s, "-A -t 198.18.1.200:80")).0, 0);
    let o = run_as(&dir.join("ipvsadm-restore"), s, &[], Some(rules));
    assert_eq!(outcome(&o), (0, String::new(), String::new()));
    let saved = run_as(&dir.join("ipvsadm-save"), s, &["-n"], None);
    let want = "\
-A -t 198.18.1.100:80 -s wlc
-a -t 198.18.1.100:80 -r 198.18.1.11:80 -g -w 1
-A -u 198.18.1.100:53 -s rr -o
-a -u 198.18.1.100:53 -r 198.18.2.11:53 -m -w 2
";
    assert_eq!(outcome(&saved), (0, want.into(), String::new()));
    // The save script's help for an unknown option: its own name, exit 1.
    let o = run_as(&dir.join("rvsadm-save"), s, &["-x"], None);
    assert_eq!(
        outcome(&o),
        (
            1,
            String::new(),
            "rvsadm-save: Script to save the IPVS table to stdout.\n   \
             With the -n option, prints out the table in numeric format.\n"
                .into()
        )
    );
    // -R: a table error is printed and the restore goes on; a validation error ends it.
    let o = run_as(
        Path::new(env!("CARGO_BIN_EXE_rvsadm")),
        s,
        &["-R"],
        Some(
            "-A -t 198.18.1.100:80\n-A -t 198.18.1.100:81\n-a -t 198.18.1.100:81 -r 198.18.1.11 -w -1\n-A -t 198.18.1.100:82\n",
        ),
    );
    assert_eq!(
        outcome(&o),
        (
            2,
            String::new(),
            "Service already exists\nillegal weight specified\n".into()
        )
    );
    let listing = text(&rvsadm(s, "-Sn").stdout);
    assert!(
        listing.contains("-A -t 198.18.1.100:81 -s wlc\n"),
        "{listing}"
    );
    assert!(!listing.contains(":82"), "{listing}");
    // /proc views.
    let p = rvsadm(s, "--proc ip_vs");
    let p = text(&p.stdout);
    assert!(p.contains("\nUDP  C6120164:0035 rr ops  \n  -> C612020B:0035      Masq    2      0          0         \n"), "{p}");
    let st = text(&rvsadm(s, "--proc /proc/net/ip_vs_stats").stdout);
    assert!(st.starts_with("   Total Incoming Outgoing"), "{st}");
    let o = rvsadm(s, "--proc nope");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("ip_vs_conn"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn no_daemon_is_a_clear_error_naming_the_socket() {
    let dir = tmpdir("none");
    let sock = dir.join("absent.sock");
    let o = rvsadm(&sock, "-Ln");
    let (code, out, err) = outcome(&o);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.starts_with("Can't initialize ipvs: "), "{err}");
    assert!(err.contains(&sock.display().to_string()), "{err}");
}
