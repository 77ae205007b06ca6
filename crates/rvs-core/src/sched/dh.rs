//! The `dh` scheduler (kernel `ip_vs_dh.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `dh` scheduler.
#[derive(Debug, Default)]
pub struct Dh {}

impl Scheduler for Dh {
    fn name(&self) -> &'static str {
        "dh"
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
