//! Finished spans written straight into an OTLP `ExportTraceServiceRequest`
//! (opentelemetry-proto `collector/trace/v1`, OTLP 1.x), as the native
//! encoder writes native frames: span entries first, then the request's
//! header (the `ResourceSpans` and `ScopeSpans` keys and lengths, the
//! resource and the scope, encoded once per exporter) in room left before
//! them.

use prost::encoding::encoded_len_varint;

use super::wire::{
    Body, Cursor, FIXED64, FrameBuffer, bytes, delimited, fixed32, fixed64, key, nested, uint,
    varint,
};
use crate::args::ValueRef;
use crate::clock::Converter;
use crate::record::SpanRecord;
use crate::span::{SpanKind, Status};
use crate::value::KeyValue;

/// `opentelemetry.proto.common.v1.AnyValue`.
struct AnyValue<'a>(ValueRef<'a>);

impl Body for AnyValue<'_> {
    #[inline]
    fn write(&self, out: &mut Cursor<'_>) {
        match self.0 {
            ValueRef::Str(s) => delimited(out, 1, s),
            ValueRef::Bool(v) => varint(out, 2, u64::from(v)),
            ValueRef::I64(v) => varint(out, 3, v as u64),
            ValueRef::F64(v) => {
                key(out, 4, FIXED64);
                out.put(&v.to_bits().to_le_bytes());
            }
            ValueRef::Bytes(b) => delimited(out, 7, b),
        }
    }
}

/// `opentelemetry.proto.common.v1.KeyValue`.
struct Attribute<'a>(&'a str, ValueRef<'a>);

impl Body for Attribute<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        bytes(out, 1, self.0.as_bytes());
        nested(out, 2, &AnyValue(self.1));
    }
}

fn attributes(out: &mut Cursor<'_>, field: u64, list: &[KeyValue]) {
    for kv in list {
        nested(out, field, &Attribute(&kv.key, ValueRef::of(&kv.value)));
    }
}

/// `Span.Event`.
struct EventBody<'a>(&'a crate::record::Event);

impl Body for EventBody<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        fixed64(out, 1, self.0.unix_nanos);
        bytes(out, 2, self.0.name.as_bytes());
        attributes(out, 3, &self.0.attributes);
    }
}

/// `Span.Link`.
struct LinkBody<'a>(&'a crate::record::Link);

impl Body for LinkBody<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        bytes(out, 1, &self.0.trace_id.to_bytes());
        bytes(out, 2, &self.0.span_id.to_u64().to_be_bytes());
    }
}

/// `Status`: message (2), code (3).
struct StatusBody<'a>(u64, &'a str);

impl Body for StatusBody<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        bytes(out, 2, self.1.as_bytes());
        uint(out, 3, self.0);
    }
}

/// W3C trace flags: recorded spans are sampled.
const SAMPLED: u32 = 1;

/// `opentelemetry.proto.trace.v1.Span`.
struct SpanBody<'a> {
    record: &'a SpanRecord,
    clock: &'a Converter,
}

impl Body for SpanBody<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        let record = self.record;
        bytes(out, 1, &record.trace_id().to_bytes());
        bytes(out, 2, &record.span_id().to_u64().to_be_bytes());
        if let Some(parent) = record.parent_id() {
            bytes(out, 4, &parent.to_u64().to_be_bytes());
        }
        bytes(out, 5, record.name().as_bytes());
        let kind = match record.kind() {
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        };
        uint(out, 6, kind);
        let (start, end) = record.ticks();
        fixed64(out, 7, self.clock.unix_nanos(start));
        fixed64(out, 8, self.clock.unix_nanos(end));
        record.for_each_attribute(|key, value| nested(out, 9, &Attribute(key, value)));
        record.for_each_poll_attribute(self.clock, |key, value| {
            nested(out, 9, &Attribute(key, value));
        });
        for event in record.events() {
            nested(out, 11, &EventBody(event));
        }
        for link in record.links() {
            nested(out, 13, &LinkBody(link));
        }
        match record.status() {
            Status::Unset => {}
            Status::Ok => nested(out, 15, &StatusBody(1, "")),
            Status::Error(message) => nested(out, 15, &StatusBody(2, message)),
        }
        fixed32(out, 16, SAMPLED);
    }
}

