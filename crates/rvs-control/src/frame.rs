//! Framing: a 4-byte big-endian length, then JSON.

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest frame accepted (a `-Lnc` listing of a big table fits easily).
pub const MAX_FRAME: usize = 256 << 20;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection before a frame began.
    #[error("connection closed")]
    Closed,
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The length prefix exceeds [`MAX_FRAME`].
    #[error("frame of {0} bytes is too large")]
    TooLarge(usize),
    /// The payload is not the JSON expected.
    #[error("bad message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Write `msg` as one frame.
pub fn write<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    let body = serde_json::to_vec(msg)?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len()));
    }
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge(body.len()))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()?;
    Ok(())
}

/// Read one frame; [`FrameError::Closed`] when the peer closed cleanly before it.
pub fn read<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    // Grow with the bytes that actually arrive, not with what the prefix claims.
    let mut body = Vec::with_capacity(len.min(64 << 10));
    let got = r.take(len as u64).read_to_end(&mut body)?;
    if got < len {
        return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reply, Request};

    #[test]
    fn round_trip() {
        let req = Request::Ipvsadm {
            argv0: "ipvsadm".into(),
            args: vec!["-Ln".into()],
            stdin: None,
        };
        let mut buf = Vec::new();
        write(&mut buf, &req).unwrap();
        assert_eq!(&buf[..4], &((buf.len() - 4) as u32).to_be_bytes());
        let back: Request = read(&mut &buf[..]).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn closed_truncated_oversized_and_garbage() {
        let empty: &[u8] = &[];
        assert!(matches!(
            read::<_, Reply>(&mut &empty[..]),
            Err(FrameError::Closed)
        ));
        let short: &[u8] = &[0, 0];
        assert!(matches!(
            read::<_, Reply>(&mut &short[..]),
            Err(FrameError::Io(_))
        ));
        let huge = (MAX_FRAME as u32 + 1).to_be_bytes();
        assert!(matches!(
            read::<_, Reply>(&mut &huge[..]),
            Err(FrameError::TooLarge(_))
        ));
        let mut bad = 3u32.to_be_bytes().to_vec();
        bad.extend_from_slice(b"{x}");
        assert!(matches!(
            read::<_, Reply>(&mut &bad[..]),
            Err(FrameError::Json(_))
        ));
        let mut cut = 10u32.to_be_bytes().to_vec();
        cut.extend_from_slice(b"{}");
        assert!(matches!(
            read::<_, Reply>(&mut &cut[..]),
            Err(FrameError::Io(_))
        ));
    }
}
