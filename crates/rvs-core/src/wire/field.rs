//! Checked big-endian field access shared by the views: reads of missing bytes give zero,
//! writes to missing bytes are dropped, nothing panics.

use std::net::{Ipv4Addr, Ipv6Addr};

/// `N` bytes at `at`, or zeros if the buffer is too short.
#[inline(always)]
pub(crate) fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    match b.get(at..at.wrapping_add(N)) {
        Some(s) => s.try_into().unwrap_or([0; N]),
        None => [0; N],
    }
}

/// The byte at `at`, or 0.
#[inline(always)]
pub(crate) fn u8_at(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// The big-endian u16 at `at`, or 0.
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(arr(b, at))
}

/// The big-endian u32 at `at`, or 0.
#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(arr(b, at))
}

/// The IPv4 address at `at`.
#[inline(always)]
pub(crate) fn ip4(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(arr::<4>(b, at))
}

/// The IPv6 address at `at`.
#[inline(always)]
pub(crate) fn ip6(b: &[u8], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(arr::<16>(b, at))
}

/// `b[from..to]`, or an empty slice if out of range.
#[inline(always)]
pub(crate) fn slice(b: &[u8], from: usize, to: usize) -> &[u8] {
    b.get(from..to).unwrap_or(&[])
}

/// `b[from..]`, or an empty slice.
#[inline(always)]
pub(crate) fn tail(b: &[u8], from: usize) -> &[u8] {
    b.get(from..).unwrap_or(&[])
}

/// Mutable `b[from..to]`, or an empty slice.
#[inline(always)]
pub(crate) fn slice_mut(b: &mut [u8], from: usize, to: usize) -> &mut [u8] {
    b.get_mut(from..to).unwrap_or(&mut [])
}

/// Write `v` at `at` if it fits.
#[inline(always)]
pub(crate) fn put(b: &mut [u8], at: usize, v: &[u8]) {
    if let Some(s) = b.get_mut(at..at.wrapping_add(v.len())) {
        s.copy_from_slice(v);
    }
}

/// Write one byte at `at` if it fits.
#[inline(always)]
pub(crate) fn put8(b: &mut [u8], at: usize, v: u8) {
    if let Some(s) = b.get_mut(at) {
        *s = v;
    }
}

/// Write a big-endian u16 at `at` if it fits.
#[inline(always)]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    put(b, at, &v.to_be_bytes());
}

/// Write a big-endian u32 at `at` if it fits.
#[inline(always)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    put(b, at, &v.to_be_bytes());
}
