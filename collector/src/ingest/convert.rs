//! The one place the wire form of a span (`dapple_proto::Span`) meets the
//! collector's own ([`crate::span::Span`]): ingest converts what arrives,
//! and the SQLite store keeps its span bodies in the wire encoding (so its
//! files stay readable across versions) through `encode` and `decode`.

use std::borrow::Cow;
use std::sync::Arc;

use dapple::{SpanId, TraceId};
use dapple_proto::{self as proto, any_value};
use prost::Message;

use crate::span::{
    Attribute, Dropped, Event, Link, Rare, Resource, Scope, Span, SpanKind, StatusCode, Text, Value,
};

/// The spans of one batch from `resource`; spans without a valid trace and
/// span id are left out, as nothing could find them again.
pub fn spans(resource: &Arc<Resource>, spans: Vec<proto::Span>) -> Vec<Span> {
    let mut converted = Vec::with_capacity(spans.len());
    converted.extend(
        spans
            .into_iter()
            .filter_map(|span| span_from_wire(resource, span)),
    );
    converted
}

/// The process a native client describes: its fields as the OpenTelemetry
/// attributes they stand for, then its other attributes.
pub fn resource(wire: Option<proto::Resource>) -> Resource {
    let wire = wire.unwrap_or_default();
    let text = |key: &'static str, value: String| {
        (!value.is_empty()).then(|| Attribute {
            key: key.into(),
            value: Some(Value::String(value.into())),
        })
    };
    let mut attributes: Vec<Attribute> = [
        text("service.name", wire.service_name),
        text("service.version", wire.version),
        text("host.name", wire.host),
        (wire.pid != 0).then(|| Attribute {
            key: "process.pid".into(),
            value: Some(Value::Int(i64::from(wire.pid))),
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    attributes.extend(wire_attributes(wire.attributes));
    Resource::new(attributes, wire.dropped_attributes_count)
}

/// A wire span sent by `resource`'s process, or `None` when its ids are
/// not valid.
pub fn span_from_wire(resource: &Arc<Resource>, span: proto::Span) -> Option<Span> {
    let mut attributes = wire_attributes(span.attributes);
    if let Some(times) = span.poll_times {
        attributes.reserve_exact(3);
        push_poll_times(&mut attributes, times);
    }
    let (code, status_message) = span
        .status
        .map_or((0, String::new()), |s| (s.code, s.message));
    let rare = rare_from_wire(
        status_message,
        span.events,
        span.links,
        span.trace_state,
        Dropped {
            attributes: span.dropped_attributes_count,
            events: span.dropped_events_count,
            links: span.dropped_links_count,
        },
    );
    Some(Span {
        trace_id: valid_trace_id(&span.trace_id)?,
        span_id: SpanId::new(span.span_id)?,
        parent_id: SpanId::new(span.parent_span_id),
        resource: resource.clone(),
        scope: span.scope.map(scope_from_wire),
        name: span.name.into(),
        kind: kind_from_wire(span.kind),
        status: status_from_wire(code),
        start_unix_nanos: span.start_unix_nanos,
        end_unix_nanos: span.end_unix_nanos,
        attributes,
        flags: span.flags,
        rare,
    })
}

fn kind_from_wire(kind: i32) -> SpanKind {
    match proto::SpanKind::try_from(kind) {
        Ok(proto::SpanKind::Server) => SpanKind::Server,
        Ok(proto::SpanKind::Client) => SpanKind::Client,
        Ok(proto::SpanKind::Producer) => SpanKind::Producer,
        Ok(proto::SpanKind::Consumer) => SpanKind::Consumer,
        Ok(proto::SpanKind::Internal) | Err(_) => SpanKind::Internal,
    }
}

fn status_from_wire(code: i32) -> StatusCode {
    match proto::StatusCode::try_from(code) {
        Ok(proto::StatusCode::Ok) => StatusCode::Ok,
        Ok(proto::StatusCode::Error) => StatusCode::Error,
        Ok(proto::StatusCode::Unset) | Err(_) => StatusCode::Unset,
    }
}

fn scope_from_wire(scope: proto::Scope) -> Arc<Scope> {
    Arc::new(Scope {
        name: scope.name,
        version: scope.version,
        attributes: wire_attributes(scope.attributes),
        dropped_attributes: scope.dropped_attributes_count,
    })
}

/// A span's rarely given parts, boxed only when something is in them.
#[inline]
fn rare_from_wire(
    status_message: String,
    events: Vec<proto::Event>,
    links: Vec<proto::Link>,
    trace_state: String,
    dropped: Dropped,
) -> Option<Box<Rare>> {
    if status_message.is_empty()
        && events.is_empty()
        && links.is_empty()
        && trace_state.is_empty()
        && dropped == Dropped::default()
    {
        return None;
    }
    Rare {
        status_message,
        events: events
            .into_iter()
            .map(|event| Event {
                name: event.name,
                unix_nanos: event.unix_nanos,
                attributes: wire_attributes(event.attributes),
                dropped_attributes: event.dropped_attributes_count,
            })
            .collect(),
        // A link that names no valid span leads nowhere.
        links: links
            .into_iter()
            .filter_map(|link| {
                Some(Link {
                    trace_id: valid_trace_id(&link.trace_id)?,
                    span_id: SpanId::new(link.span_id)?,
                    trace_state: link.trace_state,
                    flags: link.flags,
                    attributes: wire_attributes(link.attributes),
                    dropped_attributes: link.dropped_attributes_count,
                })
            })
            .collect(),
        trace_state,
        dropped,
    }
    .boxed()
}

/// A batch, its spans in the collector's form.
#[derive(Debug)]
pub struct Batch {
    /// What the ack names.
    pub sequence: u64,
    /// Spans the client said it dropped.
    pub dropped_spans: u64,
    /// The spans with valid ids.
    pub spans: Vec<Span>,
}

/// Why a batch frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Not a `dapple.v1.Frame`.
    #[error("not a dapple.v1.Frame")]
    Decode(#[from] prost::DecodeError),
    /// More spans than a batch may hold.
    #[error("a batch may hold at most {0} spans")]
    TooManySpans(usize),
}

/// The batch a frame's encoding carries, its spans from `service` (those
/// without valid ids left out, as by [`spans`]), or `None` when the frame
/// is not a batch; refused when it holds more than `max_spans` spans (the
/// check comes before each span is decoded, so such a frame costs no more
/// than `max_spans` decoded spans). Each span goes from the bytes to the
/// collector's form without a `Vec` of wire spans in between; a frame
/// holding more than a batch is left to prost, so the outcome is the same
/// as decoding a `dapple.v1.Frame`.
pub fn batch_frame(
    resource: &Arc<Resource>,
    frame: &[u8],
    max_spans: usize,
) -> Result<Option<Batch>, BatchError> {
    use prost::encoding::{WireType, check_wire_type, decode_key, skip_field};
    let ctx = prost::encoding::DecodeContext::default();
    let mut batch: Option<Batch> = None;
    let mut rest = frame;
    let mut seen = 0;
    while !rest.is_empty() {
        let (tag, wire_type) = decode_key(&mut rest)?;
        match tag {
            // `Frame.kind` is a batch.
            2 => {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                let message = length_delimited(&mut rest)?;
                let batch = batch.get_or_insert_with(|| Batch {
                    sequence: 0,
                    dropped_spans: 0,
                    spans: Vec::new(),
                });
                merge_batch(resource, batch, message, &mut seen, max_spans)?;
            }
            // Another kind (hello, ack, error, keep): rare, and prost
            // knows what wins. Every kind must be here, or a malformed one
            // beside a batch would be skipped where prost refuses it.
            1 | 3 | 4 | 5 => {
                return Ok(match proto::Frame::decode(frame)?.kind {
                    Some(proto::frame::Kind::Batch(batch)) => {
                        if batch.spans.len() > max_spans {
                            return Err(BatchError::TooManySpans(max_spans));
                        }
                        Some(Batch {
                            sequence: batch.sequence,
                            dropped_spans: batch.dropped_spans,
                            spans: spans(resource, batch.spans),
                        })
                    }
                    _ => None,
                });
            }
            _ => skip_field(wire_type, tag, &mut rest, ctx.clone())?,
        }
    }
    Ok(batch)
}

/// A `dapple.v1.Batch` message sent on its own (HTTP ingest), which names
/// its resource itself: the resource, the batch (as by [`batch_frame`],
/// at most `max_spans` spans), and how many spans it held, valid or not.
pub fn batch_message(
    message: &[u8],
    max_spans: usize,
) -> Result<(Arc<Resource>, Batch, usize), BatchError> {
    use prost::encoding::{WireType, check_wire_type, decode_key, skip_field};
    let ctx = prost::encoding::DecodeContext::default();
    // The resource first (the last one wins, as in prost), then the spans.
    let mut wire_resource: Option<proto::Resource> = None;
    let mut rest = message;
    while !rest.is_empty() {
        let (tag, wire_type) = decode_key(&mut rest)?;
        if tag == 4 {
            check_wire_type(WireType::LengthDelimited, wire_type)?;
            let body = length_delimited(&mut rest)?;
            wire_resource
                .get_or_insert_with(Default::default)
                .merge(body)?;
        } else {
            skip_field(wire_type, tag, &mut rest, ctx.clone())?;
        }
    }
    let resource = Arc::new(resource(wire_resource));
    let mut batch = Batch {
        sequence: 0,
        dropped_spans: 0,
        spans: Vec::new(),
    };
    let mut seen = 0;
    merge_batch(&resource, &mut batch, message, &mut seen, max_spans)?;
    Ok((resource, batch, seen))
}

/// The next length-delimited field's bytes.
#[inline(always)]
fn length_delimited<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], prost::DecodeError> {
    use prost::encoding::decode_varint;
    let field = *rest;
    let length = decode_varint(rest)?;
    if let Some((message, after)) = usize::try_from(length)
        .ok()
        .and_then(|n| rest.split_at_checked(n))
    {
        *rest = after;
        return Ok(message);
    }
    // Longer than what is left: prost's error, as it skips the field.
    *rest = field;
    past_the_end(rest)
}

/// A length-delimited field that runs past the end: prost's error, as it
/// skips the field.
#[cold]
fn past_the_end<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], prost::DecodeError> {
    use prost::encoding::{DecodeContext, WireType, decode_varint, skip_field};
    let field = *rest;
    skip_field(WireType::LengthDelimited, 1, rest, DecodeContext::default())?;
    let mut message = &field[..field.len() - rest.len()];
    decode_varint(&mut message)?;
    Ok(message)
}

