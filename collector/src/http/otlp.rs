//! OTLP/HTTP trace ingest: `POST /v1/traces`, in binary protobuf
//! (`application/x-protobuf`) or the OTLP JSON mapping (`application/json`),
//! optionally gzip-compressed, answered as the OTLP specification says.

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::otlp_json;
use crate::ingest::otlp::{Accepted, OtlpIngest, Refused};

/// What the OTLP/HTTP handler needs.
#[derive(Clone)]
struct OtlpState {
    ingest: Arc<OtlpIngest>,
    max_bytes: usize,
}

/// The OTLP/HTTP routes: `POST /v1/traces`, bodies of at most `max_bytes`
/// (compressed and decompressed), from holders of an ingest token when
/// `access` asks for one.
pub fn otlp_router(ingest: Arc<OtlpIngest>, max_bytes: usize, access: &super::Access) -> Router {
    let router = Router::new()
        .route("/v1/traces", post(export))
        .layer(DefaultBodyLimit::max(max_bytes))
        .layer(axum::middleware::from_fn_with_state(
            access.ingest_tokens.clone(),
            super::guard::identify_writer,
        ))
        .with_state(OtlpState { ingest, max_bytes });
    access.guard_host(router)
}

/// OTLP/gRPC (`TraceService/Export`) as routes, from holders of an ingest
/// token when `access` asks for one (others get `UNAUTHENTICATED`).
pub fn grpc_router(ingest: Arc<OtlpIngest>, max_bytes: usize, access: &super::Access) -> Router {
    use crate::ingest::grpc;
    let router = Router::new()
        .route(grpc::EXPORT_PATH, post(grpc::export))
        .with_state(grpc::GrpcIngest::new(ingest, max_bytes))
        .layer(axum::middleware::from_fn_with_state(
            access.ingest_tokens.clone(),
            super::guard::identify_grpc_writer,
        ));
    access.guard_host(router)
}

/// The encoding of a request, and so of its answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// A failed export, answered in the request's encoding with a
/// `google.rpc.Status` body.
struct Failure {
    status: StatusCode,
    encoding: Encoding,
    message: String,
    retry_after: Option<u64>,
}

impl Failure {
    fn new(status: StatusCode, encoding: Encoding, message: impl Into<String>) -> Failure {
        Failure {
            status,
            encoding,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        // google.rpc.Status: code (int32, field 1), message (string, field 2).
        let code: i32 = match self.status {
            // INVALID_ARGUMENT
            StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => 3,
            // RESOURCE_EXHAUSTED
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => 8,
            // UNAVAILABLE
            StatusCode::SERVICE_UNAVAILABLE => 14,
            // INTERNAL
            _ => 13,
        };
        let body = match self.encoding {
            Encoding::Json => serde_json::json!({ "code": code, "message": self.message })
                .to_string()
                .into_bytes(),
            Encoding::Protobuf => {
                let mut body = Vec::new();
                prost::encoding::int32::encode(1, &code, &mut body);
                prost::encoding::string::encode(2, &self.message, &mut body);
                body
            }
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, self.encoding.content_type())],
            body,
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The request's encoding from its `Content-Type` (parameters ignored).
fn encoding(headers: &HeaderMap) -> Result<Encoding, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    match essence.to_ascii_lowercase().as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(format!(
            "content type {content_type:?}: send application/x-protobuf or application/json"
        )),
    }
}

/// Whether the body is gzip-compressed (`Content-Encoding: gzip`); other
/// encodings are refused.
fn gzipped(headers: &HeaderMap) -> Result<bool, String> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => Ok(false),
        Some(Ok(v)) if v.eq_ignore_ascii_case("gzip") => Ok(true),
        Some(Ok(v)) if v.eq_ignore_ascii_case("identity") => Ok(false),
        Some(v) => Err(format!(
            "content encoding {:?}: send gzip or no encoding",
            v.unwrap_or("(not text)")
        )),
    }
}

/// Why a body could not be read.
enum BodyError {
    TooLarge(usize),
    Malformed(String),
}

