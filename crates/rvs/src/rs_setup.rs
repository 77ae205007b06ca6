//! `rvs rs-setup`: prepare (and restore) a real server for DR or TUN.
//!
//! DR: every VIP on `lo` (/32, /128 without DAD), `arp_ignore=1` and `arp_announce=2` on
//! all, lo and the interface, so the server accepts VIP traffic but never answers ARP for
//! it (IPv6 answers neighbour solicitations only for addresses on the receiving interface,
//! so a VIP on lo is never advertised). TUN: the same, plus rvs's decapsulation XDP program
//! on the interface and `rp_filter=0` on all, lo and the interface.
//!
//! Every sysctl's previous value and every address added are saved in a state file, so
//! `stop` restores exactly what `start` changed; `start` twice changes nothing more.

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::lab::sys;
use crate::lab::topo::TunType;

/// Default state file.
pub const DEFAULT_STATE: &str = "/run/rvs/rs-setup/state.json";

/// Real-server forwarding method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RsMode {
    /// Direct routing.
    Dr,
    /// Tunnelling (IPIP, GUE, GRE) with XDP decapsulation.
    Tun,
}

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Apply the configuration (again: harmless).
    Start,
    /// Restore everything `start` changed.
    Stop,
}

/// `rvs rs-setup` arguments.
#[derive(clap::Args, Debug)]
pub struct RsSetupArgs {
    /// dr or tun (needed by start).
    #[arg(long, value_enum)]
    pub mode: Option<RsMode>,
    /// Virtual IP address; repeat for more (needed by start).
    #[arg(long)]
    pub vip: Vec<IpAddr>,
    /// The interface VIP traffic arrives on.
    #[arg(long, default_value = "eth0")]
    pub iface: String,
    /// Tunnel type (tun): ipip, gue or gre.
    #[arg(long, value_enum, default_value = "ipip")]
    pub tun_type: TunType,
    /// UDP port of GUE (tun with --tun-type gue); repeat for more.
    #[arg(long)]
    pub gue_port: Vec<u16>,
    /// XDP attach mode of the decapsulation program: auto, native, generic.
    #[arg(long, default_value = "auto", value_parser = ["auto", "native", "generic"])]
    pub xdp_mode: String,
    /// State file (what was changed, to restore on stop).
    #[arg(long, default_value = DEFAULT_STATE)]
    pub state: PathBuf,
    /// start or stop.
    #[arg(value_enum)]
    pub action: Action,
}

/// One sysctl changed by start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlChange {
    /// Path under /proc/sys, with slashes (interface names may contain dots).
    pub key: String,
    /// The value before start.
    pub previous: String,
}

/// One address added by start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrChange {
    /// Device.
    pub dev: String,
    /// Address.
    pub addr: IpAddr,
    /// Prefix length.
    pub plen: u8,
}

/// The state file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Inode of the network namespace the changes were made in.
    pub netns: u64,
    /// Sysctls changed, in order.
    pub sysctls: Vec<SysctlChange>,
    /// Addresses added, in order.
    pub addresses: Vec<AddrChange>,
    /// Interface the decapsulation program was attached to.
    pub decap: Option<String>,
}

fn netns_inode() -> Result<u64> {
    Ok(fs::metadata("/proc/self/ns/net")
        .context("reading /proc/self/ns/net")?
        .ino())
}

fn load(path: &Path) -> Result<Option<State>> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(
            serde_json::from_str(&t).with_context(|| format!("parsing {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!("reading {}: {e}", path.display())),
    }
}

fn save(path: &Path, st: &State) -> Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_string_pretty(st)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn sysctl_path(key: &str) -> PathBuf {
    Path::new("/proc/sys").join(key)
}

/// Reads a sysctl (slash-separated key) of this process's network namespace.
pub fn read_sysctl(key: &str) -> Result<String> {
    let p = sysctl_path(key);
    Ok(fs::read_to_string(&p)
        .with_context(|| format!("reading {}", p.display()))?
        .trim()
        .to_string())
}

fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let p = sysctl_path(key);
    fs::write(&p, value).with_context(|| format!("writing {value} to {}", p.display()))
}