/// `dapple.v1.Batch` fields into `batch`; `seen` counts the span fields
/// met so far, at most `max_spans`.
fn merge_batch(
    resource: &Arc<Resource>,
    batch: &mut Batch,
    mut rest: &[u8],
    seen: &mut usize,
    max_spans: usize,
) -> Result<(), BatchError> {
    use prost::encoding::{WireType, check_wire_type, decode_key, message, skip_field, uint64};
    let ctx = prost::encoding::DecodeContext::default();
    let mut attributes = Vec::new();
    while !rest.is_empty() {
        let (tag, wire_type) = decode_key(&mut rest)?;
        match tag {
            1 => uint64::merge(wire_type, &mut batch.sequence, &mut rest, ctx.clone())?,
            2 => {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                let span = length_delimited(&mut rest)?;
                *seen += 1;
                if *seen > max_spans {
                    return Err(BatchError::TooManySpans(max_spans));
                }
                if batch.spans.is_empty() {
                    // Spans are most of a batch: guess their number from
                    // the first one's size instead of doubling up to it.
                    let guess = rest.len() / (span.len() + 2) + 1;
                    batch.spans.reserve(guess.min(max_spans));
                }
                batch
                    .spans
                    .extend(span_from_bytes(resource, span, &mut attributes)?);
            }
            3 => uint64::merge(wire_type, &mut batch.dropped_spans, &mut rest, ctx.clone())?,
            // Not used here (the hello said who sends), but checked.
            4 => message::merge(
                wire_type,
                &mut proto::Resource::default(),
                &mut rest,
                ctx.clone(),
            )?,
            _ => skip_field(wire_type, tag, &mut rest, ctx.clone())?,
        }
    }
    Ok(())
}

