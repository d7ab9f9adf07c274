//! Finished spans written straight into a batch frame's bytes: no owned
//! wire structs in between, and nothing allocated once the buffers have
//! grown. The layout is `dapple.v1.Span` as prost writes it (defaults
//! omitted), so the collector's decoder reads it as any other.
//!
//! Bytes are written through a cursor into a buffer kept initialized to its
//! full length: no capacity check or length update per field, and a span
//! that does not fit is written again after the buffer grew.
//!
//! This lives here, not in dapple-proto: dapple's exporter depends on
//! dapple-proto, so dapple-proto cannot depend on dapple's records, and the
//! encoder reads the records' private parts (arguments in place) directly.

use prost::encoding::encoded_len_varint;

use crate::args::ValueRef;
use crate::clock::Converter;
use crate::record::SpanRecord;
use crate::span::{SpanKind, Status};
use crate::value::KeyValue;

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;

/// Writes into a slice; past its end it only notes that it ran out of room
/// (what it wrote is then discarded and written again with more room).
struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
    full: bool,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a mut [u8]) -> Cursor<'a> {
        Cursor {
            buf,
            pos: 0,
            full: false,
        }
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            Some(to) => {
                to.copy_from_slice(bytes);
                self.pos += bytes.len();
            }
            None => self.full = true,
        }
    }

    #[inline]
    fn byte(&mut self, byte: u8) {
        match self.buf.get_mut(self.pos) {
            Some(to) => {
                *to = byte;
                self.pos += 1;
            }
            None => self.full = true,
        }
    }

    #[inline]
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.byte(value as u8 | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }
}

/// A message body.
trait Body {
    fn write(&self, out: &mut Cursor<'_>);
}

#[inline]
fn key(out: &mut Cursor<'_>, field: u64, wire: u64) {
    out.varint(field << 3 | wire);
}

/// Writes a length-delimited message in one pass: one byte is kept for its
/// length, the body is written after it, and in the rarer case of a body of
/// 128 bytes or more it is moved up to make room for a longer length. This
/// is cheaper than measuring the body first, which for nested messages
/// means measuring the inner ones once per level.
#[inline]
fn nested(out: &mut Cursor<'_>, field: u64, body: &impl Body) {
    key(out, field, LEN);
    let at = out.pos;
    out.byte(0);
    body.write(out);
    if out.full {
        return;
    }
    let len = out.pos - at - 1;
    if len < 0x80 {
        out.buf[at] = len as u8;
    } else {
        long_length(out, at, len);
    }
}

/// Replaces the one byte kept at `at` with the varint `len`, moving the
/// `len` bytes of body after it up.
#[cold]
fn long_length(out: &mut Cursor<'_>, at: usize, len: usize) {
    let extra = encoded_len_varint(len as u64) - 1;
    if out.pos + extra > out.buf.len() {
        out.full = true;
        return;
    }
    out.buf.copy_within(at + 1..at + 1 + len, at + 1 + extra);
    out.pos = at;
    out.varint(len as u64);
    out.pos += len;
}

fn bytes(out: &mut Cursor<'_>, field: u64, value: &[u8]) {
    if !value.is_empty() {
        key(out, field, LEN);
        out.varint(value.len() as u64);
        out.put(value);
    }
}

fn fixed64(out: &mut Cursor<'_>, field: u64, value: u64) {
    if value != 0 {
        key(out, field, FIXED64);
        out.put(&value.to_le_bytes());
    }
}

fn uint(out: &mut Cursor<'_>, field: u64, value: u64) {
    if value != 0 {
        key(out, field, VARINT);
        out.varint(value);
    }
}

/// `dapple.v1.AnyValue`: its one field is written even when it is a default.
struct AnyValue<'a>(ValueRef<'a>);

impl Body for AnyValue<'_> {
    fn write(&self, out: &mut Cursor<'_>) {
        match self.0 {
            ValueRef::Str(s) => {
                key(out, 1, LEN);
                out.varint(s.len() as u64);
                out.put(s);
            }
            ValueRef::I64(v) => {
                key(out, 2, VARINT);
                out.varint(v as u64);
            }
            ValueRef::F64(v) => {
                key(out, 3, FIXED64);
                out.put(&v.to_bits().to_le_bytes());
            }
            ValueRef::Bool(v) => {
                key(out, 4, VARINT);
                out.varint(u64::from(v));
            }
            ValueRef::Bytes(b) => {
                key(out, 5, LEN);
                out.varint(b.len() as u64);
                out.put(b);
            }
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
    }
}

/// The most bytes a batch frame adds around its span entries.
pub(crate) const FRAME_OVERHEAD: usize = 48;

/// Room left at the front of a frame buffer for the frame's header (length
/// prefix, `Frame.batch` key and length, `Batch.sequence`): at most 32
/// bytes, written last, right before the entries, so that the entries are
/// never copied.
const HEADER_ROOM: usize = 32;

/// Room a buffer grows by at least.
const MIN_GROWTH: usize = 4096;

/// A batch frame being gathered: room for its header, then span entries.
/// The buffer is initialized to its full length and reused from frame to
/// frame, so that writing needs no capacity checks.
#[derive(Debug)]
pub(crate) struct FrameBuffer {
    bytes: Vec<u8>,
    /// Bytes written, room for the header included.
    len: usize,
    /// Where the finished frame starts (after [`finish`](Self::finish)).
    start: usize,
}

