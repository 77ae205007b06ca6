//! The `sh` scheduler (kernel `ip_vs_sh.c`). STUB: to be implemented.

use crate::dest::DestId;
use crate::rng::Rng;
use crate::sched::{SchedRequest, SchedView, Scheduler};

/// The `sh` scheduler.
#[derive(Debug, Default)]
pub struct Sh {}

impl Scheduler for Sh {
    fn name(&self) -> &'static str {
        "sh"
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
