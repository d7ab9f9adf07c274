//! The one place the wire form of a span (`dapple_proto::Span`) meets the
//! collector's own ([`crate::span::Span`]): ingest converts what arrives,
//! and the SQLite store keeps its span bodies in the wire encoding (so its
//! files stay readable across versions) through [`encode`] and [`decode`].

use std::sync::Arc;

use dapple::{SpanId, TraceId};
use dapple_proto::{self as proto, any_value};
use prost::Message;

use crate::span::{Attribute, Event, Link, Span, SpanKind, Status, StatusCode, Value};

/// The spans of one batch from `service`; spans without a valid trace and
/// span id are left out, as nothing could find them again.
pub fn spans(service: &Arc<str>, spans: Vec<proto::Span>) -> Vec<Span> {
    let mut converted = Vec::with_capacity(spans.len());
    converted.extend(
        spans
            .into_iter()
            .filter_map(|span| span_from_wire(service, span)),
    );
    converted
}

/// A wire span sent by `service`, or `None` when its ids are not valid.
pub fn span_from_wire(service: &Arc<str>, span: proto::Span) -> Option<Span> {
    let trace_id = valid_trace_id(&span.trace_id)?;
    let span_id = SpanId::new(span.span_id)?;
    let kind = match proto::SpanKind::try_from(span.kind) {
        Ok(proto::SpanKind::Server) => SpanKind::Server,
        Ok(proto::SpanKind::Client) => SpanKind::Client,
        Ok(proto::SpanKind::Producer) => SpanKind::Producer,
        Ok(proto::SpanKind::Consumer) => SpanKind::Consumer,
        Ok(proto::SpanKind::Internal) | Err(_) => SpanKind::Internal,
    };
    let status = span
        .status
        .map(|status| Status {
            code: match proto::StatusCode::try_from(status.code) {
                Ok(proto::StatusCode::Ok) => StatusCode::Ok,
                Ok(proto::StatusCode::Error) => StatusCode::Error,
                Ok(proto::StatusCode::Unset) | Err(_) => StatusCode::Unset,
            },
            message: status.message,
        })
        .unwrap_or_default();
    Some(Span {
        trace_id,
        span_id,
        parent_id: SpanId::new(span.parent_span_id),
        service: service.clone(),
        name: span.name,
        kind,
        start_unix_nanos: span.start_unix_nanos,
        end_unix_nanos: span.end_unix_nanos,
        status,
        attributes: attributes(span.attributes),
        events: span
            .events
            .into_iter()
            .map(|event| Event {
                name: event.name,
                unix_nanos: event.unix_nanos,
                attributes: attributes(event.attributes),
            })
            .collect(),
        // A link that names no valid span leads nowhere.
        links: span
            .links
            .into_iter()
            .filter_map(|link| {
                Some(Link {
                    trace_id: valid_trace_id(&link.trace_id)?,
                    span_id: SpanId::new(link.span_id)?,
                })
            })
            .collect(),
    })
}

fn valid_trace_id(bytes: &[u8]) -> Option<TraceId> {
    TraceId::from_bytes(bytes.try_into().ok()?)
}

fn attributes(attributes: Vec<proto::KeyValue>) -> Vec<Attribute> {
    attributes
        .into_iter()
        .map(|kv| Attribute {
            key: kv.key,
            value: kv.value.and_then(|v| v.value).map(|v| match v {
                any_value::Value::StringValue(s) => Value::String(s),
                any_value::Value::IntValue(i) => Value::Int(i),
                any_value::Value::DoubleValue(f) => Value::Double(f),
                any_value::Value::BoolValue(b) => Value::Bool(b),
                any_value::Value::BytesValue(b) => Value::Bytes(b),
            }),
        })
        .collect()
}

