//! A generational slab: stable small handles for services and dests.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::num::NonZeroU32;

/// Handle of a `T` in a [`Slab<T>`]. Carries the slot's generation, so a handle kept
/// after its value was removed never refers to a later value in the same slot.
///
/// Generations start at 1, so `Option<Id<T>>` is as small as `Id<T>` (8 bytes).
pub struct Id<T> {
    /// Slot index.
    pub idx: u32,
    /// Generation of the slot when this handle was issued.
    pub gen_: NonZeroU32,
    _t: PhantomData<fn() -> T>,
}

impl<T> Id<T> {
    /// A handle from its parts.
    pub const fn new(idx: u32, gen_: NonZeroU32) -> Self {
        Id {
            idx,
            gen_,
            _t: PhantomData,
        }
    }

    /// The slot index (dense, small: usable to index side tables).
    pub const fn index(&self) -> u32 {
        self.idx
    }

    /// A handle from its parts as plain numbers; `None` for generation 0, which no slot
    /// ever has.
    pub fn from_raw(idx: u32, gen_: u32) -> Option<Self> {
        NonZeroU32::new(gen_).map(|g| Id::new(idx, g))
    }
}

impl<T> Clone for Id<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Id<T> {}
impl<T> PartialEq for Id<T> {
    fn eq(&self, o: &Self) -> bool {
        self.idx == o.idx && self.gen_ == o.gen_
    }
}
impl<T> Eq for Id<T> {}
impl<T> Hash for Id<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.idx.hash(h);
        self.gen_.hash(h);
    }
}
impl<T> PartialOrd for Id<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Id<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.idx, self.gen_).cmp(&(o.idx, o.gen_))
    }
}
impl<T> fmt::Debug for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.idx, self.gen_.get())
    }
}

/// `repr(C)` keeps the generation in front of the value, so a scan that checks handles
/// and reads a value's first fields touches one cache line per slot.
#[derive(Clone, Debug)]
#[repr(C)]
struct Slot<T> {
    gen_: NonZeroU32,
    val: Option<T>,
}

/// Owner of values addressed by generation-checked [`Id`]s.
#[derive(Clone, Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Store a value and return its handle.
    pub fn insert(&mut self, val: T) -> Id<T> {
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            slot.val = Some(val);
            Id::new(idx, slot.gen_)
        } else {
            let idx = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
            self.slots.push(Slot {
                gen_: NonZeroU32::MIN,
                val: Some(val),
            });
            Id::new(idx, NonZeroU32::MIN)
        }
    }

    /// Remove a value; later lookups with its handle return `None`.
    pub fn remove(&mut self, id: Id<T>) -> Option<T> {
        let slot = self.slots.get_mut(id.idx as usize)?;
        if slot.gen_ != id.gen_ {
            return None;
        }
        let v = slot.val.take()?;
        slot.gen_ = slot.gen_.checked_add(1).unwrap_or(NonZeroU32::MIN);
        self.free.push(id.idx);
        Some(v)
    }

    /// The value behind a handle, if it still exists.
    #[inline]
    pub fn get(&self, id: Id<T>) -> Option<&T> {
        let slot = self.slots.get(id.idx as usize)?;
        if slot.gen_ == id.gen_ {
            slot.val.as_ref()
        } else {
            None
        }
    }

    /// Mutable access to the value behind a handle, if it still exists.
    #[inline]
    pub fn get_mut(&mut self, id: Id<T>) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.idx as usize)?;
        if slot.gen_ == id.gen_ {
            slot.val.as_mut()
        } else {
            None
        }
    }

    /// The value in slot `idx` with its current handle, whatever its generation.
    #[inline]
    pub fn get_by_index(&self, idx: u32) -> Option<(Id<T>, &T)> {
        let slot = self.slots.get(idx as usize)?;
        slot.val.as_ref().map(|v| (Id::new(idx, slot.gen_), v))
    }

    /// The value in slot `idx`, whatever its generation (for scans over handles the
    /// owner keeps live).
    #[inline]
    pub fn value_at(&self, idx: u32) -> Option<&T> {
        self.slots.get(idx as usize)?.val.as_ref()
    }

    /// Bytes of slot storage currently allocated (for memory accounting).
    pub fn allocated_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<T>>()
            + self.free.capacity() * std::mem::size_of::<u32>()
    }

    /// Every value with its handle, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Id<T>, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.val.as_ref().map(|v| (Id::new(i as u32, s.gen_), v)))
    }

    /// Every value, mutably, with its handle.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Id<T>, &mut T)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.val.as_mut().map(|v| (Id::new(i as u32, s.gen_), v)))
    }

    /// Number of slots (live or free): every index below it may hold a value.
    pub fn slot_count(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }

    /// Number of live values.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether the slab holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_miss() {
        let mut s: Slab<&str> = Slab::default();
        let a = s.insert("a");
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b");
        assert_eq!(a.idx, b.idx);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }
}
