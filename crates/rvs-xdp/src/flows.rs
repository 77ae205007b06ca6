//! The fast path's maps on [`Classifier`]: flows, their counter slots and the egress
//! ports of redirects (`bpf/rvs_fastpath.h`).

use crate::classifier::{Classifier, map_err};
use crate::error::XdpError;
use crate::maps::{FLOW_SLOTS, Flow, FlowKey, FlowStats};

impl Classifier {
    /// Install (or replace) the action of a flow. Its `last_seen` is kept when the flow
    /// was there already, so an update does not look like traffic.
    pub fn set_flow(&mut self, key: &FlowKey, flow: &Flow) -> Result<(), XdpError> {
        self.put_flow(key, flow, true).map(drop)
    }

    /// Install (or replace) the action of a flow in one map update when `keep_seen` is
    /// false (`flow.last_seen` is written as given: for keys known to be new), else as
    /// [`Classifier::set_flow`]. Returns the `last_seen` written.
    pub fn put_flow(
        &mut self,
        key: &FlowKey,
        flow: &Flow,
        keep_seen: bool,
    ) -> Result<u64, XdpError> {
        if flow.slot >= FLOW_SLOTS {
            return Err(XdpError::BadSlot(flow.slot));
        }
        let mut f = *flow;
        if keep_seen && let Ok(old) = self.flows.get(key, 0) {
            f.last_seen = old.last_seen;
        }
        self.flows.insert(key, f, 0).map_err(map_err("rvs_flows"))?;
        Ok(f.last_seen)
    }

    /// Remove a flow; `false` when it was not there.
    pub fn remove_flow(&mut self, key: &FlowKey) -> Result<bool, XdpError> {
        match self.flows.remove(key) {
            Ok(()) => Ok(true),
            Err(aya::maps::MapError::KeyNotFound) => Ok(false),
            Err(aya::maps::MapError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(false)
            }
            Err(e) => Err(map_err("rvs_flows")(e)),
        }
    }

    /// The action of a flow, if installed (with its `last_seen`).
    pub fn flow(&self, key: &FlowKey) -> Option<Flow> {
        self.flows.get(key, 0).ok()
    }

    /// Every installed flow (one pass over the map: call it in batches, e.g. once a
    /// second, never per packet).
    pub fn flows(&self) -> Vec<(FlowKey, Flow)> {
        self.flows.iter().flatten().collect()
    }

    /// One counter slot summed over CPUs.
    pub fn flow_stats(&self, slot: u32) -> Result<FlowStats, XdpError> {
        let per_cpu = self
            .flow_stats
            .get(&slot, 0)
            .map_err(map_err("rvs_flow_stats"))?;
        Ok(per_cpu
            .iter()
            .fold(FlowStats::default(), |acc, s| acc.add(s)))
    }

    /// Allow redirects to `ifindex` (an interface other than the ingress one).
    pub fn add_tx_port(&mut self, ifindex: u32) -> Result<(), XdpError> {
        self.tx_ports
            .insert(ifindex, ifindex, None, 0)
            .map_err(|e| XdpError::TxPort {
                ifindex,
                reason: e.to_string(),
            })
    }

    /// Forbid redirects to `ifindex`: flows towards it fall back to userspace.
    pub fn remove_tx_port(&mut self, ifindex: u32) -> Result<(), XdpError> {
        self.tx_ports
            .remove(ifindex)
            .map_err(map_err("rvs_tx_ports"))
    }
}
