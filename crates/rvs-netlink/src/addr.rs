//! Adding and removing interface addresses (VIPs, FULLNAT local addresses).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
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

/// Add `addr/plen` to `ifname`. IPv6 addresses are added with `IFA_F_NODAD` (usable at
/// once). Returns false when the address was already there.
pub fn add_address(ifname: &str, addr: IpAddr, plen: u8) -> Result<bool, NetlinkError> {
    check_plen(addr, plen)?;
    let name = ifname.to_string();
    crate::rt::run(move |h| async move {
        let index = crate::link::link_with(&h, &name).await?.index;
        let mut req = h.address().add(index, addr, plen);
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
