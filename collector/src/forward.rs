//! Forwarding: everything the collector accepts, from any ingest, goes on
//! to other OTLP/HTTP endpoints (an OpenTelemetry Collector, Jaeger,
//! Tempo). Each endpoint has its own thread and a bounded queue; requests
//! are retried with backoff on 429, 502, 503, 504 (honouring `Retry-After`)
//! and lost connections, never on other answers; what is sent and what is
//! dropped is counted and shown at `GET /api/forwarding`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use dapple::TraceId;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1 as otlp;
use prost::Message;
use serde::Serialize;

use crate::span::{Attribute, Span, SpanKind, StatusCode, Value};
use crate::store::{Store, StoreError};

/// Spans sent in one request at most.
const REQUEST_SPANS: usize = 4096;
/// Spans waiting per endpoint at most; past it new spans are dropped.
pub const DEFAULT_QUEUE_SPANS: usize = 100_000;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// One endpoint spans are forwarded to.
pub struct Forwarder {
    url: String,
    queue: Mutex<Queue>,
    arrived: Condvar,
    max_queued: usize,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Default)]
struct Queue {
    batches: VecDeque<Arc<Vec<Span>>>,
    /// Spans of `batches` not yet taken (the first batch may be partly
    /// taken: `offset` of its spans are gone).
    spans: usize,
    offset: usize,
}

