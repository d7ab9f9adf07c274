//! `GET /api/traces/{trace_id}`: every span of one trace, as JSON.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use dapple::TraceId;
use serde::Serialize;

use super::{ApiError, AppState};
use crate::query;
use crate::span::{self, Attribute, Span, SpanKind, StatusCode, Value};

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
    duration_nanos: u64,
    end_unix_nanos: u64,
    events: Vec<EventJson>,
    kind: &'static str,
    links: Vec<LinkJson>,
    name: String,
    parent_id: Option<String>,
    service: String,
    span_id: String,
    start_unix_nanos: u64,
    status: StatusJson,
}

#[derive(Debug, Serialize)]
struct StatusJson {
    code: &'static str,
    message: String,
}

#[derive(Debug, Serialize)]
struct EventJson {
    attributes: Attributes,
    name: String,
    unix_nanos: u64,
}

#[derive(Debug, Serialize)]
struct LinkJson {
    span_id: String,
    trace_id: String,
}

/// Attributes as one object: keys sorted, the last value of a repeated key.
type Attributes = BTreeMap<String, ValueJson>;

/// An attribute's value: a JSON string, number or boolean, bytes as hex,
/// `null` when there is none.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ValueJson {
    Text(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Missing,
}

fn attributes(attributes: &[Attribute]) -> Attributes {
    attributes
        .iter()
        .map(|a| {
            let value = match &a.value {
                Some(Value::String(s)) => ValueJson::Text(s.clone()),
                Some(Value::Int(i)) => ValueJson::Int(*i),
                Some(Value::Double(f)) => ValueJson::Double(*f),
                Some(Value::Bool(b)) => ValueJson::Bool(*b),
                Some(Value::Bytes(b)) => ValueJson::Text(span::hex(b)),
                None => ValueJson::Missing,
            };
            (a.key.clone(), value)
        })
        .collect()
}

impl From<&Span> for SpanJson {
    fn from(span: &Span) -> SpanJson {
        SpanJson {
            attributes: attributes(&span.attributes),
            duration_nanos: span.duration_nanos(),
            end_unix_nanos: span.end_unix_nanos,
            events: span
                .events
                .iter()
                .map(|e| EventJson {
                    attributes: attributes(&e.attributes),
                    name: e.name.clone(),
                    unix_nanos: e.unix_nanos,
                })
                .collect(),
            kind: match span.kind {
                SpanKind::Internal => "internal",
                SpanKind::Server => "server",
                SpanKind::Client => "client",
                SpanKind::Producer => "producer",
                SpanKind::Consumer => "consumer",
            },
            links: span
                .links
                .iter()
                .map(|l| LinkJson {
                    span_id: l.span_id.to_string(),
                    trace_id: l.trace_id.to_string(),
                })
                .collect(),
            name: span.name.clone(),
            parent_id: span.parent_id.map(|id| id.to_string()),
            service: span.service.to_string(),
            span_id: span.span_id.to_string(),
            start_unix_nanos: span.start_unix_nanos,
            status: StatusJson {
                code: match span.status.code {
                    StatusCode::Unset => "unset",
                    StatusCode::Ok => "ok",
                    StatusCode::Error => "error",
                },
                message: span.status.message.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Event, Link};

    #[test]
    fn a_span_is_written_with_every_field_in_the_api_s_order() {
        let value = |v| Some(v);
        let span = Span {
            parent_id: dapple::SpanId::new(1),
            status: crate::span::Status {
                code: StatusCode::Error,
                message: "boom".into(),
            },
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
            ],
            events: vec![Event {
                name: "retry".into(),
                unix_nanos: 7,
                attributes: Vec::new(),
            }],
            links: vec![Link {
                trace_id: TraceId::from_bytes([8; 16]).unwrap(),
                span_id: dapple::SpanId::new(9).unwrap(),
            }],
            ..Span::example(7, 2)
        };
        assert_eq!(
            serde_json::to_string(&SpanJson::from(&span)).unwrap(),
            concat!(
                r#"{"attributes":{"a":"ab01","b":true,"m":null,"n":null,"z":1.5},"#,
                r#""duration_nanos":20,"end_unix_nanos":25,"#,
                r#""events":[{"attributes":{},"name":"retry","unix_nanos":7}],"kind":"client","#,
                r#""links":[{"span_id":"0000000000000009","trace_id":"08080808080808080808080808080808"}],"#,
                r#""name":"s2","parent_id":"0000000000000001","service":"a","span_id":"0000000000000002","#,
                r#""start_unix_nanos":5,"status":{"code":"error","message":"boom"}}"#
            )
        );
    }
}
