//! The status page in a real browser, as root: a lab with rvsd (`--api` on the director's
//! loopback), a service added with the real rvsadm, traffic from the lab's client, and
//! headless Chromium (Debian's `chromium`, no network beyond the lab) rendering the page.
//! The page must show the service, a rate that is 0 before the traffic and moves under it
//! (number and sparkline), and a dest drained through the API.
//!
//! Without root the test prints `SKIP (needs root)` and passes, unless `RVS_REQUIRE_PRIV=1`
//! (CI), where a skip fails; the same holds for a missing `chromium`.
//! `RVS_UPDATE_SCREENSHOT=1` copies the final screenshot to `docs/status-page.png`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const RVS: &str = env!("CARGO_BIN_EXE_rvs");
const RVSD: &str = env!("CARGO_BIN_EXE_rvsd");
const RVSADM: &str = env!("CARGO_BIN_EXE_rvsadm");
const TOKEN: &str = "status-page-test-token-0123456789";
/// Inside the director's namespace: its own loopback.
const API: &str = "127.0.0.1:9180";
const SERVICE: &str = "tcp-198.18.1.100-8000";

fn require_or_skip(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    assert!(
        std::env::var("RVS_REQUIRE_PRIV").as_deref() != Ok("1"),
        "{what}, and RVS_REQUIRE_PRIV=1 forbids skipping"
    );
    eprintln!("SKIP ({what})");
    false
}

fn ok(cmd: &mut Command) -> String {
    let out: Output = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    u32::from_ne_bytes(b)
}

/// A lab, taken down on drop (also when the test panics).
struct Lab {
    name: String,
}

impl Lab {
    fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    fn sock(&self) -> PathBuf {
        PathBuf::from(format!("/run/rvs/lab/{}/rvsd.sock", self.name))
    }

    fn in_ns(&self, node: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(node), program]);
        c
    }

    fn rvsadm(&self, line: &str) {
        ok(Command::new(RVSADM)
            .env("RVS_SOCKET", self.sock())
            .args(line.split_whitespace()));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(RVS)
            .args(["lab", "down", "--name", &self.name])
            .output();
    }
}

/// Headless Chromium in the director's namespace, on a fresh profile.
fn chromium(lab: &Lab, dir: &Path, run: u32, what: &[&str]) -> String {
    let profile = dir.join(format!("profile-{run}"));
    std::fs::create_dir_all(&profile).unwrap();
    let url = format!("http://{API}/#token={TOKEN}");
    ok(lab
        .in_ns("dir", "timeout")
        .args(["60", "chromium"])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,720",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(what)
        .arg(url))
}

/// The `<section>` of service `id` in a dumped DOM.
fn section<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let start = dom.find(&format!("data-service=\"{id}\""))?;
    let rest = &dom[start..];
    Some(&rest[..rest.find("</section>")?])
}

/// `data-value` of the first `class="rate KIND"` cell after `from` in `html`.
fn rate_after(html: &str, from: &str, kind: &str) -> u64 {
    let rest = &html[html.find(from).expect("row")..];
    let key = format!("class=\"rate {kind}\" data-value=\"");
    let at = rest.find(&key).expect("rate cell") + key.len();
    let end = rest[at..].find('"').unwrap();
    rest[at..at + end].parse().unwrap()
}

/// The service total's sparkline points.
fn total_sparkline(sec: &str) -> Vec<u64> {
    let rest = &sec[sec.find("<tr class=\"total\">").expect("total row")..];
    let key = "data-points=\"";
    let at = rest.find(key).expect("sparkline") + key.len();
    let end = rest[at..].find('"').unwrap();
    rest[at..at + end]
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn status_page_shows_rvsadm_service_and_live_rates() {
    // SAFETY: geteuid has no preconditions.
    if !require_or_skip(unsafe { libc::geteuid() } == 0, "needs root") {
        return;
    }
    let have_chromium = Command::new("chromium").arg("--version").output().is_ok();
    if !require_or_skip(have_chromium, "needs chromium (scripts/deps installs it)") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rvs-status-page-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, TOKEN).unwrap();
    // The lab starts rvsd with its own arguments; a wrapper adds the API's.
    let wrapper = dir.join("rvsd");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {RVSD} --api {API} --api-token-file {} \"$@\"\n",
            token.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let name = format!("rvsp{:06x}", rand_u32() & 0xff_ffff);
    let lab = Lab { name };
    ok(Command::new(RVS)
        .args(["lab", "up", "--mode", "nat", "--name", &lab.name, "--rvsd"])
        .arg(&wrapper));
    lab.rvsadm("-A -t 198.18.1.100:8000 -s wrr");
    lab.rvsadm("-a -t 198.18.1.100:8000 -r 198.18.2.11:8080 -m -w 3");
    lab.rvsadm("-a -t 198.18.1.100:8000 -r 198.18.2.12:8080 -m -w 1");

    // Before any traffic: the service is there, its rates are 0.
    let dom = chromium(&lab, &dir, 0, &["--dump-dom"]);
    assert!(dom.contains("data-ready=\"1\""), "the page rendered: {dom}");
    let sec = section(&dom, SERVICE).unwrap_or_else(|| panic!("service missing: {dom}"));
    assert!(sec.contains("TCP 198.18.1.100:8000"));
    assert!(sec.contains("data-dest=\"198.18.2.11-8080\""));
    assert_eq!(rate_after(sec, "<tr class=\"total\">", "inpps"), 0);
    assert!(total_sparkline(sec).iter().all(|&v| v == 0));

    // Traffic from the client until the test is done (bounded: 60 s at most).
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        let client = lab.ns("client");
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while !stop.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(60) {
                let _ = Command::new("ip")
                    .args(["netns", "exec", &client, RVS, "lab", "client", "http"])
                    .args(["198.18.1.100:8000", "--count", "200"])
                    .output();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    // The rate moves: the number and the sparkline, on the page.
    let t0 = Instant::now();
    let mut run = 1;
    let (rate, spark) = loop {
        std::thread::sleep(Duration::from_millis(1500));
        let dom = chromium(&lab, &dir, run, &["--dump-dom"]);
        run += 1;
        let sec = section(&dom, SERVICE).expect("service");
        let rate = rate_after(sec, "<tr class=\"total\">", "inpps");
        let spark = total_sparkline(sec);
        if rate > 0 && spark.iter().filter(|&&v| v > 0).count() >= 2 {
            assert!(rate_after(sec, "data-dest=\"198.18.2.11-8080\"", "cps") > 0);
            break (rate, spark);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no rate on the page under traffic: {sec}"
        );
    };
    eprintln!("page: {rate} packets/s in, sparkline {spark:?}");

    // Drain a dest through the API; the page shows it drained.
    let out = ok(lab.in_ns("dir", "curl").args([
        "-s",
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {TOKEN}"),
        &format!("http://{API}/api/v1/services/{SERVICE}/dests/198.18.2.12-8080/drain"),
    ]));
    assert!(out.contains("\"weight\":0"), "{out}");
    let dom = chromium(&lab, &dir, run, &["--dump-dom"]);
    let sec = section(&dom, SERVICE).expect("service");
    let row = &sec[sec.find("data-dest=\"198.18.2.12-8080\"").expect("dest")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("dot drained"), "{row}");
    assert!(row.contains("<td class=\"weight\">0</td>"), "{row}");

    let shot = dir.join("status-page.png");
    chromium(
        &lab,
        &dir,
        run + 1,
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    if std::env::var("RVS_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/status-page.png");
        std::fs::copy(&shot, docs).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
