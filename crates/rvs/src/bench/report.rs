//! Results: samples per system and metric, their summaries (median, min–max), the
//! completeness check, and the Markdown tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::system::System;

/// A measured quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// JSON key.
    pub key: &'static str,
    /// Column title.
    pub title: &'static str,
    /// True when more is better (throughput), false for latency and cost.
    pub higher_better: bool,
}

/// Keep-alive requests/s (wrk).
pub const KEEPALIVE: Metric = Metric {
    key: "keepalive_rps",
    title: "req/s keep-alive",
    higher_better: true,
};
/// New TCP connections/s (wrk, `Connection: close`).
pub const CONN: Metric = Metric {
    key: "conn_per_s",
    title: "conn/s",
    higher_better: true,
};
/// UDP packets/s counted at the real servers.
pub const UDP: Metric = Metric {
    key: "udp_pps",
    title: "UDP pps at RS",
    higher_better: true,
};
/// Datagrams/s the generator's kernel accepted during the UDP measurement.
pub const GEN: Metric = Metric {
    key: "gen_pps",
    title: "generator pps",
    higher_better: true,
};
/// Latency p50 (µs) at the fixed rate.
pub const P50: Metric = Metric {
    key: "lat_p50_us",
    title: "p50 µs",
    higher_better: false,
};
/// Latency p99 (µs) at the fixed rate.
pub const P99: Metric = Metric {
    key: "lat_p99_us",
    title: "p99 µs",
    higher_better: false,
};
/// CPU of the director namespace's processes per UDP packet at the RS (ns).
pub const DIR_PKT: Metric = Metric {
    key: "dir_cpu_ns_per_pkt",
    title: "director procs ns/pkt",
    higher_better: false,
};
/// Machine-wide softirq time per UDP packet at the RS (ns).
pub const SOFTIRQ_PKT: Metric = Metric {
    key: "softirq_ns_per_pkt",
    title: "softirq ns/pkt (machine)",
    higher_better: false,
};
/// Machine-wide busy CPU time per UDP packet at the RS (ns).
pub const BUSY_PKT: Metric = Metric {
    key: "busy_ns_per_pkt",
    title: "all CPU ns/pkt (machine)",
    higher_better: false,
};
/// CPU of the director namespace's processes per keep-alive request (ns).
pub const DIR_REQ: Metric = Metric {
    key: "dir_cpu_ns_per_req",
    title: "director procs ns/req",
    higher_better: false,
};

/// UDP packets/s from the XDP generator through the director to the XDP sink, one core
/// (`pps.rs`).
pub const XDP_PPS: Metric = Metric {
    key: "xdp_gen_pps",
    title: "UDP pps, XDP gen → sink (1 core)",
    higher_better: true,
};
/// The XDP generator's own frames/s in that measurement.
pub const XDP_GEN: Metric = Metric {
    key: "xdp_gen_sent_pps",
    title: "XDP generator frames/s",
    higher_better: true,
};

/// The columns of the main table, in order.
pub const COLUMNS: [Metric; 11] = [
    KEEPALIVE,
    CONN,
    UDP,
    XDP_PPS,
    GEN,
    P50,
    P99,
    DIR_PKT,
    SOFTIRQ_PKT,
    BUSY_PKT,
    DIR_REQ,
];

/// The metrics of the ratio table and the chart.
pub const RATIOS: [Metric; 5] = [KEEPALIVE, CONN, UDP, XDP_PPS, P99];

/// Whether `m` is measured for `s`.
pub fn applies(s: System, m: Metric) -> bool {
    if m.key == XDP_PPS.key || m.key == XDP_GEN.key {
        return super::pps::applies(s);
    }
    let udp = [UDP.key, GEN.key, SOFTIRQ_PKT.key, BUSY_PKT.key];
    if udp.contains(&m.key) {
        return s.has_udp();
    }
    if m.key == DIR_PKT.key {
        // Only systems with processes in the director forward UDP in user space.
        return s.is_rvs() || s == System::Nginx;
    }
    if m.key == DIR_REQ.key {
        return s.is_rvs() || matches!(s, System::Haproxy | System::Nginx);
    }
    true
}

