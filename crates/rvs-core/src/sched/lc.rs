//! The `lc` scheduler (kernel `ip_vs_lc.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `lc` scheduler.
#[derive(Debug, Default)]
pub struct Lc {}

impl Scheduler for Lc {
    fn name(&self) -> &'static str {
        "lc"
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
