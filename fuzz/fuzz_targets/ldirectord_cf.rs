//! ldirectord.cf: any text parses or fails with diagnostics, and a parsed file converts to
//! keepalived.conf text without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cfg) = rvs_config::ldirectord::parse("fuzz.cf", text)
    {
        let _ = rvs_config::ldirectord::to_keepalived("fuzz.cf", &cfg);
    }
});
