//! Bounds on what one span may hold, applied to every span accepted from
//! any ingest: names, keys and values are cut to a size (at a character
//! boundary), and times past what SQLite's signed integers hold (the year
//! 2262) are clamped, each counted. Wraps the store, so no ingest path can
//! skip it; for the same reason it also counts the spans accepted, per
//! service.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::span::{Attribute, Resource, Span, Text, Value};
use crate::store::{Store, StoreError};

/// Span, event and scope names, and the service name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// Attribute keys, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Text and byte values, each (an array's elements each), in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The latest time stored: 2^63 - 1 nanoseconds, in 2262.
pub const LATEST_UNIX_NANOS: u64 = i64::MAX as u64;
/// Arrays and maps nested in a value, at most: deeper ones are cut (and
/// counted), so every stored span stays within what protobuf decoders
/// read (prost stops at 100 nested messages; OTLP spends 6 before a value
/// and 2 or 3 per level), and forwarding it never fails.
pub const MAX_VALUE_DEPTH: usize = 16;

/// What ingest did, since the collector started: what the bounds changed,
/// and the spans accepted per service.
#[derive(Debug, Default)]
pub struct IngestCounts {
    /// Names, keys and values cut short.
    pub truncated: AtomicU64,
    /// Start or end times clamped to [`LATEST_UNIX_NANOS`].
    pub clamped_times: AtomicU64,
    /// Spans the store took, per service. Unlike what the store holds,
    /// this never goes down when old spans are evicted. A span the store
    /// already held counts again only when it comes in a batch of several
    /// services (OTLP requests from several processes).
    accepted: Mutex<BTreeMap<String, u64>>,
}

/// Services counted at most; spans of further services are left out of
/// the counts, so a client inventing service names cannot grow them
/// without bound.
const MAX_COUNTED_SERVICES: usize = 10_000;

impl IngestCounts {
    /// The spans accepted so far, per service.
    pub fn accepted(&self) -> BTreeMap<String, u64> {
        self.accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Adds `runs` (a service and a number of spans each) to the counts.
    fn accept(&self, runs: Vec<(Arc<str>, u64)>) {
        let mut accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        for (service, count) in runs {
            if let Some(total) = accepted.get_mut(&*service) {
                *total = total.saturating_add(count);
            } else if accepted.len() < MAX_COUNTED_SERVICES {
                accepted.insert(service.to_string(), count);
            }
        }
    }
}

/// A store that applies the bounds to the spans inserted into it.
#[derive(Debug)]
pub struct LimitedStore {
    inner: Arc<dyn Store>,
    counts: Arc<IngestCounts>,
}

impl LimitedStore {
    /// `inner`, behind the bounds; what they change, and the spans the
    /// store takes, are counted in `counts`.
    pub fn new(inner: Arc<dyn Store>, counts: Arc<IngestCounts>) -> LimitedStore {
        LimitedStore { inner, counts }
    }
}

impl Store for LimitedStore {
    fn insert(&self, mut spans: Vec<Span>) -> Result<usize, StoreError> {
        let mut counts = Counts::default();
        // Spans of a batch share their resource: each is checked once.
        let mut last: Option<(Arc<Resource>, Arc<Resource>)> = None;
        // Each service with its number of spans, one entry per run of spans
        // of the same (bounded) service.
        let mut runs: Vec<(Arc<str>, u64)> = Vec::new();
        for span in &mut spans {
            // The resource of the last span is checked again only when it
            // changes; it is borrowed, not cloned, per span: a reference
            // taken and given back is two atomic operations on the line
            // that every span of the connection shares.
            if !last
                .as_ref()
                .is_some_and(|(given, _)| Arc::ptr_eq(given, &span.resource))
            {
                let bounded = bound_resource(&span.resource, &mut counts);
                last = Some((span.resource.clone(), bounded));
            }
            if let Some((given, bounded)) = &last
                && !Arc::ptr_eq(bounded, given)
            {
                span.resource = bounded.clone();
            }
            bound_span(span, &mut counts);
            let service = &span.resource.service;
            match runs.last_mut() {
                Some((run, count)) if Arc::ptr_eq(run, service) => *count += 1,
                _ => runs.push((service.clone(), 1)),
            }
        }
        if counts.truncated > 0 {
            self.counts
                .truncated
                .fetch_add(counts.truncated, Ordering::Relaxed);
        }
        if counts.clamped > 0 {
            self.counts
                .clamped_times
                .fetch_add(counts.clamped, Ordering::Relaxed);
        }
        // Added once the store took the spans. A batch of one service
        // (every native batch) counts only the spans new to the store, so a
        // batch sent again after a lost ack does not count twice.
        let stored = self.inner.insert(spans)?;
        if let [(_, count)] = runs.as_mut_slice() {
            *count = stored as u64;
        }
        self.counts.accept(runs);
        Ok(stored)
    }