/// A `dapple.v1.Span` message from `resource`'s process; `None` when its
/// ids are not valid. Each field is read straight into the collector's
/// form (the rare ones through their wire types) and merged as prost
/// merges it.
fn span_from_bytes(
    resource: &Arc<Resource>,
    mut rest: &[u8],
    scratch: &mut Vec<Attribute>,
) -> Result<Option<Span>, prost::DecodeError> {
    use prost::encoding::{
        WireType, check_wire_type, decode_key, fixed64, int32, message, skip_field, string, uint32,
    };
    let ctx = prost::encoding::DecodeContext::default();
    let mut trace_id = None;
    let (mut span_id, mut parent_id, mut kind, mut start, mut end) = (0, 0, 0, 0, 0);
    let mut name = Text::default();
    let (mut flags, mut dropped) = (0, Dropped::default());
    let mut status: Option<proto::Status> = None;
    let mut events: Vec<proto::Event> = Vec::new();
    let mut links: Vec<proto::Link> = Vec::new();
    let mut trace_state = String::new();
    let mut scope: Option<proto::Scope> = None;
    let mut poll_times: Option<proto::PollTimes> = None;
    // Attributes go into a list reused from span to span, then into one
    // of the exact size: a span keeps no spare room for the rest of its
    // life in a store.
    scratch.clear();
    while !rest.is_empty() {
        let (tag, wire_type) = decode_key(&mut rest)?;
        let ctx = ctx.clone();
        match tag {
            1 => {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                trace_id = valid_trace_id(length_delimited(&mut rest)?);
            }
            2 => fixed64::merge(wire_type, &mut span_id, &mut rest, ctx)?,
            3 => fixed64::merge(wire_type, &mut parent_id, &mut rest, ctx)?,
            4 => name = text(wire_type, &mut rest, ctx)?.into(),
            5 => int32::merge(wire_type, &mut kind, &mut rest, ctx)?,
            6 => fixed64::merge(wire_type, &mut start, &mut rest, ctx)?,
            7 => fixed64::merge(wire_type, &mut end, &mut rest, ctx)?,
            8 => message::merge(
                wire_type,
                status.get_or_insert_with(Default::default),
                &mut rest,
                ctx,
            )?,
            9 => {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                scratch.push(attribute_from_bytes(length_delimited(&mut rest)?, ctx)?);
            }
            10 => message::merge_repeated(wire_type, &mut events, &mut rest, ctx)?,
            11 => message::merge_repeated(wire_type, &mut links, &mut rest, ctx)?,
            12 => string::merge(wire_type, &mut trace_state, &mut rest, ctx)?,
            13 => uint32::merge(wire_type, &mut flags, &mut rest, ctx)?,
            14 => uint32::merge(wire_type, &mut dropped.attributes, &mut rest, ctx)?,
            15 => uint32::merge(wire_type, &mut dropped.events, &mut rest, ctx)?,
            16 => uint32::merge(wire_type, &mut dropped.links, &mut rest, ctx)?,
            17 => message::merge(
                wire_type,
                scope.get_or_insert_with(Default::default),
                &mut rest,
                ctx,
            )?,
            18 => message::merge(
                wire_type,
                poll_times.get_or_insert_with(Default::default),
                &mut rest,
                ctx,
            )?,
            _ => skip_field(wire_type, tag, &mut rest, ctx)?,
        }
    }
    let (Some(trace_id), Some(span_id)) = (trace_id, SpanId::new(span_id)) else {
        return Ok(None);
    };
    if let Some(times) = poll_times {
        push_poll_times(scratch, times);
    }
    let mut attributes = Vec::with_capacity(scratch.len());
    attributes.append(scratch);
    let (code, status_message) = status.map_or((0, String::new()), |s| (s.code, s.message));
    Ok(Some(Span {
        trace_id,
        span_id,
        parent_id: SpanId::new(parent_id),
        resource: resource.clone(),
        scope: scope.map(scope_from_wire),
        name,
        kind: kind_from_wire(kind),
        status: status_from_wire(code),
        start_unix_nanos: start,
        end_unix_nanos: end,
        attributes,
        flags,
        rare: rare_from_wire(status_message, events, links, trace_state, dropped),
    }))
}

/// A `KeyValue` message as an attribute, merged as prost merges one: the
/// last key counts, and values given more than once merge.
fn attribute_from_bytes(
    mut rest: &[u8],
    ctx: prost::encoding::DecodeContext,
) -> Result<Attribute, prost::DecodeError> {
    use prost::encoding::{WireType, check_wire_type, decode_key, skip_field};
    let mut key = Text::default();
    let mut value = None;
    while !rest.is_empty() {
        let (tag, wire_type) = decode_key(&mut rest)?;
        match tag {
            1 => key = text(wire_type, &mut rest, ctx.clone())?.into(),
            2 => {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                merge_value(&mut value, length_delimited(&mut rest)?, ctx.clone())?;
            }
            _ => skip_field(wire_type, tag, &mut rest, ctx.clone())?,
        }
    }
    Ok(Attribute { key, value })
}

