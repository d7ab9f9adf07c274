//! OTLP/HTTP ingest against a real collector process: one request of a small
//! tree of spans carrying every OTLP field and every `AnyValue` type, sent
//! as protobuf, as OTLP JSON and gzip-compressed, reads back exactly through
//! the query API; partial success, malformed bodies, unsupported media,
//! oversized bodies and gzip bombs get the answers the OTLP spec asks for.
//! The last tests pin gaps found on the way, since fixed.

mod support;

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{Value, json};
use support::{CollectorProcess, assert_same_span};

/// The `--max-frame-bytes` the collector runs with: small enough to reach.
const MAX_BYTES: usize = 64 * 1024;

/// The tree's times are fixed after this, in Unix nanoseconds.
const T0: u64 = 1_700_000_000_000_000_000;

fn collector() -> CollectorProcess {
    CollectorProcess::start(&[
        "--otlp-http",
        "127.0.0.1:0",
        "--max-frame-bytes",
        &MAX_BYTES.to_string(),
        "--log-level",
        "warn",
    ])
}

fn value(value: any_value::Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value(v)),
        ..KeyValue::default()
    }
}

fn text(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn int(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

/// The id of span `n` of the tree.
fn span_id(n: u8) -> Vec<u8> {
    vec![0, 0, 0, 0, 0, 0, 0xa0, n]
}

/// Span `id` of `trace`: it starts `id` ms after [`T0`] and lasts 0.5 ms.
fn span(trace: [u8; 16], id: u8, parent: Option<u8>, name: &str, kind: SpanKind) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: span_id(id),
        parent_span_id: parent.map(span_id).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: T0 + u64::from(id) * 1_000_000,
        end_time_unix_nano: T0 + u64::from(id) * 1_000_000 + 500_000,
        flags: 0x101,
        ..Span::default()
    }
}

/// Attributes of every `AnyValue` type, and how the query API shows them.
fn every_type() -> (Vec<KeyValue>, Value) {
    use any_value::Value as V;
    let attributes = vec![
        text("http.route", "/checkout"),
        kv("cache.hit", V::BoolValue(false)),
        int("retries", -3),
        // Past f64's exact integers: stays an integer all the way.
        int("order.id", (1 << 53) + 1),
        kv("ratio", V::DoubleValue(0.25)),
        kv("nan", V::DoubleValue(f64::NAN)),
        kv("digest", V::BytesValue(vec![0xde, 0xad, 0xbe, 0xef])),
        kv(
            "mixed",
            V::ArrayValue(ArrayValue {
                values: vec![
                    value(V::StringValue("a".into())),
                    value(V::IntValue(1)),
                    AnyValue::default(),
                    value(V::BoolValue(true)),
                ],
            }),
        ),
        kv(
            "user",
            V::KvlistValue(KeyValueList {
                values: vec![
                    text("name", "ada"),
                    kv(
                        "tags",
                        V::ArrayValue(ArrayValue {
                            values: vec![value(V::DoubleValue(1.5))],
                        }),
                    ),
                    kv(
                        "address",
                        V::KvlistValue(KeyValueList {
                            values: vec![text("city", "Paris")],
                        }),
                    ),
                ],
            }),
        ),
    ];
    let shown = json!({
        "http.route": "/checkout",
        "cache.hit": false,
        "retries": -3,
        "order.id": 9_007_199_254_740_993_i64,
        "ratio": 0.25,
        "nan": null,
        "digest": "deadbeef",
        "mixed": ["a", 1, null, true],
        "user": {"name": "ada", "tags": [1.5], "address": {"city": "Paris"}},
    });
    (attributes, shown)
}

