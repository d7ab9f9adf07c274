//! OpenTelemetry's OTLP trace messages in the collector's form: every
//! resource, scope, span, event and link field, and every `AnyValue` type.
//! Both OTLP ingests (HTTP and gRPC) convert here.

use std::sync::Arc;

use dapple::{SpanId, TraceId};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1 as otlp;

use super::DecodeBudget;
use crate::span::{
    Attribute, Dropped, Event, Link, Rare, Resource, Scope, Span, SpanKind, StatusCode, Value,
};
use crate::store::Store;

/// Seconds a refused client is told to wait before it retries.
const RETRY_AFTER_SECONDS: u64 = 1;

/// Stores the spans of OTLP export requests, from either OTLP ingest.
#[derive(Debug)]
pub struct OtlpIngest {
    store: Arc<dyn Store>,
    budget: Arc<DecodeBudget>,
    max_spans: usize,
}

/// What a stored request brought.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Spans stored (new to the store or not).
    pub spans: usize,
    /// Spans refused for invalid ids.
    pub rejected: u64,
    /// Why the first refused span was refused.
    pub reason: Option<String>,
}

/// Why a request was not stored.
#[derive(Debug)]
pub enum Refused<E> {
    /// Its body could not be read.
    Body(E),
    /// Other requests are being decoded and stored: retry after this many
    /// seconds.
    Overloaded {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Decoding it would take more memory than the collector gives all
    /// requests together.
    TooLarge,
    /// It holds more spans than a request may.
    TooManySpans(usize),
    /// The store failed (the cause is logged).
    Store,
}

impl OtlpIngest {
    /// Ingest into `store`, requests decoded within `budget`, at most
    /// `max_spans` spans each.
    pub fn new(store: Arc<dyn Store>, budget: Arc<DecodeBudget>, max_spans: usize) -> OtlpIngest {
        OtlpIngest {
            store,
            budget,
            max_spans,
        }
    }

    /// Decodes a request of `size` bytes with `decode` and stores its
    /// spans, both on the blocking pool (off the async workers); refuses at
    /// once when the decode budget is spent for now, rather than queueing.
    pub async fn export<E: Send + 'static>(
        &self,
        size: usize,
        decode: impl FnOnce() -> Result<ExportTraceServiceRequest, E> + Send + 'static,
    ) -> Result<Accepted, Refused<E>> {
        let share = match self.budget.try_reserve(DecodeBudget::otlp(size)) {
            Ok(share) => share,
            Err(true) => return Err(Refused::TooLarge),
            Err(false) => {
                return Err(Refused::Overloaded {
                    retry_after: RETRY_AFTER_SECONDS,
                });
            }
        };
        let store = self.store.clone();
        let max_spans = self.max_spans;
        let stored = tokio::task::spawn_blocking(move || {
            let _share = share;
            let request = decode().map_err(Refused::Body)?;
            let count: usize = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            if count > max_spans {
                return Err(Refused::TooManySpans(max_spans));
            }
            let converted = convert(request);
            let spans = converted.spans.len();
            store.insert(converted.spans).map_err(|e| {
                crate::log::error(format_args!("storing OTLP spans failed: {e}"));
                Refused::Store
            })?;
            Ok(Accepted {
                spans,
                rejected: converted.rejected,
                reason: converted.reason,
            })
        })
        .await;
        stored.unwrap_or(Err(Refused::Store))
    }
}

/// The spans of one export request, and those refused.
#[derive(Debug, Default)]
pub struct Converted {
    /// Spans with valid ids, in the collector's form.
    pub spans: Vec<Span>,
    /// Spans refused for invalid ids.
    pub rejected: u64,
    /// Why the first refused span was refused.
    pub reason: Option<String>,
}

/// Every span of `request`; spans whose ids are not valid are counted in
/// [`Converted::rejected`], not stored.
pub fn convert(request: ExportTraceServiceRequest) -> Converted {
    let mut converted = Converted::default();
    let total: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    converted.spans.reserve(total);
    for resource_spans in request.resource_spans {
        let resource = Arc::new(match resource_spans.resource {
            Some(resource) => Resource::new(
                attributes(resource.attributes),
                resource.dropped_attributes_count,
            ),
            None => Resource::new(Vec::new(), 0),
        });
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans.scope.map(|scope| {
                Arc::new(Scope {
                    name: scope.name,
                    version: scope.version,
                    attributes: attributes(scope.attributes),
                    dropped_attributes: scope.dropped_attributes_count,
                })
            });
            for span in scope_spans.spans {
                match span_from_otlp(&resource, &scope, span) {
                    Ok(span) => converted.spans.push(span),
                    Err(reason) => {
                        converted.rejected += 1;
                        converted.reason.get_or_insert(reason);
                    }
                }
            }
        }
    }
    converted
}