/// An `AnyValue` message merged into `value` as prost merges its one-of: a
/// scalar, text or bytes replaces it, an array or map given again grows.
/// `value` stays `None` while no field is given, as [`wire_value`] has it.
fn merge_value(
    value: &mut Option<Value>,
    mut rest: &[u8],
    ctx: prost::encoding::DecodeContext,
) -> Result<(), prost::DecodeError> {
    use prost::encoding::{bool, bytes, decode_key, double, int64, message, skip_field};
    while !rest.is_empty() {
        let (tag, wire_type) = decode_key(&mut rest)?;
        let ctx = ctx.clone();
        match tag {
            // `dapple.v1.AnyValue`'s fields, in the order of the `.proto`.
            1 => *value = Some(Value::String(text(wire_type, &mut rest, ctx)?.into())),
            2 => {
                let mut i = 0;
                int64::merge(wire_type, &mut i, &mut rest, ctx)?;
                *value = Some(Value::Int(i));
            }
            3 => {
                let mut f = 0.0;
                double::merge(wire_type, &mut f, &mut rest, ctx)?;
                *value = Some(Value::Double(f));
            }
            4 => {
                let mut b = false;
                bool::merge(wire_type, &mut b, &mut rest, ctx)?;
                *value = Some(Value::Bool(b));
            }
            5 => {
                let mut b = Vec::new();
                bytes::merge(wire_type, &mut b, &mut rest, ctx)?;
                *value = Some(Value::Bytes(b));
            }
            6 => {
                let mut array = proto::ArrayValue::default();
                message::merge(wire_type, &mut array, &mut rest, ctx)?;
                let values = array.values.into_iter().map(wire_value);
                match value {
                    Some(Value::Array(known)) => known.extend(values),
                    _ => *value = Some(Value::Array(values.collect())),
                }
            }
            7 => {
                let mut list = proto::KeyValueList::default();
                message::merge(wire_type, &mut list, &mut rest, ctx)?;
                let pairs = list.values.into_iter().map(wire_attribute);
                match value {
                    Some(Value::Map(known)) => known.extend(pairs),
                    _ => *value = Some(Value::Map(pairs.collect())),
                }
            }
            _ => skip_field(wire_type, tag, &mut rest, ctx)?,
        }
    }
    Ok(())
}

/// A string field's text, borrowed from the frame. Bytes that are not
/// UTF-8 are left to prost, whose error is then the outcome.
#[inline(always)]
fn text<'a>(
    wire_type: prost::encoding::WireType,
    rest: &mut &'a [u8],
    ctx: prost::encoding::DecodeContext,
) -> Result<Cow<'a, str>, prost::DecodeError> {
    use prost::encoding::{WireType, check_wire_type, string};
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let mut field = *rest;
    let bytes = length_delimited(rest)?;
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(_) => {
            let mut text = String::new();
            string::merge(wire_type, &mut text, &mut field, ctx)?;
            Ok(Cow::Owned(text))
        }
    }
}

/// An async span's poll times as the attributes `busy_ns`, `idle_ns` and
/// `polls` (as OTLP senders, Dapple's included, give them), after the
/// others. Their keys are static: nothing is allocated for them.
fn push_poll_times(attributes: &mut Vec<Attribute>, times: proto::PollTimes) {
    let int = |key: &'static str, value: u64| Attribute {
        key: Text::const_new(key),
        value: Some(Value::Int(i64::try_from(value).unwrap_or(i64::MAX))),
    };
    attributes.extend([
        int("busy_ns", times.busy_nanos),
        int("idle_ns", times.idle_nanos),
        int("polls", times.polls),
    ]);
}

fn valid_trace_id(bytes: &[u8]) -> Option<TraceId> {
    TraceId::from_bytes(bytes.try_into().ok()?)
}

/// Wire attributes in the collector's form.
pub(crate) fn wire_attributes(attributes: Vec<proto::KeyValue>) -> Vec<Attribute> {
    attributes.into_iter().map(wire_attribute).collect()
}

/// A wire attribute in the collector's form.
fn wire_attribute(attribute: proto::KeyValue) -> Attribute {
    Attribute {
        key: attribute.key.into(),
        value: attribute.value.and_then(wire_value),
    }
}

fn wire_value(value: proto::AnyValue) -> Option<Value> {
    Some(match value.value? {
        any_value::Value::StringValue(s) => Value::String(s.into()),
        any_value::Value::IntValue(i) => Value::Int(i),
        any_value::Value::DoubleValue(f) => Value::Double(f),
        any_value::Value::BoolValue(b) => Value::Bool(b),
        any_value::Value::BytesValue(b) => Value::Bytes(b),
        any_value::Value::ArrayValue(array) => {
            Value::Array(array.values.into_iter().map(wire_value).collect())
        }
        any_value::Value::KvlistValue(list) => Value::Map(wire_attributes(list.values)),
    })
}

/// The wire form of a span (without its service, which is not part of it);
/// [`encode`] writes its encoding without building it.
#[cfg(test)]
fn attributes_to_wire(attributes: &[Attribute]) -> Vec<proto::KeyValue> {
    fn value(v: &Value) -> proto::AnyValue {
        proto::AnyValue {
            value: Some(match v {
                Value::String(s) => any_value::Value::StringValue(s.to_string()),
                Value::Int(i) => any_value::Value::IntValue(*i),
                Value::Double(f) => any_value::Value::DoubleValue(*f),
                Value::Bool(b) => any_value::Value::BoolValue(*b),
                Value::Bytes(b) => any_value::Value::BytesValue(b.clone()),
                Value::Array(values) => any_value::Value::ArrayValue(proto::ArrayValue {
                    values: values
                        .iter()
                        .map(|v| v.as_ref().map_or_else(proto::AnyValue::default, value))
                        .collect(),
                }),
                Value::Map(pairs) => any_value::Value::KvlistValue(proto::KeyValueList {
                    values: attributes_to_wire(pairs),
                }),
            }),
        }
    }
    attributes
        .iter()
        .map(|a| proto::KeyValue {
            key: a.key.to_string(),
            value: a.value.as_ref().map(value),
        })
        .collect()
}

