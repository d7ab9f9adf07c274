//! OTLP/gRPC for the OTLP exporter (feature `otlp-grpc`): a unary call of
//! `opentelemetry.proto.collector.trace.v1.TraceService/Export` over tonic,
//! the request sent as the bytes the OTLP encoder already wrote (a codec
//! that passes bytes through), on a current-thread runtime owned by the
//! reporter thread.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::otlp::{Outcome, Transport, rejected_spans};

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Requests as encoded bytes, answers as bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// OTLP/gRPC over tonic.
pub(super) struct Grpc {
    endpoint_text: String,
    endpoint: Endpoint,
    runtime: tokio::runtime::Runtime,
    channel: Option<Channel>,
    metadata: MetadataMap,
}

impl Grpc {
    /// A transport to `endpoint` (`http://host:4317`), `headers` sent as
    /// metadata (names that are not valid metadata keys are left out).
    pub(super) fn new(
        endpoint: String,
        headers: &[(String, String)],
        connect_timeout: Duration,
        timeout: Duration,
    ) -> std::io::Result<Grpc> {
        let parsed = Endpoint::from_shared(endpoint.clone())
            .map_err(|e| std::io::Error::other(format!("{endpoint:?}: {e}")))?
            .connect_timeout(connect_timeout)
            .timeout(timeout);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut metadata = MetadataMap::new();
        for (name, value) in headers {
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes());
            if let (Ok(key), Ok(value)) = (key, MetadataValue::try_from(value.as_str())) {
                metadata.insert(key, value);
            }
        }
        Ok(Grpc {
            endpoint_text: endpoint,
            endpoint: parsed,
            runtime,
            channel: None,
            metadata,
        })
    }
}

impl Transport for Grpc {
    fn endpoint(&self) -> &str {
        &self.endpoint_text
    }

    fn send(&mut self, body: &[u8]) -> Outcome {
        let body = Bytes::copy_from_slice(body);
        let (endpoint, metadata) = (&self.endpoint, &self.metadata);
        let channel = &mut self.channel;
        self.runtime.block_on(async move {
            let connected = match channel {
                Some(channel) => channel.clone(),
                None => match endpoint.connect().await {
                    Ok(connected) => channel.insert(connected).clone(),
                    Err(_) => return Outcome::Retry(None),
                },
            };
            let mut client = tonic::client::Grpc::new(connected);
            if client.ready().await.is_err() {
                *channel = None;
                return Outcome::Retry(None);
            }
            let mut request = tonic::Request::new(body);
            *request.metadata_mut() = metadata.clone();
            let path = tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT);
            match client.unary(request, path, Raw).await {
                Ok(answer) => Outcome::Delivered {
                    rejected: rejected_spans(answer.get_ref()),
                },
                // The codes OTLP calls retryable (RESOURCE_EXHAUSTED only
                // with retry information, which is not read here).
                Err(status) => match status.code() {
                    Code::Cancelled
                    | Code::DeadlineExceeded
                    | Code::Aborted
                    | Code::OutOfRange
                    | Code::Unavailable
                    | Code::DataLoss => {
                        if status.code() == Code::Unavailable {
                            *channel = None;
                        }
                        Outcome::Retry(None)
                    }
                    _ => Outcome::Refused,
                },
            }
        })
    }
}
