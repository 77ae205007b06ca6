//! VIPs rvsd puts on an interface while it runs, and takes away when it exits.

use std::net::IpAddr;

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

/// The addresses added (only those that were not already there).
#[derive(Default)]
pub struct Vips {
    added: Vec<(String, IpAddr, u8)>,
}

impl Vips {
    /// Add `addr/plen` to `ifname`.
    pub fn add(&mut self, ifname: &str, addr: IpAddr, plen: u8) -> anyhow::Result<()> {
        let added = rvs_netlink::add_address(ifname, addr, plen)
            .with_context(|| format!("cannot add VIP {addr}/{plen} to {ifname}"))?;
        if added {
            tracing::info!(%addr, plen, ifname, "VIP added");
            self.added.push((ifname.to_string(), addr, plen));
        } else {
            tracing::info!(%addr, plen, ifname, "VIP was already there; it will be left");
        }
        Ok(())
    }

    /// Remove what [`Vips::add`] added.
    pub fn remove_all(&mut self) {
        for (ifname, addr, plen) in self.added.drain(..) {
            match rvs_netlink::del_address(&ifname, addr, plen) {
                Ok(_) => tracing::info!(%addr, plen, ifname, "VIP removed"),
                Err(e) => tracing::warn!(%addr, plen, ifname, "cannot remove VIP: {e}"),
            }
        }
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
