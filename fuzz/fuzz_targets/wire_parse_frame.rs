//! `wire::parse_frame` on arbitrary bytes: never panics, and every offset it reports lies
//! inside the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rvs_core::wire::robust::exercise_frame(data);
});