/// Median, min and max of a sample set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Number of samples.
    pub n: usize,
}

/// Summarises `v`; None when empty.
pub fn summarize(v: &[f64]) -> Option<Summary> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some(Summary {
        median,
        min: s[0],
        max: s[n - 1],
        n,
    })
}

/// Everything measured for one system.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SystemResult {
    /// Samples per metric key.
    pub samples: BTreeMap<String, Vec<f64>>,
    /// Summaries per metric key (filled by [`Results::finish`]).
    pub summary: BTreeMap<String, Summary>,
    /// Why the system could not be measured (completely), if it could not.
    pub error: Option<String>,
    /// rvsd's `--status` after the measurements (rvs systems).
    pub rvsd_status: Option<serde_json::Value>,
}

impl SystemResult {
    /// Adds a sample.
    pub fn push(&mut self, m: Metric, v: f64) {
        self.samples.entry(m.key.to_string()).or_default().push(v);
    }

    /// The median of `m`, if measured.
    pub fn median(&self, m: Metric) -> Option<f64> {
        self.summary.get(m.key).map(|s| s.median)
    }
}

/// rvsd's memory with N connections.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemRow {
    /// Connections asked for.
    pub target: u64,
    /// Connections rvsd's status reported.
    pub counted: u64,
    /// VmRSS (KiB).
    pub rss_kib: u64,
    /// VmRSS before any connection (KiB).
    pub base_kib: u64,
}

/// How many memory runs `rows` holds (rows per target).
fn mem_runs(rows: &[MemRow]) -> usize {
    let first = rows.first().map(|r| r.target);
    rows.iter().filter(|r| Some(r.target) == first).count()
}

/// `median (min–max)` with `decimals` places (one value when all are equal).
fn fmt_spread(x: &Summary, decimals: usize) -> String {
    let f = |v: f64| format!("{v:.decimals$}");
    if f(x.min) == f(x.max) {
        f(x.median)
    } else {
        format!("{} ({}–{})", f(x.median), f(x.min), f(x.max))
    }
}

impl MemRow {
    /// (RSS − base) / counted connections, in bytes.
    pub fn bytes_per_conn(&self) -> f64 {
        if self.counted == 0 {
            return 0.0;
        }
        (self.rss_kib.saturating_sub(self.base_kib) * 1024) as f64 / self.counted as f64
    }
}

/// Where, when and how the run was made.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Meta {
    /// UTC date and time.
    pub date: String,
    /// `git rev-parse --short HEAD` (+dirty).
    pub commit: String,
    /// `nproc`.
    pub nproc: usize,
    /// CPU model.
    pub cpu: String,
    /// `uname -r`.
    pub kernel: String,
    /// /proc/loadavg at the start and the end.
    pub load_start: String,
    /// /proc/loadavg at the end.
    pub load_end: String,
    /// Repetitions of each measurement.
    pub reps: usize,
    /// Seconds per measurement.
    pub seconds: f64,
    /// Real servers.
    pub servers: u8,
    /// wrk connections.
    pub wrk_conns: usize,
    /// Latency client: rate (req/s) and connections.
    pub latency_rate: f64,
    /// Latency client connections.
    pub latency_conns: usize,
    /// Load generators on CPU 0, the director's processes on CPU 1 (taskset).
    pub pinned: bool,
    /// The rvs system whose rvsd memory was measured.
    pub memory_system: Option<System>,
    /// Smoke run.
    pub smoke: bool,
}

/// A whole run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Results {
    /// Run description.
    pub meta: Meta,
    /// Systems in the order measured.
    pub order: Vec<System>,
    /// Per system.
    pub systems: BTreeMap<System, SystemResult>,
    /// The UDP generator's own rate into a veth sink in the client (datagrams/s).
    pub generator_limit: Vec<f64>,
    /// Summary of `generator_limit`.
    pub generator_limit_summary: Option<Summary>,
    /// The XDP generator through an XDP wire in place of the director (packets/s at the
    /// sink): the floor of that measurement (`pps.rs`).
    #[serde(default)]
    pub xdp_wire: Vec<f64>,
    /// Summary of `xdp_wire`.
    #[serde(default)]
    pub xdp_wire_summary: Option<Summary>,
    /// rvsd memory rows.
    pub memory: Vec<MemRow>,
    /// Error of the memory measurement, if any.
    pub memory_error: Option<String>,
}

