//! IPVS sync messages (v0 and v1): any datagram decodes or fails cleanly, what decodes
//! re-encodes to the same entries, and a backup director installs it without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rvs_sync::wire::exercise(data);
    let _ = rvs_sync::backup::exercise(data);
});