fn trace_id(bytes: &[u8], what: &str) -> Result<TraceId, String> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| format!("{what} has {} bytes, not 16", bytes.len()))?;
    TraceId::from_bytes(bytes).ok_or_else(|| format!("{what} is all zeros"))
}

fn span_id(bytes: &[u8], what: &str) -> Result<SpanId, String> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| format!("{what} has {} bytes, not 8", bytes.len()))?;
    SpanId::new(u64::from_be_bytes(bytes)).ok_or_else(|| format!("{what} is all zeros"))
}

fn span_from_otlp(
    resource: &Arc<Resource>,
    scope: &Option<Arc<Scope>>,
    span: otlp::Span,
) -> Result<Span, String> {
    let trace = trace_id(&span.trace_id, "a span's trace_id")?;
    let id = span_id(&span.span_id, "a span's span_id")?;
    // Empty or all zeros: a root.
    let parent = match span.parent_span_id.as_slice() {
        [] => None,
        bytes if bytes.iter().all(|b| *b == 0) => None,
        bytes => Some(span_id(bytes, "a span's parent_span_id")?),
    };
    let kind = match otlp::span::SpanKind::try_from(span.kind) {
        Ok(otlp::span::SpanKind::Server) => SpanKind::Server,
        Ok(otlp::span::SpanKind::Client) => SpanKind::Client,
        Ok(otlp::span::SpanKind::Producer) => SpanKind::Producer,
        Ok(otlp::span::SpanKind::Consumer) => SpanKind::Consumer,
        // Unspecified and unknown kinds read as internal, as the SDKs'
        // default.
        Ok(otlp::span::SpanKind::Internal | otlp::span::SpanKind::Unspecified) | Err(_) => {
            SpanKind::Internal
        }
    };
    let (status, status_message) = span.status.map_or_else(Default::default, |status| {
        let code = match otlp::status::StatusCode::try_from(status.code) {
            Ok(otlp::status::StatusCode::Ok) => StatusCode::Ok,
            Ok(otlp::status::StatusCode::Error) => StatusCode::Error,
            Ok(otlp::status::StatusCode::Unset) | Err(_) => StatusCode::Unset,
        };
        (code, status.message)
    });
    // A link to an invalid context (SDKs record them when they carry
    // attributes) leads nowhere: it is left out and counted as dropped,
    // as the native ingest does, rather than costing its span.
    let mut links = Vec::with_capacity(span.links.len());
    let mut invalid_links = 0;
    for link in span.links {
        let (Ok(trace_id), Ok(span_id)) = (
            trace_id(&link.trace_id, "a link's trace_id"),
            span_id(&link.span_id, "a link's span_id"),
        ) else {
            invalid_links += 1;
            continue;
        };
        links.push(Link {
            trace_id,
            span_id,
            trace_state: link.trace_state,
            flags: link.flags,
            attributes: attributes(link.attributes),
            dropped_attributes: link.dropped_attributes_count,
        });
    }
    Ok(Span {
        trace_id: trace,
        span_id: id,
        parent_id: parent,
        resource: resource.clone(),
        scope: scope.clone(),
        name: span.name.into(),
        kind,
        status,
        start_unix_nanos: span.start_time_unix_nano,
        end_unix_nanos: span.end_time_unix_nano,
        attributes: attributes(span.attributes),
        flags: span.flags,
        rare: Rare {
            status_message,
            events: span
                .events
                .into_iter()
                .map(|event| Event {
                    name: event.name,
                    unix_nanos: event.time_unix_nano,
                    attributes: attributes(event.attributes),
                    dropped_attributes: event.dropped_attributes_count,
                })
                .collect(),
            links,
            trace_state: span.trace_state,
            dropped: Dropped {
                attributes: span.dropped_attributes_count,
                events: span.dropped_events_count,
                links: span.dropped_links_count.saturating_add(invalid_links),
            },
        }
        .boxed(),
    })
}

/// OTLP attributes in the collector's form.
pub fn attributes(attributes: Vec<KeyValue>) -> Vec<Attribute> {
    attributes
        .into_iter()
        .map(|kv| Attribute {
            key: kv.key.into(),
            value: kv.value.and_then(value),
        })
        .collect()
}

