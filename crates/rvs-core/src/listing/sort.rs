//! ipvsadm's listing order (`ipvs_cmp_services`, `ipvs_cmp_dests` in libipvs, run through
//! `qsort`).
//!
//! The comparators subtract 32-bit unsigned values and keep the result in an `int`, so
//! values 2^31 or more apart compare "the wrong way": 192.168.0.1 sorts before 10.0.0.1,
//! and a fwmark above 2^31 sorts before the address services (mark 0). Such a comparator
//! is not a total order, so the result depends on the sorting algorithm; rvs uses a
//! top-down stable merge sort (the shape of glibc's `msort`), never `slice::sort_by`,
//! which may panic on inconsistent comparators.

use std::net::IpAddr;

use crate::service::ServiceKey;

/// The address as the four host-order 32-bit words of a zeroed `nf_inet_addr` union:
/// IPv4 fills the first word only.
fn words(addr: &IpAddr) -> [u32; 4] {
    match addr {
        IpAddr::V4(a) => [u32::from(*a), 0, 0, 0],
        IpAddr::V6(a) => {
            let s = a.segments();
            let w = |i: usize| (u32::from(s[2 * i]) << 16) | u32::from(s[2 * i + 1]);
            [w(0), w(1), w(2), w(3)]
        }
    }
}

/// `u32 - u32` stored in an `int`.
fn wrap_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// Compare two addresses the libipvs way: the left operand's family decides whether one
/// or four words are compared.
fn cmp_addr(a: &IpAddr, b: &IpAddr) -> i32 {
    let (wa, wb) = (words(a), words(b));
    let n = if a.is_ipv6() { 4 } else { 1 };
    wa.iter()
        .zip(wb.iter())
        .take(n)
        .map(|(&x, &y)| wrap_diff(x, y))
        .find(|&r| r != 0)
        .unwrap_or(0)
}

/// `ipvs_cmp_services`: fwmark, address family, protocol, address, port. Negative means
/// `a` sorts first.
pub fn cmp_services(a: &ServiceKey, b: &ServiceKey) -> i32 {
    let r = wrap_diff(a.fwmark(), b.fwmark());
    if r != 0 {
        return r;
    }
    let r = i32::from(a.af().number()) - i32::from(b.af().number());
    if r != 0 {
        return r;
    }
    // The kernel reports no protocol for fwmark services (libipvs leaves it 0).
    let proto = |k: &ServiceKey| match k {
        ServiceKey::Addr { proto, .. } => i32::from(proto.number()),
        ServiceKey::Fwmark { .. } => 0,
    };
    let r = proto(a) - proto(b);
    if r != 0 {
        return r;
    }
    let addr = |k: &ServiceKey| match k {
        ServiceKey::Addr { addr, .. } => *addr,
        ServiceKey::Fwmark { af, .. } => af.unspecified(),
    };
    let r = cmp_addr(&addr(a), &addr(b));
    if r != 0 {
        return r;
    }
    i32::from(a.port()) - i32::from(b.port())
}

/// `ipvs_cmp_dests`: address (the left dest's family decides the width), then port.
pub fn cmp_dests(a: (&IpAddr, u16), b: (&IpAddr, u16)) -> i32 {
    let r = cmp_addr(a.0, b.0);
    if r != 0 {
        return r;
    }
    i32::from(a.1) - i32::from(b.1)
}

/// Stable top-down merge sort: split at `n / 2`, sort both halves, merge taking from the
/// left half while `cmp(left, right) <= 0`. Well defined for any comparator.
pub fn merge_sort<T: Copy>(v: &mut [T], cmp: &mut dyn FnMut(&T, &T) -> i32) {
    let mut tmp = Vec::with_capacity(v.len());
    msort(v, &mut tmp, cmp);
}

