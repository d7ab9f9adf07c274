//! The frame codec without I/O: a varint length prefix, then one [`Frame`].

use std::io;

use prost::Message;
use prost::bytes::BufMut;

use crate::Frame;

/// The longest varint: ten bytes hold 64 bits.
const MAX_PREFIX_BYTES: usize = 10;

/// Why frames could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// The length prefix is not a varint of at most 64 bits.
    #[error("malformed length prefix")]
    MalformedLength,
    /// The frame is larger than allowed; refused from its length prefix,
    /// before its body was read.
    #[error("frame of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Its announced size (for a prefix still arriving, a lower bound).
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a frame.
    #[error("malformed frame: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The stream ended inside a frame.
    #[error("the stream ended {buffered} bytes into a frame")]
    Truncated {
        /// The bytes of the incomplete frame.
        buffered: usize,
    },
}

/// The length prefix at the start of `input`: the prefix's size and the
/// body's, or `None` until the whole prefix has arrived. A body over
/// `limit` bytes is refused as soon as the prefix says so.
pub fn frame_length(input: &[u8], limit: usize) -> Result<Option<(usize, usize)>, FrameError> {
    let mut size: u64 = 0;
    for (i, &byte) in input.iter().take(MAX_PREFIX_BYTES).enumerate() {
        // The tenth byte holds only the 64th bit.
        if i == MAX_PREFIX_BYTES - 1 && byte > 1 {
            return Err(FrameError::MalformedLength);
        }
        size |= u64::from(byte & 0x7f) << (7 * i);
        // Later bytes can only add to the size: a prefix already over the
        // limit is refused without waiting for the rest of it.
        if size > limit as u64 {
            return Err(FrameError::TooLarge { size, limit });
        }
        if byte & 0x80 == 0 {
            // At most `limit`, so it fits.
            return Ok(Some((i + 1, size as usize)));
        }
    }
    Ok(None)
}

/// The frame at the start of `input`, with the number of bytes it takes,
/// or `None` until all of it has arrived. A frame over `limit` bytes is
/// refused as soon as its length prefix is read.
pub fn decode_frame(input: &[u8], limit: usize) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some((prefix, body)) = frame_length(input, limit)? else {
        return Ok(None);
    };
    let Some(end) = prefix.checked_add(body) else {
        // Only with a limit near `usize::MAX`: no such frame fits in memory.
        return Err(FrameError::TooLarge {
            size: body as u64,
            limit,
        });
    };
    let Some(bytes) = input.get(prefix..end) else {
        return Ok(None);
    };
    Ok(Some((Frame::decode(bytes)?, end)))
}

/// Appends `frame`, length prefix first, to `out`.
pub fn encode_frame(frame: &Frame, out: &mut impl BufMut) {
    prost::encoding::encode_varint(frame.encoded_len() as u64, out);
    frame.encode_raw(out);
}

/// The bytes [`encode_frame`] writes for `frame`, its length prefix included.
pub fn encoded_frame_len(frame: &Frame) -> usize {
    let body = frame.encoded_len();
    prost::length_delimiter_len(body) + body
}

