//! The `lblc` scheduler (kernel `ip_vs_lblc.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `lblc` scheduler.
#[derive(Debug, Default)]
pub struct Lblc {}

impl Scheduler for Lblc {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn schedule(
        &mut self,
        view: SchedView<'_>,
        req: &SchedRequest,
        rng: &mut dyn Rng,
    ) -> Option<DestId> {
        let _ = (view, req, rng);
        None
    }
}
