//! What Dapple's fuzz targets share: a small store and the checks run on
//! it after an input was stored, one tokio runtime for the HTTP targets,
//! and the spans the query target serves (the seed generator writes them
//! too). Each target is in `fuzz_targets/`; README.md says how to run them.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dapple::{SpanId, TraceId};
use dapple_collector::dropped::DroppedSpans;
use dapple_collector::forward;
use dapple_collector::http::{Access, AppState};
use dapple_collector::ingest::limits::{
    LATEST_UNIX_NANOS, LimitedStore, MAX_KEY_BYTES, MAX_NAME_BYTES, MAX_VALUE_BYTES,
    MAX_VALUE_DEPTH,
};
use dapple_collector::ingest::otlp::OtlpIngest;
use dapple_collector::ingest::{DecodeBudget, NativeIngest};
use dapple_collector::span::{Attribute, Span, Value};
use dapple_collector::store::{Limits, MemoryStore, SpanFilter, Store};
use dapple_proto as proto;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tower::ServiceExt;

/// Spans a target's store keeps at most: enough for eviction to happen
/// within one input, small enough that no input makes much work.
pub const MAX_SPANS: usize = 64;

/// Bytes a target's store keeps at most, so the byte bound is exercised too.
pub const MAX_BYTES: u64 = 256 * 1024;

/// The largest native frame, and HTTP body, accepted: small, so that a
/// length prefix over it is easy to reach.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// The most spans a batch or request may hold, as the server is told
/// with `--max-batch-spans`: small, so that the refusal is reached.
pub const MAX_BATCH_SPANS: usize = 200;

/// A fresh store for one input, as the server builds it: a memory store
/// behind the span bounds (`ingest::limits::LimitedStore`). Every input
/// starts from nothing, so a crash reproduces from its input alone.
pub fn store() -> Arc<dyn Store> {
    let memory = MemoryStore::new(Limits {
        max_bytes: Some(MAX_BYTES),
        ..Limits::spans(MAX_SPANS)
    });
    Arc::new(LimitedStore::new(Arc::new(memory), Arc::default()))
}

/// Stores `spans` and checks that the store reads back consistently: within
/// its bounds, each span stored once and within the span bounds, found by
/// its trace (unless its whole trace was evicted), forwarded as an OTLP
/// request prost decodes, and every query answer within its filter and
/// order.
pub fn insert_and_check(store: &dyn Store, spans: Vec<Span>) {
    let ids: Vec<(TraceId, SpanId)> = spans.iter().map(|s| (s.trace_id, s.span_id)).collect();
    let first = spans
        .first()
        .map(|s| (s.service().to_string(), s.name.clone()));
    store.insert(spans).expect("a memory store never fails");

    let count = store.span_count().unwrap();
    assert!(
        count <= MAX_SPANS,
        "{count} spans kept, the bound is {MAX_SPANS}"
    );

    // Every trace, through the paging API; their spans add up to the count.
    let everything = SpanFilter {
        limit: usize::MAX,
        ..SpanFilter::default()
    };
    let keys = store.trace_keys(&everything, None).unwrap();
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "keys newest first, once each"
    );
    let mut stored = Vec::with_capacity(count);
    let mut deepest = 0;
    for &(key, trace_id) in &keys {
        let trace = store.trace(trace_id).unwrap();
        assert!(!trace.is_empty(), "a listed trace has spans");
        assert!(trace.iter().all(|s| s.trace_id == trace_id));
        assert_eq!(trace.iter().map(|s| s.start_unix_nanos).max(), Some(key));
        let unique: HashSet<SpanId> = trace.iter().map(|s| s.span_id).collect();
        assert_eq!(
            unique.len(),
            trace.len(),
            "a span id is stored once per trace"
        );
        for span in &trace {
            deepest = deepest.max(assert_within_bounds(span));
        }
        stored.extend(trace);
    }
    assert_eq!(stored.len(), count, "the traces hold every span counted");

    // What the store holds is what the server forwards (`ForwardingStore`
    // sits behind `LimitedStore`): a receiver decodes it, with prost as the
    // collector's own OTLP ingest does. Only nesting can make prost refuse
    // it (its recursion limit), and encoding every input's spans would take
    // most of the run: checked for values nested a few levels.
    if deepest >= 4 {
        let forwarded = forward::request(&stored).encode_to_vec();
        if let Err(e) = ExportTraceServiceRequest::decode(&forwarded[..]) {
            panic!("a forwarded request does not decode: {e}");
        }
    }

    // What was inserted is there, unless its whole trace was evicted.
    for (trace_id, span_id) in ids {
        let trace = store.trace(trace_id).unwrap();
        assert!(
            trace.is_empty() || trace.iter().any(|s| s.span_id == span_id),
            "span {span_id} of a kept trace {trace_id} is missing"
        );
    }

    // A filter from the first span: answers pass it, newest first, bounded.
    if let Some((service, name)) = first {
        let filter = SpanFilter {
            service: Some(service),
            name: Some(name.to_string()),
            limit: 5,
            ..SpanFilter::default()
        };
        let found = store.spans(&filter).unwrap();
        assert!(found.len() <= filter.limit);
        assert!(found.iter().all(|s| filter.matches(s)));
        assert!(
            found
                .windows(2)
                .all(|w| w[0].start_unix_nanos >= w[1].start_unix_nanos)
        );
        let keys = store.trace_keys(&filter, None).unwrap();
        assert!(keys.len() <= filter.limit);
    }

    let services = store.services().unwrap();
    assert!(
        services.windows(2).all(|w| w[0].0 < w[1].0),
        "services sorted"
    );
    assert!(
        services
            .iter()
            .all(|(_, names)| names.windows(2).all(|w| w[0] < w[1])),
        "span names sorted"
    );
}

