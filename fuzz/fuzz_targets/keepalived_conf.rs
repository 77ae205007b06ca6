//! keepalived.conf text: parse, check, build the table, apply it to a director, and diff it
//! against itself and an empty table. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_config::keepalived::{self, Desired, diff};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let report = keepalived::check_str("/fuzz.conf", s);
    let _ = report.render();
    let Some(cfg) = report.config else {
        return;
    };
    let desired = cfg.desired();
    let mut d = rvs_core::Director::new(
        rvs_core::Settings::default(),
        1,
        Box::new(rvs_core::SplitMix64(1)),
    );
    for c in desired.commands() {
        let _ = d.apply(&c, rvs_core::Time::ZERO);
    }
    assert!(diff(&desired, &desired).is_empty());
    let _ = diff(&desired, &Desired::default());
    let _ = d.render_list(&Default::default());
});
