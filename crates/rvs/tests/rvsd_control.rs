//! rvsd without interfaces (control plane only), driven through `rvs ctl`: rules file,
//! commands, listings, ipvsadm error texts and exit codes, socket handling, clean exit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvsd-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Daemon {
    child: Child,
    sock: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, extra: &[&str]) -> Daemon {
        let sock = dir.join("rvsd.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_rvsd"))
            .arg("--control")
            .arg(&sock)
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let d = Daemon { child, sock };
        let t0 = Instant::now();
        while !d.sock.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "rvsd did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn ctl(&self, args: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rvs"))
            .args(["ctl", "--control"])
            .arg(&self.sock)
            .arg("--")
            .args(args.split_whitespace())
            .output()
            .unwrap()
    }

    fn term(mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), 15);
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "rvsd ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success());
}

fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn commands_listings_errors_and_clean_exit() {
    let dir = tmpdir("ctl");
    let rules = dir.join("rules.txt");
    std::fs::write(
        &rules,
        "# lab rules\n-A -t 198.18.1.100:80 -s rr\n-a -t 198.18.1.100:80 -r 198.18.1.11:80 -g -w 1\n\n",
    )
    .unwrap();
    let d = Daemon::start(&dir, &["--rules", rules.to_str().unwrap()]);
    let meta = std::fs::metadata(&d.sock).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );

    let (code, out, _) = text(&d.ctl("-Ln"));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n\
         \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  198.18.1.100:80 rr\n\
         \x20 -> 198.18.1.11:80               Route   1      0          0         \n"
    );
    assert_eq!(
        text(&d.ctl("-a -t 198.18.1.100:80 -r 198.18.1.12 -g -w 2")).0,
        0
    );
    assert_eq!(
        text(&d.ctl("-A -t 198.18.1.100:80 -s rr")),
        (255, String::new(), "Service already exists\n".into())
    );
    assert_eq!(
        text(&d.ctl("-d -t 198.18.1.100:80 -r 198.18.1.13")),
        (255, String::new(), "No such destination\n".into())
    );
    assert_eq!(
        text(&d.ctl("-a -t 198.18.1.100:80 -r 198.18.1.13 -w -1")),
        (2, String::new(), "illegal weight specified\n".into())
    );
    let (code, out, _) = text(&d.ctl("-Sn"));
    assert_eq!(code, 0);
    assert!(
        out.contains("-a -t 198.18.1.100:80 -r 198.18.1.12:80 -g -w 2\n"),
        "{out}"
    );

    // A second rvsd on the same socket is refused; the first keeps serving.
    let second = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--control")
        .arg(&d.sock)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("another rvsd"));
    assert_eq!(text(&d.ctl("-Ln")).0, 0);

    let sock = d.sock.clone();
    let st = d.term();
    assert_eq!(st.code(), Some(0), "SIGTERM: clean exit");
    assert!(!sock.exists(), "socket removed at exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_rules_file_names_the_line_and_starts_nothing() {
    let dir = tmpdir("bad");
    let rules = dir.join("rules.txt");
    std::fs::write(
        &rules,
        "-A -t 198.18.1.100:80 -s rr\n  -a -t 198.18.1.100:80 -r 198.18.1.11 -w x\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--control")
        .arg(dir.join("rvsd.sock"))
        .arg("--rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:2:3: illegal weight specified",
            rules.display()
        )),
        "{err}"
    );
    assert!(!dir.join("rvsd.sock").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stale_socket_is_replaced_and_missing_daemon_is_reported() {
    let dir = tmpdir("stale");
    let sock = dir.join("rvsd.sock");
    // A socket file nobody listens on, as a SIGKILLed rvsd leaves.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let out = Command::new(env!("CARGO_BIN_EXE_rvs"))
        .args(["ctl", "--control"])
        .arg(&sock)
        .args(["--", "-Ln"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&sock.display().to_string()));
    let d = Daemon::start(&dir, &[]);
    // Give the daemon a moment: the file existed before it started.
    let t0 = Instant::now();
    while text(&d.ctl("-Ln")).0 != 0 {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(d.term().code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