/// Panics unless `span` is within the bounds `LimitedStore` applies; the
/// most arrays and maps one of its values is nested in.
pub fn assert_within_bounds(span: &Span) -> usize {
    let name = |text: &str| {
        assert!(
            text.len() <= MAX_NAME_BYTES,
            "a name of {} bytes",
            text.len()
        )
    };
    let value = |text: &str| {
        assert!(
            text.len() <= MAX_VALUE_BYTES,
            "a value of {} bytes",
            text.len()
        )
    };
    let time = |nanos: u64| assert!(nanos <= LATEST_UNIX_NANOS, "a time of {nanos}");
    name(&span.name);
    name(span.service());
    time(span.start_unix_nanos);
    time(span.end_unix_nanos);
    value(span.status_message());
    value(span.trace_state());
    let mut deepest = assert_attributes_within_bounds(&span.attributes, 0).max(
        assert_attributes_within_bounds(&span.resource.attributes, 0),
    );
    for event in span.events() {
        name(&event.name);
        time(event.unix_nanos);
        deepest = deepest.max(assert_attributes_within_bounds(&event.attributes, 0));
    }
    for link in span.links() {
        value(&link.trace_state);
        deepest = deepest.max(assert_attributes_within_bounds(&link.attributes, 0));
    }
    if let Some(scope) = &span.scope {
        name(&scope.name);
        name(&scope.version);
        deepest = deepest.max(assert_attributes_within_bounds(&scope.attributes, 0));
    }
    deepest
}

/// `depth`: the arrays and maps `attributes` are in; returns the most any
/// of their values is in.
fn assert_attributes_within_bounds(attributes: &[Attribute], depth: usize) -> usize {
    let mut deepest = depth;
    for attribute in attributes {
        assert!(
            attribute.key.len() <= MAX_KEY_BYTES,
            "a key of {} bytes",
            attribute.key.len()
        );
        if let Some(value) = &attribute.value {
            deepest = deepest.max(assert_value_within_bounds(value, depth));
        }
    }
    deepest
}

