//! `rvs lab serve`: the real servers' HTTP/1.1 server (body `rsN\n`, header `X-Server: rsN`)
//! and UDP echo (reply `rsN ` + payload), on both address families, one thread per socket
//! and per HTTP connection.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::net;

/// Arguments of `rvs lab serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Server id, e.g. rs1: the HTTP body, the X-Server header and the UDP reply prefix.
    #[arg(long)]
    pub id: String,
    /// HTTP ports, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "80,8080")]
    pub http: Vec<u16>,
    /// UDP echo ports, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "9000")]
    pub udp: Vec<u16>,
    /// No HTTP server (another server, e.g. nginx, serves HTTP).
    #[arg(long)]
    pub no_http: bool,
    /// Create this file once every socket is bound (the lab waits for it).
    #[arg(long, hide = true)]
    pub ready_file: Option<PathBuf>,
}

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Idle time after which a keep-alive connection is closed.
const IDLE: Duration = Duration::from_secs(15);

/// Runs the servers until the process is killed.
pub fn main(args: &ServeArgs) -> Result<()> {
    let id: Arc<str> = Arc::from(args.id.as_str());
    let mut threads = Vec::new();
    let http: &[u16] = if args.no_http { &[] } else { &args.http };
    for &port in http {
        let ls = net::tcp_listeners(port).with_context(|| format!("binding TCP port {port}"))?;
        for l in ls {
            let id = id.clone();
            threads.push(thread::spawn(move || accept_loop(&l, &id)));
        }
    }
    for &port in &args.udp {
        let ss = net::udp_sockets(port).with_context(|| format!("binding UDP port {port}"))?;
        for s in ss {
            let id = id.clone();
            threads.push(thread::spawn(move || echo_loop(&s, &id)));
        }
    }
    if let Some(f) = &args.ready_file {
        std::fs::write(f, b"ready\n").with_context(|| format!("writing {}", f.display()))?;
    }
    eprintln!(
        "rvs lab serve {}: http {:?}, udp {:?}",
        args.id, http, args.udp
    );
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

fn accept_loop(l: &TcpListener, id: &Arc<str>) {
    loop {
        match l.accept() {
            Ok((s, _)) => {
                let id = id.clone();
                thread::spawn(move || {
                    let _ = serve_conn(s, &id);
                });
            }
            Err(e) => {
                eprintln!("accept: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn echo_loop(s: &UdpSocket, id: &str) {
    let mut buf = vec![0u8; 65536];
    loop {
        match net::udp_recv(s, &mut buf) {
            Ok((n, src, dst)) => {
                let reply = echo_reply(id, &buf[..n]);
                if let Err(e) = net::udp_send(s, &reply, src, dst) {
                    eprintln!("udp send to {src}: {e}");
                }
            }
            Err(e) => {
                eprintln!("udp recv: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The UDP echo reply: `<id> ` + payload.
pub fn echo_reply(id: &str, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(id.len() + 1 + payload.len());
    r.extend_from_slice(id.as_bytes());
    r.push(b' ');
    r.extend_from_slice(payload);
    r
}

/// One parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// Request method.
    pub method: String,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// Request body length to discard.
    pub content_length: usize,
}

/// Parses a request head (request line + header lines, without the blank line).
pub fn parse_head(lines: &[String]) -> Option<Head> {
    let mut parts = lines.first()?.split_whitespace();
    let method = parts.next()?.to_string();
    let _target = parts.next()?;
    let version = parts.next()?;
    let mut keep_alive = version == "HTTP/1.1";
    let mut content_length = 0;
    for l in &lines[1..] {
        let (k, v) = l.split_once(':')?;
        let v = v.trim();
        if k.eq_ignore_ascii_case("connection") {
            if v.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if v.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if k.eq_ignore_ascii_case("content-length") {
            content_length = v.parse().ok()?;
        }
    }
    Some(Head {
        method,
        keep_alive,
        content_length,
    })
}

/// The connection as the server sees it: `X-Peer` (the source the server sees: the
/// client, or a FULLNAT local address) and `X-Local` (the address and port it was reached
/// on, e.g. 8080 behind NAT port mapping). IPv4-mapped addresses are shown as IPv4.
pub fn conn_headers(peer: Option<SocketAddr>, local: Option<SocketAddr>) -> String {
    let show = |a: Option<SocketAddr>| match a {
        Some(a) => SocketAddr::new(a.ip().to_canonical(), a.port()).to_string(),
        None => "-".to_string(),
    };
    format!("X-Peer: {}\r\nX-Local: {}\r\n", show(peer), show(local))
}

/// The full response for server `id`; `extra` are header lines (each ending in CRLF).
pub fn response(id: &str, head: &Head, extra: &str) -> Vec<u8> {
    let body = format!("{id}\n");
    let conn = if head.keep_alive {
        "keep-alive"
    } else {
        "close"
    };
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Server: {id}\r\n{extra}Connection: {conn}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if head.method != "HEAD" {
        r.extend_from_slice(body.as_bytes());
    }
    r
}

fn serve_conn(s: TcpStream, id: &str) -> io::Result<()> {
    let extra = conn_headers(s.peer_addr().ok(), s.local_addr().ok());
    s.set_read_timeout(Some(IDLE))?;
    s.set_write_timeout(Some(IDLE))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    loop {
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let mut line = String::new();
            let n = r.read_line(&mut line)?;
            if n == 0 {
                return Ok(()); // peer closed
            }
            total += n;
            if total > MAX_HEAD {
                w.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                return Ok(());
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.is_empty() {
                if lines.is_empty() {
                    continue; // tolerate blank lines before a request
                }
                break;
            }
            lines.push(line);
        }
        let Some(head) = parse_head(&lines) else {
            w.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        };
        if head.content_length > 0 {
            io::copy(
                &mut (&mut r).take(head.content_length as u64),
                &mut io::sink(),
            )?;
        }
        w.write_all(&response(id, &head, &extra))?;
        if !head.keep_alive {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(lines: &[&str]) -> Option<Head> {
        parse_head(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn heads() {
        assert_eq!(
            h(&["GET / HTTP/1.0", "Host: x"]),
            Some(Head {
                method: "GET".into(),
                keep_alive: false,
                content_length: 0
            })
        );
        assert!(h(&["GET / HTTP/1.1"]).unwrap().keep_alive);
        assert!(
            !h(&["GET / HTTP/1.1", "Connection: close"])
                .unwrap()
                .keep_alive
        );
        assert!(
            h(&["GET / HTTP/1.0", "connection: Keep-Alive"])
                .unwrap()
                .keep_alive
        );
        assert_eq!(
            h(&["POST / HTTP/1.1", "Content-Length: 5"])
                .unwrap()
                .content_length,
            5
        );
        assert!(h(&["GET /"]).is_none());
        assert!(h(&["GET / HTTP/1.1", "bogus"]).is_none());
    }

    #[test]
    fn responses() {
        let head = h(&["GET / HTTP/1.0"]).unwrap();
        let extra = conn_headers(
            Some("[::ffff:198.18.0.2]:4000".parse().unwrap()),
            Some("[fd00:2::11]:8080".parse().unwrap()),
        );
        let r = String::from_utf8(response("rs2", &head, &extra)).unwrap();
        assert!(
            r.contains("X-Peer: 198.18.0.2:4000\r\nX-Local: [fd00:2::11]:8080\r\n"),
            "{r}"
        );
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 4\r\n"));
        assert!(r.contains("X-Server: rs2\r\n"));
        assert!(r.ends_with("\r\n\r\nrs2\n"));
        assert_eq!(echo_reply("rs1", b"hi"), b"rs1 hi");
    }

    #[test]
    fn keep_alive_conn_over_loopback() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let _ = serve_conn(s, "rs7");
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.write_all(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let mut all = String::new();
        c.read_to_string(&mut all).unwrap();
        assert_eq!(all.matches("X-Server: rs7\r\n").count(), 2, "{all}");
        assert!(all.ends_with("rs7\n"));
    }
}