/// A request of one trace: `GET /checkout` (server) with children
/// `charge card` (client, an error with a retry event), `publish order`
/// (producer, linked to another trace) and `render` (kind unspecified), and
/// `ship order` (consumer) under `publish order`.
fn tree(trace: [u8; 16]) -> ExportTraceServiceRequest {
    let (attributes, _) = every_type();
    let mut root = span(trace, 1, None, "GET /checkout", SpanKind::Server);
    root.attributes = attributes;
    root.trace_state = "dapple=e2e,vendor=x".into();
    root.status = Some(Status {
        code: StatusCode::Ok as i32,
        message: String::new(),
    });
    let mut charge = span(trace, 2, Some(1), "charge card", SpanKind::Client);
    charge.status = Some(Status {
        code: StatusCode::Error as i32,
        message: "card declined".into(),
    });
    charge.events = vec![Event {
        time_unix_nano: T0 + 2_250_000,
        name: "retry".into(),
        attributes: vec![
            int("attempt", 2),
            kv("backoff.ms", any_value::Value::DoubleValue(12.5)),
        ],
        dropped_attributes_count: 1,
    }];
    charge.dropped_attributes_count = 4;
    charge.dropped_events_count = 5;
    charge.dropped_links_count = 6;
    let mut publish = span(trace, 3, Some(1), "publish order", SpanKind::Producer);
    publish.links = vec![Link {
        trace_id: vec![0x77; 16],
        span_id: span_id(9),
        trace_state: "upstream=1".into(),
        attributes: vec![text("link.reason", "batch"), int("batch.size", 3)],
        dropped_attributes_count: 2,
        flags: 0x301,
    }];
    let ship = span(trace, 4, Some(3), "ship order", SpanKind::Consumer);
    let render = span(trace, 5, Some(1), "render", SpanKind::Unspecified);
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "shop"),
                    text("service.version", "1.2.3"),
                    int("host.cores", 8),
                ],
                dropped_attributes_count: 1,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "shop.checkout".into(),
                    version: "0.4.2".into(),
                    attributes: vec![text("scope.owner", "payments")],
                    dropped_attributes_count: 3,
                }),
                spans: vec![root, charge, publish, ship, render],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// How the query API shows span `id` of [`tree`]: what every span of it
/// shares, then `fields`.
fn shown(id: u8, parent: Option<u8>, name: &str, kind: &str, fields: Value) -> Value {
    let start = T0 + u64::from(id) * 1_000_000;
    let mut span = json!({
        "span_id": hex(&span_id(id)),
        "parent_id": parent.map(|p| hex(&span_id(p))),
        "name": name,
        "kind": kind,
        "service": "shop",
        "start_unix_nanos": start,
        "end_unix_nanos": start + 500_000,
        "duration_nanos": 500_000,
        "flags": 0x101,
        "trace_state": "",
        "status": {"code": "unset", "message": ""},
        "attributes": {},
        "events": [],
        "links": [],
        "dropped": {"attributes": 0, "events": 0, "links": 0},
        "resource": {
            "attributes": {"service.name": "shop", "service.version": "1.2.3", "host.cores": 8},
            "dropped_attributes": 1,
        },
        "scope": {
            "name": "shop.checkout",
            "version": "0.4.2",
            "attributes": {"scope.owner": "payments"},
            "dropped_attributes": 3,
        },
    });
    for (key, value) in fields.as_object().expect("fields") {
        span[key] = value.clone();
    }
    span
}

