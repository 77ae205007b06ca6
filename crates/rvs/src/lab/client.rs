//! `rvs lab client http|udp`: N sequential requests, each on a new connection (HTTP/1.0) or
//! a new socket (UDP), tallied by the server that answered.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// Arguments of `rvs lab client`.
#[derive(clap::Subcommand, Debug)]
pub enum ClientCmd {
    /// HTTP/1.0 GETs, one new connection each; tally the bodies.
    Http(ClientArgs),
    /// UDP datagrams, one new socket each; tally the repliers.
    Udp(ClientArgs),
}

/// Common client arguments.
#[derive(clap::Args, Debug)]
pub struct ClientArgs {
    /// ADDR[:PORT] (http: port defaults to 80; IPv6 as [ADDR]:PORT or bare ADDR) / ADDR:PORT (udp).
    pub target: String,
    /// Number of requests.
    #[arg(long, default_value_t = 10)]
    pub count: u32,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Timeout of each connect, read and write, in ms.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

/// Parses ADDR[:PORT] with IPv6 in brackets (or bare, then without a port).
pub fn parse_target(s: &str, default_port: Option<u16>) -> Result<SocketAddr> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let ip = if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        s.parse::<IpAddr>().ok()
    };
    match (ip, default_port) {
        (Some(ip), Some(p)) => Ok(SocketAddr::new(ip, p)),
        (Some(_), None) => bail!("{s}: a port is needed (ADDR:PORT, [IPv6]:PORT)"),
        (None, _) => bail!("{s}: not ADDR[:PORT] (IPv6 as [ADDR]:PORT)"),
    }
}

/// Answers per server and failures.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Answers per server id.
    pub counts: BTreeMap<String, u64>,
    /// Requests without a valid answer.
    pub failed: u64,
    /// First failure, for the report.
    pub first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, r: Result<String>) {
        match r {
            Ok(id) => *self.counts.entry(id).or_default() += 1,
            Err(e) => {
                self.failed += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }

    /// Servers in natural order (rs2 before rs10).
    pub fn sorted(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        v.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
        v
    }

    /// `rs1 20` lines then `failed N`.
    pub fn lines(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.sorted() {
            s.push_str(&format!("{k} {v}\n"));
        }
        s.push_str(&format!("failed {}\n", self.failed));
        s
    }

    /// `{"counts":{...},"failed":N,"first_error":...}`.
    pub fn json(&self) -> String {
        serde_json::json!({
            "counts": self.counts,
            "failed": self.failed,
            "first_error": self.first_error,
        })
        .to_string()
    }
}

/// One HTTP/1.0 GET; returns the body's first line.
pub fn http_once(addr: SocketAddr, timeout: Duration) -> Result<String> {
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let host = match addr.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    s.write_all(
        format!("GET / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: rvs-lab\r\n\r\n").as_bytes(),
    )
    .context("send")?;
    let mut resp = Vec::new();
    s.take(64 * 1024)
        .read_to_end(&mut resp)
        .context("receive")?;
    let text = String::from_utf8_lossy(&resp);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("incomplete response from {addr}");
    };
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("{addr}: {}", head.lines().next().unwrap_or(""));
    }
    let id = body.lines().next().unwrap_or("").trim();
    if id.is_empty() {
        bail!("{addr}: empty body");
    }
    Ok(id.to_string())
}

/// How many earlier UDP sockets stay open (their ports taken) during a run: well under the
/// default descriptor limit of 1024.
const MAX_OPEN_UDP: usize = 512;

