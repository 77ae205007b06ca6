//! The C library parsers ipvsadm leans on (`strtol`, `atoi`, `inet_aton`, `isdigit`),
//! reproduced with glibc's acceptance rules so that odd spellings are accepted or refused
//! exactly as ipvsadm does.

use std::net::Ipv4Addr;

/// C `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strtol(s, &end, 10)` read: the value (clamped like glibc on overflow), whether it
/// overflowed (`ERANGE`), whether any digit was read, and the unread rest of `s`.
struct Strtol<'a> {
    value: i64,
    overflow: bool,
    any_digit: bool,
    rest: &'a str,
}

fn strtol10(s: &str) -> Strtol<'_> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_c_space(b[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut acc: i128 = 0;
    let mut overflow = false;
    while i < b.len() && b[i].is_ascii_digit() {
        if !overflow {
            acc = acc * 10 + i128::from(b[i] - b'0');
            if acc > i128::from(i64::MAX) + 1 {
                overflow = true;
            }
        }
        i += 1;
    }
    if i == start {
        // No conversion: end = s.
        return Strtol {
            value: 0,
            overflow: false,
            any_digit: false,
            rest: s,
        };
    }
    let signed = if neg { -acc } else { acc };
    let (value, overflow) = if overflow || signed > i128::from(i64::MAX) {
        (if neg { i64::MIN } else { i64::MAX }, true)
    } else if signed < i128::from(i64::MIN) {
        (i64::MIN, true)
    } else {
        (signed as i64, false)
    };
    Strtol {
        value,
        overflow,
        any_digit: true,
        rest: &s[i..],
    }
}

/// ipvsadm's `string_to_number(s, min, max)`: the whole string must be one base-10 `long`
/// (leading white space and a sign allowed) within `min..=max`.
pub fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let r = strtol10(s);
    (r.any_digit && r.rest.is_empty() && !r.overflow && (min..=max).contains(&r.value))
        .then_some(r.value)
}

/// ipvsadm's `parse_fwmark`: `strtol` into an `unsigned long`, accepted when the whole
/// string was read and the value is 1..=`UINT_MAX` (negative numbers wrap and fail).
pub fn parse_fwmark(s: &str) -> Option<u32> {
    let r = strtol10(s);
    if !r.any_digit || !r.rest.is_empty() || r.overflow || r.value <= 0 {
        return None;
    }
    u32::try_from(r.value).ok()
}

/// glibc `atoi`: `(int) strtol(s, NULL, 10)`; trailing junk ignored, no digits gives 0,
/// and the `long` result is truncated to 32 bits like the C cast.
pub fn atoi(s: &str) -> i32 {
    strtol10(s).value as i32
}

/// ipvsadm's `str_is_digit`: every byte is a decimal digit (true for the empty string).
pub fn str_is_digit(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// `strtoul(s, &end, 0)` for a string known to start with a digit: returns the value
/// (saturated) and the number of bytes read.
fn strtoul0(b: &[u8]) -> (u64, usize) {
    let (radix, start) = if b.len() >= 3 && b[0] == b'0' && (b[1] | 0x20) == b'x' {
        if b[2].is_ascii_hexdigit() {
            (16, 2)
        } else {
            // "0x" without a hex digit: only the "0" is read.
            return (0, 1);
        }
    } else if b.first() == Some(&b'0') {
        (8, 1)
    } else {
        (10, 0)
    };
    let mut i = start;
    let mut acc: u64 = 0;
    while i < b.len() {
        let d = match (b[i] as char).to_digit(radix) {
            Some(d) => d,
            None => break,
        };
        acc = acc
            .saturating_mul(u64::from(radix))
            .saturating_add(u64::from(d));
        i += 1;
    }
    (acc, i)
}

/// glibc `inet_aton`: one to four dot-separated parts, each decimal, octal (`0` prefix) or
/// hex (`0x`); the last part fills the remaining bytes (`10.1` = 10.0.0.1, `0x0a000001`
/// = 10.0.0.1). Anything after the first white-space character is ignored.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    const MAX: [u64; 4] = [0xffff_ffff, 0x00ff_ffff, 0xffff, 0xff];
    let b = s.as_bytes();
    let mut parts: Vec<u8> = Vec::with_capacity(3);
    let mut i = 0;
    let val;
    loop {
        if i >= b.len() || !b[i].is_ascii_digit() {
            return None;
        }
        let (v, n) = strtoul0(&b[i..]);
        if v > 0xffff_ffff {
            return None;
        }
        i += n;
        if b.get(i) == Some(&b'.') {
            if parts.len() > 2 || v > 0xff {
                return None;
            }
            parts.push(v as u8);
            i += 1;
        } else {
            val = v;
            break;
        }
    }
    if let Some(&c) = b.get(i)
        && !(c.is_ascii() && is_c_space(c))
    {
        return None;
    }
    if val > MAX[parts.len()] {
        return None;
    }
    let mut word: u32 = 0;
    for (k, p) in parts.iter().enumerate() {
        word |= u32::from(*p) << (24 - 8 * k);
    }
    Some(Ipv4Addr::from(word | val as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_rules() {
        assert_eq!(string_to_number("80", 0, 65535), Some(80));
        assert_eq!(string_to_number(" +80", 0, 65535), Some(80));
        assert_eq!(string_to_number("-0", 0, 65535), Some(0));
        assert_eq!(string_to_number("80 ", 0, 65535), None);
        assert_eq!(string_to_number("", 0, 65535), None);
        assert_eq!(string_to_number("+", 0, 65535), None);
        assert_eq!(string_to_number("65536", 0, 65535), None);
        assert_eq!(string_to_number("0x10", 0, 65535), None);
        assert_eq!(string_to_number("99999999999999999999", 0, i64::MAX), None);
    }

    #[test]
    fn fwmark_rules() {
        assert_eq!(parse_fwmark("1"), Some(1));
        assert_eq!(parse_fwmark("4294967295"), Some(u32::MAX));
        assert_eq!(parse_fwmark("4294967296"), None);
        assert_eq!(parse_fwmark("0"), None);
        assert_eq!(parse_fwmark("-1"), None);
        assert_eq!(parse_fwmark("1x"), None);
    }

    #[test]
    fn atoi_rules() {
        assert_eq!(atoi("64"), 64);
        assert_eq!(atoi("64abc"), 64);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("4294967360"), 64);
    }

    #[test]
    fn inet_aton_forms() {
        let a = |s: &str| inet_aton(s).map(|a| a.to_string());
        assert_eq!(a("10.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(a("10.1.2").as_deref(), Some("10.1.0.2"));
        assert_eq!(a("0x0a000001").as_deref(), Some("10.0.0.1"));
        assert_eq!(a("012.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(a("167772161").as_deref(), Some("10.0.0.1"));
        assert_eq!(a("1.2.3.4 junk").as_deref(), Some("1.2.3.4"));
        assert_eq!(a("1.2.3.256"), None);
        assert_eq!(a("1.2.3.4.5"), None);
        assert_eq!(a("1.2.3."), None);
        assert_eq!(a("1..3"), None);
        assert_eq!(a("08.1.1.1"), None);
        assert_eq!(a("0x"), None);
        assert_eq!(a("1.2.65536"), None);
        assert_eq!(a("1.2.65535").as_deref(), Some("1.2.255.255"));
        assert_eq!(a("4294967296"), None);
        assert_eq!(a(" 1.2.3.4"), None);
        assert_eq!(a("host"), None);
    }
}