/// What an endpoint got so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwarderStats {
    /// Spans the endpoint accepted (and did not refuse in a partial success).
    pub forwarded: u64,
    /// Spans dropped: past the queue's bound, refused by the endpoint, or
    /// rejected in a partial success.
    pub dropped: u64,
    /// Spans waiting.
    pub queued: u64,
    /// The endpoint.
    pub url: String,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// Starts forwarding to `url` (the full OTLP/HTTP traces URL, `http://`)
    /// with `headers` on every request, at most `max_queued` spans waiting.
    pub fn start(
        url: String,
        headers: Vec<(String, String)>,
        max_queued: usize,
    ) -> std::io::Result<Arc<Forwarder>> {
        let forwarder = Arc::new(Forwarder {
            url,
            queue: Mutex::new(Queue::default()),
            arrived: Condvar::new(),
            max_queued: max_queued.max(1),
            forwarded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let running = forwarder.clone();
        std::thread::Builder::new()
            .name("dapple-forward".into())
            .spawn(move || running.run(&headers))?;
        Ok(forwarder)
    }

    /// What was sent and dropped so far.
    pub fn stats(&self) -> ForwarderStats {
        ForwarderStats {
            forwarded: self.forwarded.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queued: self.lock().spans as u64,
            url: self.url.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues spans the collector accepted; drops them (counted) when the
    /// queue is full. Never waits for the endpoint.
    pub fn offer(&self, spans: &Arc<Vec<Span>>) {
        let mut queue = self.lock();
        if queue.spans + spans.len() > self.max_queued {
            drop(queue);
            self.dropped
                .fetch_add(spans.len() as u64, Ordering::Relaxed);
            return;
        }
        queue.spans += spans.len();
        queue.batches.push_back(spans.clone());
        drop(queue);
        self.arrived.notify_one();
    }

    /// Takes up to [`REQUEST_SPANS`] spans, waiting for some.
    fn take(&self) -> Vec<Span> {
        let mut queue = self.lock();
        while queue.spans == 0 {
            queue = self.arrived.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
        let mut taken = Vec::new();
        while taken.len() < REQUEST_SPANS {
            let offset = queue.offset;
            let Some(front) = queue.batches.front().cloned() else {
                break;
            };
            let room = REQUEST_SPANS - taken.len();
            let end = front.len().min(offset + room);
            taken.extend_from_slice(&front[offset..end]);
            if end == front.len() {
                queue.batches.pop_front();
                queue.offset = 0;
            } else {
                queue.offset = end;
            }
        }
        queue.spans -= taken.len();
        taken
    }

    fn run(&self, headers: &[(String, String)]) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(2)))
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        loop {
            let spans = self.take();
            let count = spans.len() as u64;
            let body = request(&spans).encode_to_vec();
            drop(spans);
            let mut backoff = MIN_BACKOFF;
            loop {
                match post(&agent, &self.url, headers, &body) {
                    Outcome::Delivered { rejected } => {
                        let rejected = rejected.min(count);
                        self.forwarded
                            .fetch_add(count - rejected, Ordering::Relaxed);
                        self.dropped.fetch_add(rejected, Ordering::Relaxed);
                        break;
                    }
                    Outcome::Refused => {
                        self.dropped.fetch_add(count, Ordering::Relaxed);
                        break;
                    }
                    Outcome::Retry(asked) => {
                        let jitter = jitter(backoff);
                        let wait = asked.map_or(backoff + jitter, |asked| {
                            asked.min(MAX_RETRY_AFTER).max(backoff)
                        });
                        std::thread::sleep(wait);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    }
}

/// Up to a quarter of `backoff`, so that many collectors do not retry in
/// step.
fn jitter(backoff: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    Duration::from_millis(u64::from(nanos) % (backoff.as_millis() as u64 / 4 + 1))
}

enum Outcome {
    Delivered { rejected: u64 },
    Retry(Option<Duration>),
    Refused,
}

fn post(agent: &ureq::Agent, url: &str, headers: &[(String, String)], body: &[u8]) -> Outcome {
    let mut request = agent
        .post(url)
        .header("Content-Type", "application/x-protobuf");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = match request.send(body) {
        Ok(response) => response,
        Err(_) => return Outcome::Retry(None),
    };
    match response.status().as_u16() {
        200..=299 => {
            let answer = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_vec()
                .unwrap_or_default();
            let rejected = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
                answer.as_slice(),
            )
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_spans.max(0) as u64);
            Outcome::Delivered { rejected }
        }
        429 | 502 | 503 | 504 => Outcome::Retry(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_secs),
        ),
        _ => Outcome::Refused,
    }
}

/// The OTLP request for `spans`: one `ResourceSpans` per run of spans with
/// the same resource, one `ScopeSpans` per run with the same scope.
pub fn request(spans: &[Span]) -> ExportTraceServiceRequest {
    let mut request = ExportTraceServiceRequest::default();
    let mut last: Option<&Span> = None;
    for span in spans {
        let same_resource = last.is_some_and(|l| Arc::ptr_eq(&l.resource, &span.resource));
        if !same_resource {
            request.resource_spans.push(otlp::ResourceSpans {
                resource: Some(OtlpResource {
                    attributes: attributes(&span.resource.attributes),
                    dropped_attributes_count: span.resource.dropped_attributes,
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        let same_scope = same_resource
            && last.is_some_and(|l| match (&l.scope, &span.scope) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            });
        let resource_spans = request
            .resource_spans
            .last_mut()
            .expect("a resource was pushed");
        if !same_scope {
            resource_spans.scope_spans.push(otlp::ScopeSpans {
                scope: span.scope.as_ref().map(|scope| InstrumentationScope {
                    name: scope.name.clone(),
                    version: scope.version.clone(),
                    attributes: attributes(&scope.attributes),
                    dropped_attributes_count: scope.dropped_attributes,
                }),
                ..Default::default()
            });
        }
        let scope_spans = resource_spans
            .scope_spans
            .last_mut()
            .expect("a scope was pushed");
        scope_spans.spans.push(to_otlp(span));
        last = Some(span);
    }
    request
}

fn trace_bytes(id: TraceId) -> Vec<u8> {
    id.to_bytes().to_vec()
}

fn to_otlp(span: &Span) -> otlp::Span {
    otlp::Span {
        trace_id: trace_bytes(span.trace_id),
        span_id: span.span_id.to_u64().to_be_bytes().to_vec(),
        trace_state: span.trace_state().to_owned(),
        parent_span_id: span
            .parent_id
            .map_or_else(Vec::new, |p| p.to_u64().to_be_bytes().to_vec()),
        flags: span.flags,
        name: span.name.to_string(),
        kind: match span.kind {
            SpanKind::Internal => otlp::span::SpanKind::Internal,
            SpanKind::Server => otlp::span::SpanKind::Server,
            SpanKind::Client => otlp::span::SpanKind::Client,
            SpanKind::Producer => otlp::span::SpanKind::Producer,
            SpanKind::Consumer => otlp::span::SpanKind::Consumer,
        } as i32,
        start_time_unix_nano: span.start_unix_nanos,
        end_time_unix_nano: span.end_unix_nanos,
        attributes: attributes(&span.attributes),
        dropped_attributes_count: span.dropped().attributes,
        events: span
            .events()
            .iter()
            .map(|e| otlp::span::Event {
                time_unix_nano: e.unix_nanos,
                name: e.name.clone(),
                attributes: attributes(&e.attributes),
                dropped_attributes_count: e.dropped_attributes,
            })
            .collect(),
        dropped_events_count: span.dropped().events,
        links: span
            .links()
            .iter()
            .map(|l| otlp::span::Link {
                trace_id: trace_bytes(l.trace_id),
                span_id: l.span_id.to_u64().to_be_bytes().to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attributes(&l.attributes),
                dropped_attributes_count: l.dropped_attributes,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: span.dropped().links,
        status: (span.status != StatusCode::Unset || !span.status_message().is_empty()).then(
            || otlp::Status {
                message: span.status_message().to_owned(),
                code: match span.status {
                    StatusCode::Unset => otlp::status::StatusCode::Unset,
                    StatusCode::Ok => otlp::status::StatusCode::Ok,
                    StatusCode::Error => otlp::status::StatusCode::Error,
                } as i32,
            },
        ),
    }
}

fn attributes(attributes: &[Attribute]) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|a| KeyValue {
            key: a.key.to_string(),
            value: a.value.as_ref().map(value),
            ..Default::default()
        })
        .collect()
}

fn value(value: &Value) -> AnyValue {
    AnyValue {
        value: Some(match value {
            Value::String(s) => any_value::Value::StringValue(s.to_string()),
            Value::Int(i) => any_value::Value::IntValue(*i),
            Value::Double(f) => any_value::Value::DoubleValue(*f),
            Value::Bool(b) => any_value::Value::BoolValue(*b),
            Value::Bytes(b) => any_value::Value::BytesValue(b.clone()),
            Value::Array(values) => any_value::Value::ArrayValue(ArrayValue {
                values: values
                    .iter()
                    .map(|v| v.as_ref().map_or_else(AnyValue::default, self::value))
                    .collect(),
            }),
            Value::Map(pairs) => any_value::Value::KvlistValue(KeyValueList {
                values: attributes(pairs),
            }),
        }),
    }
}

/// A store that hands what it accepted to the forwarders.
pub struct ForwardingStore {
    inner: Arc<dyn Store>,
    forwarders: Vec<Arc<Forwarder>>,
}

impl std::fmt::Debug for ForwardingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardingStore")
            .field("forwarders", &self.forwarders)
            .finish_non_exhaustive()
    }
}

impl ForwardingStore {
    /// `inner`, forwarding to `forwarders`.
    pub fn new(inner: Arc<dyn Store>, forwarders: Vec<Arc<Forwarder>>) -> ForwardingStore {
        ForwardingStore { inner, forwarders }
    }
}

impl Store for ForwardingStore {
    fn insert(&self, spans: Vec<Span>) -> Result<usize, StoreError> {
        if self.forwarders.is_empty() {
            return self.inner.insert(spans);
        }
        let copy = Arc::new(spans.clone());
        let added = self.inner.insert(spans)?;
        for forwarder in &self.forwarders {
            forwarder.offer(&copy);
        }
        Ok(added)
    }

    crate::store::read_through!(inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::otlp::convert;
    use crate::span::{Dropped, Event, Link, Rare, Resource, Scope};

    /// Spans that went through OTLP ingest come back out as the same OTLP.
    #[test]
    fn forwarded_spans_convert_back_to_what_arrived() {
        let resource = Arc::new(Resource::of_service("shop"));
        let scope = Some(Arc::new(Scope {
            name: "lib".into(),
            version: "2".into(),
            attributes: Vec::new(),
            dropped_attributes: 1,
        }));
        let span = |id| Span {
            resource: resource.clone(),
            scope: scope.clone(),
            attributes: vec![Attribute {
                key: "a".into(),
                value: Some(Value::Array(vec![
                    Some(Value::Map(vec![Attribute {
                        key: "k".into(),
                        value: Some(Value::Bytes(vec![1])),
                    }])),
                    None,
                ])),
            }],
            flags: 0x101,
            rare: Rare {
                events: vec![Event {
                    name: "e".into(),
                    unix_nanos: 3,
                    attributes: Vec::new(),
                    dropped_attributes: 2,
                }],
                links: vec![Link {
                    trace_id: TraceId::from_bytes([9; 16]).unwrap(),
                    span_id: dapple::SpanId::new(4).unwrap(),
                    trace_state: "x=1".into(),
                    flags: 1,
                    attributes: Vec::new(),
                    dropped_attributes: 0,
                }],
                trace_state: "t=2".into(),
                dropped: Dropped {
                    attributes: 1,
                    events: 2,
                    links: 3,
                },
                ..Rare::default()
            }
            .boxed(),
            ..Span::example(7, id)
        };
        let spans = vec![span(1), span(2), Span::example(7, 3)];
        let request = request(&spans);
        assert_eq!(request.resource_spans.len(), 2, "two resources in a row");
        let back = convert(request);
        assert_eq!(back.rejected, 0);
        assert_eq!(back.spans.len(), 3);
        for (original, back) in spans.iter().zip(&back.spans) {
            assert_eq!(*original.resource, *back.resource);
            assert_eq!(original.scope, back.scope);
            let mut back = back.clone();
            back.resource = original.resource.clone();
            back.scope = original.scope.clone();
            assert_eq!(*original, back);
        }
    }
}
