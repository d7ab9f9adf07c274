//! The frame codec over blocking `std::io` streams.

use std::io::{self, ErrorKind, Read, Write};

use crate::{Frame, FrameDecoder, FrameError, encode_frame};

/// Writes one frame.
pub fn write_frame(out: &mut impl Write, frame: &Frame) -> io::Result<()> {
    let mut bytes = Vec::new();
    encode_frame(frame, &mut bytes);
    out.write_all(&bytes)
}

/// Reads frames from a blocking stream, refusing frames over the size limit
/// before reading their body.
///
/// It reads ahead and keeps what it read, so a read that fails with
/// `WouldBlock` or `TimedOut` (a non-blocking socket, a read timeout) can be
/// retried and continues where it stopped.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    decoder: FrameDecoder,
}

impl<R: Read> FrameReader<R> {
    /// Reads from `inner`, refusing frames over `max_frame_bytes`.
    pub fn new(inner: R, max_frame_bytes: usize) -> FrameReader<R> {
        FrameReader {
            inner,
            decoder: FrameDecoder::new(max_frame_bytes),
        }
    }

    /// The next frame, or `None` when the stream ended between frames.
    pub fn read_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(Some(frame));
            }
            match self.inner.read(&mut chunk) {
                Ok(0) if self.decoder.buffered() == 0 => return Ok(None),
                Ok(0) => {
                    return Err(FrameError::Truncated {
                        buffered: self.decoder.buffered(),
                    });
                }
                Ok(n) => self.decoder.feed(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The stream, to write to or to set up; reading from it directly loses
    /// frames.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ack, Hello, frame};

    fn ack(sequence: u64) -> Frame {
        Frame {
            kind: Some(frame::Kind::Ack(Ack { sequence })),
        }
    }

    #[test]
    fn frames_written_are_read_back_then_the_end() {
        let hello = Frame {
            kind: Some(frame::Kind::Hello(Hello {
                protocol_version: crate::PROTOCOL_VERSION,
                resource: None,
                token: "t0ken".into(),
            })),
        };
        let mut wire = Vec::new();
        write_frame(&mut wire, &hello).unwrap();
        write_frame(&mut wire, &ack(1)).unwrap();
        let mut reader = FrameReader::new(wire.as_slice(), 1024);
        assert_eq!(reader.read_frame().unwrap(), Some(hello));
        assert_eq!(reader.read_frame().unwrap(), Some(ack(1)));
        assert_eq!(reader.read_frame().unwrap(), None);
    }

    #[test]
    fn a_stream_cut_inside_a_frame_is_truncated() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &ack(300)).unwrap();
        let cut = &wire[..wire.len() - 1];
        let mut reader = FrameReader::new(cut, 1024);
        assert!(matches!(
            reader.read_frame(),
            Err(FrameError::Truncated { buffered }) if buffered == cut.len()
        ));
    }

    /// Gives one byte per read, and `WouldBlock` between them.
    struct Trickle<'a> {
        bytes: &'a [u8],
        ready: bool,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.ready = !self.ready;
            if !self.ready {
                return Err(ErrorKind::WouldBlock.into());
            }
            let Some((first, rest)) = self.bytes.split_first() else {
                return Ok(0);
            };
            out[0] = *first;
            self.bytes = rest;
            Ok(1)
        }
    }

    #[test]
    fn a_read_that_would_block_resumes_where_it_stopped() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &ack(1)).unwrap();
        write_frame(&mut wire, &ack(2)).unwrap();
        let mut reader = FrameReader::new(
            Trickle {
                bytes: &wire,
                ready: false,
            },
            1024,
        );
        let mut frames = Vec::new();
        loop {
            match reader.read_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(FrameError::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(frames, [ack(1), ack(2)]);
    }
}