/// [`tree`] as the query API shows it, by span id.
fn shown_tree() -> Vec<Value> {
    let (_, attributes) = every_type();
    vec![
        shown(
            1,
            None,
            "GET /checkout",
            "server",
            json!({
                "attributes": attributes,
                "trace_state": "dapple=e2e,vendor=x",
                "status": {"code": "ok", "message": ""},
            }),
        ),
        shown(
            2,
            Some(1),
            "charge card",
            "client",
            json!({
                "status": {"code": "error", "message": "card declined"},
                "events": [{
                    "name": "retry",
                    "unix_nanos": T0 + 2_250_000,
                    "attributes": {"attempt": 2, "backoff.ms": 12.5},
                    "dropped_attributes": 1,
                }],
                "dropped": {"attributes": 4, "events": 5, "links": 6},
            }),
        ),
        shown(
            3,
            Some(1),
            "publish order",
            "producer",
            json!({
                "links": [{
                    "trace_id": "77".repeat(16),
                    "span_id": hex(&span_id(9)),
                    "trace_state": "upstream=1",
                    "flags": 0x301,
                    "attributes": {"link.reason": "batch", "batch.size": 3},
                    "dropped_attributes": 2,
                }],
            }),
        ),
        shown(4, Some(3), "ship order", "consumer", json!({})),
        // OTLP's unspecified kind reads as internal.
        shown(5, Some(1), "render", "internal", json!({})),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The query API's spans of `trace`, by span id (404 and its body when the
/// collector has none).
fn stored(collector: &CollectorProcess, trace: [u8; 16]) -> Result<Vec<Value>, Value> {
    let (status, body) = collector.get(&format!("/api/traces/{}", hex(&trace)));
    if status == 404 {
        return Err(body);
    }
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trace_id"], hex(&trace));
    let mut spans = body["spans"].as_array().expect("spans").clone();
    spans.sort_by_key(|s| s["span_id"].as_str().map(str::to_owned));
    Ok(spans)
}

/// Asserts the collector holds exactly [`tree`] as `trace`.
fn assert_tree_stored(collector: &CollectorProcess, trace: [u8; 16]) {
    let spans = stored(collector, trace).unwrap_or_else(|e| panic!("no trace: {e}"));
    let expected = shown_tree();
    assert_eq!(spans.len(), expected.len(), "{spans:#?}");
    for (span, expected) in spans.iter().zip(&expected) {
        assert_same_span(span, expected);
    }
}

/// An answer from the OTLP/HTTP port.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

impl Answer {
    /// The body, which must be an OTLP JSON document.
    fn json(&self) -> Value {
        assert_eq!(self.content_type, "application/json");
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A `google.rpc.Status`, the body of every OTLP/HTTP failure.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// `POST /v1/traces` with this content type, content encoding (if any) and
/// body.
fn export(
    collector: &CollectorProcess,
    content_type: &str,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!(
        "http://{}/v1/traces",
        collector.otlp_http.expect("OTLP/HTTP")
    );
    let mut request = agent.post(&url).header("Content-Type", content_type);
    if let Some(encoding) = content_encoding {
        request = request.header("Content-Encoding", encoding);
    }
    let mut response = request.send(body).expect("the collector answers");
    let content_type = response
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Answer {
        status: response.status().as_u16(),
        content_type,
        body: response
            .body_mut()
            .with_config()
            .limit(MAX_BYTES as u64)
            .read_to_vec()
            .expect("a body"),
    }
}

/// `POST /v1/traces` of a body the collector will refuse for its size, over
/// a bare socket that reads the answer while it writes, as curl and
/// Python's requests do: the collector answers 413 before the body is in
/// and closes, so a client that writes it all first (ureq) may get EPIPE.
fn export_oversized(collector: &CollectorProcess, content_type: &str, body: Vec<u8>) -> Answer {
    use std::io::Read;
    let address = collector.otlp_http.expect("OTLP/HTTP");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("a read timeout");
    let mut writer = stream.try_clone().expect("a second handle");
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The collector may stop reading half-way: write errors are expected.
    let write = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    write.join().expect("the writer");
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    Answer {
        status: head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        content_type: header("content-type"),
        body: body.as_bytes().to_vec(),
    }
}

fn protobuf(collector: &CollectorProcess, request: &ExportTraceServiceRequest) -> Answer {
    export(
        collector,
        "application/x-protobuf",
        None,
        &request.encode_to_vec(),
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// The `ExportTraceServiceResponse` of a successful protobuf export.
fn protobuf_success(answer: &Answer) -> ExportTraceServiceResponse {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.content_type, "application/x-protobuf");
    ExportTraceServiceResponse::decode(&answer.body[..]).expect("an ExportTraceServiceResponse")
}

/// The `google.rpc.Status` of a failed protobuf export.
fn protobuf_failure(answer: &Answer) -> RpcStatus {
    assert_eq!(answer.content_type, "application/x-protobuf", "{answer:?}");
    RpcStatus::decode(&answer.body[..]).expect("a google.rpc.Status")
}

#[test]
fn a_protobuf_export_reads_back_field_for_field() {
    let collector = collector();
    let trace = [0x11; 16];
    let response = protobuf_success(&protobuf(&collector, &tree(trace)));
    assert_eq!(response.partial_success, None, "nothing refused");
    assert_tree_stored(&collector, trace);
}

#[test]
fn an_otlp_json_export_reads_back_field_for_field() {
    let collector = collector();
    let trace = [0x22; 16];
    // serde_json writes the NaN double as null, an empty value: it reads
    // back as null all the same.
    let body = serde_json::to_vec(&tree(trace)).expect("OTLP JSON");
    // What makes it OTLP JSON rather than plain proto3 JSON.
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains(r#""traceId":"22222222222222222222222222222222""#));
    assert!(text.contains(r#""kind":2"#));
    let answer = export(&collector, "application/json", None, &body);
    assert_eq!(answer.status, 200, "{answer:?}");
    let response = answer.json();
    assert!(
        response.get("partialSuccess").is_none_or(Value::is_null),
        "nothing refused: {response}"
    );
    assert_tree_stored(&collector, trace);
}

#[test]
fn gzip_compressed_exports_read_back_field_for_field() {
    let collector = collector();
    let (in_protobuf, in_json) = ([0x33; 16], [0x44; 16]);
    let body = gzip(&tree(in_protobuf).encode_to_vec());
    let answer = export(&collector, "application/x-protobuf", Some("gzip"), &body);
    assert_eq!(protobuf_success(&answer).partial_success, None);
    let body = gzip(&serde_json::to_vec(&tree(in_json)).expect("OTLP JSON"));
    let answer = export(&collector, "application/json", Some("gzip"), &body);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_tree_stored(&collector, in_protobuf);
    assert_tree_stored(&collector, in_json);
}

/// OTLP JSON as another client writes it: the specification's own example
/// (upper-case hex ids, 64-bit integers as strings), plus base64 bytes, an
/// integer as a JSON number and fields this collector does not know.
#[test]
fn otlp_json_as_the_specification_writes_it() {
    let collector = collector();
    let body = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
        "scopeSpans": [{
          "scope": {"name": "my.library", "version": "1.0.0",
                    "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
          "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "EEE19B7EC3C1B174",
            "parentSpanId": "EEE19B7EC3C1B173",
            "name": "I'm a server span",
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": "1544712661000000000",
            "kind": 2,
            "attributes": [
              {"key": "my.span.attr", "value": {"stringValue": "some value"}},
              {"key": "blob", "value": {"bytesValue": "3q2+7w=="}},
              {"key": "count", "value": {"intValue": 5}}
            ],
            "status": {"code": 2, "message": "boom"},
            "someFutureField": {"nested": [1, 2]}
          }]
        }]
      }]
    }"#;
    let answer = export(&collector, "application/json", None, body.as_bytes());
    assert_eq!(answer.status, 200, "{answer:?}");
    let (status, trace) = collector.get("/api/traces/5b8efff798038103d269b633813fc60c");
    assert_eq!(status, 200, "{trace}");
    let span = &trace["spans"][0];
    assert_eq!(span["span_id"], "eee19b7ec3c1b174");
    assert_eq!(span["parent_id"], "eee19b7ec3c1b173");
    assert_eq!(span["name"], "I'm a server span");
    assert_eq!(span["kind"], "server");
    assert_eq!(span["start_unix_nanos"], 1_544_712_660_000_000_000_u64);
    assert_eq!(span["duration_nanos"], 1_000_000_000);
    assert_eq!(span["status"], json!({"code": "error", "message": "boom"}));
    assert_eq!(
        span["attributes"],
        json!({"my.span.attr": "some value", "blob": "deadbeef", "count": 5})
    );
    assert_eq!(span["service"], "my.service");
    assert_eq!(
        span["scope"],
        json!({"name": "my.library", "version": "1.0.0",
               "attributes": {"my.scope.attribute": "some scope attribute"},
               "dropped_attributes": 0})
    );
}

#[test]
fn a_span_with_an_all_zero_trace_id_is_refused_alone() {
    let collector = collector();
    let trace = [0x55; 16];
    let valid = span(trace, 1, None, "kept", SpanKind::Server);
    let invalid = span([0; 16], 2, None, "refused", SpanKind::Server);
    let mut request = tree(trace);
    request.resource_spans[0].scope_spans[0].spans = vec![valid, invalid];

    let response = protobuf_success(&protobuf(&collector, &request));
    let partial = response.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("trace_id"),
        "the message says why: {:?}",
        partial.error_message
    );
    let spans = stored(&collector, trace).expect("the valid span is stored");
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["name"], "kept");

    // The same in OTLP JSON, answered in OTLP JSON.
    let trace = [0x66; 16];
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = trace.to_vec();
    let body = serde_json::to_vec(&request).expect("OTLP JSON");
    let answer = export(&collector, "application/json", None, &body);
    assert_eq!(answer.status, 200, "{answer:?}");
    let partial = &answer.json()["partialSuccess"];
    // int64 is a string in OTLP JSON; a number is accepted too.
    assert!(
        partial["rejectedSpans"] == "1" || partial["rejectedSpans"] == 1,
        "{partial}"
    );
    assert!(
        partial["errorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(stored(&collector, trace).expect("stored").len(), 1);
}

#[test]
fn malformed_bodies_are_400_and_earlier_spans_stay() {
    let collector = collector();
    let trace = [0x77; 16];
    protobuf_success(&protobuf(&collector, &tree(trace)));

    // A length prefix running past the end of the body.
    let mut truncated = tree([0x78; 16]).encode_to_vec();
    truncated.truncate(truncated.len() / 2);
    let answer = export(&collector, "application/x-protobuf", None, &truncated);
    assert_eq!(answer.status, 400, "{answer:?}");
    let status = protobuf_failure(&answer);
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(!status.message.is_empty());

    let mut truncated = serde_json::to_vec(&tree([0x79; 16])).expect("OTLP JSON");
    truncated.truncate(truncated.len() / 2);
    let answer = export(&collector, "application/json", None, &truncated);
    assert_eq!(answer.status, 400, "{answer:?}");
    let status = answer.json();
    assert_eq!(status["code"], 3, "{status}");
    assert!(status["message"].as_str().is_some_and(|m| !m.is_empty()));

    // Neither stored anything, nor lost what was there.
    assert!(stored(&collector, [0x78; 16]).is_err());
    assert!(stored(&collector, [0x79; 16]).is_err());
    assert_tree_stored(&collector, trace);
}

#[test]
fn other_media_types_and_encodings_are_415() {
    let collector = collector();
    let trace = [0x88; 16];
    let body = tree(trace).encode_to_vec();
    let answer = export(&collector, "text/plain", None, &body);
    assert_eq!(answer.status, 415, "{answer:?}");
    let answer = export(&collector, "application/x-protobuf", Some("br"), &body);
    assert_eq!(answer.status, 415, "{answer:?}");
    assert_eq!(protobuf_failure(&answer).code, 3, "INVALID_ARGUMENT");
    assert!(stored(&collector, trace).is_err(), "nothing stored");
}

#[test]
fn bodies_past_the_limit_are_413_compressed_or_inflated() {
    let collector = collector();
    // A valid request, but four times the limit: one long attribute.
    let trace = [0x99; 16];
    let mut request = tree(trace);
    request.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(text("padding", &"a".repeat(4 * MAX_BYTES)));
    let body = request.encode_to_vec();
    let answer = export_oversized(&collector, "application/x-protobuf", body.clone());
    assert_eq!(answer.status, 413, "{answer:?}");

    // A gzip bomb: the same, well under the limit until inflated.
    let bomb = gzip(&body);
    assert!(
        bomb.len() < MAX_BYTES / 4,
        "{} bytes compressed",
        bomb.len()
    );
    let answer = export(&collector, "application/x-protobuf", Some("gzip"), &bomb);
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(protobuf_failure(&answer).code, 8, "RESOURCE_EXHAUSTED");

    assert!(stored(&collector, trace).is_err(), "nothing stored");
    // The collector still takes what fits.
    protobuf_success(&protobuf(&collector, &tree([0x9a; 16])));
    assert_tree_stored(&collector, [0x9a; 16]);
}

// A link to an invalid context, an oversized body, and the proto3 JSON
// forms of doubles that are not finite.

/// The OpenTelemetry specification asks SDKs to record links to invalid
/// span contexts when they carry attributes or a trace state, and the
/// Python SDK does (`span.add_link(INVALID_SPAN_CONTEXT, {...})`); such a
/// link must not cost its span.
#[test]
fn a_link_to_an_invalid_span_context_keeps_its_span() {
    let collector = collector();
    let trace = [0xa1; 16];
    let mut request = tree(trace);
    request.resource_spans[0].scope_spans[0].spans[2].links[0].trace_id = vec![0; 16];
    request.resource_spans[0].scope_spans[0].spans[2].links[0].span_id = vec![0; 8];
    let response = protobuf_success(&protobuf(&collector, &request));
    assert_eq!(response.partial_success, None);
    assert_eq!(stored(&collector, trace).expect("stored").len(), 5);
}

/// OTLP/HTTP: "The response body for all HTTP 4xx and HTTP 5xx responses
/// MUST be a Protobuf-encoded Status message".
#[test]
fn an_oversized_body_is_answered_with_a_status() {
    let collector = collector();
    let answer = export_oversized(&collector, "application/x-protobuf", vec![0; 2 * MAX_BYTES]);
    assert_eq!(answer.status, 413);
    assert_eq!(protobuf_failure(&answer).code, 8, "RESOURCE_EXHAUSTED");
}

/// OTLP JSON is proto3's JSON mapping, where a double that is not finite is
/// the string "NaN", "Infinity" or "-Infinity".
#[test]
fn otlp_json_doubles_that_are_not_finite() {
    let collector = collector();
    let body = r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{
      "traceId": "5b8efff798038103d269b633813fc60d", "spanId": "eee19b7ec3c1b174",
      "name": "odd numbers",
      "attributes": [{"key": "nan", "value": {"doubleValue": "NaN"}},
                     {"key": "inf", "value": {"doubleValue": "Infinity"}}]
    }]}]}]}"#;
    let answer = export(&collector, "application/json", None, body.as_bytes());
    assert_eq!(answer.status, 200, "{answer:?}");
    let (_, trace) = collector.get("/api/traces/5b8efff798038103d269b633813fc60d");
    assert_eq!(trace["spans"][0]["attributes"]["nan"], Value::Null);
}
