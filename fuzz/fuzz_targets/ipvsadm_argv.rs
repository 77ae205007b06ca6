//! ipvsadm command lines (one rules-file line each): parse, then apply to a director.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_config::ipvsadm::{self, Invocation};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut d = rvs_core::Director::new(
        rvs_core::Settings::default(),
        1,
        Box::new(rvs_core::SplitMix64(1)),
    );
    for line in s.lines() {
        let args = ipvsadm::split_restore_line(line);
        if let Ok(Invocation::Command(cmd)) = ipvsadm::parse("ipvsadm", &args) {
            let _ = d.apply(&cmd, rvs_core::Time::ZERO);
        }
    }
    let _ = d.render_save();
    let _ = d.render_list(&Default::default());
});
