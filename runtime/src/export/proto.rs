//! The prost types of `runtime/proto/dapple.proto` (written by hand, so
//! that building needs no `protoc`), the framing of the TCP stream, and the
//! conversion of finished spans to the wire form.

use std::io::{self, Read, Write};

use prost::Message;

use crate::record::SpanRecord;
use crate::span::{SpanKind as Kind, Status as SpanStatus};
use crate::value::{KeyValue as Attribute, Value};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The default largest frame, in bytes, either side accepts.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// One message on the stream.
#[derive(Clone, PartialEq, Message)]
pub struct Frame {
    /// What the frame carries.
    #[prost(oneof = "frame::Kind", tags = "1, 2, 3, 4")]
    pub kind: Option<frame::Kind>,
}

/// The kinds of [`Frame`].
pub mod frame {
    /// What a frame carries.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// The first frame of a connection.
        #[prost(message, tag = "1")]
        Hello(super::Hello),
        /// Spans.
        #[prost(message, tag = "2")]
        Batch(super::Batch),
        /// A batch was stored.
        #[prost(message, tag = "3")]
        Ack(super::Ack),
        /// The peer refused a frame.
        #[prost(message, tag = "4")]
        Error(super::Error),
    }
}

/// The first frame of a connection.
#[derive(Clone, PartialEq, Message)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the client.
    #[prost(uint32, tag = "1")]
    pub protocol_version: u32,
    /// The process that records.
    #[prost(message, optional, tag = "2")]
    pub resource: Option<Resource>,
}

/// The process that recorded the spans.
#[derive(Clone, PartialEq, Eq, Hash, Message)]
pub struct Resource {
    /// `service.name`.
    #[prost(string, tag = "1")]
    pub service_name: String,
    /// `host.name`.
    #[prost(string, tag = "2")]
    pub host: String,
    /// `process.pid`.
    #[prost(uint32, tag = "3")]
    pub pid: u32,
    /// `service.version`.
    #[prost(string, tag = "4")]
    pub version: String,
}

/// Spans, with a sequence number to acknowledge.
#[derive(Clone, PartialEq, Message)]
pub struct Batch {
    /// Increases by one per batch; a re-sent batch keeps its number.
    #[prost(uint64, tag = "1")]
    pub sequence: u64,
    /// The spans.
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
    /// Spans the client dropped since its previous batch.
    #[prost(uint64, tag = "3")]
    pub dropped_spans: u64,
    /// The process, on HTTP ingest where there is no hello.
    #[prost(message, optional, tag = "4")]
    pub resource: Option<Resource>,
}

/// A finished span on the wire.
#[derive(Clone, PartialEq, Message)]
pub struct Span {
    /// 16 bytes, big-endian.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// The span's id.
    #[prost(fixed64, tag = "2")]
    pub span_id: u64,
    /// The parent's id, 0 for a root.
    #[prost(fixed64, tag = "3")]
    pub parent_span_id: u64,
    /// The name.
    #[prost(string, tag = "4")]
    pub name: String,
    /// The kind.
    #[prost(enumeration = "SpanKind", tag = "5")]
    pub kind: i32,
    /// Start, Unix nanoseconds.
    #[prost(fixed64, tag = "6")]
    pub start_unix_nanos: u64,
    /// End, Unix nanoseconds.
    #[prost(fixed64, tag = "7")]
    pub end_unix_nanos: u64,
    /// Outcome.
    #[prost(message, optional, tag = "8")]
    pub status: Option<Status>,
    /// Attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Events.
    #[prost(message, repeated, tag = "10")]
    pub events: Vec<Event>,
    /// Follows-from links.
    #[prost(message, repeated, tag = "11")]
    pub links: Vec<Link>,
}

/// A span's kind on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SpanKind {
    /// Internal.
    Internal = 0,
    /// Server.
    Server = 1,
    /// Client.
    Client = 2,
    /// Producer.
    Producer = 3,
    /// Consumer.
    Consumer = 4,
}

/// A span's outcome on the wire.
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    /// Unset, ok or error.
    #[prost(enumeration = "StatusCode", tag = "1")]
    pub code: i32,
    /// The error message.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Status codes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum StatusCode {
    /// Nothing said.
    Unset = 0,
    /// Succeeded.
    Ok = 1,
    /// Failed.
    Error = 2,
}

/// An attribute on the wire.
#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// A typed value on the wire.
#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    /// The value.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5")]
    pub value: Option<any_value::Value>,
}

/// The kinds of [`AnyValue`].
pub mod any_value {
    /// A typed value.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Text.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// Integer.
        #[prost(int64, tag = "2")]
        IntValue(i64),
        /// Float.
        #[prost(double, tag = "3")]
        DoubleValue(f64),
        /// Boolean.
        #[prost(bool, tag = "4")]
        BoolValue(bool),
        /// Bytes.
        #[prost(bytes = "vec", tag = "5")]
        BytesValue(Vec<u8>),
    }
}

/// An event on the wire.
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    /// What happened.
    #[prost(string, tag = "1")]
    pub name: String,
    /// When, Unix nanoseconds.
    #[prost(fixed64, tag = "2")]
    pub unix_nanos: u64,
    /// Details.
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
}

