//! Finished spans, as sinks receive them.

use std::borrow::Cow;

use crate::args::{Slots, ValueRef};
use crate::clock::{self, Converter, Ticks};
use crate::context::SpanContext;
use crate::id::{SpanId, TraceId};
use crate::span::{Extras, POLL_OPEN, Recording, SpanKind, Status};
use crate::value::{KeyValue, Value};

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
    pub fn attribute(&self, key: &str) -> Option<Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.clone())
    }
}

/// The attribute an async span's busy time is exported as, in nanoseconds.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) const BUSY_NS: &str = "busy_ns";
/// The attribute an async span's idle time is exported as, in nanoseconds.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) const IDLE_NS: &str = "idle_ns";
/// The attribute an async span's poll count is exported as.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) const POLLS: &str = "polls";

/// A follows-from link to another span.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Link {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
}

/// A finished span.
///
/// Its fields are laid out flat, so that a record with two arguments in
/// place (62 bytes of them) is 160 bytes.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    trace_id: TraceIdWords,
    span_id: SpanId,
    parent: Option<SpanId>,
    start: Ticks,
    end: Ticks,
    name: Cow<'static, str>,
    extras: Option<Box<Extras>>,
    args: Slots,
    kind: SpanKind,
    sampled: bool,
    /// Polls of an async span (0 for others), saturating.
    polls: u16,
    /// Clock ticks spent inside them, as a float: precise to a few parts
    /// in 10⁸, and four bytes, so that the poll figures fit in the record's
    /// last word.
    busy: f32,
}

/// A trace id as two words: a `u128` would align the whole record to 16
/// bytes, and the poll figures would pad it past 128.
#[derive(Clone, Copy, Debug)]
struct TraceIdWords([u64; 2]);

impl TraceIdWords {
    fn new(id: TraceId) -> TraceIdWords {
        let id = id.to_u128();
        TraceIdWords([(id >> 64) as u64, id as u64])
    }

    fn get(self) -> TraceId {
        match TraceId::new(u128::from(self.0[0]) << 64 | u128::from(self.0[1])) {
            Some(id) => id,
            None => unreachable!("made from a trace id, which is never zero"),
        }
    }
}

/// An async span's polls and busy ticks as the record keeps them, closing a
/// poll left open for the span's `end`.
#[inline(never)]
fn poll_figures(polls: u32, busy: Ticks, end: Ticks) -> (u16, f32) {
    let (polls, busy) = if polls & POLL_OPEN != 0 {
        // The last poll ended with the span.
        (polls & !POLL_OPEN, busy.wrapping_add(end))
    } else {
        (polls, busy)
    };
    (polls.min(u32::from(u16::MAX)) as u16, busy as f32)
}

/// How an async span spent its time: inside `poll` (busy) or waiting to be
/// polled again (idle).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PollTimes {
    /// Nanoseconds spent inside `poll`.
    pub busy_nanos: u64,
    /// Nanoseconds of the span's duration spent outside `poll`.
    pub idle_nanos: u64,
    /// Times it was polled (at most 65,535: the count saturates).
    pub polls: u32,
}

impl SpanRecord {
    #[inline]
    pub(crate) fn new(context: SpanContext, recording: &mut Recording, end: Ticks) -> SpanRecord {
        // Sync spans were never polled: one test.
        let (polls, busy) = if recording.polls == 0 {
            (0, 0.0)
        } else {
            poll_figures(recording.polls, recording.busy, end)
        };
        SpanRecord {
            trace_id: TraceIdWords::new(context.trace_id()),
            span_id: context.span_id(),
            parent: recording.parent,
            start: recording.start,
            end,
            name: std::mem::replace(&mut recording.name, Cow::Borrowed("")),
            extras: recording.extras.take(),
            args: recording.args,
            kind: recording.kind,
            sampled: context.is_sampled(),
            polls,
            busy,
        }
    }

    /// Adds an attribute after the span ended (the reporter's own notes).
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn push_attribute(&mut self, attribute: KeyValue) {
        self.extras
            .get_or_insert_with(Box::default)
            .attributes
            .push(attribute);
    }

    /// Moves the rarer parts out, for reuse.
    pub(crate) fn take_extras(&mut self) -> Option<Box<Extras>> {
        self.extras.take()
    }

