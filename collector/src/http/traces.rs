//! `GET /api/traces/{trace_id}`: every span of one trace, as JSON.

use axum::Json;
use axum::extract::{Path, State};
use dapple::TraceId;
use serde::Serialize;

use super::{ApiError, AppState};
use crate::query;
use crate::span::{self, Span, SpanKind, StatusCode};

pub(super) async fn get_trace(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
) -> Result<Json<TraceResponse>, ApiError> {
    let id: TraceId = trace_id
        .parse()
        .map_err(|e| ApiError::bad_parameter("trace_id", format!("{trace_id:?}: {e}")))?;
    let spans = state
        .with_store(move |store| query::trace::trace(store, id))
        .await?;
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!("no trace {id}")));
    }
    Ok(Json(TraceResponse {
        spans: spans.iter().map(SpanJson::from).collect(),
        trace_id: id.to_string(),
    }))
}

// The API has always written object keys in alphabetical order: every
// response type declares its fields in that order.

/// One trace.
#[derive(Debug, Serialize)]
pub(super) struct TraceResponse {
    spans: Vec<SpanJson>,
    trace_id: String,
}

/// A span as the API shows it.
#[derive(Debug, Serialize)]
struct SpanJson {
    attributes: Attributes,
    dropped: DroppedJson,
    duration_nanos: u64,
    end_unix_nanos: u64,
    events: Vec<EventJson>,
    flags: u32,
    kind: &'static str,
    links: Vec<LinkJson>,
    name: String,
    parent_id: Option<String>,
    resource: ResourceJson,
    scope: Option<ScopeJson>,
    service: String,
    span_id: String,
    start_unix_nanos: u64,
    status: StatusJson,
    trace_state: String,
}

/// What the sender dropped from a span.
#[derive(Debug, Serialize)]
struct DroppedJson {
    attributes: u32,
    events: u32,
    links: u32,
}

#[derive(Debug, Serialize)]
struct ResourceJson {
    attributes: Attributes,
    dropped_attributes: u32,
}

#[derive(Debug, Serialize)]
struct ScopeJson {
    attributes: Attributes,
    dropped_attributes: u32,
    name: String,
    version: String,
}

#[derive(Debug, Serialize)]
struct StatusJson {
    code: &'static str,
    message: String,
}

#[derive(Debug, Serialize)]
struct EventJson {
    attributes: Attributes,
    dropped_attributes: u32,
    name: String,
    unix_nanos: u64,
}

#[derive(Debug, Serialize)]
struct LinkJson {
    attributes: Attributes,
    dropped_attributes: u32,
    flags: u32,
    span_id: String,
    trace_id: String,
    trace_state: String,
}

/// Attributes as one object: keys sorted, the last value of a repeated key;
/// values as [`crate::span::Value::to_json`] writes them (`null` when there
/// is none).
type Attributes = serde_json::Map<String, serde_json::Value>;

