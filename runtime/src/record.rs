//! Finished spans, as collectors receive them.

use std::borrow::Cow;

use crate::clock::{self, Ticks};
use crate::context::SpanContext;
use crate::id::{SpanId, TraceId};
use crate::span::{Recording, SpanKind, Status};
use crate::value::KeyValue;

/// Something that happened during a span, at a point in time.
#[derive(Clone, PartialEq, Debug)]
pub struct Event {
    /// What happened.
    pub name: Cow<'static, str>,
    /// When, in nanoseconds since the Unix epoch.
    pub unix_nanos: u64,
    /// Details.
    pub attributes: Vec<KeyValue>,
}

impl Event {
    /// The value of an attribute of the event.
    pub fn attribute(&self, key: &str) -> Option<&crate::Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }
}

/// A follows-from link to another span.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Link {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
}

/// A finished span.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    context: SpanContext,
    recording: Recording,
    end: Ticks,
}

impl SpanRecord {
    #[inline]
    pub(crate) fn new(context: SpanContext, recording: Recording, end: Ticks) -> SpanRecord {
        SpanRecord {
            context,
            recording,
            end,
        }
    }

    /// Moves the attribute list out, for reuse.
    pub(crate) fn take_attributes(&mut self) -> Vec<KeyValue> {
        std::mem::take(&mut self.recording.attributes)
    }

    /// The span's trace.
    pub fn trace_id(&self) -> TraceId {
        self.context.trace_id()
    }

    /// The span's id.
    pub fn span_id(&self) -> SpanId {
        self.context.span_id()
    }

    /// The span's context.
    pub fn context(&self) -> SpanContext {
        self.context
    }

    /// The parent's id; `None` for a root span.
    pub fn parent_id(&self) -> Option<SpanId> {
        self.recording.parent
    }

    /// The span's name.
    pub fn name(&self) -> &str {
        &self.recording.name
    }

    /// The span's kind.
    pub fn kind(&self) -> SpanKind {
        self.recording.kind
    }

    /// When it started, in nanoseconds since the Unix epoch.
    pub fn start_unix_nanos(&self) -> u64 {
        clock::converter().unix_nanos(self.recording.start)
    }

    /// When it ended, in nanoseconds since the Unix epoch.
    pub fn end_unix_nanos(&self) -> u64 {
        clock::converter().unix_nanos(self.end)
    }

    /// How long it lasted, in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        clock::converter().nanos(self.recording.start, self.end)
    }

    /// Whether it succeeded.
    pub fn status(&self) -> &Status {
        self.recording.status()
    }

    /// Its attributes, in the order they were first set.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.recording.attributes
    }

    /// The value of one attribute.
    pub fn attribute(&self, key: &str) -> Option<&crate::Value> {
        self.recording
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }

    /// Its events, in the order they were added.
    pub fn events(&self) -> &[Event] {
        self.recording.extras.as_ref().map_or(&[], |e| &e.events)
    }

    /// Its follows-from links.
    pub fn links(&self) -> &[Link] {
        self.recording.extras.as_ref().map_or(&[], |e| &e.links)
    }
}