/// Turns bytes, fed as they arrive, into whole frames; does no I/O.
///
/// After an error the stream cannot be followed any further: the decoder
/// forgets what it held, and the connection should be closed.
#[derive(Debug)]
pub struct FrameDecoder {
    limit: usize,
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder that refuses frames over `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> FrameDecoder {
        FrameDecoder {
            limit: max_frame_bytes,
            buffer: Vec::new(),
        }
    }

    /// Adds bytes received. Call [`next_frame`](Self::next_frame) until it
    /// returns `None` before feeding more, so that at most one incomplete
    /// frame is held.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame received, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        match decode_frame(&self.buffer, self.limit) {
            Ok(Some((frame, used))) => {
                self.buffer.drain(..used);
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.buffer = Vec::new();
                Err(error)
            }
        }
    }

    /// The bytes held of a frame not yet complete; at the end of a stream,
    /// anything but 0 means the stream was cut inside a frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ack, Batch, DEFAULT_MAX_FRAME_BYTES, Span, frame};

    fn batch_frame() -> Frame {
        Frame {
            kind: Some(frame::Kind::Batch(Batch {
                sequence: 7,
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: 2,
                    name: "checkout".into(),
                    ..Span::default()
                }],
                dropped_spans: 3,
                resource: None,
            })),
        }
    }

    fn ack_frame() -> Frame {
        Frame {
            kind: Some(frame::Kind::Ack(Ack { sequence: 7 })),
        }
    }

    fn wire(frames: &[Frame]) -> Vec<u8> {
        let mut wire = Vec::new();
        for frame in frames {
            encode_frame(frame, &mut wire);
        }
        wire
    }

    /// Every frame a decoder gives for `input` fed in pieces of `piece` bytes.
    fn decode_in_pieces(
        input: &[u8],
        piece: usize,
        limit: usize,
    ) -> Result<Vec<Frame>, FrameError> {
        let mut decoder = FrameDecoder::new(limit);
        let mut frames = Vec::new();
        for chunk in input.chunks(piece) {
            decoder.feed(chunk);
            while let Some(frame) = decoder.next_frame()? {
                frames.push(frame);
            }
        }
        Ok(frames)
    }

    #[test]
    fn frames_round_trip() {
        let frames = [batch_frame(), ack_frame(), Frame::default()];
        let wire = wire(&frames);
        assert_eq!(
            wire.len(),
            frames.iter().map(encoded_frame_len).sum::<usize>()
        );
        assert_eq!(decode_in_pieces(&wire, wire.len(), 1024).unwrap(), frames);
    }

    #[test]
    fn input_split_at_every_byte_decodes_the_same() {
        let frames = [batch_frame(), ack_frame(), batch_frame()];
        let wire = wire(&frames);
        for split in 1..wire.len() {
            let mut decoder = FrameDecoder::new(1024);
            let mut decoded = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                decoder.feed(part);
                while let Some(frame) = decoder.next_frame().unwrap() {
                    decoded.push(frame);
                }
            }
            assert_eq!(decoded, frames, "split at byte {split}");
        }
        assert_eq!(decode_in_pieces(&wire, 1, 1024).unwrap(), frames);
    }

    #[test]
    fn an_oversize_length_is_refused_before_the_body_arrives() {
        let wire = wire(&[batch_frame()]);
        let size = wire.len() as u64 - 1;
        let mut decoder = FrameDecoder::new(4);
        decoder.feed(&wire[..1]);
        assert!(matches!(
            decoder.next_frame(),
            Err(FrameError::TooLarge { size: s, limit: 4 }) if s == size
        ));
        // 4 GiB announced: refused from the prefix, nothing allocated for it.
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
        decoder.feed(&[0x80, 0x80, 0x80, 0x80, 0x10]);
        assert!(matches!(
            decoder.next_frame(),
            Err(FrameError::TooLarge {
                size: 4_294_967_296,
                ..
            })
        ));
        assert_eq!(decoder.buffered(), 0);
        // A prefix still arriving is refused once it is over the limit.
        let mut decoder = FrameDecoder::new(1000);
        decoder.feed(&[0xff, 0xff]);
        assert!(matches!(
            decoder.next_frame(),
            Err(FrameError::TooLarge { .. })
        ));
        // The limit itself is allowed.
        let exact = wire.len() - 1;
        assert_eq!(
            decode_in_pieces(&wire, 3, exact).unwrap(),
            vec![batch_frame()]
        );
    }

    #[test]
    fn a_truncated_varint_waits_for_more() {
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
        decoder.feed(&[0x80, 0x80]);
        assert_eq!(decoder.next_frame().unwrap(), None);
        assert_eq!(decoder.buffered(), 2);
        decoder.feed(&[0x00]);
        // 0x80 0x80 0x00: an over-long encoding of an empty frame.
        assert_eq!(decoder.next_frame().unwrap(), Some(Frame::default()));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn a_varint_over_64_bits_is_malformed() {
        // Ten bytes whose last holds more than the 64th bit.
        let mut overflow = [0x80u8; 10];
        overflow[9] = 0x02;
        // Eleven bytes of continuation.
        let endless = [0x80u8; 11];
        for prefix in [&overflow[..], &endless[..]] {
            let mut decoder = FrameDecoder::new(usize::MAX);
            decoder.feed(prefix);
            assert!(matches!(
                decoder.next_frame(),
                Err(FrameError::MalformedLength)
            ));
        }
        // Ten bytes holding exactly 64 bits are a length, and too large.
        let mut largest = [0xffu8; 10];
        largest[9] = 0x01;
        let mut decoder = FrameDecoder::new(usize::MAX);
        decoder.feed(&largest);
        assert!(matches!(
            decoder.next_frame(),
            Err(FrameError::TooLarge { size: u64::MAX, .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut decoder = FrameDecoder::new(1024);
        decoder.feed(&[3, 0xff, 0xff, 0xff]);
        assert!(matches!(decoder.next_frame(), Err(FrameError::Decode(_))));
        // Every short input, and a pseudo-random stream, decode or fail
        // without panicking.
        for a in 0..=255u8 {
            for b in [0u8, 1, 0x0a, 0x12, 0x7f, 0x80, 0xff] {
                let _ = decode_in_pieces(&[2, a, b], 1, 1024);
                let _ = decode_in_pieces(&[a, b, a, b, a], 2, 1024);
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        for limit in [0, 16, 1024, usize::MAX] {
            let mut decoder = FrameDecoder::new(limit);
            for chunk in noise.chunks(97) {
                decoder.feed(chunk);
                while let Ok(Some(_)) = decoder.next_frame() {}
            }
        }
    }
}
