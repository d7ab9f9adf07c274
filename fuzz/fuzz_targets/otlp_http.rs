//! The OTLP/HTTP endpoint as a whole (`http::otlp_router`): `POST
//! /v1/traces` with the input's first byte choosing the request's
//! `Content-Type` and `Content-Encoding`, the rest its body. Covers the
//! body limit, gzip inflation and its limit, the protobuf decoding, the
//! OTLP JSON mapping (with its non-finite doubles read a second time), the
//! conversion and the store, and the answers.
//!
//! Checks: no panic, no unbounded work; no 5xx answer but 503 (the store
//! or the in-flight bound refusing, which a client retries); a 200 answer
//! is an `ExportTraceServiceResponse` in the request's encoding.

#![no_main]

use std::io::Write;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dapple_fuzz::{MAX_SPANS, otlp_router, respond, store};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

/// The request body limit, compressed and inflated: below the inputs' 64
/// KiB, so that both limits are reached.
const MAX_BODY_BYTES: usize = 16 * 1024;

const CONTENT_TYPES: [&str; 4] = [
    "application/x-protobuf",
    "application/json",
    "Application/JSON; charset=utf-8",
    "text/plain",
];

fuzz_target!(|input: &[u8]| {
    let Some((&choice, body)) = input.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(choice & 3)];
    let mut request = Request::post("/v1/traces").header(header::CONTENT_TYPE, content_type);
    let body = match (choice >> 2) & 3 {
        0 => body.to_vec(),
        // The rest compressed here: highly compressible bodies inflate
        // past the limit.
        1 => {
            request = request.header(header::CONTENT_ENCODING, "gzip");
            let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gzip.write_all(body).unwrap();
            gzip.finish().unwrap()
        }
        // The rest as it is, said to be gzip: any bytes reach the inflater.
        2 => {
            request = request.header(header::CONTENT_ENCODING, "gzip");
            body.to_vec()
        }
        _ => {
            request = request.header(header::CONTENT_ENCODING, "identity");
            body.to_vec()
        }
    };
    let request = request.body(Body::from(body)).unwrap();

    let store = store();
    let (status, answer) = respond(otlp_router(store.clone(), MAX_BODY_BYTES), request);

    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    if status == StatusCode::OK {
        match choice & 3 {
            0 => {
                ExportTraceServiceResponse::decode(&answer[..]).expect("a protobuf answer");
            }
            _ => {
                serde_json::from_slice::<serde_json::Value>(&answer).expect("a JSON answer");
            }
        }
    }
    assert!(store.span_count().unwrap() <= MAX_SPANS);
});
