//! Writes the seed inputs of every fuzz target into `corpus/<target>/`: a
//! few valid inputs each, and a few that each refusal path refuses, so that
//! a campaign starts past the formats' framing. The committed corpora are
//! these seeds grown by fuzzing and then minimized (`cargo fuzz cmin`).
//!
//! From `fuzz/`: `cargo run --features seeds --bin seeds`

use std::io::Write;
use std::path::Path;

use dapple_collector::forward;
use dapple_fuzz::{SAMPLE_SERVICES, SAMPLE_TRACES, sample_batches, sample_spans};
use dapple_proto::{self as proto, Frame, PROTOCOL_VERSION, encode_frame, frame};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// Times of the sample spans: fixed, so the seeds are the same on every run.
const NOW: u64 = 1_767_225_600_000_000_000;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("the corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("a seed file");
}

fn hello(version: u32) -> Frame {
    Frame {
        kind: Some(frame::Kind::Hello(proto::Hello {
            protocol_version: version,
            resource: sample_batches(NOW)[0].resource.clone(),
            token: String::new(),
        })),
    }
}

fn batch_frame(batch: proto::Batch) -> Frame {
    Frame {
        kind: Some(frame::Kind::Batch(batch)),
    }
}

fn wire(frames: &[Frame]) -> Vec<u8> {
    let mut wire = Vec::new();
    for frame in frames {
        encode_frame(frame, &mut wire);
    }
    wire
}

/// A batch whose spans each break one rule: a short trace id, a zero span
/// id, a link to nowhere, nested values, non-finite doubles.
fn odd_batch() -> proto::Batch {
    use proto::any_value::Value;
    let mut nested = proto::AnyValue {
        value: Some(Value::StringValue("deep".into())),
    };
    for _ in 0..12 {
        nested = proto::AnyValue {
            value: Some(Value::ArrayValue(proto::ArrayValue {
                values: vec![nested],
            })),
        };
    }
    let mut spans = sample_batches(NOW).swap_remove(1).spans;
    spans[0].trace_id.truncate(8);
    spans[1].span_id = 0;
    spans[2].links[0].trace_id = vec![0; 16];
    spans[3].attributes = vec![
        proto::KeyValue {
            key: "nested".into(),
            value: Some(nested),
        },
        proto::KeyValue {
            key: "nan".into(),
            value: Some(proto::AnyValue {
                value: Some(Value::DoubleValue(f64::NAN)),
            }),
        },
        proto::KeyValue {
            key: "empty".into(),
            value: None,
        },
    ];
    spans[3].start_unix_nanos = u64::MAX;
    spans[3].end_unix_nanos = 0;
    proto::Batch {
        sequence: u64::MAX,
        spans,
        dropped_spans: 3,
        resource: None,
    }
}

fn native() {
    let batches = sample_batches(NOW);
    let frames: Vec<Frame> = std::iter::once(hello(PROTOCOL_VERSION))
        .chain(batches.iter().cloned().map(batch_frame))
        .collect();
    write("native_stream", "hello-batches", &wire(&frames));
    write("native_stream", "hello", &wire(&frames[..1]));
    write(
        "native_stream",
        "odd-batch",
        &wire(&[hello(PROTOCOL_VERSION), batch_frame(odd_batch())]),
    );
    write(
        "native_stream",
        "old-version",
        &wire(&[hello(0), frames[1].clone()]),
    );
    let ack = Frame {
        kind: Some(frame::Kind::Ack(proto::Ack { sequence: 1 })),
    };
    write(
        "native_stream",
        "batch-then-ack",
        &wire(&[frames[0].clone(), frames[1].clone(), ack]),
    );
    let all = wire(&frames);
    write("native_stream", "truncated", &all[..all.len() - 5]);

    for (i, batch) in batches.into_iter().enumerate() {
        write(
            "native_batch",
            &format!("sample-{i}"),
            &batch.encode_to_vec(),
        );
    }
    write("native_batch", "odd", &odd_batch().encode_to_vec());
    write("native_batch", "empty", b"");
}

