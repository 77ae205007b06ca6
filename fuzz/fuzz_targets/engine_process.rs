//! The packet engine over a sequence of frames on one kitchen-sink director: no panic, and
//! the invariants of `rvs_core::engine::lab::fuzz` hold after every frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rvs_core::engine::lab::fuzz_frames(data);
});
