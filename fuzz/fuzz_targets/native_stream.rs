//! The bytes a client sends on the native TCP port, handled as the
//! collector's `converse` (collector/src/ingest/tcp.rs) handles them: split
//! into frames by `RawFrameCodec` (arriving a few bytes at a time, as from a
//! socket), the first decoded and required to be a hello of this protocol
//! version, then each following frame read as a batch by
//! `convert::batch_frame` and stored, until the first frame refused.
//!
//! Checks: no panic, no unbounded work (frames over the limit are refused
//! from their prefix); the frames split from small reads are those split
//! from the whole input; `batch_frame` agrees with prost's `Frame` decoding
//! (its documented promise, but for the nesting prost refuses: see
//! artifacts-found/README.md); the span bound refuses exactly the batches
//! over it; the store stays consistent.

#![no_main]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use dapple_collector::ingest::convert::{self, BatchError};
use dapple_fuzz::{MAX_BATCH_SPANS, MAX_FRAME_BYTES, insert_and_check, same_spans, store};
use dapple_proto::{Frame, FrameError, PROTOCOL_VERSION, RawFrameCodec, frame};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tokio_util::codec::Decoder;

/// The frames of `wire`, fed to the codec `read` bytes at a time; the
/// stream's end is an error when it falls inside a frame.
fn frames(wire: &[u8], read: usize) -> Vec<Result<Bytes, FrameError>> {
    let mut codec = RawFrameCodec::new(MAX_FRAME_BYTES);
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in wire.chunks(read) {
        buffer.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(body)) => frames.push(Ok(body)),
                Ok(None) => break,
                Err(e) => {
                    frames.push(Err(e));
                    return frames;
                }
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buffer) {
            Ok(Some(body)) => frames.push(Ok(body)),
            Ok(None) => return frames,
            Err(e) => {
                frames.push(Err(e));
                return frames;
            }
        }
    }
}

/// The spans a batch frame holds on the wire, valid or not; `None` when it
/// is not a batch frame prost reads.
fn wire_spans(body: &[u8]) -> Option<usize> {
    match Frame::decode(body).ok()?.kind? {
        frame::Kind::Batch(batch) => Some(batch.spans.len()),
        _ => None,
    }
}

/// Whether prost refused for nesting past its recursion limit.
fn past_recursion_limit(error: &prost::DecodeError) -> bool {
    error.to_string().contains("recursion limit")
}

fuzz_target!(|wire: &[u8]| {
    // A socket read's size varies; any size must split the same frames.
    let read = 1 + wire.len() % 97;
    let split = frames(wire, read);
    let whole = frames(wire, wire.len().max(1));
    assert_eq!(
        split.iter().map(|f| f.as_ref().ok()).collect::<Vec<_>>(),
        whole.iter().map(|f| f.as_ref().ok()).collect::<Vec<_>>(),
        "reads of {read} bytes split other frames"
    );

    let mut frames = split.into_iter();
    let Some(Ok(first)) = frames.next() else {
        return;
    };
    let resource = match Frame::decode(first).map(|f| f.kind) {
        Ok(Some(frame::Kind::Hello(hello))) if hello.protocol_version == PROTOCOL_VERSION => {
            Arc::new(convert::resource(hello.resource))
        }
        _ => return,
    };
    let store = store();
    for body in frames {
        let Ok(body) = body else {
            return;
        };
        let fast = convert::batch_frame(&resource, &body, usize::MAX);
        // What prost makes of the same frame, converted the plain way.
        let plain = Frame::decode(&body[..]).map(|frame| match frame.kind {
            Some(frame::Kind::Batch(batch)) => Some((
                batch.sequence,
                batch.dropped_spans,
                convert::spans(&resource, batch.spans),
            )),
            _ => None,
        });
        match (&fast, &plain) {
            (Ok(Some(fast)), Ok(Some((sequence, dropped, spans)))) => {
                assert_eq!(fast.sequence, *sequence);
                assert_eq!(fast.dropped_spans, *dropped);
                assert!(
                    same_spans(&fast.spans, spans),
                    "batch_frame and prost differ"
                );
            }
            (Ok(None), Ok(None)) | (Err(_), Err(_)) => {}
            // Known and accepted: `batch_frame` decodes each span with a
            // fresh prost context, so it reads values nested two levels
            // deeper than prost reading the whole frame would (see
            // artifacts-found/README.md). The collector cuts values nested
            // past 16 levels before storing them, so nothing that deep is
            // kept.
            (Ok(_), Err(e)) if past_recursion_limit(e) => {}
            _ => panic!(
                "batch_frame gave {:?}, prost {:?}",
                fast.as_ref().map(|b| b.as_ref().map(|b| b.spans.len())),
                plain.as_ref().map(|b| b.as_ref().map(|b| b.2.len()))
            ),
        }
        // Under the collector's bound on spans: a batch within it reads the
        // same, one over it is refused, and what is not a batch stays so.
        let bounded = convert::batch_frame(&resource, &body, MAX_BATCH_SPANS);
        match (&bounded, wire_spans(&body)) {
            (Ok(Some(batch)), Some(n)) if n <= MAX_BATCH_SPANS => {
                let unbounded = fast.as_ref().ok().and_then(Option::as_ref);
                assert!(unbounded.is_some_and(|fast| same_spans(&batch.spans, &fast.spans)));
            }
            (Err(BatchError::TooManySpans(_)), Some(n)) if n > MAX_BATCH_SPANS => {}
            (Err(_) | Ok(None), None) => {}
            // The same known difference.
            (Ok(Some(_)), None) if plain.as_ref().is_err_and(past_recursion_limit) => {}
            (bounded, n) => panic!(
                "{n:?} spans on the wire, bounded to {MAX_BATCH_SPANS}: {:?}",
                bounded.as_ref().map(|b| b.as_ref().map(|b| b.spans.len()))
            ),
        }
        // The collector refuses anything but a batch and closes.
        let Ok(Some(batch)) = bounded else {
            return;
        };
        insert_and_check(&*store, batch.spans);
    }
});