/// What every request of one process repeats: its `resource` field and its
/// `scope` field, encoded once.
#[derive(Debug, Clone)]
pub(crate) struct Preamble {
    resource: Vec<u8>,
    scope: Vec<u8>,
}

/// A string attribute, as the resource and scope carry them.
struct Text<'a>(&'a str, &'a str);

impl Body for Text<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        Attribute(self.0, ValueRef::Str(self.1.as_bytes())).write(out);
    }
}

impl Preamble {
    /// `ResourceSpans.resource` with `resource` (keys and string values,
    /// `process.pid` an integer), and `ScopeSpans.scope` naming this
    /// library.
    pub(crate) fn new(resource: &[(String, String)], pid: u32) -> Preamble {
        let mut buffer = FrameBuffer::new(0);
        buffer.push(|out| {
            nested(out, 1, &ResourceBody { resource, pid });
        });
        let resource = buffer.message().to_vec();
        buffer.reset();
        buffer.push(|out| nested(out, 1, &ScopeBody));
        Preamble {
            resource,
            scope: buffer.message().to_vec(),
        }
    }

    /// Room a request needs before its entries.
    pub(crate) fn room(&self) -> usize {
        self.resource.len() + self.scope.len() + 2 * (1 + 10)
    }
}

struct ResourceBody<'a> {
    resource: &'a [(String, String)],
    pid: u32,
}

impl Body for ResourceBody<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        for (key, value) in self.resource {
            nested(out, 1, &Text(key, value));
        }
        nested(
            out,
            1,
            &Attribute("process.pid", ValueRef::I64(i64::from(self.pid))),
        );
        nested(out, 1, &Text("telemetry.sdk.name", "dapple"));
        nested(out, 1, &Text("telemetry.sdk.language", "rust"));
        nested(
            out,
            1,
            &Text("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
        );
    }
}

/// `InstrumentationScope`: this library.
struct ScopeBody;

impl Body for ScopeBody {
    fn write(&self, out: &mut Cursor<'_>) {
        bytes(out, 1, b"dapple");
        bytes(out, 2, env!("CARGO_PKG_VERSION").as_bytes());
    }
}

/// An empty request for `preamble`.
pub(crate) fn new_request(preamble: &Preamble) -> FrameBuffer {
    FrameBuffer::new(preamble.room())
}

/// Appends one span as an entry of `ScopeSpans.spans` (field 2); returns
/// the bytes appended.
#[cfg(test)]
pub(crate) fn push_span(
    request: &mut FrameBuffer,
    record: &SpanRecord,
    clock: &Converter,
) -> usize {
    request.push(|out| write_span(out, record, clock))
}

/// Writes one span as an entry of `ScopeSpans.spans` (field 2).
pub(crate) fn write_span(out: &mut Cursor<'_>, record: &SpanRecord, clock: &Converter) {
    nested(out, 2, &SpanBody { record, clock });
}

