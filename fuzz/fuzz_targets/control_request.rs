//! What rvsd reads from its control socket: a frame (length + JSON request), then, for an
//! ipvsadm request, the command run against a director and its listings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_control::{Request, exec, frame};

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    let mut d = rvs_core::Director::new(
        rvs_core::Settings::default(),
        1,
        Box::new(rvs_core::SplitMix64(1)),
    );
    // Several requests on one connection, as a client may send.
    for _ in 0..8 {
        let Ok(req) = frame::read::<_, Request>(&mut r) else {
            return;
        };
        if let Request::Ipvsadm { argv0, args, stdin } = req {
            let _ = exec::run(&mut d, &argv0, &args, stdin.as_deref(), rvs_core::Time::ZERO);
        }
    }
});
