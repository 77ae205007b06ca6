//! Snapshots of the director's state as the plain rows the ipvsadm listings render.

use crate::addr::Protocol;
use crate::conn::state;
use crate::conn::template_state;
use crate::director::Director;
use crate::listing::{self, ConnRow, DestRow, ListOptions, Numeric, ServiceRow};
use crate::service::{Service, ServiceKey};

impl Director {
    fn service_row(&self, svc: &Service) -> ServiceRow {
        let dests = svc
            .dests
            .iter()
            .filter_map(|&id| self.table.dest(id))
            .map(|d| DestRow {
                addr: d.addr,
                port: d.port,
                fwd: d.fwd,
                weight: d.weight,
                u_threshold: d.u_threshold,
                l_threshold: d.l_threshold,
                activeconns: d.activeconns,
                inactconns: d.inactconns,
                persistconns: d.persistconns,
                counters: d.stats.counters(),
                rates: d.stats.rates(),
                tun: d.tun,
            })
            .collect();
        ServiceRow {
            key: svc.key,
            sched_name: svc.sched_name.clone(),
            flags: svc.flags,
            timeout: svc.timeout,
            netmask: svc.netmask,
            pe_name: svc.pe_name.clone(),
            counters: svc.stats.counters(),
            rates: svc.stats.rates(),
            dests,
        }
    }

    /// Every service (or just `only`) as listing rows, in table order; `None` when `only`
    /// names no service.
    pub fn service_rows(&self, only: Option<&ServiceKey>) -> Option<Vec<ServiceRow>> {
        match only {
            Some(k) => {
                let sid = self.table.find(k)?;
                let svc = self.table.service(sid)?;
                Some(vec![self.service_row(svc)])
            }
            None => Some(
                self.table
                    .services()
                    .map(|(_, s)| self.service_row(s))
                    .collect(),
            ),
        }
    }

    /// Every connection and template as `-Lc` rows, in table order.
    pub fn conn_rows(&self) -> Vec<ConnRow> {
        let now = self.now();
        self.conns
            .iter()
            .map(|(_, c)| {
                let proto = Protocol::from_number(c.proto);
                let state = if c.is_template() {
                    if c.state == template_state::ASSURED {
                        "ASSURED"
                    } else {
                        "NONE"
                    }
                } else {
                    proto.map_or("ERR!", |p| state::state_name(p, c.state))
                };
                ConnRow {
                    proto: proto.map_or("IP", Protocol::ipvs_name),
                    expires_secs: c.expires.millis_since(now) / 1000,
                    state,
                    caddr: c.caddr,
                    cport: c.cport,
                    vaddr: c.vaddr,
                    vport: c.vport,
                    daddr: c.daddr,
                    dport: c.dport,
                    pe_name: None,
                    pe_data: None,
                    synced: c.flags & crate::conn::flags::SYNC != 0,
                }
            })
            .collect()
    }

    /// `ipvsadm -Ln` with `opts` (numeric).
    pub fn render_list(&self, opts: &ListOptions) -> String {
        let rows = self.service_rows(None).unwrap_or_default();
        listing::render_services(&rows, opts, &Numeric)
    }

    /// `ipvsadm -Lnc`.
    pub fn render_conns(&self) -> String {
        listing::render_conns(&self.conn_rows(), false)
    }

    /// `ipvsadm -Sn`, with rvs's fwmark rules first.
    pub fn render_save(&self) -> String {
        let rows = self.service_rows(None).unwrap_or_default();
        listing::render_save(&rows, self.classifier.rules(), &Numeric)
    }
}