impl Results {
    /// Computes every summary.
    pub fn finish(&mut self) {
        for r in self.systems.values_mut() {
            r.summary = r
                .samples
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), summarize(v)?)))
                .collect();
        }
        self.generator_limit_summary = summarize(&self.generator_limit);
        self.xdp_wire_summary = summarize(&self.xdp_wire);
    }

    /// The director's time per packet beyond the XDP wire's, from the medians: one core
    /// runs the whole path, so 1 s / pps is its time per packet, and the generator's and
    /// the sink's share is the wire run's.
    pub fn xdp_cost_ns(&self, s: System) -> Option<f64> {
        let w = self.xdp_wire_summary?.median;
        let p = self.systems.get(&s)?.median(XDP_PPS)?;
        (w > 0.0 && p > 0.0).then(|| 1e9 / p - 1e9 / w)
    }

    /// What is missing or zero: empty when the table is complete.
    pub fn incomplete(&self, mem_targets: &[u64]) -> Vec<String> {
        let mut v = Vec::new();
        for s in &self.order {
            let Some(r) = self.systems.get(s) else {
                v.push(format!("{}: not measured", s.key()));
                continue;
            };
            if let Some(e) = &r.error {
                v.push(format!("{}: {e}", s.key()));
            }
            for m in COLUMNS.iter().filter(|m| applies(*s, **m)) {
                match r.summary.get(m.key) {
                    Some(x) if x.median > 0.0 && x.min > 0.0 => {}
                    // With the XDP fast path, established traffic may never reach rvsd.
                    Some(_)
                        if s.has_fastpath() && (m.key == DIR_PKT.key || m.key == DIR_REQ.key) => {}
                    Some(_) => v.push(format!("{} {}: zero", s.key(), m.key)),
                    None => v.push(format!("{} {}: missing", s.key(), m.key)),
                }
            }
        }
        if self.order.contains(&System::Plain)
            && !self.generator_limit_summary.is_some_and(|g| g.min > 0.0)
        {
            v.push("generator limit: missing".into());
        }
        if self.order.contains(&System::Plain)
            && !self.xdp_wire_summary.is_some_and(|g| g.min > 0.0)
        {
            v.push("XDP wire: missing".into());
        }
        if self.meta.memory_system.is_some() {
            if let Some(e) = &self.memory_error {
                v.push(format!("memory: {e}"));
            }
            for t in mem_targets {
                let rows: Vec<&MemRow> = self.memory.iter().filter(|m| m.target == *t).collect();
                if rows.is_empty() {
                    v.push(format!("memory at {t}: missing"));
                }
                for m in rows {
                    if m.counted < m.target || m.rss_kib == 0 {
                        v.push(format!(
                            "memory at {t}: {} connections counted, RSS {} KiB",
                            m.counted, m.rss_kib
                        ));
                    }
                }
            }
        }
        v
    }

    /// Ratio of `s`'s median to `base`'s for `m`.
    pub fn ratio(&self, s: System, base: System, m: Metric) -> Option<f64> {
        let a = self.systems.get(&s)?.median(m)?;
        let b = self.systems.get(&base)?.median(m)?;
        (b > 0.0).then(|| a / b)
    }
}