/// The sample spans as the collector forwards them: one `ResourceSpans`
/// per service; only the first trace's when `one_trace`.
fn otlp_request(one_trace: bool) -> ExportTraceServiceRequest {
    let mut spans = sample_spans(NOW);
    if one_trace {
        spans.retain(|s| s.trace_id.to_u128() == SAMPLE_TRACES[0]);
    }
    spans.sort_by(|a, b| a.service.cmp(&b.service));
    // `forward::request` groups runs of one resource: make each service's
    // spans share theirs.
    for run in spans.chunk_by_mut(|a, b| a.service == b.service) {
        let resource = run[0].resource.clone();
        let scope = run[0].scope.clone();
        for span in run {
            span.resource = resource.clone();
            span.scope = scope.clone();
        }
    }
    forward::request(&spans)
}

/// A request with spans OTLP refuses: ids of the wrong length, zero ids.
fn otlp_odd_request() -> ExportTraceServiceRequest {
    let mut request = otlp_request(true);
    let spans = request
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans);
    for (i, span) in spans.enumerate() {
        match i {
            0 => span.trace_id.truncate(15),
            1 => span.span_id = vec![0; 8],
            2 => span.parent_span_id = vec![1, 2, 3],
            3 => span.links[0].span_id.clear(),
            _ => {}
        }
    }
    request
}

/// OTLP JSON with the doubles proto3 JSON writes as strings.
const NON_FINITE_JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json"}},{"key":"r","value":{"doubleValue":"-Infinity"}}]},"scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b174","parentSpanId":"","name":"odd","kind":2,"startTimeUnixNano":"1767225600000000000","endTimeUnixNano":"1767225600001000000","attributes":[{"key":"nan","value":{"doubleValue":"NaN"}},{"key":"list","value":{"arrayValue":{"values":[{"doubleValue":1.5},{"kvlistValue":{"values":[{"key":"k","value":{"doubleValue":"Infinity"}}]}}]}}}],"events":[{"name":"e","timeUnixNano":"1767225600000500000","attributes":[{"key":"x","value":{"doubleValue":"Infinity"}}]}],"status":{"code":2,"message":"boom"}}]}]}]}"#;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An `otlp_http` input: the byte that picks the headers, then the body.
fn http_input(choice: u8, body: &[u8]) -> Vec<u8> {
    let mut input = vec![choice];
    input.extend_from_slice(body);
    input
}

