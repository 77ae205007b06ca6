//! keepalived.conf input never panics the parser: the fuzz seeds
//! (fuzz/corpus/keepalived_conf) are replayed, and random token soups built from the
//! keywords, braces, quotes and comments are checked and mapped to commands.

use proptest::prelude::*;
use rvs_config::keepalived::{self, diff};

fn run(text: &str) {
    let r = keepalived::check_str("/p.conf", text);
    let _ = r.render();
    assert_eq!(r.config.is_some(), r.errors.is_empty());
    if let Some(cfg) = r.config {
        let d = cfg.desired();
        assert!(diff(&d, &d).is_empty());
        let _ = d.commands();
    }
}

#[test]
fn fuzz_seeds() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/keepalived_conf");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        run(&text);
        n += 1;
    }
    assert!(n >= 4);
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "virtual_server",
            "real_server",
            "virtual_server_group",
            "group",
            "fwmark",
            "{",
            "}",
            "{",
            "}",
            "\n",
            "\n",
            "\n",
            "lb_algo",
            "rr",
            "sh",
            "sh-port",
            "lb_kind",
            "DR",
            "NAT",
            "TUN",
            "FNAT",
            "type",
            "gue",
            "port",
            "csum",
            "protocol",
            "TCP",
            "UDP",
            "weight",
            "persistence_timeout",
            "persistence_granularity",
            "sorry_server",
            "sorry_server_inhibit",
            "quorum",
            "hysteresis",
            "alpha",
            "inhibit_on_failure",
            "HTTP_GET",
            "url",
            "path",
            "TCP_CHECK",
            "MISC_CHECK",
            "misc_path",
            "vrrp_instance",
            "virtual_router_id",
            "priority",
            "virtual_ipaddress",
            "track_script",
            "vrrp_script",
            "script",
            "vrrp_sync_group",
            "global_defs",
            "lvs_timeouts",
            "tcp",
            "lvs_sync_daemon",
            "rvs_local_address",
            "rvs_fwmark_rule",
            "include",
            "\"",
            "#",
            "!",
            "\\",
            "0",
            "1",
            "80",
            "65536",
            "-1",
            "198.18.0.1",
            "198.18.0.1-5",
            "10.0.0.0/30",
            "2001:db8::1",
            "2001:db8::1-a",
            "255.255.255.0",
            "64",
            "0.5",
            "ipvs",
        ])
        .prop_map(String::from),
        "[ -~]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn token_soup_never_panics(words in prop::collection::vec(word(), 0..80)) {
        run(&words.join(" "));
    }
}

#[test]
fn huge_ranges_are_refused_not_expanded() {
    let r = keepalived::check_str(
        "/big.conf",
        "virtual_server_group g {\n ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 80\n}\n\
         virtual_server group g {\n protocol TCP\n lb_algo rr\n lb_kind DR\n real_server 2001:db8::1 80 { }\n}\n",
    );
    assert_eq!(
        r.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        [
            "/big.conf:2:2: address range of 340282366920938463463374607431768211455 addresses is larger than 65536"
        ]
    );
}

/// Two addresses on one `virtual_ipaddress` line: keepalived 2.2.7 keeps the first and
/// warns about the second (same text), it does not refuse the file.
#[test]
fn two_vips_on_one_line_keep_the_first_with_keepalived_warning() {
    let r = keepalived::check_str(
        "/v.conf",
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress { 198.18.0.100 198.18.0.101 }\n}\n",
    );
    assert!(r.errors.is_empty(), "{}", r.render());
    assert_eq!(
        r.warnings.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        [
            "/v.conf:4:38: warning: Unknown configuration entry '198.18.0.101' for ip address - ignoring"
        ]
    );
    let cfg = r.config.unwrap();
    let vips: Vec<String> = cfg.vrrp_instances[0]
        .virtual_ipaddress
        .iter()
        .map(|v| v.addr.to_string())
        .collect();
    assert_eq!(vips, ["198.18.0.100"]);
}