/// A number for the tables: integers with thousands separators, small values with one or
/// two decimals.
pub fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        let i = v.round() as i64;
        let s = i.abs().to_string();
        let mut out = String::new();
        for (k, c) in s.chars().enumerate() {
            if k > 0 && (s.len() - k).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if i < 0 { format!("-{out}") } else { out }
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn cell(r: Option<&SystemResult>, m: Metric) -> String {
    match r.and_then(|r| r.summary.get(m.key)) {
        None => "–".into(),
        Some(s) if s.n == 1 => fmt_num(s.median),
        Some(s) => format!(
            "{} ({}–{})",
            fmt_num(s.median),
            fmt_num(s.min),
            fmt_num(s.max)
        ),
    }
}

fn ratio_cell(res: &Results, s: System, m: Metric) -> String {
    let f = |b| {
        res.ratio(s, b, m)
            .map_or_else(|| "–".to_string(), |x| format!("{x:.2}"))
    };
    format!("{} / {}", f(System::Nftables), f(System::Plain))
}

/// The Markdown report: main table, ratio table, generator, memory, run description.
pub fn markdown(res: &Results) -> String {
    let mut s = String::new();
    let m = &res.meta;
    let spread = if m.reps > 1 {
        format!("median (min–max) of {} runs", m.reps)
    } else {
        "1 run".to_string()
    };
    let _ = writeln!(
        s,
        "Run {} · commit {} · {} CPUs ({}) · kernel {} · load {} → {}{}\n",
        m.date,
        m.commit,
        m.nproc,
        m.cpu,
        m.kernel,
        m.load_start,
        m.load_end,
        if m.smoke { " · **smoke run**" } else { "" }
    );
    let _ = writeln!(
        s,
        "{spread} of {} s each; {} real servers; wrk -t1 -c{}; latency open-loop at {} req/s over {} connections; {}.\n",
        m.seconds,
        m.servers,
        m.wrk_conns,
        m.latency_rate,
        m.latency_conns,
        if m.pinned {
            "generators pinned to CPU 0, director processes to CPU 1"
        } else {
            "no CPU pinning"
        }
    );
    s.push_str("| system |");
    for c in COLUMNS {
        let _ = write!(s, " {} |", c.title);
    }
    s.push_str("\n|---|");
    for _ in COLUMNS {
        s.push_str("---:|");
    }
    s.push('\n');
    for sys in &res.order {
        let r = res.systems.get(sys);
        let _ = write!(s, "| {} |", sys.label());
        for c in COLUMNS {
            let v = if applies(*sys, c) {
                cell(r, c)
            } else {
                "n/a".into()
            };
            let _ = write!(s, " {v} |");
        }
        s.push('\n');
    }
    s.push_str(
        "\nRatios of the medians, **to nftables / to plain routing** (throughput: higher is \
         better; p99: lower is better):\n\n| system |",
    );
    for c in RATIOS {
        let _ = write!(s, " {} |", c.title);
    }
    s.push_str("\n|---|");
    for _ in RATIOS {
        s.push_str("---:|");
    }
    s.push('\n');
    for sys in &res.order {
        let _ = write!(s, "| {} |", sys.label());
        for c in RATIOS {
            let v = if applies(*sys, c) {
                ratio_cell(res, *sys, c)
            } else {
                "n/a".into()
            };
            let _ = write!(s, " {v} |");
        }
        s.push('\n');
    }
    if let Some(g) = res.generator_limit_summary {
        let plain = res
            .systems
            .get(&System::Plain)
            .and_then(|r| r.median(UDP))
            .unwrap_or(0.0);
        let _ = writeln!(
            s,
            "\nUDP generator (`rvs lab flood`, 64 sockets, sendmmsg ×64, 18-byte payloads) into a \
             veth pair inside the client namespace (no forwarding path): **{} pps** ({}–{}); \
             plain routing delivered {} pps at the real servers = {:.0} % of that.",
            fmt_num(g.median),
            fmt_num(g.min),
            fmt_num(g.max),
            fmt_num(plain),
            if g.median > 0.0 {
                plain / g.median * 100.0
            } else {
                0.0
            }
        );
    }
    if let Some(w) = res.xdp_wire_summary {
        let _ = writeln!(
            s,
            "\nXDP generator → director → XDP sink, one core for the whole path (`{}`): with an \
             XDP wire (`bpf_redirect`, nothing else) in place of the director the sink counts \
             **{} pps** ({}–{}), {:.0} ns per packet for the generator, the veths and the sink. \
             The director's own time per packet is the rest (1 s / pps − the wire's):\n\n\
             | system | pps at the sink | director ns/pkt beyond the wire | × nftables's | × plain routing's |\n|---|---:|---:|---:|---:|",
            XDP_PPS.key,
            fmt_num(w.median),
            fmt_num(w.min),
            fmt_num(w.max),
            1e9 / w.median.max(1.0),
        );
        let nft = res.xdp_cost_ns(System::Nftables);
        let plain = res.xdp_cost_ns(System::Plain);
        for sys in res.order.iter().filter(|x| applies(**x, XDP_PPS)) {
            let Some(c) = res.xdp_cost_ns(*sys) else {
                continue;
            };
            let times = |b: Option<f64>| {
                b.filter(|_| c > 0.0)
                    .map_or_else(|| "–".to_string(), |b| format!("{:.2}", b / c))
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                sys.label(),
                cell(res.systems.get(sys), XDP_PPS),
                fmt_num(c),
                times(nft),
                times(plain)
            );
        }
        s.push_str(
            "\n(× columns: how many times the director's per-packet time of nftables / plain \
             routing this system's is; above 1 is cheaper.)\n",
        );
    }
    if !res.memory.is_empty() {
        let idle: Vec<f64> = res
            .memory
            .iter()
            .map(|r| r.base_kib as f64 / 1024.0)
            .collect();
        let _ = writeln!(
            s,
            "\nrvsd memory ({}; UDP connections from distinct source address/port pairs, count \
             from rvsd's status; median (min–max) of {} runs, each in a fresh lab):\n\n| connections asked | counted by rvsd (min) | VmRSS MiB | bytes/conn above idle ({} MiB) |\n|---:|---:|---:|---:|",
            m.memory_system.map_or("–", |x| x.label()),
            mem_runs(&res.memory),
            summarize(&idle).map_or_else(|| "–".into(), |x| fmt_spread(&x, 1))
        );
        let mut targets: Vec<u64> = res.memory.iter().map(|r| r.target).collect();
        targets.sort_unstable();
        targets.dedup();
        for t in targets {
            let rows: Vec<&MemRow> = res.memory.iter().filter(|r| r.target == t).collect();
            let rss: Vec<f64> = rows.iter().map(|r| r.rss_kib as f64 / 1024.0).collect();
            let per: Vec<f64> = rows.iter().map(|r| r.bytes_per_conn()).collect();
            let counted = rows.iter().map(|r| r.counted).min().unwrap_or(0);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                fmt_num(t as f64),
                fmt_num(counted as f64),
                summarize(&rss).map_or_else(|| "–".into(), |x| fmt_spread(&x, 1)),
                summarize(&per).map_or_else(|| "–".into(), |x| fmt_spread(&x, 0))
            );
        }
    }
    let errs: Vec<String> = res
        .order
        .iter()
        .filter_map(|sys| {
            Some(format!(
                "{}: {}",
                sys.key(),
                res.systems.get(sys)?.error.as_ref()?
            ))
        })
        .chain(res.memory_error.iter().map(|e| format!("memory: {e}")))
        .collect();
    if !errs.is_empty() {
        s.push_str("\nErrors:\n\n");
        for e in errs {
            let _ = writeln!(s, "* {e}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        assert_eq!(summarize(&[]), None);
        let s = summarize(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(summarize(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(1_234_567.4), "1,234,567");
        assert_eq!(fmt_num(999.6), "1,000");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(1.234), "1.23");
        assert_eq!(fmt_num(-1234.0), "-1,234");
    }

    fn full(res: &mut Results, s: System, v: f64) {
        let r = res.systems.entry(s).or_default();
        for m in COLUMNS.iter().filter(|m| applies(s, **m)) {
            r.push(*m, v);
        }
    }

    #[test]
    fn complete_table_ratios_and_gaps() {
        let mut res = Results {
            order: vec![System::Plain, System::Nftables, System::Haproxy],
            ..Default::default()
        };
        full(&mut res, System::Plain, 200.0);
        full(&mut res, System::Nftables, 100.0);
        full(&mut res, System::Haproxy, 50.0);
        res.generator_limit = vec![1000.0];
        res.finish();
        assert_eq!(res.incomplete(&[]), vec!["XDP wire: missing".to_string()]);
        res.xdp_wire = vec![1000.0];
        res.finish();
        assert!(res.incomplete(&[]).is_empty(), "{:?}", res.incomplete(&[]));
        assert_eq!(
            res.ratio(System::Haproxy, System::Nftables, KEEPALIVE),
            Some(0.5)
        );
        assert_eq!(res.ratio(System::Haproxy, System::Plain, CONN), Some(0.25));
        let md = markdown(&res);
        assert!(
            md.contains("| HAProxy mode tcp | 50.0 | 50.0 | n/a |"),
            "{md}"
        );
        assert!(md.contains("| 0.50 / 0.25 |"));
        assert!(md.contains("= 20 % of that"));
        // A zero and a missing value are reported.
        res.systems
            .get_mut(&System::Nftables)
            .unwrap()
            .samples
            .insert(UDP.key.into(), vec![0.0]);
        res.systems
            .get_mut(&System::Haproxy)
            .unwrap()
            .samples
            .remove(CONN.key);
        res.meta.memory_system = Some(System::RvsDr);
        res.memory.push(MemRow {
            target: 10_000,
            counted: 9_000,
            rss_kib: 10,
            base_kib: 5,
        });
        res.finish();
        let gaps = res.incomplete(&[10_000, 100_000]);
        assert!(
            gaps.contains(&"nftables udp_pps: zero".to_string()),
            "{gaps:?}"
        );
        assert!(gaps.contains(&"haproxy conn_per_s: missing".to_string()));
        assert!(gaps.iter().any(|g| g.starts_with("memory at 10000: 9000")));
        assert!(gaps.contains(&"memory at 100000: missing".to_string()));
    }

    #[test]
    fn the_director_cost_beyond_the_xdp_wire() {
        let mut res = Results {
            order: vec![System::Plain, System::Nftables, System::RvsDr],
            ..Default::default()
        };
        for (s, pps) in [
            (System::Plain, 500_000.0),
            (System::Nftables, 400_000.0),
            (System::RvsDr, 800_000.0),
        ] {
            res.systems.entry(s).or_default().push(XDP_PPS, pps);
        }
        res.xdp_wire = vec![1_000_000.0, 900_000.0, 1_100_000.0];
        res.finish();
        // 1 s / pps − 1 µs.
        assert_eq!(res.xdp_cost_ns(System::Plain), Some(1000.0));
        assert_eq!(res.xdp_cost_ns(System::Nftables), Some(1500.0));
        assert_eq!(res.xdp_cost_ns(System::RvsDr), Some(250.0));
        let md = markdown(&res);
        assert!(
            md.contains("| rvs DR | 800,000 | 250 | 6.00 | 4.00 |"),
            "{md}"
        );
        assert!(md.contains("**1,000,000 pps**"), "{md}");
    }

    #[test]
    fn memory_table_shows_median_and_spread_of_runs() {
        let mut res = Results::default();
        res.meta.memory_system = Some(System::RvsDr);
        // Three runs, each over two counts, in the order the runs produce them.
        for (rss, base) in [(3000, 1000), (3200, 1000), (3100, 1024)] {
            for (target, extra) in [(10_000, 0), (100_000, 20_000)] {
                res.memory.push(MemRow {
                    target,
                    counted: target,
                    rss_kib: rss + extra,
                    base_kib: base,
                });
            }
        }
        let md = markdown(&res);
        assert!(md.contains("median (min–max) of 3 runs"), "{md}");
        assert!(
            md.contains("| 10,000 | 10,000 | 3.0 (2.9–3.1) | 213 (205–225) |"),
            "{md}"
        );
        assert_eq!(md.matches("| 10,000 |").count(), 1, "{md}");
        assert!(
            md.contains("| 100,000 | 100,000 | 22.6 (22.5–22.7) |"),
            "{md}"
        );
        assert!(res.incomplete(&[10_000, 100_000]).is_empty());
    }

    #[test]
    fn bytes_per_conn() {
        let r = MemRow {
            target: 1000,
            counted: 1024,
            rss_kib: 1200,
            base_kib: 1000,
        };
        assert_eq!(r.bytes_per_conn(), 200.0);
    }
}
