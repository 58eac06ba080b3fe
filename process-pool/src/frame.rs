//! Length-prefixed serde frames: how typed messages cross a pipe.
//!
//! A pipe (or a lane) carries bytes, not messages: one `read` may return
//! half a message or three of them. A frame is a 4-byte little-endian
//! length followed by that many bytes of payload in the pool's
//! [codec](crate::codec), so the reader always knows where one message
//! ends. Python's `multiprocessing.Connection.send` does the same with a
//! 4-byte length and a pickle.
//!
//! Bad input is an error, never a huge allocation: a length prefix above
//! [`MAX_FRAME`] is refused before anything is allocated, and a payload
//! that does not decode as the expected type is [`FrameError::Decode`].
//!
//! ```
//! use process_pool::frame::{self, FrameReader};
//!
//! let mut wire = Vec::new();
//! frame::encode(&(7u32, "seven".to_string()), &mut wire)?;
//! frame::encode(&(8u32, "eight".to_string()), &mut wire)?;
//!
//! let mut reader = FrameReader::new(&wire[..]);
//! assert_eq!(reader.read::<(u32, String)>()?, Some((7, "seven".into())));
//! assert_eq!(reader.read::<(u32, String)>()?, Some((8, "eight".into())));
//! assert_eq!(reader.read::<(u32, String)>()?, None); // clean end of stream
//! # Ok::<(), frame::FrameError>(())
//! ```

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;

/// Bytes in the length prefix.
pub const HEADER: usize = 4;

/// The largest payload a reader accepts (64 MiB). A corrupt or hostile
/// length prefix beyond it is refused instead of allocated.
pub const MAX_FRAME: usize = 64 << 20;

/// What can go wrong with a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than [`MAX_FRAME`] bytes.
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    /// The value could not be encoded (its `Serialize` refused it).
    #[error("cannot encode message: {0}")]
    Encode(codec::Error),
    /// The payload is not a valid encoding of the expected type.
    #[error("cannot decode message: {0}")]
    Decode(codec::Error),
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({0} bytes of it read)")]
    Truncated(usize),
    /// Reading or writing the underlying pipe failed.
    #[error("pipe i/o: {0}")]
    Io(#[from] io::Error),
}

/// Appends one frame holding `msg` to `out`.
pub fn encode<M: Serialize + ?Sized>(msg: &M, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    if let Err(e) = codec::append(msg, out) {
        out.truncate(start);
        return Err(FrameError::Encode(e));
    }
    let len = out.len() - start - HEADER;
    if len > MAX_FRAME {
        out.truncate(start);
        return Err(FrameError::TooLarge(len));
    }
    out[start..start + HEADER].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

/// Splits the first complete frame off the front of `buf`: returns its
/// payload and the number of bytes it occupied, or `None` if `buf` does
/// not hold a whole frame yet.
pub fn split(buf: &[u8]) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(header) = buf.get(..HEADER) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    Ok(buf
        .get(HEADER..HEADER + len)
        .map(|payload| (payload, HEADER + len)))
}

/// Decodes a payload returned by [`split`]: all of it, as one `M`.
pub fn decode<M: DeserializeOwned>(payload: &[u8]) -> Result<M, FrameError> {
    codec::decode(payload).map_err(FrameError::Decode)
}

/// Encodes `msg` as one frame and writes it (one `write` for small frames).
pub fn write<W: Write, M: Serialize + ?Sized>(out: &mut W, msg: &M) -> Result<(), FrameError> {
    let mut buf = Vec::new();
    encode(msg, &mut buf)?;
    out.write_all(&buf)?;
    Ok(())
}

/// Reads frames from a byte stream, buffering so that each `read` system
/// call can deliver many small frames at once.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
}