/// The wire form of a span (without its service, which is not part of it);
/// [`encode`] writes its encoding without building it.
#[cfg(test)]
fn span_to_wire(span: &Span) -> proto::Span {
    let attributes = attributes_to_wire;
    let kind = match span.kind {
        SpanKind::Internal => proto::SpanKind::Internal,
        SpanKind::Server => proto::SpanKind::Server,
        SpanKind::Client => proto::SpanKind::Client,
        SpanKind::Producer => proto::SpanKind::Producer,
        SpanKind::Consumer => proto::SpanKind::Consumer,
    };
    let code = match span.status {
        StatusCode::Unset => proto::StatusCode::Unset,
        StatusCode::Ok => proto::StatusCode::Ok,
        StatusCode::Error => proto::StatusCode::Error,
    };
    let unset = span.status == StatusCode::Unset && span.status_message().is_empty();
    proto::Span {
        trace_id: span.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.to_u64(),
        parent_span_id: span.parent_id.map_or(0, SpanId::to_u64),
        name: span.name.to_string(),
        kind: kind as i32,
        start_unix_nanos: span.start_unix_nanos,
        end_unix_nanos: span.end_unix_nanos,
        status: (!unset).then(|| proto::Status {
            code: code as i32,
            message: span.status_message().to_owned(),
        }),
        attributes: attributes(&span.attributes),
        events: span
            .events()
            .iter()
            .map(|e| proto::Event {
                name: e.name.clone(),
                unix_nanos: e.unix_nanos,
                attributes: attributes(&e.attributes),
                dropped_attributes_count: e.dropped_attributes,
            })
            .collect(),
        links: span
            .links()
            .iter()
            .map(|l| proto::Link {
                trace_id: l.trace_id.to_bytes().to_vec(),
                span_id: l.span_id.to_u64(),
                trace_state: l.trace_state.clone(),
                attributes: attributes(&l.attributes),
                flags: l.flags,
                dropped_attributes_count: l.dropped_attributes,
            })
            .collect(),
        trace_state: span.trace_state().to_owned(),
        flags: span.flags,
        dropped_attributes_count: span.dropped().attributes,
        dropped_events_count: span.dropped().events,
        dropped_links_count: span.dropped().links,
        scope: span.scope.as_ref().map(|scope| proto::Scope {
            name: scope.name.clone(),
            version: scope.version.clone(),
            attributes: attributes(&scope.attributes),
            dropped_attributes_count: scope.dropped_attributes,
        }),
        // Poll times stay among the attributes.
        poll_times: None,
    }
}

/// A resource's body as the SQLite store keeps it: a `dapple.v1.Resource`
/// holding only attributes and their drop count.
pub(crate) fn encode_resource(resource: &Resource, body: &mut Vec<u8>) {
    body.clear();
    wire::attributes(5, &resource.attributes, body);
    if resource.dropped_attributes != 0 {
        prost::encoding::uint32::encode(6, &resource.dropped_attributes, body);
    }
}

/// A body [`encode_resource`] made.
pub(crate) fn decode_resource(body: &[u8]) -> Result<Resource, DecodeError> {
    Ok(resource(Some(proto::Resource::decode(body)?)))
}

/// A span's body as the SQLite store keeps it: the wire encoding of the
/// span without its service, written over `body` straight from the span
/// (the bytes prost writes for the `dapple.v1.Span` message, without
/// copying the span's text into one first).
pub(crate) fn encode(span: &Span, body: &mut Vec<u8>) {
    body.clear();
    wire::span(span, body);
}

/// The protobuf encoding of the collector's span, field by field in tag
/// order, defaults left out, as prost writes `dapple.v1.Span`.
mod wire {
    use prost::encoding::{WireType, encode_key, encode_varint};

    use crate::span::{Attribute, Span, SpanKind, StatusCode, Value};

    pub(super) fn span(span: &Span, out: &mut Vec<u8>) {
        bytes(1, &span.trace_id.to_bytes(), out);
        fixed64(2, span.span_id.to_u64(), out);
        fixed64(3, span.parent_id.map_or(0, |id| id.to_u64()), out);
        bytes(4, span.name.as_bytes(), out);
        let kind = match span.kind {
            SpanKind::Internal => 0,
            SpanKind::Server => 1,
            SpanKind::Client => 2,
            SpanKind::Producer => 3,
            SpanKind::Consumer => 4,
        };
        varint(5, kind, out);
        fixed64(6, span.start_unix_nanos, out);
        fixed64(7, span.end_unix_nanos, out);
        if span.status != StatusCode::Unset || !span.status_message().is_empty() {
            nested(8, out, |out| {
                let code = match span.status {
                    StatusCode::Unset => 0,
                    StatusCode::Ok => 1,
                    StatusCode::Error => 2,
                };
                varint(1, code, out);
                bytes(2, span.status_message().as_bytes(), out);
            });
        }
        attributes(9, &span.attributes, out);
        for event in span.events() {
            nested(10, out, |out| {
                bytes(1, event.name.as_bytes(), out);
                fixed64(2, event.unix_nanos, out);
                attributes(3, &event.attributes, out);
                varint(4, u64::from(event.dropped_attributes), out);
            });
        }
        for link in span.links() {
            nested(11, out, |out| {
                bytes(1, &link.trace_id.to_bytes(), out);
                fixed64(2, link.span_id.to_u64(), out);
                bytes(3, link.trace_state.as_bytes(), out);
                attributes(4, &link.attributes, out);
                varint(5, u64::from(link.flags), out);
                varint(6, u64::from(link.dropped_attributes), out);
            });
        }
        bytes(12, span.trace_state().as_bytes(), out);
        varint(13, u64::from(span.flags), out);
        let dropped = span.dropped();
        varint(14, u64::from(dropped.attributes), out);
        varint(15, u64::from(dropped.events), out);
        varint(16, u64::from(dropped.links), out);
        if let Some(scope) = &span.scope {
            nested(17, out, |out| {
                bytes(1, scope.name.as_bytes(), out);
                bytes(2, scope.version.as_bytes(), out);
                attributes(3, &scope.attributes, out);
                varint(4, u64::from(scope.dropped_attributes), out);
            });
        }
    }

