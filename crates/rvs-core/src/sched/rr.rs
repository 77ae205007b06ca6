//! The `rr` scheduler (kernel `ip_vs_rr.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `rr` scheduler.
#[derive(Debug, Default)]
pub struct Rr {}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
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
