//! An in-memory store, bounded by span count, bytes and age: past a bound,
//! whole oldest traces are evicted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use dapple::{SpanId, TraceId};

use super::{Limits, SpanFilter, Store, StoreError};
use crate::span::Span;

/// Spans in memory, grouped by trace, oldest trace evicted first.
#[derive(Debug)]
pub struct MemoryStore {
    limits: Limits,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    traces: HashMap<TraceId, Trace>,
    /// Traces in the order they first arrived.
    order: VecDeque<TraceId>,
    spans: usize,
    bytes: u64,
}

/// A trace's spans, and what eviction needs to know without walking them.
#[derive(Debug, Default)]
struct Trace {
    spans: Vec<Span>,
    ids: SpanIds,
    bytes: u64,
    latest_start: u64,
}

/// The span ids of a trace, to refuse duplicates: a short list scanned
/// (most traces are small, and their ids sit in a few cache lines), a set
/// once the trace grows past [`SpanIds::SCANNED`].
#[derive(Debug)]
enum SpanIds {
    Few(Vec<SpanId>),
    Many(HashSet<SpanId>),
}

impl Default for SpanIds {
    fn default() -> SpanIds {
        SpanIds::Few(Vec::new())
    }
}

impl SpanIds {
    const SCANNED: usize = 128;

    /// Adds `id`; `false` when it was already there.
    fn insert(&mut self, id: SpanId) -> bool {
        match self {
            SpanIds::Few(ids) if ids.contains(&id) => false,
            SpanIds::Few(ids) if ids.len() < Self::SCANNED => {
                ids.push(id);
                true
            }
            SpanIds::Few(ids) => {
                let mut set: HashSet<SpanId> = ids.drain(..).collect();
                set.insert(id);
                *self = SpanIds::Many(set);
                true
            }
            SpanIds::Many(set) => set.insert(id),
        }
    }
}

