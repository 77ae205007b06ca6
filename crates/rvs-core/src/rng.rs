//! Injected randomness: the only source of random choices in rvs-core (used by `twos`).

/// A source of uniformly distributed random numbers, injected by the caller.
pub trait Rng {
    /// A uniformly distributed value in `0..n` (`n > 0`), like the kernel's
    /// `get_random_u32_below(n)`.
    fn below(&mut self, n: u32) -> u32;
}

/// A small deterministic generator (SplitMix64), for simulations and tests.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Rng for SplitMix64 {
    fn below(&mut self, n: u32) -> u32 {
        debug_assert!(n > 0);
        // Lemire's multiply-shift: unbiased enough for scheduling and fully deterministic.
        ((self.next_u64() >> 32).wrapping_mul(u64::from(n)) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range() {
        let mut r = SplitMix64(7);
        for n in [1u32, 2, 3, 10, 1000, u32::MAX] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
    }
}
