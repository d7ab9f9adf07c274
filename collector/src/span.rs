//! The collector's own form of a span: what stores keep and queries read.
//!
//! Ingest turns the wire form into this one in a single place
//! ([`crate::ingest::convert`]); nothing past ingest sees the wire types, so
//! the wire format can change without touching the stores or the queries.

use std::sync::Arc;

use dapple::{SpanId, TraceId};

/// Text a span holds: names, keys and text values. Up to 24 bytes it
/// lives in place, with no allocation of its own; most span names and
/// attribute keys, and many values, are that short.
pub type Text = compact_str::CompactString;

/// One finished span, with the process that sent it.
///
/// What most spans leave empty (events, links, `tracestate`, a status
/// message, drop counts) is boxed apart in [`Rare`]: a span without any of
/// it is 128 bytes, two cache lines, and stores keep millions of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its own id, unique within the trace.
    pub span_id: SpanId,
    /// The span it ran inside, if any.
    pub parent_id: Option<SpanId>,
    /// The process that recorded it, shared by every span of the batch or
    /// connection that brought it; its service is [`Span::service`].
    pub resource: Arc<Resource>,
    /// The library that recorded it (OpenTelemetry's instrumentation
    /// scope); `None` for spans from Dapple's runtime.
    pub scope: Option<Arc<Scope>>,
    /// What it did.
    pub name: Text,
    /// Its role in a call between processes.
    pub kind: SpanKind,
    /// How it ended (a message, if any, is in [`Rare::status_message`]).
    pub status: StatusCode,
    /// When it started, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// When it ended, Unix nanoseconds.
    pub end_unix_nanos: u64,
    /// Its attributes, in the order they were set (keys may repeat).
    pub attributes: Vec<Attribute>,
    /// W3C trace flags (bit 0: sampled) and OpenTelemetry's bits 8-9 (the
    /// parent is remote, and whether that is known).
    pub flags: u32,
    /// The rest, `None` while all of it is empty (see [`Rare::boxed`]).
    pub rare: Option<Box<Rare>>,
}

/// The parts of a span most spans leave empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rare {
    /// What went wrong (usually empty unless the status is error).
    pub status_message: String,
    /// What happened during it.
    pub events: Vec<Event>,
    /// Spans of other traces it relates to.
    pub links: Vec<Link>,
    /// W3C `tracestate` of its context, as received.
    pub trace_state: String,
    /// What the sender dropped to stay within its limits.
    pub dropped: Dropped,
}

impl Rare {
    /// Boxed for a span, or `None` when all of it is empty: a span holds
    /// its `Rare` only when there is something in it.
    pub fn boxed(self) -> Option<Box<Rare>> {
        (self != Rare::default()).then(|| Box::new(self))
    }
}

/// The process that recorded spans: its service and attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resource {
    /// `service.name` (`unknown_service` when the sender gave none).
    pub service: Arc<str>,
    /// Every attribute as sent, `service.name` included.
    pub attributes: Vec<Attribute>,
    /// Attributes the sender dropped.
    pub dropped_attributes: u32,
}

impl Resource {
    /// The name used when a sender gives none, as OpenTelemetry's SDKs do.
    pub const UNKNOWN_SERVICE: &'static str = "unknown_service";

    /// A resource of `attributes` as sent: its service is their
    /// `service.name` text, when there is one.
    pub fn new(attributes: Vec<Attribute>, dropped_attributes: u32) -> Resource {
        let service = attributes
            .iter()
            .find_map(|a| match (&*a.key, &a.value) {
                ("service.name", Some(Value::String(s))) if !s.is_empty() => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or(Resource::UNKNOWN_SERVICE);
        Resource {
            service: service.into(),
            attributes,
            dropped_attributes,
        }
    }

    /// A resource that only names its service (spans stored before
    /// resources were kept, and tests).
    pub fn of_service(service: &str) -> Resource {
        Resource::new(
            vec![Attribute {
                key: "service.name".into(),
                value: Some(Value::String(service.into())),
            }],
            0,
        )
    }
}

/// The library that recorded spans.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
    /// Attributes the sender dropped.
    pub dropped_attributes: u32,
}

/// Counts of what a sender dropped from a span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Attributes.
    pub attributes: u32,
    /// Events.
    pub events: u32,
    /// Links.
    pub links: u32,
}

impl Span {
    /// The service that sent it (its resource's `service.name`).
    pub fn service(&self) -> &str {
        &self.resource.service
    }

    /// Makes `service` its service: when its resource names another, it
    /// gets a copy of the resource naming this one.
    pub(crate) fn name_service(&mut self, service: &str) {
        if self.service() != service {
            self.resource = Arc::new(Resource {
                service: service.into(),
                ..(*self.resource).clone()
            });
        }
    }

    /// What went wrong, as the sender said (usually empty).
    pub fn status_message(&self) -> &str {
        self.rare.as_ref().map_or("", |r| &r.status_message)
    }

    /// What happened during it.
    pub fn events(&self) -> &[Event] {
        self.rare.as_ref().map_or(&[], |r| &r.events)
    }