impl<R: Read> FrameReader<R> {
    /// Wraps a reader (a pipe's read end, a socket, a byte slice).
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: Vec::with_capacity(64 << 10),
            start: 0,
        }
    }

    /// The next frame's payload, or `None` at a clean end of stream.
    pub fn next_payload(&mut self) -> Result<Option<&[u8]>, FrameError> {
        loop {
            if let Some((_, used)) = split(&self.buf[self.start..])? {
                let at = self.start;
                self.start += used;
                return Ok(Some(&self.buf[at + HEADER..at + used]));
            }
            // Move the partial frame to the front, then read more after it.
            self.buf.drain(..self.start);
            self.start = 0;
            let have = self.buf.len();
            let want = (have + (64 << 10)).max(self.buf.capacity());
            self.buf.resize(want, 0);
            let got = loop {
                match self.inner.read(&mut self.buf[have..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            self.buf.truncate(have + got.as_ref().map_or(0, |n| *n));
            match got? {
                0 if have == 0 => return Ok(None),
                0 => return Err(FrameError::Truncated(have)),
                _ => {}
            }
        }
    }

    /// The next frame decoded as `M`, or `None` at a clean end of stream.
    pub fn read<M: DeserializeOwned>(&mut self) -> Result<Option<M>, FrameError> {
        match self.next_payload()? {
            Some(payload) => decode(payload).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_split_of_the_stream() {
        let mut wire = Vec::new();
        for i in 0..50u64 {
            encode(&(i, vec![i as u8; i as usize]), &mut wire).unwrap();
        }
        // A reader that returns 3 bytes at a time still sees whole messages.
        struct Dribble<'a>(&'a [u8]);
        impl Read for Dribble<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(3);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut reader = FrameReader::new(Dribble(&wire));
        for i in 0..50u64 {
            let (j, v): (u64, Vec<u8>) = reader.read().unwrap().unwrap();
            assert_eq!((j, v.len()), (i, i as usize));
        }
        assert!(reader.read::<(u64, Vec<u8>)>().unwrap().is_none());
    }

    #[test]
    fn a_huge_length_prefix_is_refused_not_allocated() {
        let wire = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(split(&wire), Err(FrameError::TooLarge(_))));
        let mut reader = FrameReader::new(&wire[..]);
        assert!(matches!(reader.read::<u8>(), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn garbage_frames_are_errors_that_say_what_was_wrong() {
        // Each: bytes off the wire, and a word the error must contain.
        let cases: [(&[u8], &str); 5] = [
            (&[0xff, 0xff, 0xff, 0xff], "4294967295 bytes exceeds"),
            (&[1, 0, 0, 4, 9, 9], "exceeds the 67108864-byte limit"),
            (&[7, 0], "stream ended inside a frame (2 bytes"),
            (
                &[9, 0, 0, 0, 1, 2, 3],
                "stream ended inside a frame (7 bytes",
            ),
            (&[1, 0, 0, 0, 0xff], "cannot decode"),
        ];
        for (wire, says) in cases {
            let mut reader = FrameReader::new(wire);
            let err = reader.read::<String>().expect_err("garbage accepted");
            assert!(err.to_string().contains(says), "{wire:?}: {err}");
        }
        // A valid frame followed by garbage: the first still arrives.
        let mut wire = Vec::new();
        encode(&"ok", &mut wire).unwrap();
        wire.extend_from_slice(&[0xee; 4]);
        let mut reader = FrameReader::new(&wire[..]);
        assert_eq!(reader.read::<String>().unwrap().as_deref(), Some("ok"));
        assert!(matches!(
            reader.read::<String>(),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn truncated_and_garbage_frames_are_errors() {
        let mut wire = Vec::new();
        encode(&"hello", &mut wire).unwrap();
        let mut reader = FrameReader::new(&wire[..wire.len() - 1]);
        assert!(matches!(
            reader.read::<String>(),
            Err(FrameError::Truncated(_))
        ));
        let garbage = [2, 0, 0, 0, 0xff, 0xff];
        let mut reader = FrameReader::new(&garbage[..]);
        assert!(matches!(
            reader.read::<String>(),
            Err(FrameError::Decode(_))
        ));
    }
}
