//! VRRP advert decoding (v2/v3, IPv4/IPv6) and the IPv4 header split on arbitrary bytes:
//! never panics, and what decodes re-encodes to the same advert.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rvs_vrrp::packet::exercise(data);
});
