//! What the driver runs, built from keepalived.conf's `vrrp_instance`, `vrrp_script` and
//! `vrrp_sync_group` blocks.

use std::net::IpAddr;
use std::time::Duration;

use rvs_config::keepalived::model::{AuthType, Config, VrrpInstance, VrrpScript, VrrpState};

use crate::machine::{Params, TrackWeight};
use crate::packet::Auth;

/// A virtual address with where and how it goes on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VipSpec {
    /// Address.
    pub addr: IpAddr,
    /// Prefix length.
    pub plen: u8,
    /// Interface (`dev`, else the instance's).
    pub dev: String,
    /// `label`.
    pub label: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `brd`.
    pub brd: Option<IpAddr>,
    /// Carried in adverts (`virtual_ipaddress`, not `virtual_ipaddress_excluded`).
    pub advertised: bool,
}

/// The notify scripts of an instance (or its sync group).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Notify {
    /// `notify_master`.
    pub master: Option<String>,
    /// `notify_backup`.
    pub backup: Option<String>,
    /// `notify_fault`.
    pub fault: Option<String>,
    /// `notify_stop`.
    pub stop: Option<String>,
    /// `notify` (called with `INSTANCE|GROUP NAME STATE PRIORITY`).
    pub any: Option<String>,
}

/// A `vrrp_script`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScriptSpec {
    /// Name.
    pub name: String,
    /// Command line.
    pub script: String,
    /// Run every.
    pub interval: Duration,
    /// Killed after.
    pub timeout: Duration,
    /// Successes in a row to become OK.
    pub rise: u32,
    /// Failures in a row to become failed.
    pub fall: u32,
    /// Starts failed.
    pub init_fail: bool,
}

/// One instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InstanceSpec {
    /// Machine parameters (`primary` is filled in by the driver at start unless
    /// `src_ip` fixes it).
    pub params: Params,
    /// `state MASTER` was given (keepalived starts such instances as backup too, but
    /// reports it).
    pub initial_master: bool,
    /// Interface.
    pub interface: String,
    /// `use_vmac`: the macvlan interface (named, else `vrrp.VRID`) with the virtual MAC
    /// 00:00:5e:00:01:VRID that the VIPs go on and the adverts leave from (IPv4 only).
    pub vmac: Option<String>,
    /// Every address it holds as master.
    pub vips: Vec<VipSpec>,
    /// Multicast group (unused with unicast peers).
    pub group: IpAddr,
    /// `unicast_peer`s (empty: multicast).
    pub unicast_peers: Vec<IpAddr>,
    /// `unicast_src_ip` / `mcast_src_ip`.
    pub src_ip: Option<IpAddr>,
    /// Gratuitous ARPs / NAs per burst.
    pub garp_repeat: u32,
    /// Notify scripts.
    pub notify: Notify,
    /// `track_interface` names: tracks `0..n` of `params.tracks`.
    pub track_interfaces: Vec<String>,
    /// `track_script` names: the tracks after the interfaces.
    pub track_scripts: Vec<String>,
}

/// A sync group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupSpec {
    /// Name.
    pub name: String,
    /// Member instance names.
    pub members: Vec<String>,
    /// Its notify scripts.
    pub notify: Notify,
}

/// Everything VRRP in a configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VrrpSpec {
    /// Instances.
    pub instances: Vec<InstanceSpec>,
    /// Sync groups.
    pub groups: Vec<GroupSpec>,
    /// Scripts referenced by instances.
    pub scripts: Vec<ScriptSpec>,
}

fn script_spec(s: &VrrpScript) -> ScriptSpec {
    ScriptSpec {
        name: s.name.clone(),
        script: s.script.clone(),
        interval: s.interval,
        timeout: s.timeout,
        rise: s.rise.max(1),
        fall: s.fall.max(1),
        init_fail: s.init_fail,
    }
}

