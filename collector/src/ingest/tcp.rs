//! The native protocol's server side: a hello (with the ingest token when
//! one is asked for), then batches, each acknowledged once stored. A
//! connection's batches are pipelined: the next frame is read while earlier
//! ones are decoded and stored on the blocking pool (never on the async
//! workers), and acks go out in sequence order. Anything else gets an error
//! frame and the connection is closed.
//!
//! What a peer can make the collector hold is in proportion to what it
//! sends and bounded: a frame over the size limit is refused from its
//! length prefix; a frame's buffer grows with the bytes that arrived, not
//! with the length announced; a frame must arrive within the read timeout
//! once begun, and a connection with nothing on the way is closed after
//! the idle timeout; a batch may hold at most so many spans; and frames
//! being decoded, from all connections together, take their share of one
//! [`DecodeBudget`].

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use dapple_proto::{self as proto, Frame, FrameCodec, FrameError, RawFrameCodec, frame};
use futures::SinkExt;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, FramedWrite};

use super::DecodeBudget;
use super::convert::BatchError;
use super::keep::{KeepRelay, Relayed};
use crate::access::{Identity, Tokens};
use crate::dropped::DroppedSpans;
use crate::net::{Connection, PortConfig, Timeouts, accept_loop};
use crate::span::Resource;
use crate::store::Store;

/// Batches of one connection being decoded and stored at once, at most:
/// past that the connection is not read, so it holds at most this many
/// frames and the one arriving, however fast its peer sends.
const MAX_FRAMES_IN_FLIGHT: usize = 4;

/// Bytes of a keep ask's reason passed on at most.
const MAX_REASON_BYTES: usize = 64;