/// The sysctls `start` sets, in order.
pub fn wanted_sysctls(mode: RsMode, iface: &str) -> Vec<(String, &'static str)> {
    let devs = ["all", "lo", iface];
    let mut v = Vec::new();
    for d in devs {
        v.push((format!("net/ipv4/conf/{d}/arp_ignore"), "1"));
    }
    for d in devs {
        v.push((format!("net/ipv4/conf/{d}/arp_announce"), "2"));
    }
    if mode == RsMode::Tun {
        for d in devs {
            v.push((format!("net/ipv4/conf/{d}/rp_filter"), "0"));
        }
    }
    v
}

/// Addresses (with prefix length) currently on `dev`.
pub fn addresses(dev: &str) -> Result<Vec<(IpAddr, u8)>> {
    let out = sys::ip(&["-o", "addr", "show", "dev", dev])?;
    let mut v = Vec::new();
    for line in out.lines() {
        let mut it = line.split_whitespace();
        while let Some(tok) = it.next() {
            if (tok == "inet" || tok == "inet6")
                && let Some((a, p)) = it.next().and_then(|s| s.split_once('/'))
                && let (Ok(a), Ok(p)) = (a.parse::<IpAddr>(), p.parse::<u8>())
            {
                v.push((a, p));
            }
        }
    }
    Ok(v)
}

/// Attaches the TUN decapsulation XDP program (`bpf/rvs_decap.c`) to `iface`; it stays
/// attached (through rtnetlink) after this process exits.
fn attach_decap(iface: &str, mode: &str, gue_ports: &[u16]) -> Result<()> {
    let mode: rvs_xdp::XdpMode = mode
        .parse()
        .map_err(|e| anyhow!("--xdp-mode {mode}: {e}"))?;
    let m = rvs_xdp::decap::attach(iface, mode, gue_ports)
        .map_err(|e| anyhow!("attaching the decapsulation XDP program to {iface}: {e}"))?;
    eprintln!("rs-setup: decapsulation XDP program on {iface} ({m} mode, GUE ports {gue_ports:?})");
    Ok(())
}

/// Detaches it; false when nothing was attached.
fn detach_decap(iface: &str) -> Result<bool> {
    rvs_xdp::decap::detach(iface)
        .map_err(|e| anyhow!("detaching the decapsulation XDP program from {iface}: {e}"))
}

/// Applies the configuration, recording every change in the state file.
pub fn start(args: &RsSetupArgs) -> Result<()> {
    let Some(mode) = args.mode else {
        bail!("start needs --mode dr|tun");
    };
    if args.vip.is_empty() {
        bail!("start needs at least one --vip");
    }
    if mode == RsMode::Tun && args.tun_type == TunType::Gue && args.gue_port.is_empty() {
        bail!("--tun-type gue needs --gue-port N");
    }
    sys::ip(&["link", "show", "dev", &args.iface]).context("checking --iface")?;
    let ns = netns_inode()?;
    let mut st = match load(&args.state)? {
        Some(st) if st.netns != ns => bail!(
            "{} belongs to another network namespace (inode {}, this one is {ns}); stop it there or pass --state",
            args.state.display(),
            st.netns
        ),
        Some(st) => st,
        None => State {
            netns: ns,
            ..State::default()
        },
    };
    for (key, value) in wanted_sysctls(mode, &args.iface) {
        let cur = read_sysctl(&key)?;
        if cur != value {
            if !st.sysctls.iter().any(|c| c.key == key) {
                st.sysctls.push(SysctlChange {
                    key: key.clone(),
                    previous: cur,
                });
                save(&args.state, &st)?;
            }
            write_sysctl(&key, value)?;
        }
    }
    let present = addresses("lo")?;
    for &vip in &args.vip {
        let plen = if vip.is_ipv4() { 32 } else { 128 };
        if present.contains(&(vip, plen)) {
            continue;
        }
        let a = format!("{vip}/{plen}");
        st.addresses.push(AddrChange {
            dev: "lo".into(),
            addr: vip,
            plen,
        });
        save(&args.state, &st)?;
        if vip.is_ipv4() {
            sys::ip(&["addr", "add", &a, "dev", "lo"])?;
        } else {
            sys::ip(&["-6", "addr", "add", &a, "dev", "lo", "nodad"])?;
        }
    }
    if mode == RsMode::Tun {
        let ports: Vec<u16> = if args.tun_type == TunType::Gue {
            args.gue_port.clone()
        } else {
            Vec::new()
        };
        attach_decap(&args.iface, &args.xdp_mode, &ports)?;
        st.decap = Some(args.iface.clone());
    }
    save(&args.state, &st)?;
    Ok(())
}

