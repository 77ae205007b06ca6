//! A frame inside a larger buffer, with room before and after it to grow.

/// Headroom a caller should leave so that every engine verdict fits (TUN v6 outer header +
/// VLAN + slack).
pub const HEADROOM: usize = 128;

/// Why a frame could not be created, grown or shrunk.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Not enough bytes before the frame.
    #[error("not enough headroom")]
    NoHeadroom,
    /// Not enough bytes in the buffer (after the frame, or at all).
    #[error("not enough room")]
    NoRoom,
    /// `start`/`len` do not lie inside the buffer, or a shrink goes past the frame.
    #[error("frame outside its buffer")]
    OutOfBounds,
}

/// One frame inside a larger buffer, with headroom before it (AF_XDP UMEM chunk or a Vec):
/// TUN encapsulation and ICMP answers grow the frame at the front or the back.
///
/// Invariant: `start + len <= buf.len()`.
#[derive(Debug)]
pub struct Frame<'a> {
    buf: &'a mut [u8],
    start: usize,
    len: usize,
}

impl<'a> Frame<'a> {
    /// The frame at `buf[start..start + len]`.
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> Result<Self, FrameError> {
        match start.checked_add(len) {
            Some(end) if end <= buf.len() => Ok(Frame { buf, start, len }),
            _ => Err(FrameError::OutOfBounds),
        }
    }

    /// The frame's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The frame's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Length of the frame in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Offset of the frame in the buffer.
    pub fn start(&self) -> usize {
        self.start
    }