    /// The span's trace.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id.get()
    }

    /// The span's id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The span's context.
    pub fn context(&self) -> SpanContext {
        SpanContext::new(self.trace_id.get(), self.span_id, self.sampled)
    }

    /// The parent's id; `None` for a root span.
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent
    }

    /// The span's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The span's kind.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// When it started, in nanoseconds since the Unix epoch.
    pub fn start_unix_nanos(&self) -> u64 {
        self.start_unix_nanos_with(&clock::converter())
    }

    /// When it ended, in nanoseconds since the Unix epoch.
    pub fn end_unix_nanos(&self) -> u64 {
        self.end_unix_nanos_with(&clock::converter())
    }

    /// How long it lasted, in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        clock::converter().nanos(self.start, self.end)
    }

    /// How an async span spent its time; `None` for a span that was never
    /// polled (a sync span, or a future's span not polled through
    /// [`InSpan`](crate::InSpan)).
    pub fn poll_times(&self) -> Option<PollTimes> {
        self.poll_times_with(&clock::converter())
    }

    /// [`poll_times`](Self::poll_times) with a converter taken once for many
    /// records.
    pub(crate) fn poll_times_with(&self, clock: &Converter) -> Option<PollTimes> {
        if self.polls == 0 {
            return None;
        }
        let duration = clock.nanos(self.start, self.end);
        let busy_nanos = clock.nanos(0, self.busy as Ticks).min(duration);
        Some(PollTimes {
            busy_nanos,
            idle_nanos: duration - busy_nanos,
            polls: u32::from(self.polls),
        })
    }

    /// The poll times as the attributes `busy_ns`, `idle_ns` and `polls`
    /// (the names `tracing-opentelemetry` gives them), for the OTLP encoder
    /// (the native one writes them as a message of their own).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn for_each_poll_attribute(
        &self,
        clock: &Converter,
        mut f: impl FnMut(&'static str, ValueRef<'_>),
    ) {
        if let Some(times) = self.poll_times_with(clock) {
            f(BUSY_NS, ValueRef::I64(times.busy_nanos as i64));
            f(IDLE_NS, ValueRef::I64(times.idle_nanos as i64));
            f(POLLS, ValueRef::I64(i64::from(times.polls)));
        }
    }

    /// [`start_unix_nanos`](Self::start_unix_nanos) with a converter taken
    /// once for many records: taking one locks.
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn start_unix_nanos_with(&self, clock: &Converter) -> u64 {
        clock.unix_nanos(self.start)
    }

    /// [`end_unix_nanos`](Self::end_unix_nanos) with a converter taken once
    /// for many records.
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn end_unix_nanos_with(&self, clock: &Converter) -> u64 {
        clock.unix_nanos(self.end)
    }

    /// Whether it succeeded.
    pub fn status(&self) -> &Status {
        const UNSET: &Status = &Status::Unset;
        self.extras.as_ref().map_or(UNSET, |e| &e.status)
    }

    /// Its attributes: the recorded arguments first, then the others in the
    /// order they were first set.
    pub fn attributes(&self) -> impl Iterator<Item = KeyValue> + '_ {
        let others = self.extras.as_ref().map_or(&[][..], |e| &e.attributes);
        let long_args = self.extras.iter().flat_map(|e| e.long_args());
        self.args
            .iter()
            .chain(long_args.map(|(key, text)| KeyValue::new(key, Value::Str(text.into()))))
            .chain(others.iter().cloned())
    }

    /// Each attribute, borrowed, in the order of [`attributes`](Self::attributes):
    /// for encoding without copies.
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn for_each_attribute(&self, mut f: impl FnMut(&str, ValueRef<'_>)) {
        self.args.for_each(&mut f);
        if let Some(extras) = &self.extras {
            for (key, text) in extras.long_args() {
                f(key, ValueRef::Str(text.as_bytes()));
            }
            for kv in &extras.attributes {
                f(&kv.key, ValueRef::of(&kv.value));
            }
        }
    }

    /// Its raw start and end readings, for a converter taken once per batch.
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn ticks(&self) -> (Ticks, Ticks) {
        (self.start, self.end)
    }

    /// Memory it holds outside the record itself (its extras box and the
    /// attributes listed there), for the reporter's memory bound.
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn out_of_line_bytes(&self) -> usize {
        self.extras.as_ref().map_or(0, |e| {
            std::mem::size_of::<Extras>()
                + e.attributes.len() * std::mem::size_of::<KeyValue>()
                + e.text.len()
        })
    }

    /// The value of one attribute.
    pub fn attribute(&self, key: &str) -> Option<Value> {
        self.args.get(key).or_else(|| {
            let extras = self.extras.as_ref()?;
            if let Some((_, text)) = extras.long_args().find(|(k, _)| *k == key) {
                return Some(Value::Str(text.into()));
            }
            extras
                .attributes
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| kv.value.clone())
        })
    }

    /// Its events, in the order they were added.
    pub fn events(&self) -> &[Event] {
        self.extras.as_ref().map_or(&[], |e| &e.events)
    }

    /// Its follows-from links.
    pub fn links(&self) -> &[Link] {
        self.extras.as_ref().map_or(&[], |e| &e.links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_with_two_arguments_in_place_is_160_bytes() {
        // Batches hold records by value: a larger record is more to write
        // per span and fewer spans within the memory bound.
        assert_eq!(std::mem::size_of::<SpanRecord>(), 160);
    }
}
