//! Finished spans in their wire form.
//!
//! This lives here, not in dapple-proto: dapple's exporter depends on
//! dapple-proto, so dapple-proto cannot depend on dapple's records.

use dapple_proto as proto;
use dapple_proto::any_value;

use crate::clock::Converter;
use crate::record::SpanRecord;
use crate::span::{SpanKind, Status};
use crate::value::{KeyValue, Value};

/// The wire form of a finished span, its times converted with `clock`:
/// take one converter per batch, not per span (taking one locks).
pub(crate) fn span(record: &SpanRecord, clock: &Converter) -> proto::Span {
    let status = match record.status() {
        Status::Unset => None,
        Status::Ok => Some(proto::Status {
            code: proto::StatusCode::Ok as i32,
            message: String::new(),
        }),
        Status::Error(message) => Some(proto::Status {
            code: proto::StatusCode::Error as i32,
            message: message.to_string(),
        }),
    };
    proto::Span {
        trace_id: record.trace_id().to_bytes().to_vec(),
        span_id: record.span_id().to_u64(),
        parent_span_id: record.parent_id().map_or(0, |p| p.to_u64()),
        name: record.name().to_owned(),
        kind: match record.kind() {
            SpanKind::Internal => proto::SpanKind::Internal,
            SpanKind::Server => proto::SpanKind::Server,
            SpanKind::Client => proto::SpanKind::Client,
            SpanKind::Producer => proto::SpanKind::Producer,
            SpanKind::Consumer => proto::SpanKind::Consumer,
        } as i32,
        start_unix_nanos: record.start_unix_nanos_with(clock),
        end_unix_nanos: record.end_unix_nanos_with(clock),
        status,
        attributes: record.attributes().map(|kv| attribute(&kv)).collect(),
        events: record
            .events()
            .iter()
            .map(|e| proto::Event {
                name: e.name.to_string(),
                unix_nanos: e.unix_nanos,
                attributes: e.attributes.iter().map(attribute).collect(),
            })
            .collect(),
        links: record
            .links()
            .iter()
            .map(|l| proto::Link {
                trace_id: l.trace_id.to_bytes().to_vec(),
                span_id: l.span_id.to_u64(),
            })
            .collect(),
    }
}

fn attribute(kv: &KeyValue) -> proto::KeyValue {
    proto::KeyValue {
        key: kv.key.to_string(),
        value: Some(proto::AnyValue {
            value: Some(match &kv.value {
                Value::Str(s) => any_value::Value::StringValue(s.to_string()),
                Value::I64(v) => any_value::Value::IntValue(*v),
                Value::F64(v) => any_value::Value::DoubleValue(*v),
                Value::Bool(v) => any_value::Value::BoolValue(*v),
                Value::Bytes(v) => any_value::Value::BytesValue(v.clone()),
            }),
        }),
    }
}