    /// Bytes free before the frame.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Bytes free after the frame.
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.start - self.len
    }

    /// Grow the frame by `n` zeroed bytes at the front.
    pub fn push_front(&mut self, n: usize) -> Result<(), FrameError> {
        if n > self.start {
            return Err(FrameError::NoHeadroom);
        }
        self.start -= n;
        self.len += n;
        self.buf[self.start..self.start + n].fill(0);
        Ok(())
    }

    /// Drop `n` bytes from the front of the frame.
    pub fn pull_front(&mut self, n: usize) -> Result<(), FrameError> {
        if n > self.len {
            return Err(FrameError::OutOfBounds);
        }
        self.start += n;
        self.len -= n;
        Ok(())
    }

    /// Set the frame's length: grow at the back (new bytes zeroed) or shrink.
    pub fn set_len(&mut self, len: usize) -> Result<(), FrameError> {
        if len > self.buf.len() - self.start {
            return Err(FrameError::NoRoom);
        }
        if len > self.len {
            self.buf[self.start + self.len..self.start + len].fill(0);
        }
        self.len = len;
        Ok(())
    }

    /// Replace the whole content; keeps `start` if it fits after it, else moves start to
    /// the largest start that fits (0 at worst); `NoRoom` if `bytes.len() > buf.len()`.
    pub fn replace(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        let cap = self.buf.len();
        if bytes.len() > cap {
            return Err(FrameError::NoRoom);
        }
        let start = self.start.min(cap - bytes.len());
        self.buf[start..start + bytes.len()].copy_from_slice(bytes);
        self.start = start;
        self.len = bytes.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn new_checks_bounds() {
        let mut b = [0u8; 10];
        assert!(Frame::new(&mut b, 0, 10).is_ok());
        assert!(Frame::new(&mut b, 10, 0).is_ok());
        assert_eq!(
            Frame::new(&mut b, 4, 7).unwrap_err(),
            FrameError::OutOfBounds
        );
        assert_eq!(
            Frame::new(&mut b, 11, 0).unwrap_err(),
            FrameError::OutOfBounds
        );
        assert_eq!(
            Frame::new(&mut b, usize::MAX, 2).unwrap_err(),
            FrameError::OutOfBounds
        );
    }

    #[test]
    fn accessors() {
        let mut b: Vec<u8> = (0..10).collect();
        let mut f = Frame::new(&mut b, 3, 4).unwrap();
        assert_eq!(f.data(), &[3, 4, 5, 6]);
        assert_eq!(f.len(), 4);
        assert!(!f.is_empty());
        assert_eq!(f.start(), 3);
        assert_eq!(f.headroom(), 3);
        assert_eq!(f.tailroom(), 3);
        f.data_mut()[0] = 99;
        assert_eq!(f.data(), &[99, 4, 5, 6]);
        assert_eq!(b[3], 99);
        let mut e = [0u8; 4];
        assert!(Frame::new(&mut e, 2, 0).unwrap().is_empty());
    }

    #[test]
    fn push_front_zeroes_and_checks_headroom() {
        let mut b = [7u8; 10];
        let mut f = Frame::new(&mut b, 4, 2).unwrap();
        f.push_front(3).unwrap();
        assert_eq!(f.data(), &[0, 0, 0, 7, 7]);
        assert_eq!(f.start(), 1);
        assert_eq!(f.push_front(2), Err(FrameError::NoHeadroom));
        assert_eq!(f.start(), 1);
        f.push_front(1).unwrap();
        assert_eq!(f.headroom(), 0);
        assert_eq!(f.len(), 6);
    }

    #[test]
    fn pull_front() {
        let mut b: Vec<u8> = (0..10).collect();
        let mut f = Frame::new(&mut b, 2, 5).unwrap();
        f.pull_front(2).unwrap();
        assert_eq!(f.data(), &[4, 5, 6]);
        assert_eq!(f.pull_front(4), Err(FrameError::OutOfBounds));
        f.pull_front(3).unwrap();
        assert!(f.is_empty());
        assert_eq!(f.start(), 7);
    }

    #[test]
    fn set_len_grows_zeroed_and_shrinks() {
        let mut b = [9u8; 10];
        let mut f = Frame::new(&mut b, 2, 3).unwrap();
        f.set_len(1).unwrap();
        assert_eq!(f.data(), &[9]);
        f.set_len(4).unwrap();
        assert_eq!(f.data(), &[9, 0, 0, 0]);
        assert_eq!(f.set_len(9), Err(FrameError::NoRoom));
        f.set_len(8).unwrap();
        assert_eq!(f.tailroom(), 0);
    }

    #[test]
    fn replace_keeps_or_moves_start() {
        let mut b = [0u8; 10];
        let mut f = Frame::new(&mut b, 4, 2).unwrap();
        f.replace(&[1, 2, 3]).unwrap();
        assert_eq!((f.start(), f.data()), (4, &[1u8, 2, 3][..]));
        f.replace(&[5; 8]).unwrap();
        assert_eq!(f.start(), 2);
        assert_eq!(f.data(), &[5; 8]);
        f.replace(&[6; 10]).unwrap();
        assert_eq!(f.start(), 0);
        assert_eq!(f.replace(&[0; 11]), Err(FrameError::NoRoom));
        assert_eq!(f.data(), &[6; 10]);
        f.replace(&[]).unwrap();
        assert!(f.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        Pull(usize),
        SetLen(usize),
        Replace(Vec<u8>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..40).prop_map(Op::Push),
            (0usize..40).prop_map(Op::Pull),
            (0usize..80).prop_map(Op::SetLen),
            proptest::collection::vec(any::<u8>(), 0..70).prop_map(Op::Replace),
        ]
    }

    proptest! {
        /// Against a model: the frame's bytes, and the invariant start+len <= cap.
        #[test]
        fn matches_model(cap in 0usize..64, start in 0usize..64, ops in proptest::collection::vec(op(), 0..30)) {
            let mut b = vec![0xAAu8; cap];
            let start = start.min(cap);
            let mut f = Frame::new(&mut b, start, 0).unwrap();
            let mut model: Vec<u8> = Vec::new();
            for o in ops {
                let (s0, l0) = (f.start(), f.len());
                let r = match &o {
                    Op::Push(n) => f.push_front(*n).map(|()| {
                        let mut m = vec![0; *n];
                        m.extend_from_slice(&model);
                        model = m;
                    }),
                    Op::Pull(n) => f.pull_front(*n).map(|()| { model.drain(..*n); }),
                    Op::SetLen(n) => f.set_len(*n).map(|()| model.resize(*n, 0)),
                    Op::Replace(v) => f.replace(v).map(|()| model = v.clone()),
                };
                if r.is_err() {
                    prop_assert_eq!((f.start(), f.len()), (s0, l0));
                }
                prop_assert_eq!(f.data(), &model[..]);
                prop_assert_eq!(f.headroom() + f.len() + f.tailroom(), cap);
            }
        }
    }
}