impl FrameBuffer {
    /// An empty frame.
    pub(crate) fn new() -> FrameBuffer {
        FrameBuffer {
            bytes: vec![0; HEADER_ROOM],
            len: HEADER_ROOM,
            start: HEADER_ROOM,
        }
    }

    /// Empties it for a new frame, keeping its memory.
    pub(crate) fn reset(&mut self) {
        self.len = HEADER_ROOM;
        self.start = HEADER_ROOM;
    }

    /// Bytes written so far (the entries and the room for the header).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Memory it holds.
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Appends one span as an entry of `Batch.spans` (field 2); returns the
    /// bytes appended.
    pub(crate) fn push_span(&mut self, record: &SpanRecord, clock: &Converter) -> usize {
        loop {
            let mut out = Cursor::new(&mut self.bytes[self.len..]);
            nested(&mut out, 2, &SpanBody { record, clock });
            if !out.full {
                self.len += out.pos;
                return out.pos;
            }
            let room = out.buf.len();
            self.grow(room + 1);
        }
    }

    /// The entries from byte `at` on (an offset [`len`](Self::len) gave).
    pub(crate) fn entries_from(&self, at: usize) -> &[u8] {
        &self.bytes[at..self.len]
    }

    /// Drops the entries from byte `at` on.
    pub(crate) fn truncate(&mut self, at: usize) {
        self.len = self.len.min(at.max(HEADER_ROOM));
    }

    /// Appends entries taken from another frame with
    /// [`entries_from`](Self::entries_from).
    pub(crate) fn extend(&mut self, entries: &[u8]) {
        if self.bytes.len() - self.len < entries.len() {
            self.grow(entries.len());
        }
        self.bytes[self.len..self.len + entries.len()].copy_from_slice(entries);
        self.len += entries.len();
    }

    /// Grows the room after the written bytes to at least `room`.
    fn grow(&mut self, room: usize) {
        let by = room.max(self.bytes.len()).max(MIN_GROWTH);
        self.bytes.resize(self.bytes.len() + by, 0);
    }

    /// Finishes the frame: appends the drop count and writes the header in
    /// the room before the entries.
    pub(crate) fn finish(&mut self, sequence: u64, dropped: u64) {
        if dropped != 0 {
            let mut field = [0; 11];
            let mut out = Cursor::new(&mut field);
            key(&mut out, 3, VARINT);
            out.varint(dropped);
            let written = out.pos;
            self.extend(&field[..written]);
        }
        let sequence_field = if sequence == 0 {
            0
        } else {
            1 + encoded_len_varint(sequence)
        };
        let batch_len = sequence_field + self.len - HEADER_ROOM;
        let frame_len = 1 + encoded_len_varint(batch_len as u64) + batch_len;
        let mut header = [0; HEADER_ROOM];
        let mut out = Cursor::new(&mut header);
        out.varint(frame_len as u64);
        key(&mut out, 2, LEN);
        out.varint(batch_len as u64);
        uint(&mut out, 1, sequence);
        let written = out.pos;
        self.start = HEADER_ROOM - written;
        self.bytes[self.start..HEADER_ROOM].copy_from_slice(&header[..written]);
    }

    /// The finished frame's bytes, ready for the socket.
    pub(crate) fn frame(&self) -> &[u8] {
        &self.bytes[self.start..self.len]
    }
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
            ..Default::default()
        }
    }

    #[traced(crate = crate, name = "encode.leaf", kind = client, args(n, path, long))]
    fn leaf(n: i64, path: &str, long: &str) {
        crate::with_current_span(|s| {
            s.set_attribute("ratio", 0.5);
            s.set_attribute("blob", vec![0_u8, 1, 2]);
            s.set_attribute("flag", false);
            s.set_attribute("zero", 0_i64);
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
        let mut frame = FrameBuffer::new();
        for record in &spans {
            let start = frame.len();
            let written = frame.push_span(record, &clock);
            let expected = owned(record, &clock);
            let mut want = Vec::new();
            prost::encoding::message::encode(2, &expected, &mut want);
            assert_eq!(frame.entries_from(start), &want[..], "{}", record.name());
            assert_eq!(written, want.len());
        }
        frame.finish(300, 5);
        let decoded = Frame::decode_length_delimited(frame.frame()).unwrap();
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
            ["n", "path", "long", "ratio", "blob", "flag", "zero"],
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
        let mut frame = FrameBuffer::new();
        for record in &spans {
            let start = frame.len();
            frame.push_span(record, &clock);
            let mut want = Vec::new();
            prost::encoding::message::encode(2, &owned(record, &clock), &mut want);
            assert_eq!(frame.entries_from(start), &want[..]);
        }
        frame.finish(7, 0);
        let decoded = Frame::decode_length_delimited(frame.frame()).unwrap();
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
        let mut frame = FrameBuffer::new();
        frame.finish(1, 42);
        let decoded = Frame::decode_length_delimited(frame.frame()).unwrap();
        let Some(frame::Kind::Batch(batch)) = decoded.kind else {
            panic!("not a batch");
        };
        assert_eq!(
            (batch.sequence, batch.dropped_spans, batch.spans.len()),
            (1, 42, 0)
        );
    }
}
