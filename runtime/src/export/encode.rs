//! Finished spans written straight into a native batch frame's bytes: no
//! owned wire structs in between, and nothing allocated once the buffers
//! have grown. The layout is `dapple.v1.Span` as prost writes it (defaults
//! omitted), so the collector's decoder reads it as any other.
//!
//! This lives here, not in dapple-proto: dapple's exporter depends on
//! dapple-proto, so dapple-proto cannot depend on dapple's records, and the
//! encoder reads the records' private parts (arguments in place) directly.

use prost::encoding::encoded_len_varint;

use super::wire::{
    Body, Cursor, FIXED64, FrameBuffer, LEN, bytes, delimited, fixed64, key, nested, uint, varint,
    written,
};
use crate::args::ValueRef;
use crate::clock::Converter;
use crate::record::{PollTimes, SpanRecord};
use crate::span::{SpanKind, Status};
use crate::value::KeyValue;

/// `dapple.v1.AnyValue`: its one field is written even when it is a default.
struct AnyValue<'a>(ValueRef<'a>);

impl Body for AnyValue<'_> {
    #[inline]
    fn write(&self, out: &mut Cursor<'_>) {
        match self.0 {
            ValueRef::Str(s) => delimited(out, 1, s),
            ValueRef::I64(v) => varint(out, 2, v as u64),
            ValueRef::F64(v) => {
                key(out, 3, FIXED64);
                out.put(&v.to_bits().to_le_bytes());
            }
            ValueRef::Bool(v) => varint(out, 4, u64::from(v)),
            ValueRef::Bytes(b) => delimited(out, 5, b),
        }
    }
}

/// `dapple.v1.KeyValue`.
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

/// `dapple.v1.Status`.
struct StatusBody<'a>(u64, &'a str);

impl Body for StatusBody<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        uint(out, 1, self.0);
        bytes(out, 2, self.1.as_bytes());
    }
}

/// `dapple.v1.Event`.
struct EventBody<'a>(&'a crate::record::Event);

impl Body for EventBody<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        bytes(out, 1, self.0.name.as_bytes());
        fixed64(out, 2, self.0.unix_nanos);
        attributes(out, 3, &self.0.attributes);
    }
}

/// `dapple.v1.Link`.
struct LinkBody<'a>(&'a crate::record::Link);

impl Body for LinkBody<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        bytes(out, 1, &self.0.trace_id.to_bytes());
        fixed64(out, 2, self.0.span_id.to_u64());
    }
}

/// `dapple.v1.Span`, its times converted with a converter taken once per
/// batch.
struct SpanBody<'a> {
    record: &'a SpanRecord,
    clock: &'a Converter,
}

impl Body for SpanBody<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        let record = self.record;
        bytes(out, 1, &record.trace_id().to_bytes());
        fixed64(out, 2, record.span_id().to_u64());
        fixed64(out, 3, record.parent_id().map_or(0, |p| p.to_u64()));
        bytes(out, 4, record.name().as_bytes());
        let kind = match record.kind() {
            SpanKind::Internal => 0,
            SpanKind::Server => 1,
            SpanKind::Client => 2,
            SpanKind::Producer => 3,
            SpanKind::Consumer => 4,
        };
        uint(out, 5, kind);
        let (start, end) = record.ticks();
        fixed64(out, 6, self.clock.unix_nanos(start));
        fixed64(out, 7, self.clock.unix_nanos(end));
        match record.status() {
            Status::Unset => {}
            Status::Ok => nested(out, 8, &StatusBody(1, "")),
            Status::Error(message) => nested(out, 8, &StatusBody(2, message)),
        }
        record.for_each_attribute(|key, value| nested(out, 9, &Attribute(key, value)));
        for event in record.events() {
            nested(out, 10, &EventBody(event));
        }
        for link in record.links() {
            nested(out, 11, &LinkBody(link));
        }
        // W3C trace flags: recorded spans are sampled.
        uint(out, 13, 1);
        // An async span's poll times: three varints, where OTLP takes
        // three attributes (the collector shows them as those).
        if let Some(times) = record.poll_times_with(self.clock) {
            nested(out, 18, &PollTimesBody(times));
        }
    }
}

/// `dapple.v1.PollTimes`.
struct PollTimesBody(PollTimes);

impl Body for PollTimesBody {
    fn write(&self, out: &mut Cursor<'_>) {
        uint(out, 1, self.0.busy_nanos);
        uint(out, 2, self.0.idle_nanos);
        uint(out, 3, u64::from(self.0.polls));
    }
}

/// The most bytes a batch frame adds around its span entries.
pub(crate) const FRAME_OVERHEAD: usize = 48;

/// Room left at the front of a frame for its header (length prefix,
/// `Frame.batch` key and length, `Batch.sequence`): at most 32 bytes,
/// written last, right before the entries, so that they are never copied.
const HEADER_ROOM: usize = 32;

/// An empty batch frame.
pub(crate) fn new_frame() -> FrameBuffer {
    FrameBuffer::new(HEADER_ROOM)
}

