//! The `nq` scheduler (kernel `ip_vs_nq.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `nq` scheduler.
#[derive(Debug, Default)]
pub struct Nq {}

impl Scheduler for Nq {
    fn name(&self) -> &'static str {
        "nq"
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
