//! The frame codec for tokio streams (`FramedRead`, `FramedWrite`).

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{Frame, FrameError, decode_frame, encode_frame, encoded_frame_len, frame_length};

/// Decodes and encodes frames on async streams, refusing frames over its
/// size limit either way; a frame over the limit is refused from its length
/// prefix, before its body is read.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    limit: usize,
}

impl FrameCodec {
    /// A codec for frames of at most `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> FrameCodec {
        FrameCodec {
            limit: max_frame_bytes,
        }
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some((frame, used)) = decode_frame(src, self.limit)? else {
            return Ok(None);
        };
        src.advance(used);
        Ok(Some(frame))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

/// Splits an async stream into frame bodies without decoding them: each
/// item is one [`Frame`]'s encoding, for `Frame::decode` wherever the
/// decoding should run. Frames over the size limit are refused from their
/// length prefix, as by [`FrameCodec`]; the buffer grows with the bytes
/// that arrive, not with the length a prefix announces.
#[derive(Clone, Copy, Debug)]
pub struct RawFrameCodec {
    limit: usize,
}

impl RawFrameCodec {
    /// A codec for frames of at most `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> RawFrameCodec {
        RawFrameCodec {
            limit: max_frame_bytes,
        }
    }
}

impl Decoder for RawFrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some((prefix, body)) = frame_length(src, self.limit)? else {
            return Ok(None);
        };
        let end = prefix + body;
        if src.len() < end {
            // Room for more of the frame, in proportion to what arrived:
            // the buffer doubles at most, so a peer that announces a large
            // frame and sends little of it holds little memory.
            src.reserve((end - src.len()).min(src.len().max(64 * 1024)));
            return Ok(None);
        }
        src.advance(prefix);
        Ok(Some(src.split_to(body).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        <Self as Encoder<&Frame>>::encode(self, &frame, dst)
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let size = encoded_frame_len(frame);
        if size > self.limit {
            return Err(FrameError::TooLarge {
                size: size as u64,
                limit: self.limit,
            });
        }
        dst.reserve(size);
        encode_frame(frame, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::{SinkExt, StreamExt};
    use tokio_util::codec::{FramedRead, FramedWrite};

    use super::*;
    use crate::{Ack, Error, frame};

    fn ack(sequence: u64) -> Frame {
        Frame {
            kind: Some(frame::Kind::Ack(Ack { sequence })),
        }
    }

    #[tokio::test]
    async fn frames_sent_are_received_then_the_end() {
        let mut wire = Vec::new();
        let mut sink = FramedWrite::new(&mut wire, FrameCodec::new(1024));
        sink.send(ack(1)).await.unwrap();
        sink.send(&ack(2)).await.unwrap();
        let mut frames = FramedRead::new(wire.as_slice(), FrameCodec::new(1024));
        assert_eq!(frames.next().await.unwrap().unwrap(), ack(1));
        assert_eq!(frames.next().await.unwrap().unwrap(), ack(2));
        assert!(frames.next().await.is_none());
    }

    #[tokio::test]
    async fn raw_frames_are_the_bodies_of_the_frames_sent() {
        use prost::Message;
        let mut wire = Vec::new();
        for sequence in [1, 300, 7] {
            encode_frame(&ack(sequence), &mut wire);
        }
        let mut frames = FramedRead::new(wire.as_slice(), RawFrameCodec::new(1024));
        for sequence in [1, 300, 7] {
            let body = frames.next().await.unwrap().unwrap();
            assert_eq!(Frame::decode(body).unwrap(), ack(sequence));
        }
        assert!(frames.next().await.is_none());
        let mut frames = FramedRead::new(&wire[..wire.len() - 1], RawFrameCodec::new(1024));
        frames.next().await.unwrap().unwrap();
        frames.next().await.unwrap().unwrap();
        assert!(matches!(
            frames.next().await,
            Some(Err(FrameError::Truncated { .. }))
        ));
        let mut frames = FramedRead::new(wire.as_slice(), RawFrameCodec::new(2));
        assert!(matches!(
            frames.next().await,
            Some(Err(FrameError::TooLarge { limit: 2, .. }))
        ));
    }

    #[tokio::test]
    async fn oversize_and_truncated_frames_are_errors() {
        let big = Frame {
            kind: Some(frame::Kind::Error(Error {
                message: "x".repeat(100),
            })),
        };
        let mut wire = Vec::new();
        let mut sink = FramedWrite::new(&mut wire, FrameCodec::new(16));
        assert!(matches!(
            sink.send(&big).await,
            Err(FrameError::TooLarge { limit: 16, .. })
        ));
        let mut wire = Vec::new();
        encode_frame(&big, &mut wire);
        let mut frames = FramedRead::new(wire.as_slice(), FrameCodec::new(16));
        assert!(matches!(
            frames.next().await,
            Some(Err(FrameError::TooLarge { limit: 16, .. }))
        ));
        let mut frames = FramedRead::new(&wire[..wire.len() - 1], FrameCodec::new(1024));
        assert!(matches!(
            frames.next().await,
            Some(Err(FrameError::Truncated { .. }))
        ));
    }
}
