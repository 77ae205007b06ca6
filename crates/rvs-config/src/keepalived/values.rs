//! Reading keyword arguments: integers in ranges, timers, addresses, ports, booleans —
//! each failure reported with the argument's position.

use std::net::IpAddr;
use std::time::Duration;

use super::diag::Diags;
use super::tree::Node;

/// The `i`-th argument, or an error `'kw' needs a value` (reported at the keyword).
pub(crate) fn need<'a>(n: &'a Node, i: usize, d: &mut Diags) -> Option<&'a str> {
    let v = n.arg(i);
    if v.is_none() {
        if i == 0 {
            d.err(n.pos(), format!("'{}' needs a value", n.kw()));
        } else {
            d.err(n.pos(), format!("'{}' needs more arguments", n.kw()));
        }
    }
    v
}

/// A decimal integer (digits only).
pub(crate) fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A decimal integer with an optional sign.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = i64::try_from(parse_uint(digits)?).ok()?;
    Some(if neg { -v } else { v })
}

/// Argument `i` as an unsigned integer in `min..=max`.
pub(crate) fn uint(n: &Node, i: usize, min: u64, max: u64, d: &mut Diags) -> Option<u64> {
    let s = need(n, i, d)?;
    match parse_uint(s) {
        Some(v) if (min..=max).contains(&v) => Some(v),
        _ => {
            d.err(
                n.arg_pos(i),
                format!(
                    "invalid {} '{s}': expected an integer in {min}..{max}",
                    n.kw()
                ),
            );
            None
        }
    }
}

/// Argument `i` as a signed integer in `min..=max`.
pub(crate) fn int(n: &Node, i: usize, min: i64, max: i64, d: &mut Diags) -> Option<i64> {
    let s = need(n, i, d)?;
    match parse_int(s) {
        Some(v) if (min..=max).contains(&v) => Some(v),
        _ => {
            d.err(
                n.arg_pos(i),
                format!(
                    "invalid {} '{s}': expected an integer in {min}..{max}",
                    n.kw()
                ),
            );
            None
        }
    }
}

/// Seconds with up to six decimals (`1`, `0.5`, `2.000001`), as keepalived's `read_timer`.
pub(crate) fn parse_secs(s: &str) -> Option<Duration> {
    let (int, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    if frac.len() > 6 || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let secs = if int.is_empty() { 0 } else { parse_uint(int)? };
    let micros = if frac.is_empty() {
        0
    } else {
        parse_uint(frac)? * 10u64.pow(u32::try_from(6 - frac.len()).ok()?)
    };
    if secs > u64::from(u32::MAX) {
        return None;
    }
    Some(Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// Argument `i` as a timer of at least `min`.
pub(crate) fn timer(n: &Node, i: usize, min: Duration, d: &mut Diags) -> Option<Duration> {
    let s = need(n, i, d)?;
    match parse_secs(s) {
        Some(v) if v >= min => Some(v),
        _ => {
            let what = if min.is_zero() {
                "seconds".to_string()
            } else {
                format!("at least {} seconds", min.as_secs_f64())
            };
            d.err(
                n.arg_pos(i),
                format!("invalid {} '{s}': expected {what}", n.kw()),
            );
            None
        }
    }
}

/// An IP address (dotted quad or IPv6, as `inet_pton` reads them).
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// Argument `i` as an IP address.
pub(crate) fn ip(n: &Node, i: usize, d: &mut Diags) -> Option<IpAddr> {
    let s = need(n, i, d)?;
    let v = parse_ip(s);
    if v.is_none() {
        d.err(
            n.arg_pos(i),
            format!("invalid {} '{s}': expected an IP address", n.kw()),
        );
    }
    v
}

/// A port, 0..65535 (0 = none).
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    parse_uint(s).and_then(|v| u16::try_from(v).ok())
}

/// Argument `i` as a port in 1..65535.
pub(crate) fn port(n: &Node, i: usize, d: &mut Diags) -> Option<u16> {
    uint(n, i, 1, 65535, d).and_then(|v| u16::try_from(v).ok())
}

/// keepalived's `check_true_false`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// A flag keyword with an optional boolean (`alpha`, `alpha false`).
pub(crate) fn flag(n: &Node, d: &mut Diags) -> Option<bool> {
    match n.arg(0) {
        None => Some(true),
        Some(s) => {
            let v = parse_bool(s);
            if v.is_none() {
                d.err(
                    n.arg_pos(0),
                    format!(
                        "invalid {} '{s}': expected true/false, on/off or yes/no",
                        n.kw()
                    ),
                );
            }
            v
        }
    }
}

/// The rest of the statement as one string (script command lines): arguments joined by a
/// space, as keepalived's `set_value` does.
pub(crate) fn rest(n: &Node, d: &mut Diags) -> Option<String> {
    need(n, 0, d)?;
    Some(
        n.args
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs() {
        assert_eq!(parse_secs("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_secs("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_secs(".25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_secs("1.0000001"), None);
        assert_eq!(parse_secs("-1"), None);
        assert_eq!(parse_secs("1s"), None);
        assert_eq!(parse_secs("."), None);
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int("-253"), Some(-253));
        assert_eq!(parse_int("+4"), Some(4));
        assert_eq!(parse_int("--4"), None);
        assert_eq!(parse_uint(""), None);
        assert_eq!(parse_port("65536"), None);
    }
}
