//! The collector's own form of a span: what stores keep and queries read.
//!
//! Ingest turns the wire form into this one in a single place
//! ([`crate::ingest::convert`]); nothing past ingest sees the wire types, so
//! the wire format can change without touching the stores or the queries.

use std::sync::Arc;

use dapple::{SpanId, TraceId};

/// One finished span, with the service that sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its own id, unique within the trace.
    pub span_id: SpanId,
    /// The span it ran inside, if any.
    pub parent_id: Option<SpanId>,
    /// The service (`service.name` of its process), shared by every span
    /// of the batch or connection that brought it.
    pub service: Arc<str>,
    /// What it did.
    pub name: String,
    /// Its role in a call between processes.
    pub kind: SpanKind,
    /// When it started, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// When it ended, Unix nanoseconds.
    pub end_unix_nanos: u64,
    /// How it ended.
    pub status: Status,
    /// Its attributes, in the order they were set (keys may repeat).
    pub attributes: Vec<Attribute>,
    /// What happened during it.
    pub events: Vec<Event>,
    /// Spans of other traces it relates to.
    pub links: Vec<Link>,
}

impl Span {
    /// From start to end (zero when the clock went backwards).
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }

    /// Whether it ended in error.
    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error
    }

    /// Roughly the bytes it holds: its text and the fixed part of each
    /// piece. What the memory store's byte bound counts.
    pub fn size_bytes(&self) -> u64 {
        fn attributes(attributes: &[Attribute]) -> usize {
            attributes
                .iter()
                .map(|a| {
                    std::mem::size_of::<Attribute>()
                        + a.key.len()
                        + match &a.value {
                            Some(Value::String(s)) => s.len(),
                            Some(Value::Bytes(b)) => b.len(),
                            _ => 0,
                        }
                })
                .sum()
        }
        let events: usize = self
            .events
            .iter()
            .map(|e| std::mem::size_of::<Event>() + e.name.len() + attributes(&e.attributes))
            .sum();
        (std::mem::size_of::<Span>()
            + self.service.len()
            + self.name.len()
            + self.status.message.len()
            + attributes(&self.attributes)
            + events
            + self.links.len() * std::mem::size_of::<Link>()) as u64
    }
}

/// A span's role in a call between processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpanKind {
    /// Work inside one process.
    #[default]
    Internal,
    /// Handling a request.
    Server,
    /// Making a request.
    Client,
    /// Sending a message.
    Producer,
    /// Receiving a message.
    Consumer,
}

/// How a span ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Unset, ok or error.
    pub code: StatusCode,
    /// What went wrong (usually empty unless the code is error).
    pub message: String,
}

/// Unset, ok or error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusCode {
    /// Nothing said.
    #[default]
    Unset,
    /// Succeeded.
    Ok,
    /// Failed.
    Error,
}

/// A key and its typed value.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// The key.
    pub key: String,
    /// The value; `None` when the sender gave none.
    pub value: Option<Value>,
}

/// An attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Text.
    String(String),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// Something that happened during a span.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What happened.
    pub name: String,
    /// When, Unix nanoseconds.
    pub unix_nanos: u64,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
}

/// A span of another trace this one relates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// The other span's trace.
    pub trace_id: TraceId,
    /// The other span.
    pub span_id: SpanId,
}

impl Value {
    /// The text an `attr=key=value` search compares with: the value as the
    /// query API writes it, without quotes; `None` for a float that is not
    /// finite (the API writes it as `null`).
    pub fn text(&self) -> Option<String> {
        Some(match self {
            Value::String(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Double(f) => serde_json::Number::from_f64(*f)?.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Bytes(b) => hex(b),
        })
    }
}

/// Bytes as lowercase hex digits.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
impl Span {
    /// A plain span for tests: span `id` of the trace whose id is 16 times
    /// the byte `trace`, named `s{id}`, from service `a`, at time 0.
    pub(crate) fn example(trace: u8, id: u64) -> Span {
        Span {
            trace_id: TraceId::from_bytes([trace; 16]).expect("a non-zero trace byte"),
            span_id: SpanId::new(id).expect("a non-zero span id"),
            parent_id: None,
            service: "a".into(),
            name: format!("s{id}"),
            kind: SpanKind::Internal,
            start_unix_nanos: 0,
            end_unix_nanos: 0,
            status: Status::default(),
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
        }
    }
}
