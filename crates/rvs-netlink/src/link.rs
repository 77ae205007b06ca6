//! Interfaces and the kernel's main routing table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::Handle;
use rvs_core::engine::route::mask;
use rvs_core::engine::{IfaceId, Interface, Routes};

use crate::NetlinkError;
use crate::error::errno;

/// An interface as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Ethernet address.
    pub mac: [u8; 6],
    /// MTU in bytes.
    pub mtu: u32,
    /// IPv4 addresses (the local address, `IFA_LOCAL`) with prefix length; subnet
    /// addresses first, then host (/32) addresses, each in kernel order.
    pub v4: Vec<(Ipv4Addr, u8)>,
    /// IPv6 addresses with prefix length, link-local (fe80::/10) ones left out: they are
    /// no source for forwarded or tunnelled traffic and their fe80::/64 "subnet" exists
    /// on every interface. Subnet addresses first, then host (/128) addresses.
    pub v6: Vec<(Ipv6Addr, u8)>,
    /// Number of receive queues (1 when the kernel does not say).
    pub rx_queues: u32,
}

/// One unicast route of the main table (a multipath route gives one entry per hop).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteInfo {
    /// Destination prefix (0.0.0.0 / :: for default routes).
    pub dst: IpAddr,
    /// Prefix length.
    pub plen: u8,
    /// Outgoing interface index.
    pub oif: u32,
    /// Gateway, if not on-link.
    pub gateway: Option<IpAddr>,
}

/// A route plus what [`build_routes`] needs to choose among duplicates.
#[derive(Clone, Debug)]
struct KernelRoute {
    info: RouteInfo,
    metric: u32,
    proto_kernel: bool,
}

/// Read interface `name`: index, MAC, MTU, addresses, receive queues.
pub fn link(name: &str) -> Result<LinkInfo, NetlinkError> {
    let name = name.to_string();
    crate::rt::run(move |h| async move { link_with(&h, &name).await })
}

/// The main table's unicast routes, IPv4 and IPv6, that leave through an interface.
pub fn routes() -> Result<Vec<RouteInfo>, NetlinkError> {
    crate::rt::run(
        |h| async move { Ok(routes_with(&h).await?.into_iter().map(|r| r.info).collect()) },
    )
}

/// rvs-core [`Routes`] with exactly the interfaces `names` (IfaceId 0, 1, … in that
/// order) and the main table's routes through them, default routes included; plus the
/// ifindex of each IfaceId.
///
/// Connected subnets are not added as routes: rvs-core derives them from the interface
/// addresses, so the kernel's `proto kernel` on-link route of an interface's own subnet
/// (and IPv6 fe80::/64) is skipped. Adding it would change nothing for one interface but
/// would break the "lowest interface wins" rule when two interfaces share a subnet, since
/// [`Routes::add_route`] replaces a route of the same prefix. Where the kernel has several
/// routes to one prefix (metrics, ECMP), the lowest metric wins and, among equals, the
/// first hop listed (rvs-core has no ECMP).
pub fn build_routes(names: &[String]) -> Result<(Routes, Vec<(IfaceId, u32)>), NetlinkError> {
    let names = names.to_vec();
    crate::rt::run(move |h| async move {
        let mut links = Vec::with_capacity(names.len());
        for n in &names {
            links.push(link_with(&h, n).await?);
        }
        let kernel = routes_with(&h).await?;
        assemble(links, kernel)
    })
}

/// Turn links + kernel routes into [`Routes`] (see [`build_routes`]).
fn assemble(
    links: Vec<LinkInfo>,
    kernel: Vec<KernelRoute>,
) -> Result<(Routes, Vec<(IfaceId, u32)>), NetlinkError> {
    let mut routes = Routes::default();
    let mut ids = Vec::with_capacity(links.len());
    let mut by_index: HashMap<u32, IfaceId> = HashMap::new();
    for l in links {
        let index = l.index;
        let id = routes.add_interface(Interface {
            name: l.name,
            mac: l.mac,
            mtu: l.mtu,
            v4: l.v4,
            v6: l.v6,
        });
        by_index.entry(index).or_insert(id);
        ids.push((id, index));
    }
    // Per prefix, the best route through one of our interfaces.
    let mut best: HashMap<(IpAddr, u8), KernelRoute> = HashMap::new();
    let mut order: Vec<(IpAddr, u8)> = Vec::new();
    for r in kernel {
        let Some(&id) = by_index.get(&r.info.oif) else {
            continue;
        };
        if r.proto_kernel && r.info.gateway.is_none() && is_connected(&routes, id, &r.info) {
            continue;
        }
        if let Some(gw) = r.info.gateway
            && gw.is_ipv4() != r.info.dst.is_ipv4()
        {
            tracing::debug!(route = ?r.info, "gateway of another family, skipped");
            continue;
        }
        let key = (mask(&r.info.dst, r.info.plen), r.info.plen);
        match best.get(&key) {
            Some(b) if b.metric <= r.metric => {}
            _ => {
                if !best.contains_key(&key) {
                    order.push(key);
                }
                best.insert(key, r);
            }
        }
    }
    for key in order {
        if let Some(r) = best.remove(&key) {
            let id = by_index[&r.info.oif];
            routes.add_route(r.info.dst, r.info.plen, id, r.info.gateway)?;
        }
    }
    Ok((routes, ids))
}

