//! The native protocol's server side: a hello, then batches, each
//! acknowledged once stored. Anything else gets an error frame and the
//! connection is closed; frames over the size limit are refused before
//! their body is read, so no client can make the collector allocate more.

use std::sync::Arc;

use dapple::proto::{self, Frame, frame};
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::dropped::DroppedSpans;
use crate::store::Store;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("{0}")]
    Frame(#[from] proto::FrameError),
    #[error("the first frame must be a hello")]
    NoHello,
    #[error("protocol version {0} is not supported; this collector speaks version {1}")]
    Version(u32, u32),
    #[error("unexpected frame: clients send hello and batch frames")]
    Unexpected,
    #[error("{0}")]
    Store(String),
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
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let result = converse(&mut read, &mut write, store, &dropped, limit).await;
    if let Err(refusal) = result {
        // A closed stream needs no explanation.
        let closed = matches!(&refusal, Refusal::Frame(proto::FrameError::Io(_)));
        if !closed {
            crate::log::warn(format_args!("refused {peer}: {refusal}"));
            let error = Frame {
                kind: Some(frame::Kind::Error(proto::Error {
                    message: refusal.to_string(),
                })),
            };
            let _ = write
                .write_all(&error.encode_length_delimited_to_vec())
                .await;
        }
        let _ = write.shutdown().await;
    }
}

async fn converse(
    read: &mut (impl AsyncRead + Unpin),
    write: &mut (impl AsyncWriteExt + Unpin),
    store: Arc<dyn Store>,
    dropped: &DroppedSpans,
    limit: usize,
) -> Result<(), Refusal> {
    let service = match read_frame(read, limit).await?.kind {
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
        let batch = match read_frame(read, limit).await?.kind {
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
        .await
        .map_err(|e| Refusal::Store(e.to_string()))?
        .map_err(|e| Refusal::Store(e.to_string()))?;
        let ack = Frame {
            kind: Some(frame::Kind::Ack(proto::Ack { sequence })),
        };
        write
            .write_all(&ack.encode_length_delimited_to_vec())
            .await
            .map_err(|e| Refusal::Frame(e.into()))?;
    }
}

/// Reads one frame, refusing one over `limit` before reading its body.
async fn read_frame(read: &mut (impl AsyncRead + Unpin), limit: usize) -> Result<Frame, Refusal> {
    let mut size: u64 = 0;
    let mut ended = false;
    for i in 0..10 {
        let byte = read.read_u8().await.map_err(proto::FrameError::from)?;
        size |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            ended = true;
            break;
        }
    }
    if !ended {
        return Err(proto::FrameError::Length.into());
    }
    if size > limit as u64 {
        return Err(proto::FrameError::TooLarge { size, limit }.into());
    }
    let mut body = vec![0; size as usize];
    read.read_exact(&mut body)
        .await
        .map_err(proto::FrameError::from)?;
    Ok(Frame::decode(body.as_slice()).map_err(proto::FrameError::from)?)
}
