//! Adding and removing interface addresses (VIPs, FULLNAT local addresses).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressScope,
};
use rtnetlink::AddressMessageBuilder;

use crate::NetlinkError;
use crate::error::errno;

fn check_plen(addr: IpAddr, plen: u8) -> Result<(), NetlinkError> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if plen > max {
        return Err(NetlinkError::BadPrefixLen { addr, plen });
    }
    Ok(())
}

/// What `ip addr add` takes beside the address (keepalived's `virtual_ipaddress` options).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrOptions {
    /// `label` (IPv4 only; the kernel wants it to start with the interface name).
    pub label: Option<String>,
    /// `scope` as a number (0 global, 200 site, 253 link, 254 host, 255 nowhere).
    pub scope: Option<u8>,
    /// `brd` (IPv4).
    pub broadcast: Option<Ipv4Addr>,
}

/// Add `addr/plen` to `ifname`. IPv6 addresses are added with `IFA_F_NODAD` (usable at
/// once). Returns false when the address was already there.
pub fn add_address(ifname: &str, addr: IpAddr, plen: u8) -> Result<bool, NetlinkError> {
    add_address_with(ifname, addr, plen, &AddrOptions::default())
}

/// [`add_address`] with a label, scope and broadcast address.
pub fn add_address_with(
    ifname: &str,
    addr: IpAddr,
    plen: u8,
    opts: &AddrOptions,
) -> Result<bool, NetlinkError> {
    check_plen(addr, plen)?;
    let name = ifname.to_string();
    let opts = opts.clone();
    crate::rt::run(move |h| async move {
        let index = crate::link::link_with(&h, &name).await?.index;
        let mut req = h.address().add(index, addr, plen);
        {
            let m = req.message_mut();
            if let Some(scope) = opts.scope {
                m.header.scope = AddressScope::from(scope);
            }
            if addr.is_ipv4() {
                if let Some(l) = &opts.label {
                    m.attributes.push(AddressAttribute::Label(l.clone()));
                }
                if let Some(b) = opts.broadcast {
                    m.attributes
                        .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
                    m.attributes.push(AddressAttribute::Broadcast(b));
                }
            }
        }
        if addr.is_ipv6() {
            let m = req.message_mut();
            m.header.flags |= AddressHeaderFlags::Nodad;
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => {
                tracing::info!(%addr, plen, ifname = %name, "address added");
                Ok(true)
            }
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(NetlinkError::request(
                format!("add {addr}/{plen} to {name}"),
                e,
            )),
        }
    })
}

/// Remove `addr/plen` from `ifname`. Returns false when it was not there.
pub fn del_address(ifname: &str, addr: IpAddr, plen: u8) -> Result<bool, NetlinkError> {
    check_plen(addr, plen)?;
    let name = ifname.to_string();
    crate::rt::run(move |h| async move {
        let index = crate::link::link_with(&h, &name).await?.index;
        let msg = match addr {
            IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(a, plen)
                .build(),
            IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(a, plen)
                .build(),
        };
        match h.address().del(msg).execute().await {
            Ok(()) => {
                tracing::info!(%addr, plen, ifname = %name, "address removed");
                Ok(true)
            }
            Err(e) if errno(&e) == Some(libc::EADDRNOTAVAIL) => Ok(false),
            Err(e) => Err(NetlinkError::request(
                format!("remove {addr}/{plen} from {name}"),
                e,
            )),
        }
    })
}
