//! rvsd's HTTP API from outside (control plane only, no root): `--api`, the token file,
//! `--api-public-read`, `rvs_api` in keepalived.conf, and the real rvsadm and the API
//! changing one table.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "rvsd-api-test-token-0123456789";

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvsd-api-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A loopback port nobody listens on right now.
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

struct Daemon {
    child: Child,
    sock: PathBuf,
    api: SocketAddr,
}

impl Daemon {
    fn start(dir: &Path, api: SocketAddr, extra: &[&str]) -> Daemon {
        let sock = dir.join("rvsd.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_rvsd"))
            .arg("--control")
            .arg(&sock)
            .args(extra)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Daemon { child, sock, api };
        let t0 = Instant::now();
        while TcpStream::connect(api).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the API did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn rvsadm(&self, line: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rvsadm"))
            .env("RVS_SOCKET", &self.sock)
            .args(line.split_whitespace())
            .output()
            .unwrap()
    }

    fn http(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        http(self.api, method, path, token, body)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request; the status and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: rvsd\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn rvsadm_and_the_api_share_one_table() {
    let dir = tmpdir("share");
    let token = dir.join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let api = free_addr();
    let d = Daemon::start(
        &dir,
        api,
        &[
            "--api",
            &api.to_string(),
            "--api-token-file",
            token.to_str().unwrap(),
        ],
    );
    assert!(d.rvsadm("-A -t 198.18.1.100:80 -s rr").status.success());
    let (st, body) = d.http("GET", "/api/v1/services", Some(TOKEN), "");
    assert_eq!(st, 200);
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["services"][0]["id"], "tcp-198.18.1.100-80");
    assert_eq!(j["services"][0]["scheduler"], "rr");

    let (st, body) = d.http(
        "POST",
        "/api/v1/services/tcp-198.18.1.100-80/dests",
        Some(TOKEN),
        r#"{"address":"198.18.1.11","weight":3}"#,
    );
    assert_eq!(st, 201, "{body}");
    let out = d.rvsadm("-Sn");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "-A -t 198.18.1.100:80 -s rr\n-a -t 198.18.1.100:80 -r 198.18.1.11:80 -g -w 3\n"
    );
    // The same error text as rvsadm's.
    let (st, body) = d.http(
        "POST",
        "/api/v1/services",
        Some(TOKEN),
        r#"{"protocol":"tcp","address":"198.18.1.100","port":80}"#,
    );
    assert_eq!(
        (st, body.as_str()),
        (409, r#"{"code":409,"error":"Service already exists"}"#)
    );
    let out = d.rvsadm("-A -t 198.18.1.100:80");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Service already exists\n"
    );

    assert_eq!(d.http("GET", "/metrics", None, "").0, 401);
    assert_eq!(
        d.http("GET", "/metrics", Some("not-the-token-at-all"), "")
            .0,
        403
    );
    let (st, m) = d.http("GET", "/metrics", Some(TOKEN), "");
    assert_eq!(st, 200);
    assert!(
        m.contains("rvs_dest_weight{service=\"tcp-198.18.1.100-80\",dest=\"198.18.1.11-80\"} 3\n")
    );
    assert_eq!(d.http("GET", "/", None, "").0, 200);

    assert_eq!(
        d.http(
            "DELETE",
            "/api/v1/services/tcp-198.18.1.100-80",
            Some(TOKEN),
            ""
        )
        .0,
        204
    );
    assert_eq!(String::from_utf8_lossy(&d.rvsadm("-Sn").stdout), "");
}

#[test]
fn the_api_needs_a_token_file_or_public_read() {
    let dir = tmpdir("notoken");
    let api = free_addr();
    let out = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--control")
        .arg(dir.join("rvsd.sock"))
        .args(["--api", &api.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--api-token-file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.join("rvsd.sock").exists(),
        "the control socket is removed again"
    );
    let short = dir.join("short");
    std::fs::write(&short, "abc\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--control")
        .arg(dir.join("rvsd.sock"))
        .args([
            "--api",
            &api.to_string(),
            "--api-token-file",
            short.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn rvs_api_in_keepalived_conf_starts_it_read_only() {
    let dir = tmpdir("conf");
    let api = free_addr();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  rvs_api {api}\n}}\nvirtual_server 198.18.1.100 80 {{\n  lb_algo rr\n  protocol TCP\n  real_server 198.18.1.11 80 {{\n    weight 2\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let d = Daemon::start(
        &dir,
        api,
        &["-f", conf.to_str().unwrap(), "--api-public-read"],
    );
    let (st, body) = d.http(
        "GET",
        "/api/v1/services/tcp-198.18.1.100-80/dests",
        None,
        "",
    );
    assert_eq!(st, 200, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["dests"][0]["weight"], 2);
    // Without a token file the API is read-only.
    let (st, body) = d.http(
        "POST",
        "/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.11-80/drain",
        Some(TOKEN),
        "",
    );
    assert_eq!(st, 403, "{body}");
}

/// With `-f`, the API reports what the health checker knows: a listening real server is
/// `up`, a refused one `down` (kept at weight 0 by inhibit_on_failure), one without
/// checkers `unchecked`; `rvsadm -Ln --health` agrees.
#[test]
fn health_states_reach_the_api_and_rvsadm() {
    let dir = tmpdir("health");
    let api = free_addr();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = listener.local_addr().unwrap().port();
    let down = free_addr().port();
    let conf = dir.join("keepalived.conf");
    let check = "TCP_CHECK {\n      connect_timeout 1\n      retry 0\n    }";
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  rvs_api {api}\n}}\nvirtual_server 127.0.0.1 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 127.0.0.1 {up} {{\n    {check}\n  }}\n  real_server 127.0.0.2 {down} {{\n    inhibit_on_failure\n    {check}\n  }}\n  real_server 127.0.0.3 80 {{\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let d = Daemon::start(
        &dir,
        api,
        &["-f", conf.to_str().unwrap(), "--api-public-read"],
    );
    let want = |j: &serde_json::Value| {
        let state = |dest: &str| {
            j["dests"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["dest"] == dest))
                .map(|x| x["state"].as_str().unwrap_or("").to_string())
        };
        state(&format!("127.0.0.1-{up}")).as_deref() == Some("up")
            && state(&format!("127.0.0.2-{down}")).as_deref() == Some("down")
            && state("127.0.0.3-80").as_deref() == Some("unchecked")
    };
    let t0 = Instant::now();
    loop {
        let (st, body) = d.http("GET", "/api/v1/health", None, "");
        assert_eq!(st, 200, "{body}");
        let j: serde_json::Value = serde_json::from_str(&body).unwrap();
        if want(&j) {
            assert!(j["checker"].is_string(), "{body}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(8), "{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = d.rvsadm("-Ln");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(&format!(
            "  -> {:<28} Masq    0",
            format!("127.0.0.2:{down}")
        )),
        "{listing}"
    );
    let out = d.rvsadm("-Ln --health");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("127.0.0.1:{up}")) && text.contains("TCP_CHECK ok"),
        "{text}"
    );
    assert!(text.contains("TCP_CHECK failed (connect:"), "{text}");
    drop(listener);
}
