//! An in-memory store, bounded by span count: past the bound, whole oldest
//! traces are evicted.

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
    traces: HashMap<TraceId, Vec<Span>>,
    /// Traces in the order they first arrived.
    order: VecDeque<TraceId>,
    ids: HashSet<(TraceId, SpanId)>,
    spans: usize,
    bytes: u64,
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
}

impl Store for MemoryStore {
    fn insert(&self, spans: Vec<Span>) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let mut added = 0;
        for span in spans {
            let trace_id = span.trace_id;
            if !inner.ids.insert((trace_id, span.span_id)) {
                continue;
            }
            if !inner.traces.contains_key(&trace_id) {
                inner.order.push_back(trace_id);
            }
            inner.bytes += span.size_bytes();
            inner.traces.entry(trace_id).or_default().push(span);
            inner.spans += 1;
            added += 1;
        }
        let cutoff = self
            .limits
            .retention
            .map(|r| dapple::now_unix_nanos().saturating_sub(r.as_nanos() as u64));
        while let Some(&oldest) = inner.order.front() {
            let expired = cutoff.is_some_and(|cutoff| {
                inner
                    .traces
                    .get(&oldest)
                    .is_some_and(|spans| spans.iter().all(|s| s.start_unix_nanos < cutoff))
            });
            let over = inner.spans > self.limits.max_spans
                || self.limits.max_bytes.is_some_and(|max| inner.bytes > max);
            if !over && !expired {
                break;
            }
            inner.order.pop_front();
            if let Some(evicted) = inner.traces.remove(&oldest) {
                inner.spans -= evicted.len();
                inner.bytes -= evicted.iter().map(Span::size_bytes).sum::<u64>();
                for span in evicted {
                    inner.ids.remove(&(oldest, span.span_id));
                }
            }
        }
        Ok(added)
    }

    fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StoreError> {
        Ok(self
            .lock()
            .traces
            .get(&trace_id)
            .cloned()
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
            .flatten()
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
            .filter_map(|(id, spans)| {
                spans
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
        for span in inner.traces.values().flatten() {
            services
                .entry(span.service.clone())
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