    pub(super) fn attributes(tag: u32, attributes: &[Attribute], out: &mut Vec<u8>) {
        for attribute in attributes {
            nested(tag, out, |out| {
                bytes(1, attribute.key.as_bytes(), out);
                if let Some(value) = &attribute.value {
                    any_value(2, value, out);
                }
            });
        }
    }

    /// An `AnyValue` message holding `value`: its one field is written even
    /// when it holds a default.
    fn any_value(tag: u32, value: &Value, out: &mut Vec<u8>) {
        nested(tag, out, |out| match value {
            Value::String(s) => delimited(1, s.as_bytes(), out),
            Value::Int(i) => {
                encode_key(2, WireType::Varint, out);
                encode_varint(*i as u64, out);
            }
            Value::Double(f) => {
                encode_key(3, WireType::SixtyFourBit, out);
                out.extend_from_slice(&f.to_le_bytes());
            }
            Value::Bool(b) => {
                encode_key(4, WireType::Varint, out);
                encode_varint(u64::from(*b), out);
            }
            Value::Bytes(b) => delimited(5, b, out),
            Value::Array(values) => nested(6, out, |out| {
                for value in values {
                    match value {
                        Some(value) => any_value(1, value, out),
                        // An empty AnyValue.
                        None => nested(1, out, |_| {}),
                    }
                }
            }),
            Value::Map(pairs) => nested(7, out, |out| attributes(1, pairs, out)),
        });
    }

    /// A message field: its key, its length, then what `write` writes.
    fn nested(tag: u32, out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
        encode_key(tag, WireType::LengthDelimited, out);
        // Most nested messages are short: one byte for the length, filled
        // in afterwards, and widened in the rare case it needs more.
        let at = out.len();
        out.push(0);
        write(out);
        let len = out.len() - at - 1;
        if len < 0x80 {
            out[at] = len as u8;
        } else {
            let mut prefix = Vec::with_capacity(10);
            encode_varint(len as u64, &mut prefix);
            out.splice(at..at + 1, prefix);
        }
    }

    fn delimited(tag: u32, value: &[u8], out: &mut Vec<u8>) {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(value.len() as u64, out);
        out.extend_from_slice(value);
    }

    /// A string or bytes field, left out when empty.
    fn bytes(tag: u32, value: &[u8], out: &mut Vec<u8>) {
        if !value.is_empty() {
            delimited(tag, value, out);
        }
    }

    fn fixed64(tag: u32, value: u64, out: &mut Vec<u8>) {
        if value != 0 {
            encode_key(tag, WireType::SixtyFourBit, out);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn varint(tag: u32, value: u64, out: &mut Vec<u8>) {
        if value != 0 {
            encode_key(tag, WireType::Varint, out);
            encode_varint(value, out);
        }
    }
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
pub(crate) fn decode(resource: &Arc<Resource>, body: &[u8]) -> Result<Span, DecodeError> {
    let wire = proto::Span::decode(body)?;
    span_from_wire(resource, wire).ok_or(DecodeError::Ids)
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
                proto::KeyValue {
                    key: "list".into(),
                    value: value(any_value::Value::ArrayValue(proto::ArrayValue {
                        values: vec![
                            value(any_value::Value::IntValue(1)).unwrap(),
                            proto::AnyValue::default(),
                            value(any_value::Value::KvlistValue(proto::KeyValueList {
                                values: vec![proto::KeyValue {
                                    key: "k".into(),
                                    value: value(any_value::Value::BoolValue(true)),
                                }],
                            }))
                            .unwrap(),
                        ],
                    })),
                },
            ],
            events: vec![proto::Event {
                name: "retry".into(),
                unix_nanos: 20,
                attributes: vec![proto::KeyValue {
                    key: "n".into(),
                    value: value(any_value::Value::IntValue(2)),
                }],
                dropped_attributes_count: 1,
            }],
            links: vec![proto::Link {
                trace_id: vec![8; 16],
                span_id: 9,
                trace_state: "k=v".into(),
                attributes: vec![proto::KeyValue {
                    key: "why".into(),
                    value: value(any_value::Value::StringValue("retry".into())),
                }],
                flags: 0x301,
                dropped_attributes_count: 2,
            }],
            trace_state: "vendor=1".into(),
            flags: 1,
            dropped_attributes_count: 3,
            dropped_events_count: 4,
            dropped_links_count: 5,
            scope: Some(proto::Scope {
                name: "opentelemetry.instrumentation.flask".into(),
                version: "0.50b0".into(),
                attributes: vec![proto::KeyValue {
                    key: "a".into(),
                    value: value(any_value::Value::BytesValue(vec![1, 2])),
                }],
                dropped_attributes_count: 6,
            }),
            poll_times: None,
        }
    }

    fn resource() -> Arc<Resource> {
        Arc::new(Resource::of_service("svc"))
    }

    #[test]
    fn a_resource_survives_the_round_trip_through_its_stored_body() {
        let resource = super::resource(Some(proto::Resource {
            service_name: "checkout".into(),
            host: "h1".into(),
            pid: 42,
            version: "1.2".into(),
            attributes: vec![proto::KeyValue {
                key: "deployment.environment".into(),
                value: Some(proto::AnyValue {
                    value: Some(any_value::Value::StringValue("prod".into())),
                }),
            }],
            dropped_attributes_count: 7,
        }));
        assert_eq!(&*resource.service, "checkout");
        let keys: Vec<&str> = resource.attributes.iter().map(|a| &*a.key).collect();
        assert_eq!(
            keys,
            [
                "service.name",
                "service.version",
                "host.name",
                "process.pid",
                "deployment.environment"
            ]
        );
        let mut body = Vec::new();
        encode_resource(&resource, &mut body);
        assert_eq!(decode_resource(&body).unwrap(), resource);
        assert_eq!(&*super::resource(None).service, Resource::UNKNOWN_SERVICE);
    }