/// One UDP datagram on a new socket; returns the replier's id. The socket is kept in
/// `open` so that its source port stays taken for the rest of the run: the kernel may
/// otherwise hand a closed socket's port to the next one, and the director would then
/// (rightly) treat that datagram as part of the earlier connection.
pub fn udp_once(
    addr: SocketAddr,
    seq: u32,
    timeout: Duration,
    open: &mut Vec<UdpSocket>,
) -> Result<String> {
    let bind = SocketAddr::new(
        if addr.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        },
        0,
    );
    let s = UdpSocket::bind(bind).context("udp bind")?;
    s.connect(addr)
        .with_context(|| format!("udp connect {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    let payload = format!("rvs-lab {seq}");
    s.send(payload.as_bytes())
        .with_context(|| format!("send to {addr}"))?;
    let mut buf = [0u8; 2048];
    let got = s.recv(&mut buf);
    if open.len() >= MAX_OPEN_UDP {
        open.remove(0);
    }
    open.push(s);
    let n = got.with_context(|| format!("no reply from {addr}"))?;
    let reply = String::from_utf8_lossy(&buf[..n]);
    match reply.split_once(' ') {
        Some((id, rest)) if rest == payload && !id.is_empty() => Ok(id.to_string()),
        _ => bail!("{addr}: unexpected reply {reply:?}"),
    }
}

/// Runs `rvs lab client`.
pub fn main(cmd: &ClientCmd) -> Result<ExitCode> {
    let (args, http) = match cmd {
        ClientCmd::Http(a) => (a, true),
        ClientCmd::Udp(a) => (a, false),
    };
    let addr = parse_target(&args.target, if http { Some(80) } else { None })?;
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let mut t = Tally::default();
    let mut open = Vec::new();
    for i in 0..args.count {
        t.add(if http {
            http_once(addr, timeout)
        } else {
            udp_once(addr, i, timeout, &mut open)
        });
    }
    if args.json {
        println!("{}", t.json());
    } else {
        print!("{}", t.lines());
        if let Some(e) = &t.first_error {
            eprintln!("first failure: {e}");
        }
    }
    Ok(if t.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("198.18.1.100", Some(80)).unwrap().to_string(),
            "198.18.1.100:80"
        );
        assert_eq!(
            parse_target("198.18.1.100:8080", Some(80)).unwrap().port(),
            8080
        );
        assert_eq!(
            parse_target("[fd00:1::100]:81", Some(80))
                .unwrap()
                .to_string(),
            "[fd00:1::100]:81"
        );
        assert_eq!(
            parse_target("[fd00:1::100]", Some(80)).unwrap().to_string(),
            "[fd00:1::100]:80"
        );
        assert_eq!(parse_target("fd00:1::100", Some(80)).unwrap().port(), 80);
        assert!(parse_target("198.18.1.100", None).is_err());
        assert!(parse_target("nope:1", Some(80)).is_err());
    }

    #[test]
    fn tally_output() {
        let mut t = Tally::default();
        for id in ["rs10", "rs2", "rs2", "rs1"] {
            t.add(Ok(id.to_string()));
        }
        t.add(Err(anyhow::anyhow!("boom")));
        assert_eq!(t.lines(), "rs1 1\nrs2 2\nrs10 1\nfailed 1\n");
        let j: serde_json::Value = serde_json::from_str(&t.json()).unwrap();
        assert_eq!(j["counts"]["rs2"], 2);
        assert_eq!(j["failed"], 1);
        assert_eq!(j["first_error"], "boom");
    }

    #[test]
    fn against_the_servers_on_loopback() {
        let [t4, _t6] = super::super::net::tcp_listeners(0).unwrap();
        let port = t4.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in t4.incoming().take(3) {
                let s = s.unwrap();
                std::thread::spawn(move || {
                    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
                    let mut line = String::new();
                    use std::io::BufRead as _;
                    while r.read_line(&mut line).unwrap() > 2 {
                        line.clear();
                    }
                    let mut w = s;
                    w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nrs3\n")
                        .unwrap();
                });
            }
        });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert_eq!(http_once(addr, Duration::from_secs(2)).unwrap(), "rs3");
        // Nothing listens on UDP port 9 of ::1 here: a bounded failure, not a hang.
        let e = udp_once(
            "[::1]:9".parse().unwrap(),
            0,
            Duration::from_millis(200),
            &mut Vec::new(),
        );
        assert!(e.is_err());
    }
}