impl MemoryStore {
    /// A store within `limits`; a trace is kept for the retention after its
    /// latest span started.
    pub fn new(limits: Limits) -> MemoryStore {
        MemoryStore {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes out the oldest traces while the store is over a bound or they
    /// are past the retention.
    fn evict(&self, inner: &mut Inner) -> Vec<Trace> {
        let cutoff = self
            .limits
            .retention
            .map(|r| dapple::now_unix_nanos().saturating_sub(r.as_nanos() as u64));
        let mut evicted = Vec::new();
        while let Some(&oldest) = inner.order.front() {
            let expired = cutoff.is_some_and(|cutoff| {
                inner
                    .traces
                    .get(&oldest)
                    .is_some_and(|trace| trace.latest_start < cutoff)
            });
            let over = inner.spans > self.limits.max_spans
                || self.limits.max_bytes.is_some_and(|max| inner.bytes > max);
            if !over && !expired {
                break;
            }
            inner.order.pop_front();
            if let Some(trace) = inner.traces.remove(&oldest) {
                inner.spans -= trace.spans.len();
                inner.bytes -= trace.bytes;
                evicted.push(trace);
            }
        }
        evicted
    }
}

impl Store for MemoryStore {
    fn insert(&self, spans: Vec<Span>) -> Result<usize, StoreError> {
        let mut added = 0;
        let evicted = {
            let mut guard = self.lock();
            let inner = &mut *guard;
            // Spans of a trace mostly arrive together: one map lookup and
            // one allocation for each run of them.
            let mut spans = spans.into_iter();
            while let Some(first) = spans.next() {
                let trace_id = first.trace_id;
                let more = spans
                    .as_slice()
                    .iter()
                    .take_while(|s| s.trace_id == trace_id)
                    .count();
                let trace = inner.traces.entry(trace_id).or_insert_with(|| {
                    inner.order.push_back(trace_id);
                    Trace::default()
                });
                trace.spans.reserve(more + 1);
                for span in std::iter::once(first).chain(spans.by_ref().take(more)) {
                    if !trace.ids.insert(span.span_id) {
                        continue;
                    }
                    let bytes = span.size_bytes();
                    trace.bytes += bytes;
                    trace.latest_start = trace.latest_start.max(span.start_unix_nanos);
                    trace.spans.push(span);
                    inner.bytes += bytes;
                    inner.spans += 1;
                    added += 1;
                }
            }
            self.evict(inner)
        };
        // Freed outside the lock: dropping thousands of spans takes a while.
        drop(evicted);
        Ok(added)
    }

    fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StoreError> {
        Ok(self
            .lock()
            .traces
            .get(&trace_id)
            .map(|trace| trace.spans.clone())
            .unwrap_or_default())
    }

    fn span_count(&self) -> Result<usize, StoreError> {
        Ok(self.lock().spans)
    }

    fn spans(&self, filter: &SpanFilter) -> Result<Vec<Span>, StoreError> {
        let inner = self.lock();
        let mut found: Vec<Span> = inner
            .traces
            .values()
            .flat_map(|trace| &trace.spans)
            .filter(|s| filter.matches(s))
            .cloned()
            .collect();
        found.sort_by_key(|s| std::cmp::Reverse(s.start_unix_nanos));
        found.truncate(filter.limit);
        Ok(found)
    }

    fn trace_keys(
        &self,
        filter: &SpanFilter,
        before: Option<(u64, TraceId)>,
    ) -> Result<Vec<(u64, TraceId)>, StoreError> {
        let inner = self.lock();
        let mut keys: Vec<(u64, TraceId)> = inner
            .traces
            .iter()
            .filter_map(|(id, trace)| {
                trace
                    .spans
                    .iter()
                    .filter(|s| filter.matches(s))
                    .map(|s| s.start_unix_nanos)
                    .max()
                    .map(|key| (key, *id))
            })
            .filter(|entry| before.is_none_or(|b| *entry < b))
            .collect();
        keys.sort_by(|a, b| b.cmp(a));
        keys.truncate(filter.limit);
        Ok(keys)
    }

    fn services(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let inner = self.lock();
        let mut services: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        for span in inner.traces.values().flat_map(|trace| &trace.spans) {
            services
                .entry(span.service.to_string())
                .or_default()
                .insert(span.name.clone());
        }
        Ok(services
            .into_iter()
            .map(|(service, names)| (service, names.into_iter().collect()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: u8, id: u64) -> Span {
        Span::example(trace, id)
    }

    #[test]
    fn duplicate_span_ids_are_stored_once() {
        let store = MemoryStore::new(Limits::spans(100));
        assert_eq!(store.insert(vec![span(1, 1), span(1, 2)]).unwrap(), 2);
        assert_eq!(store.insert(vec![span(1, 2), span(1, 3)]).unwrap(), 1);
        let trace = TraceId::from_bytes([1; 16]).unwrap();
        assert_eq!(store.trace(trace).unwrap().len(), 3);
    }

    #[test]
    fn the_oldest_whole_trace_is_evicted_past_the_bound() {
        let store = MemoryStore::new(Limits::spans(3));
        store.insert(vec![span(1, 1), span(1, 2)]).unwrap();
        store.insert(vec![span(2, 1), span(2, 2)]).unwrap();
        assert!(
            store
                .trace(TraceId::from_bytes([1; 16]).unwrap())
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .trace(TraceId::from_bytes([2; 16]).unwrap())
                .unwrap()
                .len(),
            2
        );
        assert_eq!(store.span_count().unwrap(), 2);
    }

    #[test]
    fn traces_older_than_the_retention_are_evicted() {
        let store = MemoryStore::new(Limits {
            retention: Some(std::time::Duration::from_secs(60)),
            ..Limits::spans(100)
        });
        let mut old = span(1, 1);
        old.start_unix_nanos = dapple::now_unix_nanos() - 120_000_000_000;
        let mut new = span(2, 1);
        new.start_unix_nanos = dapple::now_unix_nanos();
        store.insert(vec![old]).unwrap();
        store.insert(vec![new]).unwrap();
        assert!(
            store
                .trace(TraceId::from_bytes([1; 16]).unwrap())
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.span_count().unwrap(), 1);
    }

    #[test]
    fn the_byte_bound_evicts_whole_oldest_traces() {
        let one = span(1, 1).size_bytes();
        let store = MemoryStore::new(Limits {
            max_bytes: Some(3 * one),
            ..Limits::spans(100)
        });
        store.insert(vec![span(1, 1), span(1, 2)]).unwrap();
        store.insert(vec![span(2, 1), span(2, 2)]).unwrap();
        assert!(
            store
                .trace(TraceId::from_bytes([1; 16]).unwrap())
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.span_count().unwrap(), 2);
    }
}
