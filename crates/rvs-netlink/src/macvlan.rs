//! macvlan interfaces (VRRP's virtual MAC, keepalived's `use_vmac`).

use netlink_packet_route::link::MacVlanMode;
use rtnetlink::LinkMacVlan;

use crate::NetlinkError;
use crate::error::errno;

/// Create macvlan `name` on `base` in private mode with address `mac`, and set it up.
/// Returns false when an interface of that name was already there (it is left as is).
pub fn add_macvlan(base: &str, name: &str, mac: [u8; 6]) -> Result<bool, NetlinkError> {
    let (base, name) = (base.to_string(), name.to_string());
    crate::rt::run(move |h| async move {
        if crate::link::link_with(&h, &name).await.is_ok() {
            return Ok(false);
        }
        let index = crate::link::link_with(&h, &base).await?.index;
        let msg = LinkMacVlan::new(&name, index, MacVlanMode::Private)
            .address(mac.to_vec())
            .up()
            .build();
        match h.link().add(msg).execute().await {
            Ok(()) => {
                tracing::info!(ifname = %name, base = %base, "macvlan added");
                Ok(true)
            }
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(NetlinkError::request(
                format!("add macvlan {name} on {base}"),
                e,
            )),
        }
    })
}

/// Delete interface `name`. Returns false when it was not there.
pub fn del_link(name: &str) -> Result<bool, NetlinkError> {
    let name = name.to_string();
    crate::rt::run(move |h| async move {
        let index = match crate::link::link_with(&h, &name).await {
            Ok(l) => l.index,
            Err(NetlinkError::NoSuchInterface(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        match h.link().del(index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(NetlinkError::request(format!("delete {name}"), e)),
        }
    })
}
