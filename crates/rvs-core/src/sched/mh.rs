//! The `mh` scheduler (kernel `ip_vs_mh.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `mh` scheduler.
#[derive(Debug, Default)]
pub struct Mh {}

impl Scheduler for Mh {
    fn name(&self) -> &'static str {
        "mh"
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