/// `depth`: the arrays and maps `value` is in; returns the most any value
/// within it is in.
fn assert_value_within_bounds(value: &Value, depth: usize) -> usize {
    match value {
        Value::String(text) => assert!(text.len() <= MAX_VALUE_BYTES),
        Value::Bytes(bytes) => assert!(bytes.len() <= MAX_VALUE_BYTES),
        Value::Array(values) => {
            assert!(
                depth < MAX_VALUE_DEPTH || values.is_empty(),
                "an array {depth} deep"
            );
            let inner = values.iter().flatten();
            return inner.fold(depth + 1, |deepest, value| {
                deepest.max(assert_value_within_bounds(value, depth + 1))
            });
        }
        Value::Map(entries) => {
            assert!(
                depth < MAX_VALUE_DEPTH || entries.is_empty(),
                "a map {depth} deep"
            );
            return assert_attributes_within_bounds(entries, depth + 1);
        }
        Value::Int(_) | Value::Double(_) | Value::Bool(_) => {}
    }
    depth
}

/// Whether two lists of spans are the same, field by field. Through their
/// `Debug` form: a NaN attribute is not equal to itself, yet the same.
pub fn same_spans(a: &[Span], b: &[Span]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// The current-thread runtime the HTTP targets run requests on, made once.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            // The store runs on the blocking pool: two threads are plenty
            // for one request at a time.
            .max_blocking_threads(2)
            .build()
            .expect("a tokio runtime")
    })
}

/// What `router` answers `request` with: its status and whole body.
pub fn respond(router: axum::Router, request: Request<Body>) -> (StatusCode, axum::body::Bytes) {
    runtime().block_on(async move {
        let response = router
            .oneshot(request)
            .await
            .expect("routers are infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a response body reads");
        (status, body)
    })
}

/// The query API's routes over `store`, as the server builds them (no
/// forwarding, nothing dropped, no tokens asked).
pub fn query_router(store: Arc<dyn Store>) -> axum::Router {
    let dropped: Arc<DroppedSpans> = Arc::default();
    let native = Arc::new(NativeIngest {
        store: store.clone(),
        dropped: dropped.clone(),
        tokens: None,
        max_frame_bytes: MAX_FRAME_BYTES,
        max_batch_spans: MAX_BATCH_SPANS,
        budget: Arc::new(DecodeBudget::new(DecodeBudget::DEFAULT_BYTES)),
        keeps: Default::default(),
    });
    let state = AppState {
        store,
        dropped,
        forwarders: Arc::new([]),
        ingest_counts: Arc::default(),
        native,
        tail: None,
    };
    dapple_collector::http::router(state, &Access::default())
}

/// The OTLP/HTTP routes into `store`, bodies of at most `max_bytes`, as the
/// server builds them (no tokens asked).
pub fn otlp_router(store: Arc<dyn Store>, max_bytes: usize) -> axum::Router {
    let budget = Arc::new(DecodeBudget::new(DecodeBudget::DEFAULT_BYTES));
    let ingest = Arc::new(OtlpIngest::new(store, budget, MAX_BATCH_SPANS));
    dapple_collector::http::otlp_router(ingest, max_bytes, &Access::default())
}

/// The trace ids of [`sample_batches`], for the query seeds.
pub const SAMPLE_TRACES: [u128; 3] = [
    0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
    0x0000_0000_0000_0001_0000_0000_0000_0000,
    0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
];

/// The services of [`sample_batches`], for the query seeds.
pub const SAMPLE_SERVICES: [&str; 3] = ["frontend", "checkout", "db"];

