//! Every probe against real servers on 127.0.0.1 / ::1 started in the test.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rvs_config::keepalived::{
    CheckerKind, DnsCheck, HttpCheck, HttpProtocol, MiscCheck, SmtpCheck, UdpCheck, Url,
};
use rvs_health::probe::{self, http};
use rvs_health::{ProbeResult, ProbeSpec};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

fn spec(kind: CheckerKind, target: SocketAddr) -> ProbeSpec {
    ProbeSpec {
        kind,
        target,
        bindto: None,
        bind_port: None,
        bind_if: None,
        fwmark: None,
        virtualhost: None,
        timeout: Duration::from_secs(3),
    }
}

async fn run(s: &ProbeSpec) -> ProbeResult {
    tokio::time::timeout(s.timeout + Duration::from_secs(2), probe::run(s))
        .await
        .expect("probe hung")
}

fn is_down(r: &ProbeResult, needle: &str) -> bool {
    matches!(r, ProbeResult::Down(why) if why.contains(needle))
}

/// A port nothing listens on.
async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn tcp_connect_up_and_refused() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    assert_eq!(run(&spec(CheckerKind::Tcp, a)).await, ProbeResult::Up);
    drop(l);
    let r = run(&spec(CheckerKind::Tcp, a)).await;
    assert!(is_down(&r, "refused"), "{r:?}");
    // bindto / bind_port are applied: the server sees the source address and port.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let free = closed_port().await.port();
    let mut s = spec(CheckerKind::Tcp, a);
    s.bindto = Some("127.0.0.2".parse().unwrap());
    s.bind_port = Some(free);
    let (r, acc) = tokio::join!(run(&s), l.accept());
    assert_eq!(r, ProbeResult::Up);
    assert_eq!(acc.unwrap().1, SocketAddr::from(([127, 0, 0, 2], free)));
    // bind_if names a device that does not exist: the socket option is applied and fails.
    let mut s = spec(CheckerKind::Tcp, a);
    s.bind_if = Some("rvsnope0".into());
    let r = run(&s).await;
    assert!(is_down(&r, "No such device"), "{r:?}");
}

#[tokio::test]
async fn fwmark_and_bind_if_lo_are_applied() {
    if !privileged() {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = spec(CheckerKind::Tcp, l.local_addr().unwrap());
    s.fwmark = Some(7);
    s.bind_if = Some("lo".into());
    let (r, _) = tokio::join!(run(&s), l.accept());
    assert_eq!(r, ProbeResult::Up);
}

#[tokio::test]
async fn http_answer_is_complete_at_content_length_even_if_the_server_stays_open() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut u = url("/");
    u.digest = Some(http::md5_hex(b"hello"));
    let mut s = spec(
        CheckerKind::Http(http_check(vec![u], HttpProtocol::V1_0)),
        a,
    );
    s.timeout = Duration::from_secs(2);
    let r = tokio::time::timeout(Duration::from_secs(1), probe::run(&s)).await;
    assert_eq!(r.unwrap(), ProbeResult::Up);
}

/// An HTTP server answering every request with `status` and `body`; requests are recorded.
async fn http_server(status: u16, body: &'static [u8]) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let seen = seen2.clone();
            tokio::spawn(async move { serve(s, status, body, seen).await });
        }
    });
    (a, seen)
}

async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: S,
    status: u16,
    body: &[u8],
    seen: Arc<Mutex<Vec<String>>>,
) {
    let mut r = BufReader::new(s);
    let mut req = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        req.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    seen.lock().unwrap().push(req);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut s = r.into_inner();
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let _ = s.shutdown().await;
}

fn url(path: &str) -> Url {
    Url {
        path: path.into(),
        digest: None,
        status_codes: vec![(200, 299)],
        virtualhost: None,
        regex: None,
        regex_no_match: false,
    }
}

fn http_check(urls: Vec<Url>, proto: HttpProtocol) -> HttpCheck {
    HttpCheck {
        urls,
        http_protocol: proto,
        ..Default::default()
    }
}

const BODY: &[u8] = b"<html>hello from rvs</html>\n";

#[test]
fn md5_matches_genhash() {
    // `printf 'hello world\n' | md5sum`
    assert_eq!(
        http::md5_hex(b"hello world\n"),
        "6f5902ac237024bdd0c176cb93063dc4"
    );
}

