//! OTLP/gRPC trace ingest: OpenTelemetry's `TraceService/Export` over
//! tonic's gRPC framing, gzip accepted. The message is taken as bytes and
//! decoded by [`OtlpIngest`] within the decode budget, on the blocking pool,
//! as OTLP/HTTP requests are: tonic's generated service would decode it on
//! an async worker before anything could weigh it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::{Status, server::UnaryService};

use super::otlp::{OtlpIngest, Refused};

/// The path of `TraceService/Export`.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What the export handler needs.
#[derive(Clone, Debug)]
pub struct GrpcIngest {
    ingest: Arc<OtlpIngest>,
    max_bytes: usize,
}

impl GrpcIngest {
    /// Requests of at most `max_bytes` (decompressed) into `ingest`.
    pub fn new(ingest: Arc<OtlpIngest>, max_bytes: usize) -> GrpcIngest {
        GrpcIngest { ingest, max_bytes }
    }
}

/// `TraceService/Export`: one unary call. tonic reads messages up to four
/// times the limit, so that a larger one gets RESOURCE_EXHAUSTED from here,
/// which clients do not retry (tonic's own answer, OUT_OF_RANGE, they do).
pub async fn export(State(grpc): State<GrpcIngest>, request: Request) -> Response {
    let mut accepted = EnabledCompressionEncodings::default();
    accepted.enable(CompressionEncoding::Gzip);
    let mut server = tonic::server::Grpc::new(RawCodec)
        .apply_compression_config(accepted, accepted)
        .apply_max_message_size_config(Some(grpc.max_bytes.saturating_mul(4)), None);
    server.unary(grpc, request).await.map(axum::body::Body::new)
}

impl UnaryService<Bytes> for GrpcIngest {
    type Response = ExportTraceServiceResponse;
    type Future =
        futures::future::BoxFuture<'static, Result<tonic::Response<Self::Response>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let body = request.into_inner();
            let size = body.len();
            if size > this.max_bytes {
                return Err(Status::resource_exhausted(format!(
                    "the request is {size} bytes, more than the {} accepted",
                    this.max_bytes
                )));
            }
            let accepted = this
                .ingest
                .export(size, move || ExportTraceServiceRequest::decode(body))
                .await
                .map_err(|refused| match refused {
                    Refused::Body(e) => {
                        Status::invalid_argument(format!("not an ExportTraceServiceRequest: {e}"))
                    }
                    Refused::TooLarge => Status::resource_exhausted(
                        "the request is too large to decode: send smaller requests",
                    ),
                    Refused::TooManySpans(max) => Status::resource_exhausted(format!(
                        "a request may hold at most {max} spans"
                    )),
                    Refused::Overloaded { .. } => Status::unavailable(
                        "the collector is busy storing other requests: retry later",
                    ),
                    Refused::Store => Status::unavailable("storage failed: retry later"),
                })?;
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: (accepted.rejected > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans: accepted.rejected as i64,
                    error_message: accepted.reason.unwrap_or_default(),
                }),
            }))
        })
    }
}

/// Requests as their bytes, responses as protobuf.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response failed: {e}")))
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