/// Three traces across three services, in the native wire form: a server
/// span calling a client span calling another service's server span, one
/// of them an error, with attributes of every type, an event and a link.
/// Their times are `now_unix_nanos` minus a few milliseconds, so that
/// windowed queries find them.
pub fn sample_batches(now_unix_nanos: u64) -> Vec<proto::Batch> {
    use proto::any_value::Value;
    let text = |key: &str, value: &str| proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
    };
    let value = |key: &str, value: Value| proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue { value: Some(value) }),
    };
    let resource = |service: &str| proto::Resource {
        service_name: service.into(),
        host: "fuzz-host".into(),
        pid: 4242,
        version: "1.2.3".into(),
        attributes: vec![text("deployment.environment", "fuzz")],
        dropped_attributes_count: 0,
    };
    let mut batches: Vec<proto::Batch> = SAMPLE_SERVICES
        .iter()
        .enumerate()
        .map(|(i, service)| proto::Batch {
            sequence: i as u64 + 1,
            spans: Vec::new(),
            dropped_spans: i as u64,
            resource: Some(resource(service)),
        })
        .collect();
    for (t, &trace) in SAMPLE_TRACES.iter().enumerate() {
        let trace_id = trace.to_be_bytes().to_vec();
        let start = now_unix_nanos - 50_000_000 + t as u64 * 1_000_000;
        let base = (t as u64 + 1) << 8;
        let span = |service: usize, id: u64, parent: u64, name: &str, kind: proto::SpanKind| {
            let depth = service as u64;
            proto::Span {
                trace_id: trace_id.clone(),
                span_id: base + id,
                parent_span_id: if parent == 0 { 0 } else { base + parent },
                name: name.into(),
                kind: kind as i32,
                start_unix_nanos: start + depth * 100_000,
                end_unix_nanos: start + 5_000_000 - depth * 100_000,
                status: (t == 2 && service == 2).then(|| proto::Status {
                    code: proto::StatusCode::Error as i32,
                    message: "deadlock".into(),
                }),
                attributes: vec![
                    text("http.route", "/checkout"),
                    value("http.status_code", Value::IntValue(200)),
                    value("retry", Value::BoolValue(t == 1)),
                    value("ratio", Value::DoubleValue(0.25)),
                    value("raw", Value::BytesValue(vec![0, 1, 2])),
                    value(
                        "list",
                        Value::ArrayValue(proto::ArrayValue {
                            values: vec![proto::AnyValue {
                                value: Some(Value::IntValue(1)),
                            }],
                        }),
                    ),
                    value(
                        "map",
                        Value::KvlistValue(proto::KeyValueList {
                            values: vec![text("k", "v")],
                        }),
                    ),
                ],
                events: vec![proto::Event {
                    name: "cache miss".into(),
                    unix_nanos: start + 1_000,
                    attributes: vec![text("key", "user:42")],
                    dropped_attributes_count: 0,
                }],
                links: vec![proto::Link {
                    trace_id: SAMPLE_TRACES[(t + 1) % 3].to_be_bytes().to_vec(),
                    span_id: 0x0102_0304_0506_0708,
                    trace_state: "congo=t61rcWkgMzE".into(),
                    attributes: Vec::new(),
                    flags: 1,
                    dropped_attributes_count: 0,
                }],
                trace_state: "rojo=00f067aa0ba902b7".into(),
                flags: 1,
                dropped_attributes_count: 0,
                dropped_events_count: 0,
                dropped_links_count: 0,
                scope: (service == 1).then(|| proto::Scope {
                    name: "dapple-fuzz".into(),
                    version: "0.0.0".into(),
                    attributes: Vec::new(),
                    dropped_attributes_count: 0,
                }),
                poll_times: (service == 2).then_some(proto::PollTimes {
                    busy_nanos: 1_000_000,
                    idle_nanos: 3_000_000,
                    polls: 2,
                }),
            }
        };
        batches[0]
            .spans
            .push(span(0, 1, 0, "GET /checkout", proto::SpanKind::Server));
        batches[0]
            .spans
            .push(span(0, 2, 1, "call checkout", proto::SpanKind::Client));
        batches[1]
            .spans
            .push(span(1, 3, 2, "checkout", proto::SpanKind::Server));
        batches[1]
            .spans
            .push(span(1, 4, 3, "query db", proto::SpanKind::Client));
        batches[2]
            .spans
            .push(span(2, 5, 4, "SELECT", proto::SpanKind::Server));
    }
    batches
}

/// [`sample_batches`] in the collector's form.
pub fn sample_spans(now_unix_nanos: u64) -> Vec<Span> {
    sample_batches(now_unix_nanos)
        .into_iter()
        .flat_map(|batch| {
            let resource = Arc::new(dapple_collector::ingest::convert::resource(batch.resource));
            dapple_collector::ingest::convert::spans(&resource, batch.spans)
        })
        .collect()
}