    crate::store::read_through!(inner);
}

#[derive(Debug, Default)]
struct Counts {
    truncated: u64,
    clamped: u64,
}

/// Text that can be cut short: the span's own [`Text`] and `String`.
trait Cut: std::ops::Deref<Target = str> {
    fn truncate(&mut self, len: usize);
}

impl Cut for String {
    fn truncate(&mut self, len: usize) {
        String::truncate(self, len);
    }
}

impl Cut for Text {
    fn truncate(&mut self, len: usize) {
        Text::truncate(self, len);
    }
}

impl Counts {
    fn cut(&mut self, text: &mut impl Cut, max: usize) {
        if text.len() > max {
            let mut end = max;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            self.truncated += 1;
        }
    }

    fn clamp(&mut self, nanos: &mut u64) {
        if *nanos > LATEST_UNIX_NANOS {
            *nanos = LATEST_UNIX_NANOS;
            self.clamped += 1;
        }
    }

    fn attributes(&mut self, attributes: &mut [Attribute]) {
        self.attributes_at(attributes, 0);
    }

    fn attributes_at(&mut self, attributes: &mut [Attribute], depth: usize) {
        for attribute in attributes {
            self.cut(&mut attribute.key, MAX_KEY_BYTES);
            if let Some(value) = &mut attribute.value {
                self.value(value, depth);
            }
        }
    }

    fn value(&mut self, value: &mut Value, depth: usize) {
        match value {
            Value::String(text) => self.cut(text, MAX_VALUE_BYTES),
            Value::Bytes(bytes) if bytes.len() > MAX_VALUE_BYTES => {
                bytes.truncate(MAX_VALUE_BYTES);
                self.truncated += 1;
            }
            Value::Array(values) if depth >= MAX_VALUE_DEPTH && !values.is_empty() => {
                values.clear();
                self.truncated += 1;
            }
            Value::Map(entries) if depth >= MAX_VALUE_DEPTH && !entries.is_empty() => {
                entries.clear();
                self.truncated += 1;
            }
            Value::Array(values) => values
                .iter_mut()
                .flatten()
                .for_each(|v| self.value(v, depth + 1)),
            Value::Map(entries) => self.attributes_at(entries, depth + 1),
            Value::Bytes(_) | Value::Int(_) | Value::Double(_) | Value::Bool(_) => {}
        }
    }
}

/// Whether any key or value of `attributes` is past its bound.
fn over(attributes: &[Attribute]) -> bool {
    over_at(attributes, 0)
}

fn over_at(attributes: &[Attribute], depth: usize) -> bool {
    fn value_over(value: &Value, depth: usize) -> bool {
        match value {
            Value::String(text) => text.len() > MAX_VALUE_BYTES,
            Value::Bytes(bytes) => bytes.len() > MAX_VALUE_BYTES,
            Value::Array(values) if depth >= MAX_VALUE_DEPTH => !values.is_empty(),
            Value::Map(entries) if depth >= MAX_VALUE_DEPTH => !entries.is_empty(),
            Value::Array(values) => values.iter().flatten().any(|v| value_over(v, depth + 1)),
            Value::Map(entries) => over_at(entries, depth + 1),
            Value::Int(_) | Value::Double(_) | Value::Bool(_) => false,
        }
    }
    attributes.iter().any(|a| {
        a.key.len() > MAX_KEY_BYTES || a.value.as_ref().is_some_and(|v| value_over(v, depth))
    })
}

/// `resource` itself when within bounds, else a bounded copy.
fn bound_resource(resource: &Arc<Resource>, counts: &mut Counts) -> Arc<Resource> {
    if resource.service.len() <= MAX_NAME_BYTES && !over(&resource.attributes) {
        return resource.clone();
    }
    let before = counts.truncated;
    let mut attributes = resource.attributes.clone();
    for attribute in &mut attributes {
        if attribute.key == "service.name"
            && let Some(Value::String(name)) = &mut attribute.value
        {
            counts.cut(name, MAX_NAME_BYTES);
        }
    }
    counts.attributes(&mut attributes);
    if counts.truncated == before {
        return resource.clone();
    }
    Arc::new(Resource::new(attributes, resource.dropped_attributes))
}

fn bound_span(span: &mut Span, counts: &mut Counts) {
    counts.cut(&mut span.name, MAX_NAME_BYTES);
    counts.clamp(&mut span.start_unix_nanos);
    counts.clamp(&mut span.end_unix_nanos);
    counts.attributes(&mut span.attributes);
    if let Some(rare) = &mut span.rare {
        counts.cut(&mut rare.status_message, MAX_VALUE_BYTES);
        counts.cut(&mut rare.trace_state, MAX_VALUE_BYTES);
        for event in &mut rare.events {
            counts.cut(&mut event.name, MAX_NAME_BYTES);
            counts.clamp(&mut event.unix_nanos);
            counts.attributes(&mut event.attributes);
        }
        for link in &mut rare.links {
            counts.cut(&mut link.trace_state, MAX_VALUE_BYTES);
            counts.attributes(&mut link.attributes);
        }
    }
    if let Some(scope) = &span.scope
        && (scope.name.len() > MAX_NAME_BYTES
            || scope.version.len() > MAX_NAME_BYTES
            || over(&scope.attributes))
    {
        let mut scope = (**scope).clone();
        counts.cut(&mut scope.name, MAX_NAME_BYTES);
        counts.cut(&mut scope.version, MAX_NAME_BYTES);
        counts.attributes(&mut scope.attributes);
        span.scope = Some(Arc::new(scope));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Limits, MemoryStore};
    use dapple::TraceId;

    #[test]
    fn accepted_spans_are_counted_per_service_and_outlast_eviction() {
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new(Limits::spans(4)));
        let counts = Arc::new(IngestCounts::default());
        let store = LimitedStore::new(memory.clone(), counts.clone());
        let of = |service: &Arc<str>, trace: u8, ids: std::ops::RangeInclusive<u64>| {
            ids.map(|id| Span {
                resource: Arc::new(Resource {
                    service: service.clone(),
                    ..Resource::default()
                }),
                ..Span::example(trace, id)
            })
            .collect::<Vec<_>>()
        };
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        // Two runs of service a around one of b, in one batch.
        let mut batch = of(&a, 1, 1..=2);
        batch.extend(of(&b, 2, 1..=3));
        batch.extend(of(&a, 3, 1..=1));
        store.insert(batch).unwrap();
        store.insert(of(&b, 4, 1..=4)).unwrap();
        // Sent again (a lost ack): the store already holds them.
        store.insert(of(&b, 4, 1..=4)).unwrap();
        // The store keeps four spans; the counts keep everything accepted,
        // once.
        assert_eq!(memory.span_count().unwrap(), 4);
        let accepted = counts.accepted();
        assert_eq!(accepted.get("a"), Some(&3));
        assert_eq!(accepted.get("b"), Some(&7));
        assert_eq!(accepted.len(), 2);
    }

