//! OTLP/gRPC trace ingest: OpenTelemetry's `TraceService/Export`, served by
//! tonic, gzip accepted, converted and stored as OTLP/HTTP requests are.

use std::convert::Infallible;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;

use super::otlp::{OtlpIngest, Refused};

struct Service {
    ingest: Arc<OtlpIngest>,
    max_bytes: usize,
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        // Larger messages than the limit are refused here, not by tonic,
        // whose OUT_OF_RANGE clients would retry.
        let size = prost::Message::encoded_len(&request);
        if size > self.max_bytes {
            return Err(tonic::Status::resource_exhausted(format!(
                "the request is {size} bytes, more than the {} accepted",
                self.max_bytes
            )));
        }
        let accepted = self
            .ingest
            .export(size, move || Ok::<_, Infallible>(request))
            .await
            .map_err(|refused| match refused {
                Refused::TooLarge => tonic::Status::resource_exhausted(
                    "the request is too large to decode: send smaller requests",
                ),
                Refused::TooManySpans(max) => tonic::Status::resource_exhausted(format!(
                    "a request may hold at most {max} spans"
                )),
                Refused::Overloaded { .. } => tonic::Status::unavailable(
                    "the collector is busy storing other requests: retry later",
                ),
                Refused::Store | Refused::Body(_) => {
                    tonic::Status::unavailable("storage failed: retry later")
                }
            })?;
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: (accepted.rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: accepted.rejected as i64,
                error_message: accepted.reason.unwrap_or_default(),
            }),
        }))
    }
}

/// The gRPC service: messages of at most `max_bytes` (decompressed; tonic
/// itself reads up to four times that, so that a larger one gets
/// RESOURCE_EXHAUSTED, which clients do not retry).
pub fn service(ingest: Arc<OtlpIngest>, max_bytes: usize) -> TraceServiceServer<impl TraceService> {
    TraceServiceServer::new(Service { ingest, max_bytes })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_bytes.saturating_mul(4))
}
