//! rvs fwmark classifier rules: parse, and what parses prints back to the same rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_core::fwmark::FwmarkRule;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(r) = s.parse::<FwmarkRule>()
    {
        let again: FwmarkRule = r.to_string().parse().expect("printed rule parses");
        assert_eq!(again, r);
    }
});