#[test]
fn request_is_keepalived_s() {
    let t: SocketAddr = "198.18.1.1:8080".parse().unwrap();
    assert_eq!(
        http::request("/h", HttpProtocol::V1_0, None, t),
        "GET /h HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 198.18.1.1:8080\r\n\r\n"
    );
    assert_eq!(
        http::request("/h", HttpProtocol::V1_1, Some("www.example"), t),
        "GET /h HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example\r\n\r\n"
    );
    let t6: SocketAddr = "[fd00::1]:80".parse().unwrap();
    assert_eq!(
        http::request("/", HttpProtocol::V1_0C, None, t6),
        "GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [fd00::1]:80\r\n\r\n"
    );
}

#[tokio::test]
async fn http_get_status_digest_regex_and_host() {
    let (a, seen) = http_server(200, BODY).await;
    let mut u = url("/health");
    u.digest = Some(http::md5_hex(BODY));
    u.regex = Some("hello from [a-z]+".into());
    let mut s = spec(
        CheckerKind::Http(http_check(vec![u.clone()], HttpProtocol::V1_1)),
        a,
    );
    s.virtualhost = Some("www.example".into());
    assert_eq!(run(&s).await, ProbeResult::Up);
    let req = seen.lock().unwrap()[0].clone();
    assert!(req.starts_with("GET /health HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("\r\nHost: www.example\r\n"), "{req}");
    assert!(req.contains("\r\nConnection: close\r\n"), "{req}");

    // Digest mismatch.
    let mut bad = u.clone();
    bad.digest = Some("00000000000000000000000000000000".into());
    let r = run(&spec(
        CheckerKind::Http(http_check(vec![bad], HttpProtocol::V1_0)),
        a,
    ))
    .await;
    assert!(is_down(&r, "MD5 digest"), "{r:?}");
    // regex_no_match with a matching regex.
    let mut nm = u.clone();
    nm.regex_no_match = true;
    let r = run(&spec(
        CheckerKind::Http(http_check(vec![nm], HttpProtocol::V1_0)),
        a,
    ))
    .await;
    assert!(is_down(&r, "regex matched"), "{r:?}");
    // A second url failing fails the check.
    let mut other = url("/other");
    other.status_codes = vec![(300, 399)];
    let r = run(&spec(
        CheckerKind::Http(http_check(vec![u, other], HttpProtocol::V1_0)),
        a,
    ))
    .await;
    assert!(is_down(&r, "/other: HTTP status code 200"), "{r:?}");
}

#[tokio::test]
async fn http_get_wrong_status_and_ranges() {
    let (a, _) = http_server(503, b"busy").await;
    let r = run(&spec(
        CheckerKind::Http(http_check(vec![url("/")], HttpProtocol::V1_0)),
        a,
    ))
    .await;
    assert!(is_down(&r, "HTTP status code 503"), "{r:?}");
    let mut u = url("/");
    u.status_codes = vec![(200, 200), (500, 503)];
    let r = run(&spec(
        CheckerKind::Http(http_check(vec![u], HttpProtocol::V1_0)),
        a,
    ))
    .await;
    assert_eq!(r, ProbeResult::Up);
    let r = run(&spec(
        CheckerKind::Http(http_check(vec![url("/")], HttpProtocol::V1_0)),
        closed_port().await,
    ))
    .await;
    assert!(is_down(&r, "connect"), "{r:?}");
}

#[tokio::test]
async fn ssl_get_against_a_self_signed_server() {
    let ck = rcgen::generate_simple_self_signed(vec!["rvs.test".to_string()]).unwrap();
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let acc = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                if let Ok(t) = acc.accept(s).await {
                    serve(t, 200, BODY, seen).await;
                }
            });
        }
    });
    let mut u = url("/tls");
    u.digest = Some(http::md5_hex(BODY));
    let r = run(&spec(
        CheckerKind::Ssl(http_check(vec![u.clone()], HttpProtocol::V1_0)),
        a,
    ))
    .await;
    assert_eq!(r, ProbeResult::Up);
    assert!(seen.lock().unwrap()[0].starts_with("GET /tls HTTP/1.0\r\n"));
    u.digest = Some(http::md5_hex(b"other"));
    let r = run(&spec(
        CheckerKind::Ssl(http_check(vec![u.clone()], HttpProtocol::V1_0)),
        a,
    ))
    .await;
    assert!(is_down(&r, "MD5"), "{r:?}");
    // A plain HTTP server is no TLS server.
    let (plain, _) = http_server(200, BODY).await;
    let r = run(&spec(
        CheckerKind::Ssl(http_check(vec![url("/")], HttpProtocol::V1_0)),
        plain,
    ))
    .await;
    assert!(is_down(&r, "TLS"), "{r:?}");
}

