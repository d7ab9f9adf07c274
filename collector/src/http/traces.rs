//! `GET /api/traces/{trace_id}`: every span of one trace, as JSON.

use axum::Json;
use axum::extract::{Path, State};
use dapple::TraceId;
use dapple::proto::{self, any_value};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::store::StoredSpan;

pub(super) async fn get_trace(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: TraceId = trace_id
        .parse()
        .map_err(|e| ApiError::bad_parameter("trace_id", format!("{trace_id:?}: {e}")))?;
    let mut spans = state.with_store(move |store| store.trace(id)).await?;
    if spans.is_empty() {
        return Err(ApiError::not_found(format!("no trace {id}")));
    }
    spans.sort_by_key(|s| (s.span.start_unix_nanos, s.span.span_id));
    Ok(Json(json!({
        "trace_id": id.to_string(),
        "spans": spans.iter().map(span_json).collect::<Vec<_>>(),
    })))
}

fn hex16(id: u64) -> String {
    format!("{id:016x}")
}

fn value_json(value: &Option<proto::AnyValue>) -> Value {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => json!(s),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(f)) => json!(f),
        Some(any_value::Value::BoolValue(b)) => json!(b),
        Some(any_value::Value::BytesValue(b)) => {
            json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
        }
        None => Value::Null,
    }
}

/// The text a value compares as in `attr=key=value` filters.
pub(super) fn value_text(value: &Option<proto::AnyValue>) -> Option<String> {
    match value_json(value) {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn attributes_json(attributes: &[proto::KeyValue]) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|kv| (kv.key.clone(), value_json(&kv.value)))
            .collect(),
    )
}

/// The JSON form of a stored span.
pub fn span_json(stored: &StoredSpan) -> Value {
    let span = &stored.span;
    let kind = proto::SpanKind::try_from(span.kind).unwrap_or(proto::SpanKind::Internal);
    let (code, message) = match &span.status {
        Some(status) => (
            match proto::StatusCode::try_from(status.code) {
                Ok(proto::StatusCode::Ok) => "ok",
                Ok(proto::StatusCode::Error) => "error",
                _ => "unset",
            },
            status.message.as_str(),
        ),
        None => ("unset", ""),
    };
    json!({
        "span_id": hex16(span.span_id),
        "parent_id": (span.parent_span_id != 0).then(|| hex16(span.parent_span_id)),
        "name": span.name,
        "service": stored.service,
        "kind": match kind {
            proto::SpanKind::Internal => "internal",
            proto::SpanKind::Server => "server",
            proto::SpanKind::Client => "client",
            proto::SpanKind::Producer => "producer",
            proto::SpanKind::Consumer => "consumer",
        },
        "start_unix_nanos": span.start_unix_nanos,
        "end_unix_nanos": span.end_unix_nanos,
        "duration_nanos": span.end_unix_nanos.saturating_sub(span.start_unix_nanos),
        "status": { "code": code, "message": message },
        "attributes": attributes_json(&span.attributes),
        "events": span.events.iter().map(|e| json!({
            "name": e.name,
            "unix_nanos": e.unix_nanos,
            "attributes": attributes_json(&e.attributes),
        })).collect::<Vec<_>>(),
        "links": span.links.iter().map(|l| json!({
            "trace_id": l.trace_id.iter().map(|x| format!("{x:02x}")).collect::<String>(),
            "span_id": hex16(l.span_id),
        })).collect::<Vec<_>>(),
    })
}
