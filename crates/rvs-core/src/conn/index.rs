//! The connection index: a flat open-addressing hash table of slot numbers.
//!
//! Each entry is one `u64`: the high 32 bits of the key's hash (the "tag") and the slot
//! number + 1 (0 marks an empty entry). Linear probing keeps the entries of one chain in
//! the same cache line, so a lookup costs one miss on the index and one on the connection
//! — against three with a general-purpose table whose control bytes and values live apart.
//! The home bucket is derived from the tag, so deletion can shift later entries back
//! without re-reading any connection (no tombstones).

/// A hash index from 64-bit key hashes to `u32` slot numbers, allowing duplicate hashes.
#[derive(Clone, Debug, Default)]
pub struct Index {
    entries: Vec<u64>,
    len: usize,
}

/// Smallest table allocated once the first entry arrives.
const MIN_CAP: usize = 64;

#[inline]
fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

#[inline]
fn pack(tag: u32, slot: u32) -> u64 {
    (u64::from(tag) << 32) | (u64::from(slot) + 1)
}

#[inline]
fn slot_of(e: u64) -> u32 {
    (e as u32).wrapping_sub(1)
}

impl Index {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Allocated entries (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// The first slot with this hash for which `eq` holds.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.entries.is_empty() {
            return None;
        }
        let tag = tag_of(hash);
        let mask = self.mask();
        let mut i = tag as usize & mask;
        loop {
            let e = self.entries[i];
            if e == 0 {
                return None;
            }
            if (e >> 32) as u32 == tag && eq(slot_of(e)) {
                return Some(slot_of(e));
            }
            i = (i + 1) & mask;
        }
    }

    /// Add an entry (duplicates allowed).
    pub fn insert(&mut self, hash: u64, slot: u32) {
        if (self.len + 1) * 4 > self.entries.len() * 3 {
            self.grow();
        }
        self.place(pack(tag_of(hash), slot));
        self.len += 1;
    }

    fn place(&mut self, e: u64) {
        let mask = self.mask();
        let mut i = (e >> 32) as usize & mask;
        while self.entries[i] != 0 {
            i = (i + 1) & mask;
        }
        self.entries[i] = e;
    }

    fn grow(&mut self) {
        let cap = (self.entries.len() * 2).max(MIN_CAP);
        let old = std::mem::replace(&mut self.entries, vec![0; cap]);
        for e in old.into_iter().filter(|&e| e != 0) {
            self.place(e);
        }
    }

    /// Remove the entry with this hash and slot; `false` if there is none.
    pub fn remove(&mut self, hash: u64, slot: u32) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let want = pack(tag_of(hash), slot);
        let mask = self.mask();
        let mut i = tag_of(hash) as usize & mask;
        loop {
            let e = self.entries[i];
            if e == 0 {
                return false;
            }
            if e == want {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: move later entries of the cluster into the hole when
        // their home bucket does not lie (cyclically) between the hole and their position.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let e = self.entries[j];
            if e == 0 {
                break;
            }
            let home = (e >> 32) as usize & mask;
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.entries[hole] = e;
                hole = j;
            }
        }
        self.entries[hole] = 0;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn insert_find_remove() {
        let mut ix = Index::default();
        for s in 0..1000u32 {
            ix.insert(u64::from(s % 37) << 40, s);
        }
        assert_eq!(ix.len(), 1000);
        for s in 0..1000u32 {
            assert_eq!(ix.find(u64::from(s % 37) << 40, |x| x == s), Some(s));
        }
        for s in (0..1000u32).step_by(2) {
            assert!(ix.remove(u64::from(s % 37) << 40, s));
        }
        assert!(!ix.remove(0, 0));
        for s in 0..1000u32 {
            let got = ix.find(u64::from(s % 37) << 40, |x| x == s);
            assert_eq!(got.is_some(), s % 2 == 1, "{s}");
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_multiset(ops in proptest::collection::vec((0u64..64, 0u32..200, proptest::bool::ANY), 1..400)) {
            let mut ix = Index::default();
            let mut model: Vec<(u64, u32)> = Vec::new();
            for (h, s, add) in ops {
                // Spread the hash so tags collide often but not always.
                let hash = h.wrapping_mul(0x9E37_79B9_7F4A_7C15) & 0xFFFF_FF00_0000_0000;
                if add && !model.contains(&(hash, s)) {
                    ix.insert(hash, s);
                    model.push((hash, s));
                } else if !add {
                    let had = model.iter().position(|&m| m == (hash, s));
                    prop_assert_eq!(ix.remove(hash, s), had.is_some());
                    if let Some(p) = had { model.swap_remove(p); }
                }
                prop_assert_eq!(ix.len(), model.len());
                for &(mh, ms) in &model {
                    prop_assert_eq!(ix.find(mh, |x| x == ms), Some(ms));
                }
            }
        }
    }
}