fn instance(c: &Config, v: &VrrpInstance) -> InstanceSpec {
    let interface = v
        .interface
        .clone()
        .or_else(|| c.global.default_interface.clone())
        .unwrap_or_else(|| "eth0".into());
    let v6_vips = v
        .virtual_ipaddress
        .first()
        .is_some_and(|x| x.addr.is_ipv6());
    let vmac = match &v.use_vmac {
        Some(name) if !v6_vips => Some(if name.is_empty() {
            format!("vrrp.{}", v.virtual_router_id)
        } else {
            name.clone()
        }),
        _ => None,
    };
    let vip_dev = vmac.clone().unwrap_or_else(|| interface.clone());
    let vip = |x: &rvs_config::keepalived::model::Vip, advertised: bool| VipSpec {
        addr: x.addr,
        plen: x.prefix,
        dev: x.dev.clone().unwrap_or_else(|| vip_dev.clone()),
        label: x.label.clone(),
        scope: x.scope.clone(),
        brd: x.brd,
        advertised,
    };
    let mut vips: Vec<VipSpec> = v.virtual_ipaddress.iter().map(|x| vip(x, true)).collect();
    vips.extend(v.virtual_ipaddress_excluded.iter().map(|x| vip(x, false)));
    let v6 = vips
        .first()
        .map(|x| x.addr.is_ipv6())
        .or_else(|| v.unicast_peers.first().map(IpAddr::is_ipv6))
        .unwrap_or(false);
    let group = if v6 {
        c.global.vrrp_mcast_group6
    } else {
        c.global.vrrp_mcast_group4
    };
    let mut tracks: Vec<TrackWeight> = v
        .track_interface
        .iter()
        .map(|t| TrackWeight {
            weight: t.weight.unwrap_or(0),
            reverse: t.reverse,
        })
        .collect();
    for t in &v.track_script {
        let s = c.vrrp_scripts.iter().find(|s| s.name == t.name);
        tracks.push(TrackWeight {
            weight: t.weight.or(s.map(|s| s.weight)).unwrap_or(0),
            reverse: t.reverse || s.is_some_and(|s| s.reverse),
        });
    }
    let auth = match &v.authentication {
        Some(a) if a.kind == AuthType::Pass => Auth::pass(&a.pass),
        _ => Auth::None,
    };
    let src_ip = v.unicast_src_ip.or(v.mcast_src_ip);
    let params = Params {
        name: v.name.clone(),
        vrid: v.virtual_router_id,
        version: if v6 { 3 } else { v.version },
        priority: v.priority,
        interval_cs: (v.advert_int.as_millis() / 10).clamp(1, 0x0fff) as u16,
        auth,
        vips: vips
            .iter()
            .filter(|x| x.advertised)
            .map(|x| x.addr)
            .collect(),
        // keepalived clears nopreempt and preempt_delay with `state MASTER`.
        preempt: !v.nopreempt || v.state == Some(VrrpState::Master),
        preempt_delay: if v.state == Some(VrrpState::Master) {
            0
        } else {
            v.preempt_delay.as_millis() as u64
        },
        primary: src_ip.unwrap_or(if v6 {
            IpAddr::from([0u16; 8])
        } else {
            IpAddr::from([0u8; 4])
        }),
        garp_delay: u64::from(v.garp_master_delay) * 1000,
        tracks,
    };
    InstanceSpec {
        params,
        initial_master: v.state == Some(VrrpState::Master),
        interface,
        vmac,
        vips,
        group,
        unicast_peers: v.unicast_peers.clone(),
        src_ip,
        garp_repeat: v.garp_master_repeat,
        notify: Notify {
            master: v.notify_master.clone(),
            backup: v.notify_backup.clone(),
            fault: v.notify_fault.clone(),
            stop: v.notify_stop.clone(),
            any: v.notify.clone(),
        },
        track_interfaces: v.track_interface.iter().map(|t| t.name.clone()).collect(),
        track_scripts: v.track_script.iter().map(|t| t.name.clone()).collect(),
    }
}

impl VipSpec {
    /// The scope as a number (`global`, `site`, `link`, `host`, `nowhere` or a number);
    /// `None` for an unknown name.
    pub fn scope_number(&self) -> Option<u8> {
        let s = self.scope.as_deref()?;
        match s {
            "global" | "universe" => Some(0),
            "site" => Some(200),
            "link" => Some(253),
            "host" => Some(254),
            "nowhere" => Some(255),
            n => n.parse().ok(),
        }
    }
}