    #[test]
    fn a_span_survives_the_round_trip_through_the_stored_body() {
        let span = span_from_wire(&resource(), wire()).unwrap();
        assert_eq!(span.kind, SpanKind::Server);
        assert!(span.is_error());
        assert_eq!(span.parent_id, SpanId::new(1));
        assert_eq!(span.links().len(), 1);
        assert_eq!(
            span.attributes[3].value,
            Some(Value::Array(vec![
                Some(Value::Int(1)),
                None,
                Some(Value::Map(vec![Attribute {
                    key: "k".into(),
                    value: Some(Value::Bool(true)),
                }])),
            ]))
        );
        assert_eq!(span.scope.as_ref().unwrap().version, "0.50b0");
        let mut body = Vec::new();
        encode(&span, &mut body);
        assert_eq!(decode(&resource(), &body).unwrap(), span);
        assert_eq!(span_to_wire(&span), wire());
    }

    #[test]
    fn the_stored_body_is_what_prost_writes_for_the_wire_span() {
        let mut plain = span_from_wire(&resource(), wire()).unwrap();
        let mut body = Vec::new();
        encode(&plain, &mut body);
        assert_eq!(body, span_to_wire(&plain).encode_to_vec());
        plain.status = StatusCode::Unset;
        plain.rare.as_mut().unwrap().status_message.clear();
        plain.parent_id = None;
        plain.kind = SpanKind::Internal;
        plain.name = "x".repeat(300).into();
        plain.attributes.push(Attribute {
            key: "long".into(),
            value: Some(Value::Bytes(vec![0; 200])),
        });
        for value in [
            Value::Int(-1),
            Value::Int(0),
            Value::Double(0.0),
            Value::Bool(false),
            Value::Bool(true),
            Value::String(String::new().into()),
            Value::Bytes(Vec::new()),
        ] {
            plain.rare.as_mut().unwrap().events[0]
                .attributes
                .push(Attribute {
                    key: "".into(),
                    value: Some(value),
                });
        }
        encode(&plain, &mut body);
        assert_eq!(body, span_to_wire(&plain).encode_to_vec());
        assert_eq!(decode(&resource(), &body).unwrap(), plain);
    }

    #[test]
    fn every_kind_of_frame_beside_a_batch_is_read_as_prost_reads_it() {
        let batch = proto::Frame {
            kind: Some(proto::frame::Kind::Batch(proto::Batch {
                sequence: 1,
                spans: vec![wire()],
                ..Default::default()
            })),
        }
        .encode_to_vec();
        // Each other kind's field, with a wire type prost refuses for it
        // (found by fuzzing for `keep`, field 5).
        for field in [1_u8, 3, 4, 5] {
            let mut frame = batch.clone();
            frame.extend([(field << 3) | 5, 0, 0, 0, 0]);
            assert!(proto::Frame::decode(&frame[..]).is_err(), "field {field}");
            assert!(
                batch_frame(&resource(), &frame, 1000).is_err(),
                "field {field}"
            );
        }
    }