fn misc(path: String, dynamic: bool) -> CheckerKind {
    CheckerKind::Misc(MiscCheck {
        path,
        timeout: None,
        dynamic,
        user: None,
    })
}

#[tokio::test]
async fn misc_check_exit_codes_and_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let t: SocketAddr = "127.0.0.1:1".parse().unwrap();
    assert_eq!(
        run(&spec(misc("exit 0".into(), false), t)).await,
        ProbeResult::Up
    );
    let r = run(&spec(misc("exit 1".into(), false), t)).await;
    assert!(is_down(&r, "exited with status 1"), "{r:?}");
    // Without misc_dynamic, 7 is a failure; with it, weight 5.
    let r = run(&spec(misc("exit 7".into(), false), t)).await;
    assert!(is_down(&r, "status 7"), "{r:?}");
    assert_eq!(
        run(&spec(misc("exit 7".into(), true), t)).await,
        ProbeResult::Weight(5)
    );
    assert_eq!(
        run(&spec(misc("exit 0".into(), true), t)).await,
        ProbeResult::Up
    );
    // A script file with arguments, as misc_path is usually written.
    let script = dir.path().join("check.sh");
    std::fs::write(&script, "#!/bin/sh\n[ \"$1\" = ok ] && exit 0\nexit 1\n").unwrap();
    let p = script.display();
    assert_eq!(
        run(&spec(misc(format!("sh {p} ok"), false), t)).await,
        ProbeResult::Up
    );
    assert!(matches!(
        run(&spec(misc(format!("sh {p} no"), false), t)).await,
        ProbeResult::Down(_)
    ));
    // Timeout: the script (and what it started) is killed.
    let pidfile = dir.path().join("pid");
    let mut s = spec(
        misc(
            format!("sleep 30 & echo $! > {}; wait", pidfile.display()),
            false,
        ),
        t,
    );
    s.timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let r = run(&s).await;
    assert!(is_down(&r, "timed out"), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let pid = pid.trim();
    // Reaped or at least dead: no running `sleep` left behind.
    let mut gone = false;
    for _ in 0..50 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z ") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "sleep {pid} still running");
}

/// A DNS responder: answers with `id_delta` added to the query id and `rcode`.
async fn dns_server(id_delta: u16, rcode: u8) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let mut ans = buf[..n].to_vec();
            if ans.len() < 12 {
                continue;
            }
            let id = u16::from_be_bytes([ans[0], ans[1]]).wrapping_add(id_delta);
            ans[0..2].copy_from_slice(&id.to_be_bytes());
            ans[2] |= 0x80; // QR
            ans[3] = (ans[3] & 0xf0) | rcode;
            let _ = s.send_to(&ans, from).await;
        }
    });
    a
}

fn dns() -> CheckerKind {
    CheckerKind::Dns(DnsCheck {
        qtype: "A".into(),
        name: "www.example.".into(),
    })
}

#[test]
fn dns_query_bytes() {
    let q = probe::dns::query(0x1234, "www.example.", 1);
    assert_eq!(
        q,
        [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w', b'w', 7, b'e', b'x', b'a',
            b'm', b'p', b'l', b'e', 0, 0, 1, 0, 1
        ]
    );
    assert_eq!(probe::dns::query(1, ".", 6)[12..], [0, 0, 6, 0, 1]);
}

#[tokio::test]
async fn dns_check_answer_rcode_and_bad_id() {
    let a = dns_server(0, 0).await;
    assert_eq!(run(&spec(dns(), a)).await, ProbeResult::Up);
    let a = dns_server(0, 3).await;
    let r = run(&spec(dns(), a)).await;
    assert!(is_down(&r, "rcode 3"), "{r:?}");
    // An answer with another id is ignored: no decision before the timeout.
    let a = dns_server(1, 0).await;
    let r = tokio::time::timeout(Duration::from_millis(500), probe::run(&spec(dns(), a))).await;
    assert!(r.is_err(), "{r:?}");
}

