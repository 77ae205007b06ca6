//! The `twos` scheduler (kernel `ip_vs_twos.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `twos` scheduler.
#[derive(Debug, Default)]
pub struct Twos {}

impl Scheduler for Twos {
    fn name(&self) -> &'static str {
        "twos"
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