/// Finishes the request: writes `resource_spans` (field 1) around the
/// entries, with the resource and scope.
pub(crate) fn finish(request: &mut FrameBuffer, preamble: &Preamble) {
    let scope_spans = preamble.scope.len() + request.entries_len();
    let resource_spans =
        preamble.resource.len() + 1 + encoded_len_varint(scope_spans as u64) + scope_spans;
    let mut header = Vec::with_capacity(preamble.room());
    prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut header);
    prost::encoding::encode_varint(resource_spans as u64, &mut header);
    header.extend_from_slice(&preamble.resource);
    prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut header);
    prost::encoding::encode_varint(scope_spans as u64, &mut header);
    header.extend_from_slice(&preamble.scope);
    request.prepend(&header);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyValue, traced};

    #[traced(crate = crate, name = "otlp.leaf", kind = client, args(n, path))]
    fn leaf(n: i64, path: &str) {
        crate::with_current_span(|s| {
            s.set_attribute("ratio", 0.5);
            s.set_attribute("blob", vec![1_u8, 2]);
            s.set_attribute("flag", true);
            s.add_event("checked", [KeyValue::new("rows", 3_i64)]);
            s.set_error("no luck");
        });
        let _ = (n, path);
    }

    #[traced(crate = crate, name = "otlp.root", kind = server)]
    fn root() {
        leaf(-7, "a path longer than fifteen bytes");
    }

    #[test]
    fn a_request_decodes_with_opentelemetry_s_own_types() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        use opentelemetry_proto::tonic::trace::v1::{span::SpanKind as Kind, status::StatusCode};
        use prost::Message;

        let sink = crate::memory::test_sink();
        root();
        let spans = sink.trace(sink.named("otlp.root")[0].trace_id());
        let clock = crate::clock::converter();
        let preamble = Preamble::new(&[("service.name".into(), "shop".into())], 7);
        let mut request = new_request(&preamble);
        for record in &spans {
            push_span(&mut request, record, &clock);
        }
        finish(&mut request, &preamble);
        let decoded = ExportTraceServiceRequest::decode(request.message()).unwrap();

        assert_eq!(decoded.resource_spans.len(), 1);
        let resource_spans = &decoded.resource_spans[0];
        let resource = resource_spans.resource.as_ref().unwrap();
        let resource_keys: Vec<&str> = resource.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            resource_keys,
            [
                "service.name",
                "process.pid",
                "telemetry.sdk.name",
                "telemetry.sdk.language",
                "telemetry.sdk.version"
            ]
        );
        let scope_spans = &resource_spans.scope_spans[0];
        assert_eq!(scope_spans.scope.as_ref().unwrap().name, "dapple");
        let by_name = |name: &str| scope_spans.spans.iter().find(|s| s.name == name).unwrap();
        let (root, leaf) = (by_name("otlp.root"), by_name("otlp.leaf"));
        let root_record = spans.iter().find(|s| s.name() == "otlp.root").unwrap();
        assert_eq!(root.trace_id, root_record.trace_id().to_bytes());
        assert_eq!(root.span_id, root_record.span_id().to_u64().to_be_bytes());
        assert!(root.parent_span_id.is_empty());
        assert_eq!(leaf.parent_span_id, root.span_id);
        assert_eq!(root.kind, Kind::Server as i32);
        assert_eq!(leaf.kind, Kind::Client as i32);
        // With the batch's converter: a later one may be calibrated anew
        // (as under valgrind, where time runs slow).
        assert_eq!(
            root.start_time_unix_nano,
            root_record.start_unix_nanos_with(&clock)
        );
        assert_eq!(
            root.end_time_unix_nano,
            root_record.end_unix_nanos_with(&clock)
        );
        assert_eq!(leaf.flags, 1);
        let status = leaf.status.as_ref().unwrap();
        assert_eq!(
            (status.code, status.message.as_str()),
            (StatusCode::Error as i32, "no luck")
        );
        let values: Vec<(&str, Option<Value>)> = leaf
            .attributes
            .iter()
            .map(|a| (a.key.as_str(), a.value.clone().and_then(|v| v.value)))
            .collect();
        assert_eq!(
            values,
            [
                ("n", Some(Value::IntValue(-7))),
                (
                    "path",
                    Some(Value::StringValue(
                        "a path longer than fifteen bytes".into()
                    ))
                ),
                ("ratio", Some(Value::DoubleValue(0.5))),
                ("blob", Some(Value::BytesValue(vec![1, 2]))),
                ("flag", Some(Value::BoolValue(true))),
            ]
        );
        assert_eq!(leaf.events[0].name, "checked");
        assert_eq!(
            leaf.events[0].attributes[0]
                .value
                .clone()
                .and_then(|v| v.value),
            Some(Value::IntValue(3))
        );
    }
}
