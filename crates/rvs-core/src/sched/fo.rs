//! The `fo` scheduler (kernel `ip_vs_fo.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `fo` scheduler.
#[derive(Debug, Default)]
pub struct Fo {}

impl Scheduler for Fo {
    fn name(&self) -> &'static str {
        "fo"
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