/// Whether an on-link route is just interface `id`'s own subnet (or IPv6 link-local).
fn is_connected(routes: &Routes, id: IfaceId, r: &RouteInfo) -> bool {
    if let IpAddr::V6(a) = r.dst
        && a.is_unicast_link_local()
    {
        return true;
    }
    let Some(iface) = routes.iface(id) else {
        return false;
    };
    let own = iface
        .v4
        .iter()
        .map(|(a, l)| (IpAddr::V4(*a), *l))
        .chain(iface.v6.iter().map(|(a, l)| (IpAddr::V6(*a), *l)));
    own.into_iter()
        .any(|(a, l)| l == r.plen && mask(&a, l) == mask(&r.dst, r.plen))
}

/// [`link`] on an open connection.
pub(crate) async fn link_with(h: &Handle, name: &str) -> Result<LinkInfo, NetlinkError> {
    let mut s = h.link().get().match_name(name).execute();
    let msg = match s.try_next().await {
        Ok(Some(m)) => m,
        Ok(None) => return Err(NetlinkError::NoSuchInterface(name.to_string())),
        Err(e) if errno(&e) == Some(libc::ENODEV) => {
            return Err(NetlinkError::NoSuchInterface(name.to_string()));
        }
        Err(e) => return Err(NetlinkError::request(format!("get link {name}"), e)),
    };
    let mut info = parse_link(name, &msg)?;
    let addrs: Vec<AddressMessage> = h
        .address()
        .get()
        .set_link_index_filter(info.index)
        .execute()
        .try_collect()
        .await
        .map_err(|e| NetlinkError::request(format!("get addresses of {name}"), e))?;
    for a in &addrs {
        match parse_address(a) {
            Some(IpAddr::V4(v4)) => info.v4.push((v4, a.header.prefix_len)),
            Some(IpAddr::V6(v6)) if !v6.is_unicast_link_local() => {
                info.v6.push((v6, a.header.prefix_len))
            }
            _ => {}
        }
    }
    // Subnet addresses first: rvs-core takes the first one as the interface's source.
    info.v4.sort_by_key(|(_, l)| *l >= 32);
    info.v6.sort_by_key(|(_, l)| *l >= 128);
    Ok(info)
}

fn parse_link(name: &str, msg: &LinkMessage) -> Result<LinkInfo, NetlinkError> {
    let mut info = LinkInfo {
        index: msg.header.index,
        name: name.to_string(),
        mac: [0; 6],
        mtu: rvs_core::engine::route::DEFAULT_MTU,
        v4: Vec::new(),
        v6: Vec::new(),
        rx_queues: 1,
    };
    let mut have_mac = false;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => info.name = n.clone(),
            LinkAttribute::Address(m) => {
                if let Ok(mac) = <[u8; 6]>::try_from(m.as_slice()) {
                    info.mac = mac;
                    have_mac = true;
                }
            }
            LinkAttribute::Mtu(m) => info.mtu = *m,
            LinkAttribute::NumRxQueues(q) => info.rx_queues = (*q).max(1),
            _ => {}
        }
    }
    if !have_mac {
        return Err(NetlinkError::BadInterface {
            name: name.to_string(),
            reason: "no Ethernet (6-byte) hardware address".into(),
        });
    }
    Ok(info)
}

/// The interface's own address of an address message; None for addresses that failed
/// duplicate address detection.
fn parse_address(a: &AddressMessage) -> Option<IpAddr> {
    let mut local = None;
    let mut address = None;
    for attr in &a.attributes {
        match attr {
            AddressAttribute::Local(x) => local = Some(*x),
            AddressAttribute::Address(x) => address = Some(*x),
            AddressAttribute::Flags(f) if f.contains(AddressFlags::Dadfailed) => return None,
            _ => {}
        }
    }
    // IPv4: IFA_LOCAL is ours, IFA_ADDRESS the peer on point-to-point links.
    let addr = local.or(address)?;
    let family_ok = match a.header.family {
        AddressFamily::Inet => addr.is_ipv4(),
        AddressFamily::Inet6 => addr.is_ipv6(),
        _ => false,
    };
    family_ok.then_some(addr)
}