fn otlp() {
    let protobuf = otlp_request(false).encode_to_vec();
    // JSON is larger: one trace, to stay within the target's body limit.
    let json = serde_json::to_vec(&otlp_request(true)).expect("OTLP JSON");
    write("otlp_protobuf", "sample", &protobuf);
    write("otlp_protobuf", "odd", &otlp_odd_request().encode_to_vec());
    write("otlp_protobuf", "empty", b"");

    // The choice byte: bits 0-1 the content type (protobuf, JSON, JSON
    // with parameters, text), bits 2-3 the encoding (none, gzip made by
    // the target, gzip as given, identity).
    write("otlp_http", "protobuf", &http_input(0, &protobuf));
    write("otlp_http", "json", &http_input(1, &json));
    write("otlp_http", "json-charset", &http_input(2, &json));
    write("otlp_http", "text", &http_input(3, b"hello"));
    write(
        "otlp_http",
        "protobuf-gzipped-here",
        &http_input(4, &protobuf),
    );
    write("otlp_http", "json-gzip", &http_input(9, &gzip(&json)));
    write("otlp_http", "protobuf-identity", &http_input(12, &protobuf));
    write(
        "otlp_http",
        "json-non-finite",
        &http_input(1, NON_FINITE_JSON.as_bytes()),
    );
    write(
        "otlp_http",
        "json-odd",
        &http_input(1, &serde_json::to_vec(&otlp_odd_request()).unwrap()),
    );
    write(
        "otlp_http",
        "json-empty",
        &http_input(1, br#"{"resourceSpans":[]}"#),
    );
}

fn propagation() {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";
    let seeds: [(&str, String); 10] = [
        (
            "w3c",
            format!(
                "traceparent:00-{TRACE}-{SPAN}-01\ntracestate:congo=t61rcWkgMzE,rojo=00f067aa0ba902b7\ntracestate:a=b"
            ),
        ),
        (
            "w3c-future",
            format!("traceparent:cc-{TRACE}-{SPAN}-09-later-fields\n"),
        ),
        ("b3", format!("b3:{TRACE}-{SPAN}-1-{SPAN}")),
        ("b3-short", format!("b3:{}-{SPAN}-d", &TRACE[16..])),
        (
            "b3-multi",
            format!(
                "X-B3-TraceId:{TRACE}\nX-B3-SpanId:{SPAN}\nX-B3-Sampled:0\nX-B3-Flags:1\nX-B3-ParentSpanId:{SPAN}"
            ),
        ),
        ("appdash", format!("Span-ID:{}/{SPAN}/{SPAN}", &TRACE[16..])),
        (
            "appdash-parent",
            format!("Parent-Span-ID:{}/{SPAN}", &TRACE[..16]),
        ),
        // Written back as `Span-ID: 0000000000000000/...` before the fix,
        // which no reader takes for a trace.
        (
            "w3c-low-half-zero",
            format!(
                "traceparent:00-{}{}-{SPAN}-01",
                &TRACE[..16],
                "0".repeat(16)
            ),
        ),
        (
            "all-bad",
            "traceparent:00-not-a-trace-01\nb3:nope\nx-b3-traceid:zz\nspan-id:1/2/3".to_owned(),
        ),
        (
            "twice",
            format!(
                "traceparent:00-{TRACE}-{SPAN}-01\ntraceparent:00-{TRACE}-{SPAN}-00\nb3:{TRACE}-{SPAN}"
            ),
        ),
    ];
    for (name, text) in seeds {
        write("propagation", name, text.as_bytes());
    }
}

fn query() {
    let trace = format!("{:032x}", SAMPLE_TRACES[0]);
    let cursor = format!("{NOW}-{trace}");
    let seeds: Vec<(&str, String)> = vec![
        ("search", "0service=frontend&limit=5".into()),
        (
            "search-longest",
            "0sort=longest&min_duration=1ms&max_duration=1h&error=true".into(),
        ),
        (
            "search-attr",
            "0attr=http.route%3D/checkout&sort=shortest".into(),
        ),
        (
            "search-cursor",
            format!("0cursor={cursor}&start=1&end={NOW}"),
        ),
        ("trace", format!("1{trace}")),
        ("trace-missing", format!("1{:032x}?x=1", 7)),
        ("services", "2".into()),
        ("names", format!("3{}", SAMPLE_SERVICES[1])),
        ("names-missing", "3nobody?x".into()),
        ("aggregates", "4window=1h".into()),
        (
            "series",
            format!(
                "5name=SELECT&service={}&buckets=10&window=5m",
                SAMPLE_SERVICES[2]
            ),
        ),
        ("dependencies", "6window=1.5d".into()),
        ("ui", "7/trace/abc?q=1".into()),
        ("asset", "7/ui/app.js".into()),
        ("forwarding", "7/api/forwarding".into()),
    ];
    for (name, text) in seeds {
        write("query", name, text.as_bytes());
    }
}

fn duration() {
    for (i, text) in [
        "1.5ms",
        "2s",
        "250us",
        "3µs",
        "1h",
        "7d",
        " 0.5m ",
        "18446744073709551615ns",
        "1e3s",
        "12",
    ]
    .iter()
    .enumerate()
    {
        write("duration", &i.to_string(), text.as_bytes());
    }
}

fn main() {
    native();
    otlp();
    propagation();
    query();
    duration();
}