async fn smtp_server(banner: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("[::1]:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            let _ = w.write_all(banner.as_bytes()).await;
            let mut line = String::new();
            while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                seen2.lock().unwrap().push(line.clone());
                let ans: &[u8] = if line.starts_with("HELO") {
                    b"250-first\r\n250 ok\r\n"
                } else {
                    b"221 bye\r\n"
                };
                let _ = w.write_all(ans).await;
                line.clear();
            }
        }
    });
    (a, seen)
}

#[tokio::test]
async fn smtp_check_banner_helo_quit() {
    let (a, seen) = smtp_server("220 mail ESMTP\r\n").await;
    let k = CheckerKind::Smtp(SmtpCheck {
        helo_name: Some("director.rvs".into()),
    });
    assert_eq!(run(&spec(k.clone(), a)).await, ProbeResult::Up);
    // The server may still be reading QUIT.
    for _ in 0..50 {
        if seen.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*seen.lock().unwrap(), ["HELO director.rvs\r\n", "QUIT\r\n"]);
    let (a, _) = smtp_server("554 go away\r\n").await;
    let r = run(&spec(k, a)).await;
    assert!(is_down(&r, "banner 554"), "{r:?}");
}

fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        if std::env::var("RVS_REQUIRE_PRIV").as_deref() == Ok("1") {
            panic!("RVS_REQUIRE_PRIV=1 but not root");
        }
        eprintln!("SKIPPED: PING_CHECK needs root (raw ICMP sockets)");
    }
    root
}

#[tokio::test]
async fn ping_check_ipv4_and_ipv6_loopback() {
    if !privileged() {
        return;
    }
    for t in ["127.0.0.1:0", "[::1]:0"] {
        let r = run(&spec(CheckerKind::Ping, t.parse().unwrap())).await;
        assert_eq!(r, ProbeResult::Up, "{t}");
    }
}

#[test]
fn ping_packets() {
    let p = probe::ping::echo_request(false, 0x0102, 0x0304);
    assert_eq!(&p[..8], &[8, 0, p[2], p[3], 1, 2, 3, 4]);
    assert_eq!(probe::ping::checksum(&p), 0);
    let mut reply = p.clone();
    reply[0] = 0;
    assert!(probe::ping::is_reply(
        &reply,
        false,
        false,
        Some(0x0102),
        0x0304
    ));
    assert!(!probe::ping::is_reply(
        &reply,
        false,
        false,
        Some(0x0102),
        0x0305
    ));
    assert!(!probe::ping::is_reply(&p, false, false, None, 0x0304));
    let mut with_ip = vec![0x45u8];
    with_ip.extend_from_slice(&[0; 19]);
    with_ip.extend_from_slice(&reply);
    assert!(probe::ping::is_reply(
        &with_ip,
        false,
        true,
        Some(0x0102),
        0x0304
    ));
}

async fn udp_echo(prefix: &'static [u8]) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let mut ans = prefix.to_vec();
            ans.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&ans, from).await;
        }
    });
    a
}

fn udp(require_reply: bool, min: Option<u32>, max: Option<u32>) -> CheckerKind {
    CheckerKind::Udp(UdpCheck {
        payload: Some(b"ping".to_vec()),
        require_reply,
        min_reply_length: min,
        max_reply_length: max,
    })
}

#[tokio::test]
async fn udp_check_reply_unreachable_and_silence() {
    let a = udp_echo(b"").await;
    assert_eq!(run(&spec(udp(true, None, None), a)).await, ProbeResult::Up);
    let r = run(&spec(udp(true, Some(10), None), a)).await;
    assert!(is_down(&r, "reply of 4 bytes"), "{r:?}");
    // Nothing listens: ICMP port unreachable.
    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.local_addr().unwrap()
    };
    let r = run(&spec(udp(false, None, None), closed)).await;
    assert!(is_down(&r, "port unreachable"), "{r:?}");
    // A silent server: up without require_reply, down with it.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut s = spec(udp(false, None, None), silent.local_addr().unwrap());
    s.timeout = Duration::from_millis(300);
    assert_eq!(run(&s).await, ProbeResult::Up);
    s.kind = udp(true, None, None);
    let r = run(&s).await;
    assert!(is_down(&r, "no reply"), "{r:?}");
    let mut buf = [0u8; 16];
    let n = silent.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"ping");
}
