//! Every `wire` view (`Packet::new_checked` + `Repr::parse`, re-emit, checksums) on
//! arbitrary bytes: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rvs_core::wire::robust::exercise_views(data);
});