/// Dump the main table (both families) as [`KernelRoute`]s.
async fn routes_with(h: &Handle) -> Result<Vec<KernelRoute>, NetlinkError> {
    let mut out = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut req = RouteMessage::default();
        req.header.address_family = family;
        let msgs: Vec<RouteMessage> = h
            .route()
            .get(req)
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::request("dump routes", e))?;
        for m in &msgs {
            parse_route(m, &mut out);
        }
    }
    Ok(out)
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Append the hops of `m` if it is a main-table unicast route.
fn parse_route(m: &RouteMessage, out: &mut Vec<KernelRoute>) {
    let hd = &m.header;
    if hd.kind != RouteType::Unicast || hd.flags.contains(RouteFlags::Cloned) {
        return;
    }
    let any = match hd.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return,
    };
    let mut table = u32::from(hd.table);
    let mut dst = any;
    let mut oif = None;
    let mut gateway = None;
    let mut metric = 0;
    let mut multipath = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => dst = route_addr(d).unwrap_or(any),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Gateway(g) => gateway = route_addr(g),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::MultiPath(hops) => multipath = Some(hops),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return;
    }
    let plen = hd.destination_prefix_length;
    let proto_kernel = hd.protocol == RouteProtocol::Kernel;
    let mut push = |oif: u32, gateway: Option<IpAddr>| {
        out.push(KernelRoute {
            info: RouteInfo {
                dst: mask(&dst, plen),
                plen,
                oif,
                gateway,
            },
            metric,
            proto_kernel,
        })
    };
    match multipath {
        Some(hops) => {
            for hop in hops {
                let gw = hop.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Gateway(g) => route_addr(g),
                    _ => None,
                });
                push(hop.interface_index, gw);
            }
        }
        None => {
            if let Some(oif) = oif {
                push(oif, gateway);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn li(index: u32, name: &str, v4: &[(&str, u8)], v6: &[(&str, u8)]) -> LinkInfo {
        LinkInfo {
            index,
            name: name.into(),
            mac: [2, 0, 0, 0, 0, index as u8],
            mtu: 1500,
            v4: v4.iter().map(|(a, l)| (a.parse().unwrap(), *l)).collect(),
            v6: v6.iter().map(|(a, l)| (a.parse().unwrap(), *l)).collect(),
            rx_queues: 1,
        }
    }

    fn kr(dst: &str, plen: u8, oif: u32, gw: Option<&str>, metric: u32, k: bool) -> KernelRoute {
        KernelRoute {
            info: RouteInfo {
                dst: ip(dst),
                plen,
                oif,
                gateway: gw.map(ip),
            },
            metric,
            proto_kernel: k,
        }
    }

    #[test]
    fn assemble_filters_and_prefers_low_metric() {
        let links = vec![
            li(7, "a", &[("198.18.0.1", 24)], &[("fd00::1", 64)]),
            li(3, "b", &[("198.18.0.2", 24)], &[]),
        ];
        let kernel = vec![
            // Connected duplicates (skipped), on both interfaces.
            kr("198.18.0.0", 24, 7, None, 0, true),
            kr("198.18.0.0", 24, 3, None, 0, true),
            kr("fe80::", 64, 7, None, 256, true),
            kr("fd00::", 64, 7, None, 256, true),
            // Routes through other interfaces (skipped).
            kr("198.19.9.0", 24, 99, Some("198.18.0.9"), 0, false),
            // Two defaults: the lower metric wins whatever the order.
            kr("0.0.0.0", 0, 7, Some("198.18.0.254"), 200, false),
            kr("0.0.0.0", 0, 3, Some("198.18.0.253"), 100, false),
            kr("::", 0, 7, Some("fe80::1"), 1024, false),
            kr("198.19.1.0", 24, 3, Some("198.18.0.7"), 0, false),
        ];
        let (r, ids) = assemble(links, kernel).unwrap();
        assert_eq!(ids, vec![(IfaceId(0), 7), (IfaceId(1), 3)]);
        let got: Vec<_> = r.routes().collect();
        assert_eq!(
            got,
            vec![
                (ip("198.19.1.0"), 24, IfaceId(1), Some(ip("198.18.0.7"))),
                (ip("0.0.0.0"), 0, IfaceId(1), Some(ip("198.18.0.253"))),
                (ip("::"), 0, IfaceId(0), Some(ip("fe80::1"))),
            ]
        );
        // The shared subnet stays connected on the lowest interface.
        assert_eq!(r.lookup(&ip("198.18.0.50")).unwrap().iface, IfaceId(0));
        assert_eq!(
            r.lookup(&ip("198.19.1.5")).unwrap().next_hop,
            ip("198.18.0.7")
        );
    }
}