/// Appends one span as an entry of `Batch.spans` (field 2); returns the
/// bytes appended.
#[cfg(test)]
pub(crate) fn push_span(frame: &mut FrameBuffer, record: &SpanRecord, clock: &Converter) -> usize {
    frame.push(|out| write_span(out, record, clock))
}

/// Writes one span as an entry of `Batch.spans` (field 2).
pub(crate) fn write_span(out: &mut Cursor<'_>, record: &SpanRecord, clock: &Converter) {
    nested(out, 2, &SpanBody { record, clock });
}

/// Finishes the batch frame: appends the drop count and writes the header
/// in the room before the entries.
pub(crate) fn finish(frame: &mut FrameBuffer, sequence: u64, dropped: u64) {
    let (field, len) = written(|out| uint(out, 3, dropped));
    frame.extend(&field[..len]);
    let sequence_field = if sequence == 0 {
        0
    } else {
        1 + encoded_len_varint(sequence)
    };
    let batch_len = sequence_field + frame.entries_len();
    let frame_len = 1 + encoded_len_varint(batch_len as u64) + batch_len;
    let (header, len) = written(|out| {
        out.varint(frame_len as u64);
        key(out, 2, LEN);
        out.varint(batch_len as u64);
        uint(out, 1, sequence);
    });
    frame.prepend(&header[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyValue, SpanKind, traced};
    use dapple_proto::{self as proto, Frame, any_value, frame};
    use prost::Message;

    /// What prost makes of the same record through owned wire structs: the
    /// encoder must write the same message.
    fn kv(key: &str, value: ValueRef<'_>) -> proto::KeyValue {
        proto::KeyValue {
            key: key.to_owned(),
            value: Some(proto::AnyValue {
                value: Some(match value {
                    ValueRef::Str(s) => {
                        any_value::Value::StringValue(String::from_utf8(s.to_vec()).unwrap())
                    }
                    ValueRef::I64(v) => any_value::Value::IntValue(v),
                    ValueRef::F64(v) => any_value::Value::DoubleValue(v),
                    ValueRef::Bool(v) => any_value::Value::BoolValue(v),
                    ValueRef::Bytes(v) => any_value::Value::BytesValue(v.to_vec()),
                }),
            }),
        }
    }

    fn owned(record: &SpanRecord, clock: &Converter) -> proto::Span {
        let mut attributes = Vec::new();
        record.for_each_attribute(|k, v| attributes.push(kv(k, v)));
        let (start, end) = record.ticks();
        proto::Span {
            trace_id: record.trace_id().to_bytes().to_vec(),
            span_id: record.span_id().to_u64(),
            parent_span_id: record.parent_id().map_or(0, |p| p.to_u64()),
            name: record.name().to_owned(),
            kind: record.kind() as i32,
            start_unix_nanos: clock.unix_nanos(start),
            end_unix_nanos: clock.unix_nanos(end),
            status: match record.status() {
                Status::Unset => None,
                Status::Ok => Some(proto::Status {
                    code: 1,
                    message: String::new(),
                }),
                Status::Error(m) => Some(proto::Status {
                    code: 2,
                    message: m.to_string(),
                }),
            },
            attributes,
            events: record
                .events()
                .iter()
                .map(|e| proto::Event {
                    name: e.name.to_string(),
                    unix_nanos: e.unix_nanos,
                    attributes: e
                        .attributes
                        .iter()
                        .map(|a| kv(&a.key, ValueRef::of(&a.value)))
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            links: record
                .links()
                .iter()
                .map(|l| proto::Link {
                    trace_id: l.trace_id.to_bytes().to_vec(),
                    span_id: l.span_id.to_u64(),
                    ..Default::default()
                })
                .collect(),
            flags: 1,
            poll_times: record.poll_times_with(clock).map(|times| proto::PollTimes {
                busy_nanos: times.busy_nanos,
                idle_nanos: times.idle_nanos,
                polls: u64::from(times.polls),
            }),
            ..Default::default()
        }
    }

    /// Appends `record` to `frame`, checking that its bytes are what prost
    /// writes for the same wire span; the bytes appended.
    fn push_as_prost(frame: &mut FrameBuffer, record: &SpanRecord, clock: &Converter) -> usize {
        let start = frame.len();
        let written = push_span(frame, record, clock);
        let mut want = Vec::new();
        prost::encoding::message::encode(2, &owned(record, clock), &mut want);
        assert_eq!(frame.entries_from(start), &want[..], "{}", record.name());
        assert_eq!(written, want.len());
        written
    }

    /// Pending once, then ready.
    struct YieldOnce(bool);

    impl std::future::Future for YieldOnce {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if std::mem::replace(&mut self.0, true) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        }
    }

    #[traced(crate = crate, name = "encode.async", args(n))]
    async fn waits(n: i64) {
        YieldOnce(false).await;
        let _ = n;
    }

    #[test]
    fn an_async_span_carries_its_poll_times_as_a_message_of_its_own() {
        let sink = crate::memory::test_sink();
        let mut future = std::pin::pin!(waits(3));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        while future.as_mut().poll(&mut cx).is_pending() {}
        let record = &sink.named("encode.async")[0];
        let clock = crate::clock::converter();
        let mut frame = new_frame();
        push_as_prost(&mut frame, record, &clock);
        finish(&mut frame, 1, 0);
        let Some(frame::Kind::Batch(batch)) = Frame::decode_length_delimited(frame.message())
            .unwrap()
            .kind
        else {
            panic!("not a batch");
        };
        let span = &batch.spans[0];
        let times = span.poll_times.as_ref().expect("poll times");
        assert_eq!(times.polls, 2);
        assert_eq!(
            times.busy_nanos + times.idle_nanos,
            clock.nanos(record.ticks().0, record.ticks().1)
        );
        // The arguments only: the poll times are not attributes here.
        let keys: Vec<&str> = span.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["n"]);
    }

    #[traced(crate = crate, name = "encode.leaf", kind = client, args(n, path, long))]
    fn leaf(n: i64, path: &str, long: &str) {
        crate::with_current_span(|s| {
            s.set_attribute("ratio", 0.5);
            s.set_attribute("blob", vec![0_u8, 1, 2]);
            s.set_attribute("flag", false);
            s.set_attribute("zero", 0_i64);
            s.set_attribute("empty", "");
            s.add_event("checked", [KeyValue::new("rows", 3_i64)]);
            s.set_error("no luck");
        });
        let _ = (n, path, long);
    }

    #[traced(crate = crate, name = "encode.root", kind = server)]
    fn root() {
        leaf(
            -7,
            "GET /users",
            "a string argument longer than fifteen bytes",
        );
    }

    #[test]
    fn spans_encode_as_prost_encodes_them_and_decode_back() {
        let sink = crate::memory::test_sink();
        root();
        let spans = sink.trace(sink.named("encode.root")[0].trace_id());
        assert_eq!(spans.len(), 2);
        let clock = crate::clock::converter();
        let mut frame = new_frame();
        for record in &spans {
            push_as_prost(&mut frame, record, &clock);
        }
        finish(&mut frame, 300, 5);
        let decoded = Frame::decode_length_delimited(frame.message()).unwrap();
        let Some(frame::Kind::Batch(batch)) = decoded.kind else {
            panic!("not a batch");
        };
        assert_eq!(batch.sequence, 300);
        assert_eq!(batch.dropped_spans, 5);
        assert_eq!(batch.spans.len(), 2);
        let leaf = batch
            .spans
            .iter()
            .find(|s| s.name == "encode.leaf")
            .unwrap();
        assert_eq!(leaf.kind, SpanKind::Client as i32);
        assert_eq!(leaf.status.as_ref().unwrap().message, "no luck");
        assert_eq!(leaf.events[0].name, "checked");
        let keys: Vec<&str> = leaf.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "n", "path", "long", "ratio", "blob", "flag", "zero", "empty"
            ],
            "arguments first, then the others"
        );
        assert_eq!(
            leaf.attributes[2].value.as_ref().unwrap().value,
            Some(any_value::Value::StringValue(
                "a string argument longer than fifteen bytes".into()
            ))
        );
    }

    #[traced(crate = crate, name = "encode.large")]
    fn large(text: &str) {
        crate::with_current_span(|s| s.set_attribute("text", text.to_owned()));
    }

    #[test]
    fn long_fields_get_longer_lengths_and_a_frame_grows_to_fit_them() {
        let sink = crate::memory::test_sink();
        // Bodies of one, two and three length bytes, and one past the
        // buffer's first growth.
        let sizes = [10, 200, 20_000, 70_000];
        for size in sizes {
            large(&"x".repeat(size));
        }
        let spans = sink.named("encode.large");
        assert_eq!(spans.len(), sizes.len());
        let clock = crate::clock::converter();
        let mut frame = new_frame();
        for record in &spans {
            push_as_prost(&mut frame, record, &clock);
        }
        finish(&mut frame, 7, 0);
        let decoded = Frame::decode_length_delimited(frame.message()).unwrap();
        let Some(frame::Kind::Batch(batch)) = decoded.kind else {
            panic!("not a batch");
        };
        let lengths: Vec<usize> = batch
            .spans
            .iter()
            .map(|s| match &s.attributes[0].value.as_ref().unwrap().value {
                Some(any_value::Value::StringValue(text)) => text.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(lengths, sizes);
    }

    #[test]
    fn an_empty_batch_frame_carries_only_its_drop_count() {
        let mut frame = new_frame();
        finish(&mut frame, 1, 42);
        let decoded = Frame::decode_length_delimited(frame.message()).unwrap();
        let Some(frame::Kind::Batch(batch)) = decoded.kind else {
            panic!("not a batch");
        };
        assert_eq!(
            (batch.sequence, batch.dropped_spans, batch.spans.len()),
            (1, 42, 0)
        );
    }
}
