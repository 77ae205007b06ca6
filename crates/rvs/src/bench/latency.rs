//! `rvs bench latency`: an open-loop HTTP/1.1 client. `conns` keep-alive connections send
//! requests on a fixed schedule (`rate` per second in total); each request's latency is
//! measured from the time it was *scheduled* to the end of its response, so a slow response
//! delays the next send without hiding the delay (no coordinated omission, as in wrk2).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

/// `rvs bench latency` arguments.
#[derive(clap::Args, Debug)]
pub struct LatencyArgs {
    /// Target ADDR:PORT.
    pub target: SocketAddr,
    /// Requests per second, in total.
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Keep-alive connections (one thread each).
    #[arg(long, default_value_t = 8)]
    pub conns: usize,
}

/// What `rvs bench latency` prints (as JSON).
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct LatencyReport {
    /// Responses received.
    pub requests: u64,
    /// Failed requests (connect, write, read or parse errors; the connection is re-opened).
    pub errors: u64,
    /// Achieved responses per second.
    pub rate: f64,
    /// Median latency (µs).
    pub p50_us: f64,
    /// 90th percentile (µs).
    pub p90_us: f64,
    /// 99th percentile (µs).
    pub p99_us: f64,
    /// Largest (µs).
    pub max_us: f64,
}

/// The `p` quantile (0..=1) of sorted `v`: the smallest value with at least p·n values at or
/// below it (nearest rank). 0 for an empty slice.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Length of a complete HTTP response at the start of `buf` (head + Content-Length body),
/// or None while incomplete. Errors on a response without Content-Length.
pub fn response_len(buf: &[u8]) -> Result<Option<usize>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("response head is not UTF-8")?;
    let mut len = None;
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            len = Some(v.trim().parse::<usize>().context("bad Content-Length")?);
        }
    }
    let Some(len) = len else {
        bail!("response without Content-Length");
    };
    let total = end + 4 + len;
    Ok((buf.len() >= total).then_some(total))
}

/// Lowers this thread's timer slack to 1 ns so sleeps end close to the schedule.
fn tight_timer_slack() {
    // SAFETY: plain prctl on the calling thread; no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(target: SocketAddr) -> std::io::Result<Conn> {
        let s = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        Ok(Conn {
            s,
            buf: Vec::with_capacity(4096),
        })
    }

    fn request(&mut self, req: &[u8]) -> Result<()> {
        self.s.write_all(req)?;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(n) = response_len(&self.buf)? {
                self.buf.drain(..n);
                return Ok(());
            }
            let n = self.s.read(&mut chunk)?;
            if n == 0 {
                bail!("connection closed");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn worker(
    target: SocketAddr,
    start: Instant,
    offset: Duration,
    interval: Duration,
    end: Duration,
    errors: &AtomicU64,
) -> Vec<f64> {
    tight_timer_slack();
    let req = format!("GET / HTTP/1.1\r\nHost: {target}\r\nUser-Agent: rvs-bench\r\n\r\n");
    let mut lat = Vec::new();
    let mut conn: Option<Conn> = None;
    let mut k: u32 = 0;
    loop {
        let due = offset + interval * k;
        if due >= end {
            break;
        }
        k += 1;
        let now = start.elapsed();
        if due > now {
            thread::sleep(due - now);
        }
        let c = match conn.take() {
            Some(c) => Ok(c),
            None => Conn::open(target),
        };
        let ok = match c {
            Ok(mut c) => match c.request(req.as_bytes()) {
                Ok(()) => {
                    conn = Some(c);
                    true
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
        if ok {
            let took = start.elapsed().saturating_sub(due);
            lat.push(took.as_secs_f64() * 1e6);
        } else {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    lat
}

/// Runs the open-loop client and returns its report.
pub fn run(a: &LatencyArgs) -> Result<LatencyReport> {
    if !(a.rate > 0.0 && a.rate <= 1e6) || a.conns == 0 || a.conns > 1024 {
        bail!("latency: rate 0..1e6, conns 1..1024");
    }
    if !(a.seconds > 0.0 && a.seconds <= 3600.0) {
        bail!("latency: seconds 0..3600");
    }
    let interval = Duration::from_secs_f64(a.conns as f64 / a.rate);
    let end = Duration::from_secs_f64(a.seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(50);
    let mut handles = Vec::new();
    for i in 0..a.conns {
        let errors = errors.clone();
        let offset = interval.mul_f64(i as f64 / a.conns as f64);
        let target = a.target;
        handles.push(thread::spawn(move || {
            let wait = start.saturating_duration_since(Instant::now());
            thread::sleep(wait);
            worker(target, start, offset, interval, end, &errors)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        match h.join() {
            Ok(v) => all.extend(v),
            Err(_) => bail!("a latency worker panicked"),
        }
    }
    all.sort_by(f64::total_cmp);
    Ok(LatencyReport {
        requests: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        rate: all.len() as f64 / a.seconds,
        p50_us: percentile(&all, 0.50),
        p90_us: percentile(&all, 0.90),
        p99_us: percentile(&all, 0.99),
        max_us: all.last().copied().unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn response_framing() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX: y\r\n\r\nrs1\nHTTP/1.1";
        assert_eq!(response_len(r).unwrap(), Some(48));
        assert_eq!(response_len(&r[..47]).unwrap(), None);
        assert_eq!(response_len(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert!(response_len(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn measures_a_local_server() {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for s in l.incoming() {
                let mut s = s.unwrap();
                thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    let mut acc = Vec::new();
                    loop {
                        let n = s.read(&mut buf).unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        acc.extend_from_slice(&buf[..n]);
                        while let Some(p) = acc.windows(4).position(|w| w == b"\r\n\r\n") {
                            acc.drain(..p + 4);
                            let _ =
                                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
                        }
                    }
                });
            }
        });
        let r = run(&LatencyArgs {
            target: addr,
            rate: 400.0,
            seconds: 0.5,
            conns: 2,
        })
        .unwrap();
        assert_eq!(r.errors, 0);
        assert_eq!(r.requests, 200);
        assert!(r.p50_us > 0.0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us);
    }
}