/// An `AnyValue`; `None` when it is empty (or a string-table index, which
/// only profiles use).
fn value(value: AnyValue) -> Option<Value> {
    Some(match value.value? {
        any_value::Value::StringValue(s) => Value::String(s.into()),
        any_value::Value::BoolValue(b) => Value::Bool(b),
        any_value::Value::IntValue(i) => Value::Int(i),
        any_value::Value::DoubleValue(f) => Value::Double(f),
        any_value::Value::BytesValue(b) => Value::Bytes(b),
        any_value::Value::ArrayValue(array) => {
            Value::Array(array.values.into_iter().map(self::value).collect())
        }
        any_value::Value::KvlistValue(list) => Value::Map(attributes(list.values)),
        any_value::Value::StringValueStrindex(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;

    use super::*;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn request(spans: Vec<otlp::Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![otlp::ResourceSpans {
                resource: Some(OtlpResource {
                    attributes: vec![
                        kv("service.name", any_value::Value::StringValue("shop".into())),
                        kv("host.cores", any_value::Value::IntValue(8)),
                    ],
                    dropped_attributes_count: 1,
                    ..Default::default()
                }),
                scope_spans: vec![otlp::ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "1.0".into(),
                        attributes: vec![kv("a", any_value::Value::BoolValue(true))],
                        dropped_attributes_count: 2,
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn span(id: u8, parent: &[u8]) -> otlp::Span {
        otlp::Span {
            trace_id: vec![1; 16],
            span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
            parent_span_id: parent.to_vec(),
            trace_state: "k=v".into(),
            flags: 0x301,
            name: format!("op{id}"),
            kind: otlp::span::SpanKind::Consumer as i32,
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            attributes: vec![
                kv(
                    "list",
                    any_value::Value::ArrayValue(ArrayValue {
                        values: vec![
                            AnyValue {
                                value: Some(any_value::Value::DoubleValue(0.5)),
                            },
                            AnyValue::default(),
                        ],
                    }),
                ),
                kv(
                    "map",
                    any_value::Value::KvlistValue(KeyValueList {
                        values: vec![kv("b", any_value::Value::BytesValue(vec![9]))],
                    }),
                ),
            ],
            dropped_attributes_count: 3,
            events: vec![otlp::span::Event {
                time_unix_nano: 15,
                name: "e".into(),
                attributes: vec![kv("n", any_value::Value::IntValue(-1))],
                dropped_attributes_count: 4,
            }],
            dropped_events_count: 5,
            links: vec![otlp::span::Link {
                trace_id: vec![2; 16],
                span_id: vec![0, 0, 0, 0, 0, 0, 0, 3],
                trace_state: "l=1".into(),
                attributes: vec![kv("why", any_value::Value::StringValue("batch".into()))],
                dropped_attributes_count: 6,
                flags: 1,
            }],
            dropped_links_count: 7,
            status: Some(otlp::Status {
                message: "bad".into(),
                code: otlp::status::StatusCode::Error as i32,
            }),
        }
    }

    #[test]
    fn every_field_of_a_span_is_kept() {
        let converted = convert(request(vec![span(2, &[0, 0, 0, 0, 0, 0, 0, 1])]));
        assert_eq!((converted.spans.len(), converted.rejected), (1, 0));
        let s = &converted.spans[0];
        assert_eq!(s.service(), "shop");
        assert_eq!(s.resource.attributes.len(), 2);
        assert_eq!(s.resource.dropped_attributes, 1);
        let scope = s.scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("lib", "1.0")
        );
        assert_eq!(scope.dropped_attributes, 2);
        assert_eq!(s.parent_id, SpanId::new(1));
        assert_eq!(s.kind, SpanKind::Consumer);
        assert_eq!((s.trace_state(), s.flags), ("k=v", 0x301));
        assert_eq!(
            s.dropped(),
            Dropped {
                attributes: 3,
                events: 5,
                links: 7
            }
        );
        assert_eq!(
            s.attributes[0].value,
            Some(Value::Array(vec![Some(Value::Double(0.5)), None]))
        );
        assert_eq!(
            s.attributes[1].value,
            Some(Value::Map(vec![Attribute {
                key: "b".into(),
                value: Some(Value::Bytes(vec![9])),
            }]))
        );
        assert_eq!(s.events()[0].dropped_attributes, 4);
        assert_eq!(s.links()[0].trace_state, "l=1");
        assert_eq!(s.links()[0].dropped_attributes, 6);
        assert_eq!(s.status, StatusCode::Error);
        assert_eq!(s.status_message(), "bad");
    }

    #[test]
    fn spans_with_invalid_ids_are_counted_and_the_rest_kept() {
        let mut bad_trace = span(3, &[]);
        bad_trace.trace_id = vec![0; 16];
        let mut short_id = span(4, &[]);
        short_id.span_id = vec![1, 2];
        let converted = convert(request(vec![span(2, &[]), bad_trace, short_id]));
        assert_eq!(converted.spans.len(), 1);
        assert_eq!(converted.spans[0].parent_id, None);
        assert_eq!(converted.rejected, 2);
        assert_eq!(
            converted.reason.as_deref(),
            Some("a span's trace_id is all zeros")
        );
    }

    #[test]
    fn a_resource_without_a_service_name_is_an_unknown_service() {
        let mut request = request(vec![span(2, &[])]);
        request.resource_spans[0].resource = None;
        let converted = convert(request);
        assert_eq!(converted.spans[0].service(), Resource::UNKNOWN_SERVICE);
    }
}