    #[test]
    fn long_names_and_values_are_cut_at_a_character_and_late_times_clamped() {
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new(Limits::spans(10)));
        let trimmed = Arc::new(IngestCounts::default());
        let store = LimitedStore::new(memory.clone(), trimmed.clone());
        let resource = Arc::new(Resource::of_service(&"s".repeat(300_000)));
        let mut spans = Vec::new();
        for id in 1..=3 {
            let mut span = Span::example(1, id);
            span.resource = resource.clone();
            span.name = "é".repeat(MAX_NAME_BYTES).into();
            span.attributes = vec![Attribute {
                key: "k".repeat(1000).into(),
                value: Some(Value::Array(vec![Some(Value::String(
                    "v".repeat(100_000).into(),
                ))])),
            }];
            span.start_unix_nanos = u64::MAX;
            spans.push(span);
        }
        store.insert(spans).unwrap();
        let stored = memory.trace(TraceId::from_bytes([1; 16]).unwrap()).unwrap();
        assert_eq!(stored.len(), 3);
        for span in &stored {
            assert_eq!(span.service().len(), MAX_NAME_BYTES);
            assert!(
                Arc::ptr_eq(&span.resource, &stored[0].resource),
                "one resource"
            );
            assert_eq!(span.name.len(), MAX_NAME_BYTES, "512 two-byte characters");
            assert_eq!(span.attributes[0].key.len(), MAX_KEY_BYTES);
            let Some(Value::Array(values)) = &span.attributes[0].value else {
                panic!("an array")
            };
            assert_eq!(
                values[0],
                Some(Value::String("v".repeat(MAX_VALUE_BYTES).into()))
            );
            assert_eq!(span.start_unix_nanos, LATEST_UNIX_NANOS);
        }
        // The service name once, then per span its name, key and value.
        assert_eq!(trimmed.truncated.load(Ordering::Relaxed), 1 + 3 * 3);
        assert_eq!(trimmed.clamped_times.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn values_nested_past_the_depth_bound_are_cut() {
        let nested = |depth: usize| {
            (0..depth).fold(Value::String("x".into()), |inner, _| {
                Value::Array(vec![Some(inner)])
            })
        };
        let depth_of = |mut value: &Value| {
            let mut depth = 0;
            while let Value::Array(values) = value {
                depth += 1;
                match values.first() {
                    Some(Some(inner)) => value = inner,
                    _ => break,
                }
            }
            depth
        };
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new(Limits::spans(10)));
        let trimmed = Arc::new(IngestCounts::default());
        let store = LimitedStore::new(memory.clone(), trimmed.clone());
        let mut span = Span::example(1, 1);
        span.attributes = vec![
            Attribute {
                key: "deep".into(),
                value: Some(nested(50)),
            },
            Attribute {
                key: "fine".into(),
                value: Some(nested(MAX_VALUE_DEPTH)),
            },
        ];
        store.insert(vec![span]).unwrap();
        let stored = memory.trace(TraceId::from_bytes([1; 16]).unwrap()).unwrap();
        let values: Vec<&Value> = stored[0]
            .attributes
            .iter()
            .map(|a| a.value.as_ref().unwrap())
            .collect();
        assert_eq!(
            depth_of(values[0]),
            MAX_VALUE_DEPTH + 1,
            "the deepest array left empty"
        );
        assert_eq!(*values[1], nested(MAX_VALUE_DEPTH));
        assert_eq!(trimmed.truncated.load(Ordering::Relaxed), 1);
    }
}
