//! The `sed` scheduler (kernel `ip_vs_sed.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `sed` scheduler.
#[derive(Debug, Default)]
pub struct Sed {}

impl Scheduler for Sed {
    fn name(&self) -> &'static str {
        "sed"
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
