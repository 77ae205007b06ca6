//! ipvsadm's `print_largenum`: counters in a 9-column field, abbreviated with K/M/G/T
//! suffixes unless `--exact` is given.

use std::fmt::Write as _;

/// Append `n` as ipvsadm prints one `--stats`/`--rate` number (always at least 9 columns,
/// right-aligned, so it carries its own separating space up to 10^8).
///
/// Without `exact`: below 10^8 the number itself; below 10^9 thousands with `K`; below
/// 10^11 millions with `M`; below 10^14 billions with `G`; otherwise trillions with `T`
/// (truncating division, `%8llu` plus the suffix). With `exact`: width 9 for up to 8
/// digits, otherwise the digits plus one leading space.
pub fn push_largenum(out: &mut String, n: u64, exact: bool) {
    if exact {
        let digits = n.checked_ilog10().map_or(1, |l| l as usize + 1);
        let width = if digits <= 8 { 9 } else { digits + 1 };
        let _ = write!(out, "{n:>width$}");
        return;
    }
    let _ = match n {
        0..100_000_000 => write!(out, "{n:>9}"),
        100_000_000..1_000_000_000 => write!(out, "{:>8}K", n / 1_000),
        1_000_000_000..100_000_000_000 => write!(out, "{:>8}M", n / 1_000_000),
        100_000_000_000..100_000_000_000_000 => write!(out, "{:>8}G", n / 1_000_000_000),
        _ => write!(out, "{:>8}T", n / 1_000_000_000_000),
    };
}

/// [`push_largenum`] into a new string.
pub fn largenum(n: u64, exact: bool) -> String {
    let mut s = String::with_capacity(12);
    push_largenum(&mut s, n, exact);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn boundaries() {
        assert_eq!(largenum(0, false), "        0");
        assert_eq!(largenum(99_999_999, false), " 99999999");
        assert_eq!(largenum(100_000_000, false), "  100000K");
        assert_eq!(largenum(123_456_789, false), "  123456K");
        assert_eq!(largenum(999_999_999, false), "  999999K");
        assert_eq!(largenum(1_000_000_000, false), "    1000M");
        assert_eq!(largenum(98_765_432_100, false), "   98765M");
        assert_eq!(largenum(99_999_999_999, false), "   99999M");
        assert_eq!(largenum(100_000_000_000, false), "     100G");
        assert_eq!(largenum(99_999_999_999_999, false), "   99999G");
        assert_eq!(largenum(100_000_000_000_000, false), "     100T");
        // 8 digits of T fill the field: no separating space left (as in ipvsadm).
        assert_eq!(largenum(u64::MAX, false), "18446744T");
    }

    #[test]
    fn exact_widths() {
        assert_eq!(largenum(0, true), "        0");
        assert_eq!(largenum(12_345_678, true), " 12345678");
        assert_eq!(largenum(123_456_789, true), " 123456789");
        assert_eq!(largenum(98_765_432_100, true), " 98765432100");
        assert_eq!(largenum(u64::MAX, true), " 18446744073709551615");
    }

    /// The unit each suffix stands for.
    fn unit(suffix: char) -> u64 {
        match suffix {
            'K' => 1_000,
            'M' => 1_000_000,
            'G' => 1_000_000_000,
            'T' => 1_000_000_000_000,
            _ => 1,
        }
    }

    proptest! {
        #[test]
        fn value_reconstructs_within_one_unit(n in any::<u64>()) {
            let s = largenum(n, false);
            prop_assert!(s.len() >= 9);
            prop_assert_eq!(s.len(), 9);
            let last = s.chars().last().unwrap();
            let (digits, u) = if last.is_ascii_digit() {
                (s.trim_start(), 1)
            } else {
                (s[..s.len() - 1].trim_start(), unit(last))
            };
            let v: u64 = digits.parse().unwrap();
            // Truncating division: v*u <= n < (v+1)*u.
            prop_assert!(u128::from(v) * u128::from(u) <= u128::from(n));
            prop_assert!(u128::from(n) < (u128::from(v) + 1) * u128::from(u));
            // Abbreviated numbers keep at most 6 digits (K), except T.
            if u > 1 && last != 'T' {
                prop_assert!(digits.len() <= 6);
            }
        }

        #[test]
        fn exact_is_the_number(n in any::<u64>()) {
            let s = largenum(n, true);
            prop_assert!(s.starts_with(' '));
            prop_assert_eq!(s.trim_start().parse::<u64>().unwrap(), n);
            prop_assert_eq!(s.len(), (n.to_string().len() + 1).max(9));
        }
    }
}