/// What native ingest needs, shared by its connections.
#[derive(Debug)]
pub struct NativeIngest {
    /// Where spans go.
    pub store: Arc<dyn Store>,
    /// What clients said they dropped.
    pub dropped: Arc<DroppedSpans>,
    /// The tokens a hello must carry one of; none asked for when `None`.
    pub tokens: Option<Arc<Tokens>>,
    /// The largest frame accepted.
    pub max_frame_bytes: usize,
    /// The most spans one batch may hold.
    pub max_batch_spans: usize,
    /// Memory for frames being decoded, shared with other ingest.
    pub budget: Arc<DecodeBudget>,
    /// Passes retroactive sampling's keep asks between connections.
    pub keeps: Arc<KeepRelay>,
}

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
    #[error("this collector needs an ingest token in the hello, and that one is not it")]
    Token,
    #[error("unexpected frame: clients send hello, batch and keep frames")]
    Unexpected,
    #[error("{0}")]
    Batch(#[from] BatchError),
    #[error("a frame of {0} bytes is more than this collector decodes at once")]
    TooLarge(usize),
    #[error("no frame came for {0:?}")]
    Idle(std::time::Duration),
    #[error("a frame took longer than {0:?} to arrive")]
    Slow(std::time::Duration),
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

static REFUSED: crate::log::Throttled =
    crate::log::Throttled::new(std::time::Duration::from_secs(1));

/// Accepts connections for ever.
pub async fn serve(listener: TcpListener, config: PortConfig, ingest: Arc<NativeIngest>) {
    let timeouts = config.timeouts;
    accept_loop(listener, "native", config, &[], move |stream, peer| {
        handle(stream, peer, ingest.clone(), timeouts)
    })
    .await;
}

async fn handle(
    stream: Connection,
    peer: SocketAddr,
    ingest: Arc<NativeIngest>,
    timeouts: Timeouts,
) {
    let (read, write) = tokio::io::split(stream);
    let frames = Frames {
        read,
        buffer: BytesMut::new(),
        codec: RawFrameCodec::new(ingest.max_frame_bytes),
        limit: ingest.max_frame_bytes,
        timeouts,
    };
    // The limit is on what clients send; replies are acks and errors, read
    // by clients under their own limit.
    let mut replies = FramedWrite::new(write, FrameCodec::new(proto::DEFAULT_MAX_FRAME_BYTES));
    let result = converse(frames, &mut replies, peer, ingest).await;
    if let Err(refusal) = result
        && !refusal.is_closed()
    {
        // The log has the causes; the peer gets only the top-level message.
        REFUSED.warn(format_args!(
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

/// Frames read off a connection, each within the timeouts.
struct Frames {
    read: ReadHalf<Connection>,
    buffer: BytesMut,
    codec: RawFrameCodec,
    /// The codec's frame size limit.
    limit: usize,
    timeouts: Timeouts,
}

impl Frames {
    /// The next frame's body, undecoded: waits up to the idle timeout for
    /// its first byte and up to the read timeout for the rest. A stream
    /// that ended between frames is a closed one.
    async fn next(&mut self) -> Result<Bytes, Refusal> {
        let mut begun: Option<Instant> = None;
        loop {
            if let Some(body) = self.codec.decode(&mut self.buffer)? {
                return Ok(body);
            }
            let deadline = if self.buffer.is_empty() {
                Instant::now() + self.timeouts.native_idle
            } else {
                *begun.get_or_insert_with(|| Instant::now() + self.timeouts.read)
            };
            if self.buffer.capacity() - self.buffer.len() < 4096 {
                self.buffer.reserve(8192);
            }
            let read =
                tokio::time::timeout_at(deadline, self.read.read_buf(&mut self.buffer)).await;
            match read {
                Err(_) if self.buffer.is_empty() => {
                    return Err(Refusal::Idle(self.timeouts.native_idle));
                }
                Err(_) => return Err(Refusal::Slow(self.timeouts.read)),
                Ok(read) => {
                    if read.map_err(FrameError::Io)? == 0 {
                        return Err(match self.buffer.len() {
                            0 => Refusal::Closed,
                            buffered => FrameError::Truncated { buffered }.into(),
                        });
                    }
                }
            }
        }
    }
}

impl Frames {
    /// Reads and drops what the peer already sent, for at most a moment
    /// and a frame's worth of bytes.
    async fn discard_pending(&mut self) {
        let until = Instant::now() + std::time::Duration::from_millis(200);
        let mut left = self.limit;
        let mut scratch = vec![0; 16 * 1024];
        while left > 0 {
            match tokio::time::timeout_at(until, self.read.read(&mut scratch)).await {
                Ok(Ok(read)) if read > 0 => left = left.saturating_sub(read),
                _ => return,
            }
        }
    }
}

/// A batch being decoded and stored (its sequence number once stored; none
/// for a keep frame, which is not acknowledged), or why the connection ends
/// after the frames before it.
type InFlight = Result<JoinHandle<Result<Option<u64>, Refusal>>, Refusal>;

/// The hello, then batches: each read while the ones before it are decoded
/// and stored, and acknowledged in the order they came once stored.
async fn converse(
    mut frames: Frames,
    replies: &mut FramedWrite<impl AsyncWrite + Unpin, FrameCodec>,
    peer: SocketAddr,
    ingest: Arc<NativeIngest>,
) -> Result<(), Refusal> {
    let body = frames.next().await?;
    let hello = tokio::task::spawn_blocking(move || Frame::decode(body))
        .await?
        .map_err(FrameError::from)?;
    let Some(frame::Kind::Hello(hello)) = hello.kind else {
        return Err(Refusal::NoHello);
    };
    if hello.protocol_version != proto::PROTOCOL_VERSION {
        return Err(Refusal::Version(
            hello.protocol_version,
            proto::PROTOCOL_VERSION,
        ));
    }
    let client = match &ingest.tokens {
        Some(tokens) => match tokens.identify(hello.token.as_bytes()) {
            Some(label) => Identity::token(label),
            None => {
                // The client sent its first batch behind the hello: read it
                // away, so that closing does not reset the connection
                // before the client reads why.
                frames.discard_pending().await;
                return Err(Refusal::Token);
            }
        },
        None => Identity::address(peer.ip()),
    };
    let resource = Arc::new(super::convert::resource(hello.resource));
    // One batch waits here for its ack while the rest are in the channel.
    let (in_flight, mut stored) = mpsc::channel(MAX_FRAMES_IN_FLIGHT - 1);
    let (id, mut relayed) = ingest.keeps.join();
    let connection = Arc::new(Conversation {
        ingest,
        resource,
        client,
        id,
    });
    let reader = tokio::spawn(read_batches(frames, in_flight, connection));
    let acked = async {
        loop {
            let reply = tokio::select! {
                batch = stored.recv() => {
                    let Some(batch) = batch else { break };
                    let Some(sequence) = batch?.await?? else { continue };
                    Frame {
                        kind: Some(frame::Kind::Ack(proto::Ack { sequence })),
                    }
                }
                keep = relayed.recv() => match keep {
                    Ok(keep) if keep.from != id => keep_frame(&keep),
                    // Its own ask, or asks it fell behind on.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            replies.send(reply).await?;
        }
        Err(Refusal::Closed)
    }
    .await;
    // Batches still being stored finish without an ack: the peer sends
    // them again, and the store ignores the spans it already has.
    reader.abort();
    acked
}

/// What every batch of a connection is stored with.
#[derive(Debug)]
struct Conversation {
    ingest: Arc<NativeIngest>,
    resource: Arc<Resource>,
    client: Identity,
    /// Its number with the keep relay.
    id: u64,
}

/// A keep frame passing on another connection's ask.
fn keep_frame(relayed: &Relayed) -> Frame {
    Frame {
        kind: Some(frame::Kind::Keep(relayed.keep.clone())),
    }
}

/// Reads batches and starts storing each on the blocking pool, at most
/// [`MAX_FRAMES_IN_FLIGHT`] at once, until the stream ends or a frame is
/// refused; tells `in_flight` which, after the batches before it.
async fn read_batches(
    mut frames: Frames,
    in_flight: mpsc::Sender<InFlight>,
    connection: Arc<Conversation>,
) {
    loop {
        // A place in the queue before the frame is read: the bound holds
        // for frames read, not only for frames waiting.
        let Ok(place) = in_flight.reserve().await else {
            return;
        };
        let next = match frames.next().await {
            Ok(body) => match connection
                .ingest
                .budget
                .reserve(DecodeBudget::native(body.len()))
                .await
            {
                Some(share) => {
                    let connection = connection.clone();
                    Ok(tokio::task::spawn_blocking(move || {
                        let _share = share;
                        store_batch(body, &connection)
                    }))
                }
                None => Err(Refusal::TooLarge(body.len())),
            },
            Err(refusal) => Err(refusal),
        };
        let end = next.is_err();
        place.send(next);
        if end {
            return;
        }
    }
}

/// Frames of at least this many bytes (some hundreds of spans) share a copy
/// of their connection's resource instead of the resource itself: the
/// count of references their spans take and, once evicted, give back then
/// sits on a cache line of its own, not on one that every thread decoding
/// or evicting the connection's spans writes. One copy per frame this
/// large adds a few bytes per span.
const OWN_RESOURCE_BYTES: usize = 32 * 1024;

/// Decodes a batch frame and stores its spans; its sequence number. A keep
/// frame is passed on to the other connections instead.
fn store_batch(body: Bytes, connection: &Conversation) -> Result<Option<u64>, Refusal> {
    let ingest = &connection.ingest;
    let copy;
    let resource = if body.len() >= OWN_RESOURCE_BYTES {
        copy = Arc::new(Resource::clone(&connection.resource));
        &copy
    } else {
        &connection.resource
    };
    let Some(batch) = super::convert::batch_frame(resource, &body, ingest.max_batch_spans)? else {
        return relay_keep(&body, connection).map(|()| None);
    };
    ingest.dropped.add(
        &connection.resource.service,
        &connection.client,
        batch.dropped_spans,
    );
    ingest.store.insert(batch.spans)?;
    Ok(Some(batch.sequence))
}

/// Passes on a keep frame's traces (those with a valid id, at most as many
/// as a batch may hold spans); anything else than a keep frame is refused.
fn relay_keep(body: &[u8], connection: &Conversation) -> Result<(), Refusal> {
    let Some(frame::Kind::Keep(mut keep)) = Frame::decode(body).map_err(FrameError::from)?.kind
    else {
        return Err(Refusal::Unexpected);
    };
    keep.traces
        .retain(|t| t.trace_id.len() == 16 && t.trace_id.iter().any(|&b| b != 0));
    keep.traces.truncate(connection.ingest.max_batch_spans);
    for kept in &mut keep.traces {
        // A reason is a short word: cut a long one at a character's end.
        let mut end = kept.reason.len().min(MAX_REASON_BYTES);
        while !kept.reason.is_char_boundary(end) {
            end -= 1;
        }
        kept.reason.truncate(end);
    }
    if !keep.traces.is_empty() {
        connection.ingest.keeps.publish(connection.id, keep);
    }
    Ok(())
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
        let address = collector(store).await;
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

    /// A native ingest port over `store`: its address.
    async fn collector(store: Arc<dyn Store>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let ingest = Arc::new(NativeIngest {
            store,
            dropped: Arc::default(),
            tokens: None,
            max_frame_bytes: 1 << 20,
            max_batch_spans: 1000,
            budget: Arc::new(DecodeBudget::new(64 << 20)),
            keeps: Default::default(),
        });
        let config = PortConfig {
            max_connections: 16,
            timeouts: Timeouts::default(),
            tls: None,
        };
        tokio::spawn(serve(listener, config, ingest));
        address
    }

    fn keep(traces: &[(Vec<u8>, &str)]) -> Frame {
        Frame {
            kind: Some(frame::Kind::Keep(proto::Keep {
                traces: traces
                    .iter()
                    .map(|(trace_id, reason)| proto::KeptTrace {
                        trace_id: trace_id.clone(),
                        reason: (*reason).to_owned(),
                    })
                    .collect(),
            })),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_keep_ask_reaches_the_other_connections_with_only_valid_ids() {
        let address = collector(Arc::new(MemoryStore::new(Limits::spans(1000)))).await;
        let long_reason = "é".repeat(100);
        let (theirs, mine) = tokio::task::spawn_blocking(move || {
            let connect = |frames: &[Frame]| {
                let mut stream = std::net::TcpStream::connect(address).unwrap();
                let mut wire = Vec::new();
                for frame in frames {
                    encode_frame(frame, &mut wire);
                }
                stream.write_all(&wire).unwrap();
                let mut reader = FrameReader::new(stream, 1 << 20);
                // The batch's ack: the connection is in.
                let ack = reader.read_frame().unwrap().unwrap();
                assert!(matches!(ack.kind, Some(frame::Kind::Ack(_))), "{ack:?}");
                reader
            };
            let mut other = connect(&[hello(), batch(1)]);
            let asks = keep(&[
                (vec![7; 16], "error"),
                (vec![1; 15], "error"),
                (vec![0; 16], "error"),
                (vec![9; 16], &long_reason),
            ]);
            let mut asker = connect(&[hello(), asks, batch(2)]);
            asker.get_mut().shutdown(std::net::Shutdown::Write).unwrap();
            let theirs = other.read_frame().unwrap().unwrap();
            let mine: Vec<Frame> =
                std::iter::from_fn(|| asker.read_frame().ok().flatten()).collect();
            (theirs, mine)
        })
        .await
        .unwrap();
        let Some(frame::Kind::Keep(relayed)) = theirs.kind else {
            panic!("{theirs:?}");
        };
        let ids: Vec<&[u8]> = relayed.traces.iter().map(|t| &t.trace_id[..]).collect();
        assert_eq!(ids, [&[7; 16][..], &[9; 16][..]]);
        assert_eq!(relayed.traces[0].reason, "error");
        assert_eq!(relayed.traces[1].reason, "é".repeat(32));
        assert!(
            mine.is_empty(),
            "the asker is not told its own ask: {mine:?}"
        );
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
