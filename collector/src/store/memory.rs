//! An in-memory store, bounded by span count, bytes and age: past a bound,
//! whole oldest traces are evicted (oldest by arrival, so spans dated in
//! the future cannot outlive others).
//!
//! Queries that look at every span take the lock for a slice of traces at
//! a time, never for the whole scan: ingest waits at most one slice for a
//! query, however many queries run.

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
    /// Traces taken off the front of `order` so far: `order[i]` is the
    /// trace that arrived `evicted + i`-th, a position that stays put while
    /// a scan lets go of the lock.
    evicted: u64,
    spans: usize,
    bytes: u64,
}

/// Traces a scan looks at per hold of the lock.
const SCAN_SLICE: usize = 512;

/// A trace's spans, and what eviction needs to know without walking them.
#[derive(Debug, Default)]
struct Trace {
    spans: Vec<Span>,
    ids: SpanIds,
    bytes: u64,
    latest_start: u64,
    /// When its latest span arrived.
    arrived: u64,
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
            SpanIds::Few(ids) if Self::holds(ids, id) => false,
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

    /// Whether `ids` holds `id`: eight ids compared per step with no
    /// branch between them, about half the time of `contains`' one
    /// compare and branch per id over a trace of a hundred spans.
    fn holds(ids: &[SpanId], id: SpanId) -> bool {
        let mut chunks = ids.chunks_exact(8);
        for chunk in &mut chunks {
            if chunk
                .iter()
                .fold(false, |seen, known| seen | (*known == id))
            {
                return true;
            }
        }
        chunks.remainder().contains(&id)
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

    /// Shows `visit` every trace, in order of arrival, taking the lock for
    /// [`SCAN_SLICE`] traces at a time. Traces evicted meanwhile are not
    /// seen; traces that arrive meanwhile are.
    fn scan(&self, mut visit: impl FnMut(&TraceId, &Trace)) {
        let mut next: u64 = 0;
        loop {
            let inner = self.lock();
            let first = next.max(inner.evicted);
            let start = (first - inner.evicted) as usize;
            if start >= inner.order.len() {
                return;
            }
            let end = (start + SCAN_SLICE).min(inner.order.len());
            for id in inner.order.range(start..end) {
                if let Some(trace) = inner.traces.get(id) {
                    visit(id, trace);
                }
            }
            next = inner.evicted + end as u64;
        }
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
            // Past the retention by the time its spans say, or by when they
            // arrived: a trace dated in the future still goes.
            let expired = cutoff.is_some_and(|cutoff| {
                inner
                    .traces
                    .get(&oldest)
                    .is_some_and(|trace| trace.latest_start.min(trace.arrived) < cutoff)
            });
            let over = inner.spans > self.limits.max_spans
                || self.limits.max_bytes.is_some_and(|max| inner.bytes > max);
            if !over && !expired {
                break;
            }
            inner.order.pop_front();
            inner.evicted += 1;
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
        let now = dapple::now_unix_nanos();
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
                trace.arrived = now;
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
        let mut found: Vec<Span> = Vec::new();
        self.scan(|_, trace| {
            found.extend(trace.spans.iter().filter(|s| filter.matches(s)).cloned());
        });
        found.sort_by_key(|s| std::cmp::Reverse(s.start_unix_nanos));
        found.truncate(filter.limit);
        Ok(found)
    }

    fn trace_keys(
        &self,
        filter: &SpanFilter,
        before: Option<(u64, TraceId)>,
    ) -> Result<Vec<(u64, TraceId)>, StoreError> {
        let mut keys: Vec<(u64, TraceId)> = Vec::new();
        self.scan(|id, trace| {
            let key = trace
                .spans
                .iter()
                .filter(|s| filter.matches(s))
                .map(|s| s.start_unix_nanos)
                .max()
                .map(|key| (key, *id));
            keys.extend(key.filter(|entry| before.is_none_or(|b| *entry < b)));
        });
        keys.sort_by(|a, b| b.cmp(a));
        keys.truncate(filter.limit);
        Ok(keys)
    }

    fn services(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let mut services: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        self.scan(|_, trace| {
            for span in &trace.spans {
                if let Some(names) = services.get_mut(span.service()) {
                    if !names.contains(span.name.as_str()) {
                        names.insert(span.name.to_string());
                    }
                } else {
                    services
                        .entry(span.service().to_string())
                        .or_default()
                        .insert(span.name.to_string());
                }
            }
        });
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
    fn a_span_sent_again_is_refused_wherever_it_sits_in_its_trace() {
        let store = MemoryStore::new(Limits::spans(1000));
        // 125 spans: a list scanned eight ids at a time, five left over;
        // 300: a set, past 128.
        for (trace, spans) in [(1, 125), (2, 300)] {
            let all: Vec<Span> = (1..=spans).map(|id| span(trace, id)).collect();
            assert_eq!(store.insert(all).unwrap(), spans as usize);
            for id in (1..=spans).rev() {
                let again = store.insert(vec![span(trace, id)]).unwrap();
                assert_eq!(again, 0, "trace {trace}, span {id} again");
            }
            assert_eq!(store.insert(vec![span(trace, 1000)]).unwrap(), 1);
            let id = TraceId::from_bytes([trace; 16]).unwrap();
            assert_eq!(store.trace(id).unwrap().len(), spans as usize + 1);
        }
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
    fn a_trace_dated_in_the_future_still_goes_after_the_retention() {
        let store = MemoryStore::new(Limits {
            retention: Some(std::time::Duration::from_secs(60)),
            ..Limits::spans(100)
        });
        let mut future = span(1, 1);
        future.start_unix_nanos = u64::MAX / 2;
        store.insert(vec![future]).unwrap();
        // Arrived two minutes ago, as far as the store knows.
        store
            .lock()
            .traces
            .values_mut()
            .for_each(|t| t.arrived -= 120_000_000_000);
        let mut now = span(2, 1);
        now.start_unix_nanos = dapple::now_unix_nanos();
        store.insert(vec![now]).unwrap();
        assert_eq!(store.span_count().unwrap(), 1);
        assert!(
            store
                .trace(TraceId::from_bytes([1; 16]).unwrap())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn scans_see_every_trace_across_slices_and_evictions() {
        let traces = 3 * SCAN_SLICE + 7;
        let store = MemoryStore::new(Limits::spans(traces));
        for id in 0..traces {
            let mut s = span(1, 1);
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&(id as u64 + 1).to_be_bytes());
            s.trace_id = TraceId::from_bytes(bytes).unwrap();
            store.insert(vec![s]).unwrap();
        }
        let all = SpanFilter {
            limit: usize::MAX,
            ..Default::default()
        };
        assert_eq!(store.spans(&all).unwrap().len(), traces);
        assert_eq!(store.trace_keys(&all, None).unwrap().len(), traces);
        // Evictions move positions: a scan after them still sees the rest.
        store.insert(vec![span(2, 1), span(3, 1)]).unwrap();
        assert_eq!(store.spans(&all).unwrap().len(), traces);
        assert_eq!(store.lock().evicted, 2);
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
