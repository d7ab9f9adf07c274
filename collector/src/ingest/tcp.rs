//! The native protocol's server side: a hello, then batches, each
//! acknowledged once stored. A connection's batches are pipelined: the next
//! frame is read while earlier ones are decoded and stored on the blocking
//! pool (never on the async workers), and acks go out in sequence order. Anything else gets an error frame and the
//! connection is closed; frames over the size limit are refused from their
//! length prefix, before their body is read, so no client can make the
//! collector allocate more.

use std::sync::Arc;

use bytes::Bytes;
use dapple_proto::{self as proto, Frame, FrameCodec, FrameError, RawFrameCodec, frame};
use futures::{SinkExt, StreamExt};
use prost::Message;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::dropped::DroppedSpans;
use crate::span::Resource;
use crate::store::Store;

/// Batches of one connection being decoded and stored at once, at most:
/// past that the connection is not read, so it holds at most this many
/// frames and the one arriving, however fast its peer sends.
const MAX_FRAMES_IN_FLIGHT: usize = 4;

type Frames = FramedRead<OwnedReadHalf, RawFrameCodec>;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("the connection closed")]
    Closed,
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("the first frame must be a hello")]
    NoHello,
    #[error("protocol version {0} is not supported; this collector speaks version {1}")]
    Version(u32, u32),
    #[error("unexpected frame: clients send hello and batch frames")]
    Unexpected,
    #[error("storing the batch failed")]
    Store(#[from] crate::store::StoreError),
    #[error("storing the batch failed")]
    StoreTask(#[from] tokio::task::JoinError),
}

impl Refusal {
    /// The peer went away: there is no one to explain anything to.
    fn is_closed(&self) -> bool {
        matches!(
            self,
            Refusal::Closed | Refusal::Frame(FrameError::Io(_) | FrameError::Truncated { .. })
        )
    }
}

/// Accepts connections until the listener fails.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    dropped: Arc<DroppedSpans>,
    max_frame_bytes: usize,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let store = store.clone();
        let dropped = dropped.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            handle(stream, peer, store, dropped, max_frame_bytes).await;
        });
    }
}

async fn handle(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    store: Arc<dyn Store>,
    dropped: Arc<DroppedSpans>,
    limit: usize,
) {
    let (read, write) = stream.into_split();
    let frames = FramedRead::new(read, RawFrameCodec::new(limit));
    // The limit is on what clients send; replies are acks and errors, read
    // by clients under their own limit.
    let mut replies = FramedWrite::new(write, FrameCodec::new(proto::DEFAULT_MAX_FRAME_BYTES));
    let result = converse(frames, &mut replies, store, dropped).await;
    if let Err(refusal) = result
        && !refusal.is_closed()
    {
        // The log has the causes; the peer gets only the top-level message.
        crate::log::warn(format_args!(
            "refused {peer}: {}",
            crate::log::Chain(&refusal)
        ));
        let error = Frame {
            kind: Some(frame::Kind::Error(proto::Error {
                message: refusal.to_string(),
            })),
        };
        let _ = replies.send(error).await;
    }
    let _ = replies.get_mut().shutdown().await;
}

/// The next frame's body, undecoded; a stream that ended between frames is
/// a closed one.
async fn next_frame(frames: &mut Frames) -> Result<Bytes, Refusal> {
    match frames.next().await {
        Some(frame) => Ok(frame?),
        None => Err(Refusal::Closed),
    }
}

/// A frame's body decoded, off the async workers: a batch can be megabytes.
async fn decode(body: Bytes) -> Result<Frame, Refusal> {
    let frame = tokio::task::spawn_blocking(move || Frame::decode(body)).await?;
    Ok(frame.map_err(FrameError::from)?)
}

/// A batch being decoded and stored (its sequence number once stored), or
/// why the connection ends after the batches before it.
type InFlight = Result<JoinHandle<Result<u64, Refusal>>, Refusal>;

/// The hello, then batches: each read while the ones before it are decoded
/// and stored, and acknowledged in the order they came once stored.
async fn converse(
    mut frames: Frames,
    replies: &mut FramedWrite<impl AsyncWrite + Unpin, FrameCodec>,
    store: Arc<dyn Store>,
    dropped: Arc<DroppedSpans>,
) -> Result<(), Refusal> {
    let resource = match decode(next_frame(&mut frames).await?).await?.kind {
        Some(frame::Kind::Hello(hello)) => {
            if hello.protocol_version != proto::PROTOCOL_VERSION {
                return Err(Refusal::Version(
                    hello.protocol_version,
                    proto::PROTOCOL_VERSION,
                ));
            }
            Arc::new(super::convert::resource(hello.resource))
        }
        _ => return Err(Refusal::NoHello),
    };
    // One batch waits here for its ack while the rest are in the channel.
    let (in_flight, mut stored) = mpsc::channel(MAX_FRAMES_IN_FLIGHT - 1);
    let reader = tokio::spawn(read_batches(frames, in_flight, resource, store, dropped));
    let acked = async {
        while let Some(batch) = stored.recv().await {
            let sequence = batch?.await??;
            let ack = Frame {
                kind: Some(frame::Kind::Ack(proto::Ack { sequence })),
            };
            replies.send(ack).await?;
        }
        Err(Refusal::Closed)
    }
    .await;
    // Batches still being stored finish without an ack: the peer sends
    // them again, and the store ignores the spans it already has.
    reader.abort();
    acked
}