/// Restores what the state file says was changed, then removes the state file.
pub fn stop(args: &RsSetupArgs) -> Result<()> {
    let Some(mut st) = load(&args.state)? else {
        eprintln!(
            "rs-setup: nothing to undo ({} does not exist)",
            args.state.display()
        );
        return Ok(());
    };
    let ns = netns_inode()?;
    if st.netns != ns {
        bail!(
            "{} belongs to another network namespace (inode {}, this one is {ns})",
            args.state.display(),
            st.netns
        );
    }
    let mut errors = Vec::new();
    if let Some(iface) = st.decap.take() {
        match detach_decap(&iface) {
            Ok(true) => {}
            Ok(false) => eprintln!("rs-setup: no decapsulation program was left on {iface}"),
            Err(e) => {
                errors.push(format!("{e:#}"));
                st.decap = Some(iface);
            }
        }
    }
    let present = addresses("lo").unwrap_or_default();
    let mut kept = Vec::new();
    for a in st.addresses.drain(..).rev() {
        if !present.contains(&(a.addr, a.plen)) && a.dev == "lo" {
            continue; // already gone
        }
        let s = format!("{}/{}", a.addr, a.plen);
        if let Err(e) = sys::ip(&["addr", "del", &s, "dev", &a.dev]) {
            errors.push(e.to_string());
            kept.push(a);
        }
    }
    st.addresses = kept;
    let mut kept = Vec::new();
    for c in st.sysctls.drain(..).rev() {
        if let Err(e) = write_sysctl(&c.key, &c.previous) {
            errors.push(format!("{e:#}"));
            kept.push(c);
        }
    }
    st.sysctls = kept;
    if errors.is_empty() {
        fs::remove_file(&args.state)
            .with_context(|| format!("removing {}", args.state.display()))?;
        Ok(())
    } else {
        save(&args.state, &st)?;
        bail!("rs-setup stop: {}", errors.join("; "))
    }
}

/// Runs `rvs rs-setup`.
pub fn main(args: &RsSetupArgs) -> ExitCode {
    let r = match args.action {
        Action::Start => start(args),
        Action::Stop => stop(args),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rvs rs-setup: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_lists() {
        let dr = wanted_sysctls(RsMode::Dr, "eth0");
        assert_eq!(dr.len(), 6);
        assert_eq!(dr[0], ("net/ipv4/conf/all/arp_ignore".to_string(), "1"));
        assert_eq!(dr[5], ("net/ipv4/conf/eth0/arp_announce".to_string(), "2"));
        let tun = wanted_sysctls(RsMode::Tun, "eth0.100");
        assert_eq!(tun.len(), 9);
        assert_eq!(
            tun[8],
            ("net/ipv4/conf/eth0.100/rp_filter".to_string(), "0")
        );
    }

    #[test]
    fn state_roundtrip() {
        let st = State {
            netns: 7,
            sysctls: vec![SysctlChange {
                key: "net/ipv4/conf/lo/arp_ignore".into(),
                previous: "0".into(),
            }],
            addresses: vec![AddrChange {
                dev: "lo".into(),
                addr: "fd00:1::100".parse().unwrap(),
                plen: 128,
            }],
            decap: Some("eth0".into()),
        };
        let p =
            std::env::temp_dir().join(format!("rvs-rs-setup-{}/state.json", std::process::id()));
        save(&p, &st).unwrap();
        assert_eq!(load(&p).unwrap(), Some(st));
        fs::remove_dir_all(p.parent().unwrap()).unwrap();
        assert_eq!(
            load(Path::new("/nonexistent/rvs/state.json")).unwrap(),
            None
        );
    }
}
