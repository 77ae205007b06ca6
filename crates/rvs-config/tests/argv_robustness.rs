//! Any argv — well-formed or not — gets a result or an ipvsadm error, never a panic, and
//! every accepted rule-changing command survives a save-format round trip.

use proptest::prelude::*;
use rvs_config::ipvsadm::{self, Invocation};

/// Words that exercise the parser: every option, plausible values, and junk.
fn word() -> impl Strategy<Value = String> {
    let fixed = prop_oneof![
        Just("-A"),
        Just("-E"),
        Just("-D"),
        Just("-C"),
        Just("-R"),
        Just("-S"),
        Just("-a"),
        Just("-e"),
        Just("-d"),
        Just("-L"),
        Just("-l"),
        Just("-Z"),
        Just("-h"),
        Just("-v"),
        Just("--set"),
        Just("--start-daemon"),
        Just("--stop-daemon"),
        Just("-t"),
        Just("-u"),
        Just("-f"),
        Just("--sctp-service"),
        Just("-6"),
        Just("-s"),
        Just("-p"),
        Just("-M"),
        Just("--pe"),
        Just("-b"),
        Just("-o"),
        Just("-r"),
        Just("-g"),
        Just("-i"),
        Just("-m"),
        Just("--fullnat"),
        Just("-w"),
        Just("-x"),
        Just("-y"),
        Just("--tun-type"),
        Just("--tun-port"),
        Just("--tun-nocsum"),
        Just("--tun-csum"),
        Just("--tun-remcsum"),
        Just("-n"),
        Just("--exact"),
        Just("-c"),
        Just("--stats"),
        Just("--rate"),
        Just("--thresholds"),
        Just("--persistent-conn"),
        Just("--tun-info"),
        Just("--nosort"),
        Just("--sort"),
        Just("--timeout"),
        Just("--daemon"),
        Just("--mcast-interface"),
        Just("--syncid"),
        Just("--sync-maxlen"),
        Just("--mcast-group"),
        Just("--mcast-port"),
        Just("--mcast-ttl"),
        Just("--add-fwmark-rule"),
        Just("--del-fwmark-rule"),
        Just("-Ln"),
        Just("-At"),
        Just("198.18.0.100:80"),
        Just("198.18.1.11"),
        Just("[fd00::1]:80"),
        Just("fd00::1"),
        Just("10.1"),
        Just("0x0a000001"),
        Just("wrr"),
        Just("sh"),
        Just("mh"),
        Just("sh-port,sh-fallback"),
        Just("360"),
        Just("0"),
        Just("65536"),
        Just("-1"),
        Just("255.255.255.0"),
        Just("64"),
        Just("tcp"),
        Just("master"),
        Just("backup"),
        Just("gue"),
        Just("ipip"),
        Just("80,443"),
        Just("--"),
    ]
    .prop_map(str::to_string);
    prop_oneof![4 => fixed, 1 => "[ -~]{0,12}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn never_panics(args in proptest::collection::vec(word(), 0..10)) {
        match ipvsadm::parse("ipvsadm", &args) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(!e.message.is_empty());
                prop_assert!(e.exit_code == 2 || e.exit_code == 255, "{:?}", e);
            }
        }
    }

    #[test]
    fn restore_lines_never_panic(line in "[ -~\t]{0,80}") {
        let args = ipvsadm::split_restore_line(&line);
        let _ = ipvsadm::parse("ipvsadm", &args);
    }

    #[test]
    fn accepted_commands_apply_or_fail_cleanly(args in proptest::collection::vec(word(), 1..10)) {
        // Whatever the parser accepts, the director either applies or refuses with a
        // typed error — no panic, whatever the combination.
        if let Ok(Invocation::Command(cmd)) = ipvsadm::parse("ipvsadm", &args) {
            let mut d = rvs_core::Director::new(
                rvs_core::Settings::default(),
                1,
                Box::new(rvs_core::SplitMix64(1)),
            );
            let _ = d.apply(&cmd, rvs_core::Time::ZERO);
            let _ = d.render_save();
        }
    }
}