/// Reads batches and starts storing each on the blocking pool, at most
/// [`MAX_FRAMES_IN_FLIGHT`] at once, until the stream ends or a frame is
/// refused; tells `in_flight` which, after the batches before it.
async fn read_batches(
    mut frames: Frames,
    in_flight: mpsc::Sender<InFlight>,
    resource: Arc<Resource>,
    store: Arc<dyn Store>,
    dropped: Arc<DroppedSpans>,
) {
    loop {
        // A place in the queue before the frame is read: the bound holds
        // for frames read, not only for frames waiting.
        let Ok(place) = in_flight.reserve().await else {
            return;
        };
        let next = next_frame(&mut frames).await.map(|body| {
            let (resource, store, dropped) = (resource.clone(), store.clone(), dropped.clone());
            tokio::task::spawn_blocking(move || store_batch(body, &resource, &*store, &dropped))
        });
        let end = next.is_err();
        place.send(next);
        if end {
            return;
        }
    }
}

/// Decodes a batch frame and stores its spans; its sequence number.
fn store_batch(
    body: Bytes,
    resource: &Arc<Resource>,
    store: &dyn Store,
    dropped: &DroppedSpans,
) -> Result<u64, Refusal> {
    let batch = super::convert::batch_frame(resource, &body)
        .map_err(FrameError::from)?
        .ok_or(Refusal::Unexpected)?;
    dropped.add(&resource.service, batch.dropped_spans);
    store.insert(batch.spans)?;
    Ok(batch.sequence)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use dapple::TraceId;
    use dapple_proto::{FrameReader, encode_frame};

    use super::*;
    use crate::span::Span;
    use crate::store::{Limits, MemoryStore, SpanFilter, StoreError};

    fn hello() -> Frame {
        Frame {
            kind: Some(frame::Kind::Hello(proto::Hello {
                protocol_version: proto::PROTOCOL_VERSION,
                ..Default::default()
            })),
        }
    }

    /// Batch `sequence`: one span of the trace whose id is 16 times the
    /// byte `sequence`.
    fn batch(sequence: u64) -> Frame {
        Frame {
            kind: Some(frame::Kind::Batch(proto::Batch {
                sequence,
                spans: vec![proto::Span {
                    trace_id: vec![sequence as u8; 16],
                    span_id: 1,
                    ..Default::default()
                }],
                dropped_spans: 0,
                ..Default::default()
            })),
        }
    }

    /// A memory store that fails any batch holding a span of trace 3.
    #[derive(Debug)]
    struct FailsOnTrace3(MemoryStore);

    impl Store for FailsOnTrace3 {
        fn insert(&self, spans: Vec<Span>) -> Result<usize, StoreError> {
            let three = TraceId::from_bytes([3; 16]).unwrap();
            if spans.iter().any(|s| s.trace_id == three) {
                return Err(crate::ingest::convert::DecodeError::Ids.into());
            }
            self.0.insert(spans)
        }
        fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StoreError> {
            self.0.trace(trace_id)
        }
        fn span_count(&self) -> Result<usize, StoreError> {
            self.0.span_count()
        }
        fn spans(&self, filter: &SpanFilter) -> Result<Vec<Span>, StoreError> {
            self.0.spans(filter)
        }
        fn trace_keys(
            &self,
            filter: &SpanFilter,
            before: Option<(u64, TraceId)>,
        ) -> Result<Vec<(u64, TraceId)>, StoreError> {
            self.0.trace_keys(filter, before)
        }
        fn services(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
            self.0.services()
        }
    }

    /// Sends `frames` at once to a collector over `store`, then reads every
    /// reply until the collector closes the connection.
    async fn replies_to(store: Arc<dyn Store>, frames: Vec<Frame>) -> Vec<Frame> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, store, Arc::default(), 1 << 20));
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            let mut wire = Vec::new();
            for frame in &frames {
                encode_frame(frame, &mut wire);
            }
            stream.write_all(&wire).unwrap();
            let mut replies = FrameReader::new(stream, 1 << 20);
            std::iter::from_fn(|| replies.read_frame().ok().flatten()).collect()
        })
        .await
        .unwrap()
    }

    fn acks(replies: &[Frame]) -> Vec<u64> {
        replies
            .iter()
            .filter_map(|r| match &r.kind {
                Some(frame::Kind::Ack(ack)) => Some(ack.sequence),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_batches_are_acked_in_order_then_a_bad_frame_is_refused() {
        let store = Arc::new(MemoryStore::new(Limits::spans(1000)));
        let mut frames = vec![hello()];
        frames.extend((1..=40).map(batch));
        frames.push(hello());
        let replies = replies_to(store.clone(), frames).await;
        assert_eq!(acks(&replies), (1..=40).collect::<Vec<_>>());
        assert!(matches!(
            replies.last().and_then(|r| r.kind.as_ref()),
            Some(frame::Kind::Error(_))
        ));
        assert_eq!(store.span_count().unwrap(), 40);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_batch_is_acked_from_the_one_the_store_refused_on() {
        let store = Arc::new(FailsOnTrace3(MemoryStore::new(Limits::spans(1000))));
        let mut frames = vec![hello()];
        frames.extend((1..=10).map(batch));
        let replies = replies_to(store, frames).await;
        assert_eq!(acks(&replies), [1, 2]);
        assert!(matches!(
            replies.last().and_then(|r| r.kind.as_ref()),
            Some(frame::Kind::Error(_))
        ));
    }
}