    /// Spans of other traces it relates to.
    pub fn links(&self) -> &[Link] {
        self.rare.as_ref().map_or(&[], |r| &r.links)
    }

    /// W3C `tracestate` of its context, as received.
    pub fn trace_state(&self) -> &str {
        self.rare.as_ref().map_or("", |r| &r.trace_state)
    }

    /// What the sender dropped to stay within its limits.
    pub fn dropped(&self) -> Dropped {
        self.rare
            .as_ref()
            .map_or_else(Dropped::default, |r| r.dropped)
    }

    /// From start to end (zero when the clock went backwards).
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }

    /// Whether it ended in error.
    pub fn is_error(&self) -> bool {
        self.status == StatusCode::Error
    }

    /// Roughly the bytes it holds: its text and the fixed part of each
    /// piece. What the memory store's byte bound counts.
    pub fn size_bytes(&self) -> u64 {
        let rare = self.rare.as_ref().map_or(0, |rare| {
            let events: usize = rare
                .events
                .iter()
                .map(|e| size_of::<Event>() + e.name.len() + attributes_size(&e.attributes))
                .sum();
            let links: usize = rare
                .links
                .iter()
                .map(|l| size_of::<Link>() + l.trace_state.len() + attributes_size(&l.attributes))
                .sum();
            size_of::<Rare>() + rare.status_message.len() + rare.trace_state.len() + events + links
        });
        (size_of::<Span>() + self.name.len() + attributes_size(&self.attributes) + rare) as u64
    }
}

/// Roughly the bytes attributes hold.
fn attributes_size(attributes: &[Attribute]) -> usize {
    attributes
        .iter()
        .map(|a| {
            std::mem::size_of::<Attribute>()
                + a.key.len()
                + a.value.as_ref().map_or(0, Value::size_bytes)
        })
        .sum()
}

impl Value {
    /// Roughly the bytes it holds outside itself.
    fn size_bytes(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::Array(values) => values
                .iter()
                .map(|v| std::mem::size_of::<Value>() + v.as_ref().map_or(0, Value::size_bytes))
                .sum(),
            Value::Map(pairs) => attributes_size(pairs),
            Value::Int(_) | Value::Double(_) | Value::Bool(_) => 0,
        }
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

/// How a span ended: unset, ok or error.
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
    pub key: Text,
    /// The value; `None` when the sender gave none.
    pub value: Option<Value>,
}

/// An attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Text.
    String(Text),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// Bytes.
    Bytes(Vec<u8>),
    /// Values in order; `None` for an empty one.
    Array(Vec<Option<Value>>),
    /// Keys and values in order (keys may repeat).
    Map(Vec<Attribute>),
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
    /// Attributes the sender dropped.
    pub dropped_attributes: u32,
}

/// A span of another trace this one relates to.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The other span's trace.
    pub trace_id: TraceId,
    /// The other span.
    pub span_id: SpanId,
    /// W3C `tracestate` of the other span's context.
    pub trace_state: String,
    /// Trace flags of the other span's context, as in [`Span::flags`].
    pub flags: u32,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
    /// Attributes the sender dropped.
    pub dropped_attributes: u32,
}

impl Value {
    /// The text an `attr=key=value` search compares with: the value as the
    /// query API writes it, without quotes; `None` for a float that is not
    /// finite (the API writes it as `null`).
    pub fn text(&self) -> Option<String> {
        Some(match self {
            Value::String(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Double(f) => serde_json::Number::from_f64(*f)?.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Bytes(b) => hex(b),
            Value::Array(_) | Value::Map(_) => self.to_json().to_string(),
        })
    }

    /// The value as the query API writes it: bytes as hex text, arrays as
    /// arrays, maps as objects (of a repeated key, the last value), and a
    /// float that is not finite as `null`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as Json;
        match self {
            Value::String(s) => Json::String(s.to_string()),
            Value::Int(i) => Json::from(*i),
            Value::Double(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::Bool(b) => Json::Bool(*b),
            Value::Bytes(b) => Json::String(hex(b)),
            Value::Array(values) => Json::Array(
                values
                    .iter()
                    .map(|v| v.as_ref().map_or(Json::Null, Value::to_json))
                    .collect(),
            ),
            Value::Map(pairs) => Json::Object(attributes_json(pairs)),
        }
    }
}

/// Attributes as a JSON object, in the form [`Value::to_json`] writes.
pub fn attributes_json(attributes: &[Attribute]) -> serde_json::Map<String, serde_json::Value> {
    attributes
        .iter()
        .map(|a| {
            let value = a
                .value
                .as_ref()
                .map_or(serde_json::Value::Null, Value::to_json);
            (a.key.to_string(), value)
        })
        .collect()
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
            resource: Arc::new(Resource::of_service("a")),
            scope: None,
            name: format!("s{id}").into(),
            kind: SpanKind::Internal,
            status: StatusCode::Unset,
            start_unix_nanos: 0,
            end_unix_nanos: 0,
            attributes: Vec::new(),
            flags: 0,
            rare: None,
        }
    }
}
