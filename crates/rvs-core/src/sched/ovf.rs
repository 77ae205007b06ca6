//! The `ovf` scheduler (kernel `ip_vs_ovf.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `ovf` scheduler.
#[derive(Debug, Default)]
pub struct Ovf {}

impl Scheduler for Ovf {
    fn name(&self) -> &'static str {
        "ovf"
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