/// A link on the wire.
#[derive(Clone, PartialEq, Message)]
pub struct Link {
    /// 16 bytes, big-endian.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// The linked span.
    #[prost(fixed64, tag = "2")]
    pub span_id: u64,
}

/// A batch was stored.
#[derive(Clone, PartialEq, Message)]
pub struct Ack {
    /// The batch's sequence number.
    #[prost(uint64, tag = "1")]
    pub sequence: u64,
}

/// A refused frame.
#[derive(Clone, PartialEq, Message)]
pub struct Error {
    /// Why.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed or ended.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// The length prefix is not a valid varint.
    #[error("malformed length prefix")]
    Length,
    /// The frame is larger than allowed.
    #[error("frame of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Its announced size.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a frame.
    #[error("malformed frame: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Writes one length-prefixed frame.
pub fn write_frame(out: &mut impl Write, frame: &Frame) -> io::Result<()> {
    out.write_all(&frame.encode_length_delimited_to_vec())
}

/// Reads one length-prefixed frame, refusing frames over `limit` bytes
/// before reading their body.
pub fn read_frame(input: &mut impl Read, limit: usize) -> Result<Frame, FrameError> {
    let size = read_varint(input)?;
    if size > limit as u64 {
        return Err(FrameError::TooLarge { size, limit });
    }
    let mut body = vec![0; size as usize];
    input.read_exact(&mut body)?;
    Ok(Frame::decode(body.as_slice())?)
}

fn read_varint(input: &mut impl Read) -> Result<u64, FrameError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        input.read_exact(&mut byte)?;
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FrameError::Length)
}

fn attribute(kv: &Attribute) -> KeyValue {
    KeyValue {
        key: kv.key.to_string(),
        value: Some(AnyValue {
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

impl Span {
    /// The wire form of a finished span.
    pub fn from_record(record: &SpanRecord) -> Span {
        let status = match record.status() {
            SpanStatus::Unset => None,
            SpanStatus::Ok => Some(Status {
                code: StatusCode::Ok as i32,
                message: String::new(),
            }),
            SpanStatus::Error(message) => Some(Status {
                code: StatusCode::Error as i32,
                message: message.to_string(),
            }),
        };
        Span {
            trace_id: record.trace_id().to_bytes().to_vec(),
            span_id: record.span_id().to_u64(),
            parent_span_id: record.parent_id().map_or(0, |p| p.to_u64()),
            name: record.name().to_owned(),
            kind: match record.kind() {
                Kind::Internal => SpanKind::Internal,
                Kind::Server => SpanKind::Server,
                Kind::Client => SpanKind::Client,
                Kind::Producer => SpanKind::Producer,
                Kind::Consumer => SpanKind::Consumer,
            } as i32,
            start_unix_nanos: record.start_unix_nanos(),
            end_unix_nanos: record.end_unix_nanos(),
            status,
            attributes: record.attributes().map(|kv| attribute(&kv)).collect(),
            events: record
                .events()
                .iter()
                .map(|e| Event {
                    name: e.name.to_string(),
                    unix_nanos: e.unix_nanos,
                    attributes: e.attributes.iter().map(attribute).collect(),
                })
                .collect(),
            links: record
                .links()
                .iter()
                .map(|l| Link {
                    trace_id: l.trace_id.to_bytes().to_vec(),
                    span_id: l.span_id.to_u64(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_frame() -> Frame {
        Frame {
            kind: Some(frame::Kind::Batch(Batch {
                sequence: 7,
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: 2,
                    name: "x".into(),
                    ..Span::default()
                }],
                dropped_spans: 0,
                resource: None,
            })),
        }
    }

    #[test]
    fn frames_round_trip_through_a_stream() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &batch_frame()).unwrap();
        write_frame(
            &mut wire,
            &Frame {
                kind: Some(frame::Kind::Ack(Ack { sequence: 7 })),
            },
        )
        .unwrap();
        let mut input = wire.as_slice();
        assert_eq!(read_frame(&mut input, 1024).unwrap(), batch_frame());
        let ack = read_frame(&mut input, 1024).unwrap();
        assert_eq!(ack.kind, Some(frame::Kind::Ack(Ack { sequence: 7 })));
    }

    #[test]
    fn oversized_truncated_and_garbage_frames_are_errors() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &batch_frame()).unwrap();
        assert!(matches!(
            read_frame(&mut wire.as_slice(), 4),
            Err(FrameError::TooLarge { limit: 4, .. })
        ));
        // A length prefix of 4 GiB is refused before anything is read.
        let huge = [0x80, 0x80, 0x80, 0x80, 0x10];
        assert!(matches!(
            read_frame(&mut huge.as_slice(), DEFAULT_MAX_FRAME_BYTES),
            Err(FrameError::TooLarge {
                size: 4_294_967_296,
                ..
            })
        ));
        let truncated = &wire[..wire.len() - 3];
        assert!(matches!(
            read_frame(&mut &truncated[..], 1024),
            Err(FrameError::Io(_))
        ));
        let garbage = [3u8, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut &garbage[..], 1024),
            Err(FrameError::Decode(_))
        ));
        let endless = [0xffu8; 11];
        assert!(matches!(
            read_frame(&mut &endless[..], 1024),
            Err(FrameError::Length)
        ));
    }
}
