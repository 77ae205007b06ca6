//! The ratio chart: an SVG written by hand (no plotting dependency). Two panels (to
//! nftables, to plain routing); per system one horizontal bar per throughput metric, a line
//! at 1.0.

use std::fmt::Write as _;

use super::report::{self, Metric, Results};
use super::system::System;

const BAR: f64 = 9.0;
const GAP: f64 = 8.0;
const LABEL_W: f64 = 170.0;
const PANEL_W: f64 = 360.0;
const TOP: f64 = 58.0;
const COLORS: [&str; 4] = ["#4c78a8", "#f58518", "#54a24b", "#e45756"];
const METRICS: [Metric; 4] = [
    report::KEEPALIVE,
    report::CONN,
    report::UDP,
    report::XDP_PPS,
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG document.
pub fn svg(res: &Results) -> String {
    let bases = [System::Nftables, System::Plain];
    let group_h = METRICS.len() as f64 * BAR + GAP;
    let n = res.order.len() as f64;
    let height = TOP + n * group_h + 40.0;
    let width = LABEL_W + 2.0 * (PANEL_W + 50.0);
    // Scale: the largest ratio shown (at least 1.5).
    let mut max: f64 = 1.5;
    for s in &res.order {
        for b in bases {
            for m in METRICS {
                if let Some(r) = res.ratio(*s, b, m) {
                    max = max.max(r);
                }
            }
        }
    }
    let max = (max * 4.0).ceil() / 4.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        o,
        r#"<rect width="100%" height="100%" fill="white"/><text x="8" y="16" font-size="13" font-weight="bold">rvs bench: ratios of medians (higher is better) · {} · commit {}</text>"#,
        esc(&res.meta.date),
        esc(&res.meta.commit)
    );
    for (k, m) in METRICS.iter().enumerate() {
        let x = 8.0 + k as f64 * 220.0;
        let _ = writeln!(
            o,
            r#"<rect x="{x}" y="26" width="10" height="10" fill="{}"/><text x="{:.0}" y="35">{}</text>"#,
            COLORS[k],
            x + 14.0,
            esc(m.title)
        );
    }
    for (i, s) in res.order.iter().enumerate() {
        let y = TOP + i as f64 * group_h + METRICS.len() as f64 * BAR / 2.0 + 4.0;
        let _ = writeln!(
            o,
            r#"<text x="{:.0}" y="{y:.1}" text-anchor="end">{}</text>"#,
            LABEL_W - 6.0,
            esc(s.label())
        );
    }
    for (p, b) in bases.iter().enumerate() {
        let x0 = LABEL_W + p as f64 * (PANEL_W + 50.0);
        let scale = PANEL_W / max;
        let _ = writeln!(
            o,
            r#"<text x="{:.0}" y="{:.0}" font-weight="bold">to {}</text>"#,
            x0,
            TOP - 6.0,
            esc(b.label())
        );
        let bottom = TOP + n * group_h;
        let mut t = 0.0;
        while t <= max + 1e-9 {
            let x = x0 + t * scale;
            let (stroke, w) = if (t - 1.0).abs() < 1e-9 {
                ("#000", 1.2)
            } else {
                ("#ddd", 0.6)
            };
            let _ = writeln!(
                o,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom:.1}" stroke="{stroke}" stroke-width="{w}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{t:.2}</text>"##,
                bottom + 12.0
            );
            t += 0.25;
        }
        for (i, s) in res.order.iter().enumerate() {
            for (k, m) in METRICS.iter().enumerate() {
                let y = TOP + i as f64 * group_h + k as f64 * BAR;
                match res.ratio(*s, *b, *m) {
                    Some(r) => {
                        let w = (r * scale).max(0.5);
                        let _ = writeln!(
                            o,
                            r##"<rect x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{}"><title>{} {}: {r:.2}</title></rect><text x="{:.1}" y="{:.1}" font-size="8" fill="#333">{r:.2}</text>"##,
                            BAR - 1.0,
                            COLORS[k],
                            esc(s.label()),
                            esc(m.title),
                            x0 + w + 2.0,
                            y + BAR - 2.0
                        );
                    }
                    None => {
                        let _ = writeln!(
                            o,
                            r##"<text x="{:.1}" y="{:.1}" font-size="8" fill="#999">n/a</text>"##,
                            x0 + 2.0,
                            y + BAR - 2.0
                        );
                    }
                }
            }
        }
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_for_measured_ratios_only() {
        let mut res = Results {
            order: vec![System::Plain, System::Nftables, System::Haproxy],
            ..Default::default()
        };
        for (s, v) in [
            (System::Plain, 200.0),
            (System::Nftables, 100.0),
            (System::Haproxy, 50.0),
        ] {
            let r = res.systems.entry(s).or_default();
            for m in METRICS.iter().filter(|m| report::applies(s, **m)) {
                r.push(*m, v);
            }
        }
        res.finish();
        let svg = svg(&res);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // 3 systems × 4 metrics × 2 panels, minus HAProxy's two UDP ones in both panels,
        // plus the 4 legend boxes.
        assert_eq!(svg.matches("<rect x=").count(), 3 * 4 * 2 - 4 + 4);
        assert_eq!(svg.matches(">n/a<").count(), 4);
        assert!(svg.contains("HAProxy mode tcp req/s keep-alive: 0.50"));
        assert!(svg.contains("HAProxy mode tcp conn/s: 0.25"));
    }
}