    #[test]
    fn a_batch_frame_decodes_as_the_wire_types_convert() {
        let service = resource();
        let batch = proto::Batch {
            sequence: 9,
            spans: vec![
                wire(),
                proto::Span {
                    trace_id: vec![1, 2, 3],
                    ..wire()
                },
                proto::Span {
                    span_id: 3,
                    status: None,
                    attributes: Vec::new(),
                    ..wire()
                },
                proto::Span {
                    span_id: 4,
                    poll_times: Some(proto::PollTimes {
                        busy_nanos: 5,
                        idle_nanos: 15,
                        polls: 2,
                    }),
                    ..wire()
                },
                proto::Span {
                    span_id: 5,
                    attributes: wire().attributes[..2].to_vec(),
                    ..wire()
                },
            ],
            dropped_spans: 4,
            resource: Some(proto::Resource::default()),
        };
        let frame = |kind| proto::Frame { kind: Some(kind) }.encode_to_vec();
        let decoded = batch_frame(
            &service,
            &frame(proto::frame::Kind::Batch(batch.clone())),
            1000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(decoded.sequence, 9);
        assert_eq!(decoded.dropped_spans, 4);
        assert_eq!(decoded.spans, spans(&service, batch.spans.clone()));
        assert_eq!(decoded.spans.len(), 4);
        // Poll times come last among the attributes.
        let keys: Vec<&str> = decoded.spans[2]
            .attributes
            .iter()
            .map(|a| &*a.key)
            .collect();
        assert_eq!(&keys[keys.len() - 3..], ["busy_ns", "idle_ns", "polls"]);
        assert_eq!(
            decoded.spans[2].attributes.last().unwrap().value,
            Some(Value::Int(2))
        );
        // A stored span holds no spare room in its list.
        for span in &decoded.spans {
            assert_eq!(span.attributes.capacity(), span.attributes.len());
        }
        // A field repeated in the encoding: the last one counts, as in prost.
        let mut twice = frame(proto::frame::Kind::Batch(batch.clone()));
        twice.extend(frame(proto::frame::Kind::Batch(proto::Batch {
            sequence: 10,
            ..Default::default()
        })));
        let decoded = batch_frame(&service, &twice, 1000).unwrap().unwrap();
        assert_eq!((decoded.sequence, decoded.spans.len()), (10, 4));
        // Not a batch, or a batch then something else.
        let ack = frame(proto::frame::Kind::Ack(proto::Ack { sequence: 1 }));
        assert!(batch_frame(&service, &ack, 1000).unwrap().is_none());
        let mut batch_then_ack = frame(proto::frame::Kind::Batch(batch));
        batch_then_ack.extend(&ack);
        assert!(
            batch_frame(&service, &batch_then_ack, 1000)
                .unwrap()
                .is_none()
        );
        // Garbage is an error, not a panic.
        assert!(batch_frame(&service, &[0x12, 0x05, 0x12, 0x10], 1000).is_err());
        for cut in 0..twice.len() {
            let _ = batch_frame(&service, &twice[..cut], 1000);
        }
        // More spans than allowed, valid or not, in one batch or spread
        // over repeated batch fields.
        assert!(matches!(
            batch_frame(&service, &twice, 1),
            Err(BatchError::TooManySpans(1))
        ));
        let empty_spans = frame(proto::frame::Kind::Batch(proto::Batch {
            spans: vec![proto::Span::default(); 3],
            ..Default::default()
        }));
        assert!(batch_frame(&service, &empty_spans, 3).is_ok());
        assert!(batch_frame(&service, &empty_spans, 2).is_err());
    }

    #[test]
    fn a_plain_span_is_two_cache_lines_with_nothing_boxed_apart() {
        assert_eq!(size_of::<Span>(), 128);
        let plain = proto::Span {
            trace_id: vec![1; 16],
            span_id: 2,
            name: "GET /".into(),
            start_unix_nanos: 3,
            end_unix_nanos: 4,
            attributes: wire().attributes,
            ..Default::default()
        };
        let failed = proto::Span {
            status: Some(proto::Status {
                code: proto::StatusCode::Error as i32,
                message: "boom".into(),
            }),
            ..plain.clone()
        };
        let batch = proto::Batch {
            spans: vec![plain, failed],
            ..Default::default()
        };
        let frame = proto::Frame {
            kind: Some(proto::frame::Kind::Batch(batch)),
        }
        .encode_to_vec();
        let decoded = batch_frame(&resource(), &frame, 10).unwrap().unwrap();
        assert_eq!(decoded.spans[0].rare, None);
        assert_eq!(decoded.spans[0].status, StatusCode::Unset);
        let rare = decoded.spans[1].rare.as_deref().expect("a status message");
        assert_eq!(
            *rare,
            Rare {
                status_message: "boom".into(),
                ..Rare::default()
            }
        );
        assert!(decoded.spans[1].is_error());
    }

    #[test]
    fn a_batch_posted_alone_names_its_resource_and_is_bounded() {
        let batch = proto::Batch {
            sequence: 3,
            spans: vec![wire(), proto::Span::default(), wire()],
            dropped_spans: 2,
            resource: Some(proto::Resource {
                service_name: "posted".into(),
                ..Default::default()
            }),
        };
        let body = batch.encode_to_vec();
        let (resource, decoded, received) = batch_message(&body, 3).unwrap();
        assert_eq!(&*resource.service, "posted");
        assert_eq!(
            (received, decoded.spans.len()),
            (3, 2),
            "the span without ids goes"
        );
        assert_eq!(decoded.dropped_spans, 2);
        assert!(matches!(
            batch_message(&body, 2),
            Err(BatchError::TooManySpans(2))
        ));
        assert!(batch_message(&body[..body.len() - 1], 3).is_err());
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
            spans(&resource(), vec![bad_trace, zero_trace, zero_span, wire()]).len(),
            1
        );
    }

    #[test]
    fn a_link_to_no_valid_span_is_dropped() {
        let mut with_bad_link = wire();
        with_bad_link.links[0].trace_id = vec![1];
        assert!(
            span_from_wire(&resource(), with_bad_link)
                .unwrap()
                .links()
                .is_empty()
        );
    }

    #[test]
    fn attributes_given_in_pieces_merge_as_prost_merges_them() {
        use any_value::Value as Wire;
        let pair = |key: &str, value: Option<Wire>| {
            proto::KeyValue {
                key: key.into(),
                value: Some(proto::AnyValue { value }),
            }
            .encode_to_vec()
        };
        let array = |i| {
            Wire::ArrayValue(proto::ArrayValue {
                values: vec![proto::AnyValue {
                    value: Some(Wire::IntValue(i)),
                }],
            })
        };
        let map = |key: &str| {
            Wire::KvlistValue(proto::KeyValueList {
                values: vec![proto::KeyValue {
                    key: key.into(),
                    value: Some(proto::AnyValue {
                        value: Some(Wire::BoolValue(true)),
                    }),
                }],
            })
        };
        // Each case is one attribute's encoding in two pieces: a repeated
        // message is the two merged.
        let cases = [
            (pair("a", Some(array(1))), pair("b", Some(array(2)))),
            (pair("a", Some(map("x"))), pair("a", Some(map("y")))),
            (pair("a", Some(array(1))), pair("a", Some(map("y")))),
            (
                pair("a", Some(Wire::StringValue("text".into()))),
                pair("", Some(Wire::IntValue(-3))),
            ),
            (
                pair("a", Some(Wire::BytesValue(vec![0, 255]))),
                pair("a", None),
            ),
            (pair("a", Some(Wire::DoubleValue(0.5))), Vec::new()),
            (pair("a", None), pair("a", Some(Wire::BoolValue(true)))),
        ];
        for (first, second) in cases {
            let attribute = [first, second].concat();
            let expected = wire_attribute(proto::KeyValue::decode(&attribute[..]).unwrap());
            let mut span = wire();
            span.attributes.clear();
            let mut bytes = span.encode_to_vec();
            prost::encoding::bytes::encode(9, &attribute, &mut bytes);
            let decoded = span_from_bytes(&resource(), &bytes, &mut Vec::new())
                .unwrap()
                .unwrap();
            assert_eq!(decoded.attributes, [expected]);
        }
        // A key that is not UTF-8 is refused, as prost refuses it.
        let mut bytes = wire().encode_to_vec();
        prost::encoding::bytes::encode(9, &vec![0x0a, 1, 0xff], &mut bytes);
        assert!(proto::Span::decode(&bytes[..]).is_err());
        assert!(span_from_bytes(&resource(), &bytes, &mut Vec::new()).is_err());
    }
}