impl From<&Span> for SpanJson {
    fn from(span: &Span) -> SpanJson {
        let attributes = span::attributes_json;
        SpanJson {
            attributes: attributes(&span.attributes),
            dropped: DroppedJson {
                attributes: span.dropped().attributes,
                events: span.dropped().events,
                links: span.dropped().links,
            },
            duration_nanos: span.duration_nanos(),
            end_unix_nanos: span.end_unix_nanos,
            events: span
                .events()
                .iter()
                .map(|e| EventJson {
                    attributes: attributes(&e.attributes),
                    dropped_attributes: e.dropped_attributes,
                    name: e.name.clone(),
                    unix_nanos: e.unix_nanos,
                })
                .collect(),
            flags: span.flags,
            kind: match span.kind {
                SpanKind::Internal => "internal",
                SpanKind::Server => "server",
                SpanKind::Client => "client",
                SpanKind::Producer => "producer",
                SpanKind::Consumer => "consumer",
            },
            links: span
                .links()
                .iter()
                .map(|l| LinkJson {
                    attributes: attributes(&l.attributes),
                    dropped_attributes: l.dropped_attributes,
                    flags: l.flags,
                    span_id: l.span_id.to_string(),
                    trace_id: l.trace_id.to_string(),
                    trace_state: l.trace_state.clone(),
                })
                .collect(),
            name: span.name.to_string(),
            parent_id: span.parent_id.map(|id| id.to_string()),
            resource: ResourceJson {
                attributes: attributes(&span.resource.attributes),
                dropped_attributes: span.resource.dropped_attributes,
            },
            scope: span.scope.as_ref().map(|scope| ScopeJson {
                attributes: attributes(&scope.attributes),
                dropped_attributes: scope.dropped_attributes,
                name: scope.name.clone(),
                version: scope.version.clone(),
            }),
            service: span.service().to_string(),
            span_id: span.span_id.to_string(),
            start_unix_nanos: span.start_unix_nanos,
            status: StatusJson {
                code: match span.status {
                    StatusCode::Unset => "unset",
                    StatusCode::Ok => "ok",
                    StatusCode::Error => "error",
                },
                message: span.status_message().to_owned(),
            },
            trace_state: span.trace_state().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Attribute, Event, Link, Rare, Value};

    #[test]
    fn a_span_is_written_with_every_field_in_the_api_s_order() {
        let value = |v| Some(v);
        let span = Span {
            parent_id: dapple::SpanId::new(1),
            status: StatusCode::Error,
            kind: SpanKind::Client,
            end_unix_nanos: 25,
            start_unix_nanos: 5,
            attributes: vec![
                Attribute {
                    key: "z".into(),
                    value: value(Value::Int(1)),
                },
                Attribute {
                    key: "a".into(),
                    value: value(Value::Bytes(vec![0xab, 1])),
                },
                Attribute {
                    key: "z".into(),
                    value: value(Value::Double(1.5)),
                },
                Attribute {
                    key: "n".into(),
                    value: value(Value::Double(f64::NAN)),
                },
                Attribute {
                    key: "m".into(),
                    value: None,
                },
                Attribute {
                    key: "b".into(),
                    value: value(Value::Bool(true)),
                },
                Attribute {
                    key: "l".into(),
                    value: value(Value::Array(vec![
                        Some(Value::Int(1)),
                        None,
                        Some(Value::Map(vec![Attribute {
                            key: "k".into(),
                            value: value(Value::String("v".into())),
                        }])),
                    ])),
                },
            ],
            flags: 1,
            rare: Rare {
                status_message: "boom".into(),
                events: vec![Event {
                    name: "retry".into(),
                    unix_nanos: 7,
                    attributes: Vec::new(),
                    dropped_attributes: 1,
                }],
                links: vec![Link {
                    trace_id: TraceId::from_bytes([8; 16]).unwrap(),
                    span_id: dapple::SpanId::new(9).unwrap(),
                    trace_state: "k=v".into(),
                    flags: 1,
                    attributes: Vec::new(),
                    dropped_attributes: 0,
                }],
                trace_state: "t=1".into(),
                ..Rare::default()
            }
            .boxed(),
            ..Span::example(7, 2)
        };
        assert_eq!(
            serde_json::to_string(&SpanJson::from(&span)).unwrap(),
            concat!(
                r#"{"attributes":{"a":"ab01","b":true,"l":[1,null,{"k":"v"}],"m":null,"n":null,"z":1.5},"#,
                r#""dropped":{"attributes":0,"events":0,"links":0},"#,
                r#""duration_nanos":20,"end_unix_nanos":25,"#,
                r#""events":[{"attributes":{},"dropped_attributes":1,"name":"retry","unix_nanos":7}],"#,
                r#""flags":1,"kind":"client","#,
                r#""links":[{"attributes":{},"dropped_attributes":0,"flags":1,"#,
                r#""span_id":"0000000000000009","trace_id":"08080808080808080808080808080808","trace_state":"k=v"}],"#,
                r#""name":"s2","parent_id":"0000000000000001","#,
                r#""resource":{"attributes":{"service.name":"a"},"dropped_attributes":0},"scope":null,"#,
                r#""service":"a","span_id":"0000000000000002","#,
                r#""start_unix_nanos":5,"status":{"code":"error","message":"boom"},"trace_state":"t=1"}"#
            )
        );
    }
}
