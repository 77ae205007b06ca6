//! Reading the system: CPU time (whole machine from /proc/stat, a namespace's processes from
//! /proc/PID/stat), rvsd's RSS, interface counters inside namespaces, and wrk's output.

use std::fs;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::lab::sys;

/// Clock ticks per second of /proc's CPU times.
pub fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Whole-machine CPU time from /proc/stat's `cpu` line, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineCpu {
    /// Everything but idle and iowait.
    pub busy: u64,
    /// Softirq time (packet processing of veth, bridges, routing, netfilter, XDP).
    pub softirq: u64,
}

/// Parses the aggregate `cpu` line of /proc/stat.
pub fn parse_proc_stat(text: &str) -> Option<MachineCpu> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 7 {
        return None;
    }
    // user nice system idle iowait irq softirq steal guest guest_nice
    let total: u64 = v.iter().take(8).sum();
    Some(MachineCpu {
        busy: total - v[3] - v[4],
        softirq: v[6],
    })
}

/// The machine's CPU time now.
pub fn machine_cpu() -> Result<MachineCpu> {
    let t = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    parse_proc_stat(&t).ok_or_else(|| anyhow!("cannot parse /proc/stat"))
}

/// utime + stime (ticks) from the text of /proc/PID/stat.
pub fn parse_pid_cpu(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut it = rest.split_whitespace();
    // After the state (field 3), utime is field 14 and stime 15: the 11th and 12th after it.
    let utime: u64 = it.nth(11)?.parse().ok()?;
    let stime: u64 = it.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Pids of every process in network namespace `ns`.
pub fn ns_pids(ns: &str) -> Vec<i32> {
    sys::ip(&["netns", "pids", ns])
        .map(|o| o.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// CPU time (ticks, all threads) of the processes in `ns` now, per pid: a process that
/// exits between two samples drops out (the lab's daemons do not).
pub fn ns_cpu(ns: &str) -> Vec<(i32, u64)> {
    ns_pids(ns)
        .into_iter()
        .filter_map(|p| {
            let t = fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            Some((p, parse_pid_cpu(&t)?))
        })
        .collect()
}

/// Ticks used between two `ns_cpu` samples by the processes present in both.
pub fn ns_cpu_delta(before: &[(i32, u64)], after: &[(i32, u64)]) -> u64 {
    after
        .iter()
        .filter_map(|(p, a)| {
            let b = before.iter().find(|(q, _)| q == p)?.1;
            Some(a.saturating_sub(b))
        })
        .sum()
}

/// VmRSS (KiB) from the text of /proc/PID/status.
pub fn parse_rss_kib(status: &str) -> Option<u64> {
    let l = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// VmRSS of `pid` in KiB.
pub fn rss_kib(pid: i32) -> Result<u64> {
    let t = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_rss_kib(&t).ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// An interface counter (`rx_packets`, `tx_packets`…) of `iface` inside `ns`.
pub fn if_counter(ns: &str, iface: &str, counter: &str) -> Result<u64> {
    let path = format!("/sys/class/net/{iface}/statistics/{counter}");
    let out = sys::nsexec(ns, "cat", &[&path])?;
    out.trim()
        .parse()
        .with_context(|| format!("{path} in {ns}: {out:?}"))
}

/// wrk's summary: requests/s and the error lines, if any.
#[derive(Debug, PartialEq)]
pub struct WrkOut {
    /// `Requests/sec:`.
    pub rps: f64,
    /// Total requests (`N requests in …`).
    pub requests: u64,
    /// `Socket errors: …` / `Non-2xx …` lines.
    pub errors: Vec<String>,
}

/// Parses wrk's output.
pub fn parse_wrk(out: &str) -> Result<WrkOut> {
    let mut rps = None;
    let mut requests = None;
    let mut errors = Vec::new();
    for l in out.lines().map(str::trim) {
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if l.contains(" requests in ") {
            requests = l.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if l.starts_with("Socket errors") || l.starts_with("Non-2xx") {
            errors.push(l.to_string());
        }
    }
    match (rps, requests) {
        (Some(rps), Some(requests)) => Ok(WrkOut {
            rps,
            requests,
            errors,
        }),
        _ => bail!("cannot parse wrk's output:\n{out}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat() {
        let t = "cpu  100 5 50 1000 20 3 40 2 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(
            parse_proc_stat(t),
            Some(MachineCpu {
                busy: 100 + 5 + 50 + 3 + 40 + 2,
                softirq: 40
            })
        );
        assert_eq!(parse_proc_stat("cpu0 1 2\n"), None);
    }

    #[test]
    fn pid_stat_and_status() {
        let s = "42 (rv sd) S 1 42 42 0 -1 4194560 100 0 0 0 17 9 0 0 20 0 3 0 1234 0 0";
        assert_eq!(parse_pid_cpu(s), Some(26));
        let me = fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_pid_cpu(&me).is_some());
        assert_eq!(
            parse_rss_kib("Name:\trvsd\nVmRSS:\t   12345 kB\n"),
            Some(12345)
        );
        assert!(rss_kib(std::process::id() as i32).unwrap() > 0);
        assert_eq!(ns_cpu_delta(&[(1, 10), (2, 5)], &[(1, 15), (3, 100)]), 5);
    }

    #[test]
    fn wrk_output() {
        let out = "Running 2s test @ http://198.18.1.100/\n  1 threads and 16 connections\n\
          Thread Stats   Avg      Stdev     Max   +/- Stdev\n\
          Latency   300.00us  100.00us   2.00ms   90.00%\n\
          105904 requests in 2.00s, 17.27MB read\n\
          Socket errors: connect 0, read 3, write 0, timeout 0\n\
        Requests/sec:  52950.31\nTransfer/sec:      8.63MB\n";
        let w = parse_wrk(out).unwrap();
        assert_eq!(w.requests, 105_904);
        assert!((w.rps - 52950.31).abs() < 1e-6);
        assert_eq!(w.errors.len(), 1);
        assert!(parse_wrk("nothing").is_err());
    }
}
