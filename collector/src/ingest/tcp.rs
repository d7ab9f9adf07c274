//! The native protocol's server side: a hello, then batches, each
//! acknowledged once stored. Anything else gets an error frame and the
//! connection is closed; frames over the size limit are refused from their
//! length prefix, before their body is read, so no client can make the
//! collector allocate more.

use std::sync::Arc;

use dapple_proto::{self as proto, Frame, FrameCodec, FrameError, frame};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::dropped::DroppedSpans;
use crate::store::Store;

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
    let mut frames = FramedRead::new(read, FrameCodec::new(limit));
    // The limit is on what clients send; replies are acks and errors, read
    // by clients under their own limit.
    let mut replies = FramedWrite::new(write, FrameCodec::new(proto::DEFAULT_MAX_FRAME_BYTES));
    let result = converse(&mut frames, &mut replies, store, &dropped).await;
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

/// The next frame; a stream that ended between frames is a closed one.
async fn next_frame(
    frames: &mut FramedRead<impl AsyncRead + Unpin, FrameCodec>,
) -> Result<Frame, Refusal> {
    match frames.next().await {
        Some(frame) => Ok(frame?),
        None => Err(Refusal::Closed),
    }
}

async fn converse(
    frames: &mut FramedRead<impl AsyncRead + Unpin, FrameCodec>,
    replies: &mut FramedWrite<impl AsyncWrite + Unpin, FrameCodec>,
    store: Arc<dyn Store>,
    dropped: &DroppedSpans,
) -> Result<(), Refusal> {
    let service = match next_frame(frames).await?.kind {
        Some(frame::Kind::Hello(hello)) => {
            if hello.protocol_version != proto::PROTOCOL_VERSION {
                return Err(Refusal::Version(
                    hello.protocol_version,
                    proto::PROTOCOL_VERSION,
                ));
            }
            hello
                .resource
                .map(|r| r.service_name)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown_service".to_owned())
        }
        _ => return Err(Refusal::NoHello),
    };
    loop {
        let batch = match next_frame(frames).await?.kind {
            Some(frame::Kind::Batch(batch)) => batch,
            _ => return Err(Refusal::Unexpected),
        };
        let sequence = batch.sequence;
        dropped.add(&service, batch.dropped_spans);
        let store = store.clone();
        let service = service.clone();
        tokio::task::spawn_blocking(move || {
            store.insert(super::convert::spans(&service, batch.spans))
        })
        .await??;
        let ack = Frame {
            kind: Some(frame::Kind::Ack(proto::Ack { sequence })),
        };
        replies.send(ack).await?;
    }
}
