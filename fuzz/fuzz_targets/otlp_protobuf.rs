//! An OTLP `ExportTraceServiceRequest` in binary protobuf: decoded by
//! prost, converted by the collector's one OTLP conversion
//! (`ingest::otlp::convert`, shared by OTLP/HTTP and OTLP/gRPC), stored.
//!
//! Checks: no panic, no unbounded work; every span is either converted or
//! counted as rejected, with a reason; the store stays consistent; what
//! the collector forwards (`forward::request`) converts back to the same
//! spans.

#![no_main]

use dapple_collector::forward;
use dapple_collector::ingest::otlp;
use dapple_fuzz::{insert_and_check, same_spans, store};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let Ok(request) = ExportTraceServiceRequest::decode(bytes) else {
        return;
    };
    let total: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    let converted = otlp::convert(request);
    assert_eq!(
        converted.spans.len() as u64 + converted.rejected,
        total as u64
    );
    assert_eq!(converted.reason.is_some(), converted.rejected > 0);

    let again = otlp::convert(forward::request(&converted.spans));
    assert_eq!(again.rejected, 0, "{:?}", again.reason);
    assert!(
        same_spans(&again.spans, &converted.spans),
        "a forwarded request converts to other spans"
    );

    insert_and_check(&*store(), converted.spans);
});