/// Decompresses a gzipped body, up to `max_bytes`.
fn inflate(body: &[u8], max_bytes: usize) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    // One byte past the limit tells a body that is too large from one
    // exactly at it, without inflating the rest of a hostile body.
    flate2::read::GzDecoder::new(body)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Malformed(format!("not valid gzip: {e}")))?;
    if out.len() > max_bytes {
        return Err(BodyError::TooLarge(max_bytes));
    }
    Ok(out.into())
}

/// Decodes a request.
fn decode(bytes: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, BodyError> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(bytes)
            .map_err(|e| BodyError::Malformed(format!("not an ExportTraceServiceRequest: {e}"))),
        Encoding::Json => otlp_json::request(bytes).map_err(|e| {
            BodyError::Malformed(format!("not an OTLP JSON ExportTraceServiceRequest: {e}"))
        }),
    }
}

async fn export(
    State(state): State<OtlpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let encoding = encoding(&headers).unwrap_or(Encoding::Json);
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the request is larger than {} bytes", state.max_bytes)
            } else {
                rejection.body_text()
            };
            return Failure::new(status, encoding, message).into_response();
        }
    };
    match handle(state, headers, body).await {
        Ok((encoding, accepted)) => answer(encoding, accepted),
        Err(failure) => failure.into_response(),
    }
}

async fn handle(
    state: OtlpState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(Encoding, Accepted), Failure> {
    let encoding = encoding(&headers)
        .map_err(|m| Failure::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, Encoding::Json, m))?;
    let gzip = gzipped(&headers)
        .map_err(|m| Failure::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, encoding, m))?;
    let max_bytes = state.max_bytes;
    let body = if gzip {
        tokio::task::spawn_blocking(move || inflate(&body, max_bytes))
            .await
            .unwrap_or_else(|_| Err(BodyError::Malformed("the body could not be read".into())))
            .map_err(|e| body_failure(e, encoding))?
    } else {
        body
    };
    let accepted = state
        .ingest
        .export(body.len(), move || decode(&body, encoding))
        .await
        .map_err(|refused| match refused {
            Refused::Body(e) => body_failure(e, encoding),
            Refused::TooLarge => Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                encoding,
                "the request is too large to decode: send smaller requests",
            ),
            Refused::TooManySpans(max) => Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                encoding,
                format!("a request may hold at most {max} spans"),
            ),
            Refused::Overloaded { retry_after } => Failure {
                retry_after: Some(retry_after),
                ..Failure::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    encoding,
                    "the collector is busy storing other requests: retry later",
                )
            },
            Refused::Store => Failure {
                retry_after: Some(1),
                ..Failure::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    encoding,
                    "storage failed: retry later",
                )
            },
        })?;
    Ok((encoding, accepted))
}

fn body_failure(error: BodyError, encoding: Encoding) -> Failure {
    match error {
        BodyError::TooLarge(max) => Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            format!("the request inflates past {max} bytes"),
        ),
        BodyError::Malformed(message) => Failure::new(StatusCode::BAD_REQUEST, encoding, message),
    }
}

/// 200 with an `ExportTraceServiceResponse`, whose partial success counts
/// and explains the spans refused.
fn answer(encoding: Encoding, accepted: Accepted) -> Response {
    let response = ExportTraceServiceResponse {
        partial_success: (accepted.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: accepted.rejected as i64,
            error_message: accepted.reason.unwrap_or_default(),
        }),
    };
    let body = match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&response).unwrap_or_default(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::store::{Limits, MemoryStore, Store};

    #[tokio::test]
    async fn a_busy_collector_answers_503_with_retry_after_and_stores_nothing() {
        let store = Arc::new(MemoryStore::new(Limits::spans(100)));
        let budget = Arc::new(crate::ingest::DecodeBudget::new(1 << 20));
        let ingest = Arc::new(OtlpIngest::new(store.clone(), budget.clone(), 1000));
        // The whole budget taken, as by requests still being stored.
        let _busy = budget.try_reserve(1 << 20).unwrap();
        let request = Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"resourceSpans":[]}"#))
            .unwrap();
        let response = otlp_router(ingest.clone(), 1 << 20, &crate::http::Access::default())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status["code"], 14, "UNAVAILABLE");
        assert_eq!(store.span_count().unwrap(), 0);
    }
}