fn msort<T: Copy>(v: &mut [T], tmp: &mut Vec<T>, cmp: &mut dyn FnMut(&T, &T) -> i32) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    msort(&mut v[..n1], tmp, cmp);
    msort(&mut v[n1..], tmp, cmp);
    tmp.clear();
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            tmp.push(v[i]);
            i += 1;
        } else {
            tmp.push(v[j]);
            j += 1;
        }
    }
    tmp.extend_from_slice(&v[i..n1]);
    // Whatever is left of the right half is already in place.
    let done = tmp.len();
    v[..done].copy_from_slice(tmp);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Af, Protocol};
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn tcp(a: &str, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: ip(a),
            port,
        }
    }

    #[test]
    fn wrapping_address_compare() {
        // 192.168.0.1 - 10.0.0.1 = 0xb6a80000 as int < 0.
        assert!(cmp_dests((&ip("192.168.0.1"), 80), (&ip("10.0.0.1"), 80)) < 0);
        assert!(cmp_dests((&ip("10.0.0.1"), 80), (&ip("192.168.0.1"), 80)) > 0);
        // Close addresses compare numerically.
        assert!(cmp_dests((&ip("10.0.0.1"), 80), (&ip("10.0.0.2"), 80)) < 0);
        assert!(cmp_dests((&ip("10.0.0.1"), 80), (&ip("10.0.0.1"), 81)) < 0);
        assert_eq!(cmp_dests((&ip("10.0.0.1"), 80), (&ip("10.0.0.1"), 80)), 0);
    }

    #[test]
    fn v6_words_in_order() {
        assert!(cmp_dests((&ip("2001:db8::1"), 80), (&ip("2001:db8::2"), 80)) < 0);
        assert!(cmp_dests((&ip("2001:db8:1::"), 80), (&ip("2001:db8::ffff"), 80)) > 0);
    }

    #[test]
    fn left_family_decides_width() {
        // IPv4 left: only the first word, 10.0.0.1 vs 0x0a000001 (first word of the v6).
        assert_eq!(cmp_addr(&ip("10.0.0.1"), &ip("a00:1::5")), 0);
        // IPv6 left: four words, the IPv4 side is zero-padded.
        assert!(cmp_addr(&ip("a00:1::5"), &ip("10.0.0.1")) > 0);
    }

    #[test]
    fn service_order() {
        let big = ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 0x8000_0001,
        };
        let fwm = ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 100,
        };
        let v6 = tcp("2001:db8::1", 80);
        let udp = ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: ip("10.0.0.1"),
            port: 53,
        };
        let a = tcp("10.0.0.1", 80);
        let b = tcp("192.168.0.1", 80);
        // mark 2^31+1 - 0 wraps negative: before address services.
        assert!(cmp_services(&big, &a) < 0);
        assert!(cmp_services(&fwm, &a) > 0);
        assert!(cmp_services(&a, &v6) < 0, "AF_INET before AF_INET6");
        assert!(cmp_services(&a, &udp) < 0, "TCP before UDP");
        assert!(cmp_services(&b, &a) < 0, "wrapping address compare");
        assert!(cmp_services(&tcp("10.0.0.1", 80), &tcp("10.0.0.1", 443)) < 0);
    }

    #[test]
    fn mark_two_to_the_31_is_inconsistent() {
        // 0 - 2^31 and 2^31 - 0 are both INT_MIN: each side sorts "before" the other, so
        // the outcome depends on which one is the left operand of the merge.
        let half = ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 0x8000_0000,
        };
        let a = tcp("10.0.0.1", 80);
        assert!(cmp_services(&half, &a) < 0);
        assert!(cmp_services(&a, &half) < 0);
        let mut v = [a, half];
        merge_sort(&mut v, &mut cmp_services_ref);
        assert_eq!(v, [a, half], "left operand wins: input order kept");
        let mut v = [half, a];
        merge_sort(&mut v, &mut cmp_services_ref);
        assert_eq!(v, [half, a]);
    }

    fn cmp_services_ref(a: &ServiceKey, b: &ServiceKey) -> i32 {
        cmp_services(a, b)
    }

    #[test]
    fn merge_sort_is_stable() {
        let mut v: Vec<(u8, u8)> = vec![(2, 0), (1, 0), (2, 1), (0, 0), (1, 1), (2, 2)];
        merge_sort(&mut v, &mut |a, b| i32::from(a.0) - i32::from(b.0));
        assert_eq!(v, vec![(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]);
    }

    #[test]
    fn merge_sort_shape_with_a_cyclic_comparator() {
        // a < b, b < c, c < a under the wrapping compare: the result is whatever the
        // glibc msort shape gives, and must be deterministic.
        let (a, b, c) = (0u32, 0x6000_0000u32, 0xc000_0000u32);
        let mut v = vec![c, b, a];
        merge_sort(&mut v, &mut |x, y| wrap_diff(*x, *y));
        // [c] | [b, a] -> [a, b]; merge [c] with [a, b]: c vs a: c - a < 0 -> c first.
        assert_eq!(v, vec![c, a, b]);
    }

    proptest! {
        #[test]
        fn merge_sort_matches_std_on_total_orders(mut v in proptest::collection::vec((0u8..8, any::<u16>()), 0..64)) {
            let mut expect = v.clone();
            expect.sort_by_key(|x| x.0);
            merge_sort(&mut v, &mut |a, b| i32::from(a.0) - i32::from(b.0));
            prop_assert_eq!(v, expect);
        }
    }
}