impl VrrpSpec {
    /// The VRRP part of `c` (empty when it has no `vrrp_instance`).
    pub fn from_config(c: &Config) -> VrrpSpec {
        let instances: Vec<InstanceSpec> =
            c.vrrp_instances.iter().map(|v| instance(c, v)).collect();
        let used: Vec<&String> = instances.iter().flat_map(|i| &i.track_scripts).collect();
        VrrpSpec {
            scripts: c
                .vrrp_scripts
                .iter()
                .filter(|s| used.contains(&&s.name))
                .map(script_spec)
                .collect(),
            groups: c
                .vrrp_sync_groups
                .iter()
                .map(|g| GroupSpec {
                    name: g.name.clone(),
                    members: g.group.clone(),
                    notify: Notify {
                        master: g.notify_master.clone(),
                        backup: g.notify_backup.clone(),
                        fault: g.notify_fault.clone(),
                        stop: g.notify_stop.clone(),
                        any: g.notify.clone(),
                    },
                })
                .collect(),
            instances,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_conf_to_spec() {
        let text = r#"
global_defs { vrrp_garp_master_delay 2 }
vrrp_script chk {
    script "/bin/true"
    interval 2
    weight -20
    fall 2
    rise 3
}
vrrp_instance VI_1 {
    state MASTER
    interface eth1
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication { auth_type PASS
        auth_pass 123456789 }
    virtual_ipaddress {
        198.18.0.100/24 dev eth2 scope link label eth2:vip
    }
    virtual_ipaddress_excluded { 198.18.0.200 }
    track_interface { eth3 weight 10 }
    track_script { chk }
    nopreempt
    preempt_delay 5
    notify "/usr/local/bin/n.sh"
}
vrrp_instance VI_6 {
    interface eth1
    virtual_router_id 52
    virtual_ipaddress { fd00::100/64 }
}
vrrp_sync_group G { group { VI_1 VI_6 } }
"#;
        let r = rvs_config::keepalived::check_str("k.conf", text);
        assert!(r.is_ok(), "{}", r.render());
        let c = r.config.unwrap();
        let s = VrrpSpec::from_config(&c);
        let i = &s.instances[0];
        assert_eq!(i.interface, "eth1");
        assert!(i.initial_master);
        assert_eq!(i.params.priority, 150);
        assert_eq!(i.params.interval_cs, 100);
        assert_eq!(i.params.auth, Auth::pass("12345678"));
        assert_eq!(i.params.garp_delay, 2000);
        assert_eq!(
            i.params.vips,
            vec!["198.18.0.100".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(i.vips.len(), 2);
        assert_eq!(i.vips[0].dev, "eth2");
        assert_eq!(i.vips[0].label.as_deref(), Some("eth2:vip"));
        assert_eq!(i.vips[0].scope_number(), Some(253));
        assert_eq!(i.vips[1].dev, "eth1");
        assert_eq!(
            i.params.tracks,
            vec![
                TrackWeight {
                    weight: 10,
                    reverse: false
                },
                TrackWeight {
                    weight: -20,
                    reverse: false
                }
            ]
        );
        assert_eq!(i.group, "224.0.0.18".parse::<IpAddr>().unwrap());
        let six = &s.instances[1];
        assert_eq!(six.params.version, 3);
        assert_eq!(six.group, "ff02::12".parse::<IpAddr>().unwrap());
        assert_eq!(s.scripts.len(), 1);
        assert_eq!((s.scripts[0].rise, s.scripts[0].fall), (3, 2));
        assert_eq!(s.groups[0].members, vec!["VI_1", "VI_6"]);
        // VI_1 has state MASTER: keepalived ignores its nopreempt.
        assert!(i.params.preempt);
    }

    #[test]
    fn state_master_without_priority_is_the_owner() {
        let text = "vrrp_instance A {\n interface eth0\n state MASTER\n virtual_router_id 1\n virtual_ipaddress {\n 198.18.0.100\n }\n}\n";
        let r = rvs_config::keepalived::check_str("k.conf", text);
        let s = VrrpSpec::from_config(&r.config.unwrap());
        assert_eq!(s.instances[0].params.priority, 255);
    }
}
