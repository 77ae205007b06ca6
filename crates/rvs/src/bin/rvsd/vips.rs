//! VIPs rvsd puts on an interface while it runs, and takes away when it exits.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};

/// `ADDR[/PLEN]`, the prefix defaulting to the whole address.
pub fn parse(s: &str) -> anyhow::Result<(IpAddr, u8)> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a
        .parse()
        .with_context(|| format!("bad VIP address `{s}'"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let plen = match p {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => bail!("bad VIP prefix length in `{s}'"),
        },
    };
    Ok((addr, plen))
}

/// The addresses rvsd added (those that were already there are left alone), recorded in
/// a state file beside the control socket, so that an rvsd restarted after a crash knows
/// which addresses on the interface are its own and removes them when it exits.
pub struct Vips {
    added: Vec<(String, IpAddr, u8)>,
    state: PathBuf,
    leftover: Vec<String>,
}

fn key(ifname: &str, addr: IpAddr, plen: u8) -> String {
    format!("{ifname} {addr}/{plen}")
}

impl Vips {
    /// VIP bookkeeping in `state` (read now: what a crashed rvsd left).
    pub fn new(state: PathBuf) -> Vips {
        let leftover = std::fs::read_to_string(&state)
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default();
        Vips {
            added: Vec::new(),
            state,
            leftover,
        }
    }

    /// Add `addr/plen` to `ifname`.
    pub fn add(&mut self, ifname: &str, addr: IpAddr, plen: u8) -> anyhow::Result<()> {
        let added = rvs_netlink::add_address(ifname, addr, plen)
            .with_context(|| format!("cannot add VIP {addr}/{plen} to {ifname}"))?;
        let k = key(ifname, addr, plen);
        if added {
            tracing::info!(%addr, plen, ifname, "VIP added");
        } else if self.leftover.contains(&k) {
            tracing::info!(%addr, plen, ifname, "VIP left by an earlier rvsd taken over");
        } else {
            tracing::info!(%addr, plen, ifname, "VIP was already there; it will be left");
            return Ok(());
        }
        self.added.push((ifname.to_string(), addr, plen));
        self.save();
        Ok(())
    }

    fn save(&self) {
        let text: String = self
            .added
            .iter()
            .map(|(i, a, p)| key(i, *a, *p) + "\n")
            .collect();
        if let Err(e) = std::fs::write(&self.state, text) {
            tracing::warn!(path = %self.state.display(), "cannot record the VIPs: {e}");
        }
    }

    /// Remove what [`Vips::add`] added.
    pub fn remove_all(&mut self) {
        for (ifname, addr, plen) in self.added.drain(..) {
            match rvs_netlink::del_address(&ifname, addr, plen) {
                Ok(_) => tracing::info!(%addr, plen, ifname, "VIP removed"),
                Err(e) => tracing::warn!(%addr, plen, ifname, "cannot remove VIP: {e}"),
            }
        }
        let _ = std::fs::remove_file(&self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vip_syntax() {
        assert_eq!(
            parse("198.18.1.100").unwrap(),
            ("198.18.1.100".parse().unwrap(), 32)
        );
        assert_eq!(
            parse("fd00:1::100/64").unwrap(),
            ("fd00:1::100".parse().unwrap(), 64)
        );
        assert!(parse("198.18.1.100/33").is_err());
        assert!(parse("nope").is_err());
    }
}