/// The wire form of a span (without its service, which is not part of it).
fn span_to_wire(span: &Span) -> proto::Span {
    let attributes = |attributes: &[Attribute]| -> Vec<proto::KeyValue> {
        attributes
            .iter()
            .map(|a| proto::KeyValue {
                key: a.key.clone(),
                value: a.value.as_ref().map(|v| proto::AnyValue {
                    value: Some(match v {
                        Value::String(s) => any_value::Value::StringValue(s.clone()),
                        Value::Int(i) => any_value::Value::IntValue(*i),
                        Value::Double(f) => any_value::Value::DoubleValue(*f),
                        Value::Bool(b) => any_value::Value::BoolValue(*b),
                        Value::Bytes(b) => any_value::Value::BytesValue(b.clone()),
                    }),
                }),
            })
            .collect()
    };
    let kind = match span.kind {
        SpanKind::Internal => proto::SpanKind::Internal,
        SpanKind::Server => proto::SpanKind::Server,
        SpanKind::Client => proto::SpanKind::Client,
        SpanKind::Producer => proto::SpanKind::Producer,
        SpanKind::Consumer => proto::SpanKind::Consumer,
    };
    let code = match span.status.code {
        StatusCode::Unset => proto::StatusCode::Unset,
        StatusCode::Ok => proto::StatusCode::Ok,
        StatusCode::Error => proto::StatusCode::Error,
    };
    let unset = span.status == Status::default();
    proto::Span {
        trace_id: span.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.to_u64(),
        parent_span_id: span.parent_id.map_or(0, SpanId::to_u64),
        name: span.name.clone(),
        kind: kind as i32,
        start_unix_nanos: span.start_unix_nanos,
        end_unix_nanos: span.end_unix_nanos,
        status: (!unset).then(|| proto::Status {
            code: code as i32,
            message: span.status.message.clone(),
        }),
        attributes: attributes(&span.attributes),
        events: span
            .events
            .iter()
            .map(|e| proto::Event {
                name: e.name.clone(),
                unix_nanos: e.unix_nanos,
                attributes: attributes(&e.attributes),
            })
            .collect(),
        links: span
            .links
            .iter()
            .map(|l| proto::Link {
                trace_id: l.trace_id.to_bytes().to_vec(),
                span_id: l.span_id.to_u64(),
            })
            .collect(),
    }
}

/// A span's body as the SQLite store keeps it: the wire encoding, written
/// over `body`.
pub(crate) fn encode(span: &Span, body: &mut Vec<u8>) {
    body.clear();
    span_to_wire(span).encode(body).expect("a Vec grows to fit");
}

/// Why a stored body cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a wire span.
    #[error("not a wire span")]
    Body(#[from] prost::DecodeError),
    /// The span's ids are not valid.
    #[error("the span has no valid trace and span id")]
    Ids,
}

/// A body [`encode`] made, with the service stored beside it.
pub(crate) fn decode(service: &Arc<str>, body: &[u8]) -> Result<Span, DecodeError> {
    let wire = proto::Span::decode(body)?;
    span_from_wire(service, wire).ok_or(DecodeError::Ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> proto::Span {
        let value = |v| Some(proto::AnyValue { value: Some(v) });
        proto::Span {
            trace_id: vec![7; 16],
            span_id: 2,
            parent_span_id: 1,
            name: "GET /".into(),
            kind: proto::SpanKind::Server as i32,
            start_unix_nanos: 10,
            end_unix_nanos: 30,
            status: Some(proto::Status {
                code: proto::StatusCode::Error as i32,
                message: "boom".into(),
            }),
            attributes: vec![
                proto::KeyValue {
                    key: "s".into(),
                    value: value(any_value::Value::StringValue("x".into())),
                },
                proto::KeyValue {
                    key: "f".into(),
                    value: value(any_value::Value::DoubleValue(1.5)),
                },
                proto::KeyValue {
                    key: "none".into(),
                    value: None,
                },
            ],
            events: vec![proto::Event {
                name: "retry".into(),
                unix_nanos: 20,
                attributes: vec![proto::KeyValue {
                    key: "n".into(),
                    value: value(any_value::Value::IntValue(2)),
                }],
            }],
            links: vec![proto::Link {
                trace_id: vec![8; 16],
                span_id: 9,
            }],
        }
    }

    #[test]
    fn a_span_survives_the_round_trip_through_the_stored_body() {
        let span = span_from_wire(&"svc".into(), wire()).unwrap();
        assert_eq!(span.kind, SpanKind::Server);
        assert!(span.is_error());
        assert_eq!(span.parent_id, SpanId::new(1));
        assert_eq!(span.links.len(), 1);
        let mut body = Vec::new();
        encode(&span, &mut body);
        assert_eq!(decode(&"svc".into(), &body).unwrap(), span);
        assert_eq!(span_to_wire(&span), wire());
    }

    #[test]
    fn spans_without_valid_ids_are_left_out() {
        let bad_trace = proto::Span {
            trace_id: vec![1, 2, 3],
            ..wire()
        };
        let zero_trace = proto::Span {
            trace_id: vec![0; 16],
            ..wire()
        };
        let zero_span = proto::Span {
            span_id: 0,
            ..wire()
        };
        assert_eq!(
            spans(
                &"svc".into(),
                vec![bad_trace, zero_trace, zero_span, wire()]
            )
            .len(),
            1
        );
    }

    #[test]
    fn a_link_to_no_valid_span_is_dropped() {
        let mut with_bad_link = wire();
        with_bad_link.links[0].trace_id = vec![1];
        assert!(
            span_from_wire(&"svc".into(), with_bad_link)
                .unwrap()
                .links
                .is_empty()
        );
    }
}
