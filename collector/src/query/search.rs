//! Trace searches: the traces matching every filter, newest first (or
//! longest or shortest first), a page at a time. Each filter may be matched
//! by a span of its own (a service filter and "errors only" find a trace
//! whose error is in another service), or, with
//! [`TraceSearch::same_span`], one span must match them all. Pages are
//! keyed, not numbered: a page ends with a [`Cursor`] naming its last trace,
//! and the next page starts after it, so traces arriving meanwhile shift
//! nothing.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use dapple::TraceId;

use super::summary::{TraceSummary, extent};
use crate::span::Span;
use crate::store::{SpanFilter, Store, StoreError};

/// Spans read from the store for a search by attribute, at most: such a
/// search looks at the newest this many matching spans.
const SCAN_LIMIT: usize = 200_000;

/// Traces ordered by duration, at most: such a search orders the newest this
/// many matching traces. Also the most traces a search whose filters match
/// different spans looks at for its first filter.
const SORT_LIMIT: usize = 10_000;

/// Traces a search whose filters match different spans takes at a time for
/// its first filter, before checking them against the others.
const CHUNK: usize = 500;

/// How far apart the spans of one trace may start, at most, for filters
/// matched by different spans: the other filters are looked for within
/// this much of the first filter's spans.
const TRACE_SPREAD_NS: u64 = 15 * 60 * 1_000_000_000;

/// The order of a trace list; a cursor's key is what it orders by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// By the start of the newest matching span, newest first.
    #[default]
    Newest,
    /// By the trace's duration, longest first.
    Longest,
    /// By the trace's duration, shortest first.
    Shortest,
}

/// Where a page ended: the last trace's sort key and its id (which breaks
/// ties). Written `KEY-TRACEID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// What the list is ordered by: a start or a duration, in nanoseconds.
    pub key: u64,
    /// The trace.
    pub trace_id: TraceId,
}

/// A cursor that no search returned.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor this API returned")]
pub struct InvalidCursor;

impl FromStr for Cursor {
    type Err = InvalidCursor;
    fn from_str(text: &str) -> Result<Cursor, InvalidCursor> {
        let (key, id) = text.split_once('-').ok_or(InvalidCursor)?;
        Ok(Cursor {
            key: key.parse().map_err(|_| InvalidCursor)?,
            trace_id: id.parse().map_err(|_| InvalidCursor)?,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.key, self.trace_id)
    }
}

/// What to find.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceSearch {
    /// Which spans a trace needs one of (its `limit` is not used: a search
    /// reads as much as its order needs).
    pub filter: SpanFilter,
    /// Attributes a span must have, as `(key, value text)` (see
    /// [`crate::span::Value::text`]).
    pub attributes: Vec<(String, String)>,
    /// Whether one span must match every filter. Otherwise each of these
    /// may be matched by a span of its own: the service, name and duration
    /// together; errors only; each attribute.
    pub same_span: bool,
    /// The order.
    pub sort: Sort,
    /// Traces per page.
    pub limit: usize,
    /// The end of the previous page.
    pub after: Option<Cursor>,
}

/// One page of a trace list.
#[derive(Clone, Debug, PartialEq)]
pub struct TracePage {
    /// The traces, in order.
    pub traces: Vec<TraceSummary>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

/// A page of the traces `search` finds.
pub fn search(store: &dyn Store, search: &TraceSearch) -> Result<TracePage, StoreError> {
    let keys = newest_keys(store, search)?;
    let ordered = match search.sort {
        Sort::Newest => keys,
        Sort::Longest | Sort::Shortest => by_duration(store, search, keys)?,
    };
    page(store, ordered, search.limit)
}

/// The matching traces, each keyed by the start of its newest matching
/// span, newest first; for `Sort::Newest` only those after the cursor, at
/// most one more than a page (to tell whether there is a next page).
fn newest_keys(store: &dyn Store, search: &TraceSearch) -> Result<Vec<Cursor>, StoreError> {
    if !search.same_span {
        let criteria = Criterion::all_of(search);
        if criteria.len() > 1 {
            return across_spans(store, search, &criteria);
        }
    }
    // One span matches every filter.
    let criterion = Criterion {
        filter: search.filter.clone(),
        attributes: search.attributes.clone(),
    };
    if search.sort == Sort::Newest {
        criterion.keys(store, search.after, search.limit + 1)
    } else {
        criterion.keys(store, None, SORT_LIMIT)
    }
}

/// What one span of a trace must match: a filter and attributes.
#[derive(Debug)]
struct Criterion {
    /// What the store filters by.
    filter: SpanFilter,
    /// Attributes the span must have, as `(key, value text)`.
    attributes: Vec<(String, String)>,
}

impl Criterion {
    /// The search's filters, each its own criterion, within its time
    /// window: the service, name and durations together, errors only, each
    /// attribute.
    fn all_of(search: &TraceSearch) -> Vec<Criterion> {
        let f = &search.filter;
        let window = SpanFilter {
            start_ns: f.start_ns,
            end_ns: f.end_ns,
            ..SpanFilter::default()
        };
        let mut criteria = Vec::new();
        if f.service.is_some()
            || f.name.is_some()
            || f.min_duration_ns.is_some()
            || f.max_duration_ns.is_some()
        {
            criteria.push(Criterion {
                filter: SpanFilter {
                    error_only: false,
                    ..f.clone()
                },
                attributes: Vec::new(),
            });
        }
        if f.error_only {
            criteria.push(Criterion {
                filter: SpanFilter {
                    error_only: true,
                    ..window.clone()
                },
                attributes: Vec::new(),
            });
        }
        for attribute in &search.attributes {
            criteria.push(Criterion {
                filter: window.clone(),
                attributes: vec![attribute.clone()],
            });
        }
        criteria
    }

    /// The same criterion, its spans starting within `[from, to)` as well.
    fn within(&self, from: u64, to: u64) -> Criterion {
        let f = &self.filter;
        Criterion {
            filter: SpanFilter {
                start_ns: Some(f.start_ns.map_or(from, |s| s.max(from))),
                end_ns: Some(f.end_ns.map_or(to, |e| e.min(to))),
                ..f.clone()
            },
            attributes: self.attributes.clone(),
        }
    }

    /// The traces with a matching span, keyed by the newest one's start,
    /// newest first, below `before`, at most `limit`.
    fn keys(
        &self,
        store: &dyn Store,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<Vec<Cursor>, StoreError> {
        if self.attributes.is_empty() {
            // The store groups and pages by itself.
            let filter = SpanFilter {
                limit,
                ..self.filter.clone()
            };
            return Ok(store
                .trace_keys(&filter, before.map(|c| (c.key, c.trace_id)))?
                .into_iter()
                .map(|(key, trace_id)| Cursor { key, trace_id })
                .collect());
        }
        // Attributes are inside the spans: filter the newest spans here.
        let filter = SpanFilter {
            limit: SCAN_LIMIT,
            ..self.filter.clone()
        };
        let mut latest: HashMap<TraceId, u64> = HashMap::new();
        for span in store
            .spans(&filter)?
            .iter()
            .filter(|s| has_attributes(s, &self.attributes))
        {
            let key = latest.entry(span.trace_id).or_default();
            *key = (*key).max(span.start_unix_nanos);
        }
        let mut keys: Vec<Cursor> = latest
            .into_iter()
            .map(|(trace_id, key)| Cursor { key, trace_id })
            .filter(|key| before.is_none_or(|before| *key < before))
            .collect();
        keys.sort_by(|a, b| b.cmp(a));
        keys.truncate(limit);
        Ok(keys)
    }
}

/// The keys of the traces matching every criterion, each perhaps in a span
/// of its own, keyed by the first criterion's newest span; for
/// `Sort::Newest` only those after the cursor, at most one more than a page.
/// The first criterion's traces are taken `CHUNK` at a time, newest first,
/// and kept when every other criterion has a span in the same trace starting
/// within `TRACE_SPREAD_NS` of them; at most `SORT_LIMIT` are looked at.
fn across_spans(
    store: &dyn Store,
    search: &TraceSearch,
    criteria: &[Criterion],
) -> Result<Vec<Cursor>, StoreError> {
    let Some((first, others)) = criteria.split_first() else {
        return Ok(Vec::new());
    };
    let newest = search.sort == Sort::Newest;
    let wanted = if newest { search.limit + 1 } else { SORT_LIMIT };
    let mut before = if newest { search.after } else { None };
    let mut keys = Vec::new();
    let mut looked_at = 0;
    while keys.len() < wanted && looked_at < SORT_LIMIT {
        let chunk = first.keys(store, before, CHUNK)?;
        let (Some(newest_key), Some(oldest_key)) = (chunk.first(), chunk.last()) else {
            break;
        };
        let from = oldest_key.key.saturating_sub(TRACE_SPREAD_NS);
        let to = newest_key.key.saturating_add(TRACE_SPREAD_NS);
        let mut kept: HashSet<TraceId> = chunk.iter().map(|c| c.trace_id).collect();
        for other in others {
            if kept.is_empty() {
                break;
            }
            let matching: HashSet<TraceId> = other
                .within(from, to)
                .keys(store, None, SCAN_LIMIT)?
                .into_iter()
                .map(|c| c.trace_id)
                .collect();
            kept.retain(|id| matching.contains(id));
        }
        keys.extend(chunk.iter().filter(|c| kept.contains(&c.trace_id)));
        looked_at += chunk.len();
        if chunk.len() < CHUNK {
            break;
        }
        before = Some(*oldest_key);
    }
    keys.truncate(wanted);
    Ok(keys)
}

/// The newest `SORT_LIMIT` of `keys` keyed and ordered by duration, after
/// the cursor. Each trace is read to measure it and then let go: holding
/// every trace at once could be too much.
fn by_duration(
    store: &dyn Store,
    search: &TraceSearch,
    mut keys: Vec<Cursor>,
) -> Result<Vec<Cursor>, StoreError> {
    keys.truncate(SORT_LIMIT);
    let mut ordered = Vec::with_capacity(keys.len());
    for Cursor { trace_id, .. } in keys {
        let trace = store.trace(trace_id)?;
        if !trace.is_empty() {
            let (_, duration) = extent(&trace);
            ordered.push(Cursor {
                key: duration,
                trace_id,
            });
        }
    }
    // Ties are broken by trace id, so the order is the same on every request.
    if search.sort == Sort::Longest {
        ordered.sort_unstable_by(|a, b| b.cmp(a));
        ordered.retain(|key| search.after.is_none_or(|after| *key < after));
    } else {
        ordered.sort_unstable();
        ordered.retain(|key| search.after.is_none_or(|after| *key > after));
    }
    Ok(ordered)
}

/// The first `limit` of `ordered`, summarised, and the cursor after them
/// when more follow.
fn page(
    store: &dyn Store,
    mut ordered: Vec<Cursor>,
    limit: usize,
) -> Result<TracePage, StoreError> {
    let more = ordered.len() > limit;
    ordered.truncate(limit);
    let mut traces = Vec::with_capacity(ordered.len());
    for key in &ordered {
        traces.push(TraceSummary::of(key.trace_id, &store.trace(key.trace_id)?));
    }
    Ok(TracePage {
        traces,
        next: ordered.last().copied().filter(|_| more),
    })
}

/// Whether `span` has every attribute, compared as text.
fn has_attributes(span: &Span, attributes: &[(String, String)]) -> bool {
    attributes.iter().all(|(key, value)| {
        span.attributes.iter().any(|a| {
            a.key == *key && a.value.as_ref().and_then(|v| v.text()).as_deref() == Some(value)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Attribute, Value};
    use crate::store::{Limits, MemoryStore};

    /// Trace `t` (1..=n) has one span starting at `t` and lasting `10 * (n + 1 - t)`,
    /// so newer traces are shorter; odd traces carry `parity=odd`.
    fn store_of(n: u8) -> MemoryStore {
        let store = MemoryStore::new(Limits::spans(1000));
        let spans = (1..=n)
            .map(|t| Span {
                start_unix_nanos: u64::from(t),
                end_unix_nanos: u64::from(t) + 10 * u64::from(n + 1 - t),
                attributes: vec![Attribute {
                    key: "parity".into(),
                    value: Some(Value::String(
                        if t % 2 == 1 { "odd" } else { "even" }.into(),
                    )),
                }],
                ..Span::example(t, 1)
            })
            .collect();
        store.insert(spans).unwrap();
        store
    }

    /// Every page of `request`, as the first byte of each trace id.
    fn pages(store: &MemoryStore, mut request: TraceSearch) -> Vec<Vec<u8>> {
        let mut pages = Vec::new();
        loop {
            let page = search(store, &request).unwrap();
            pages.push(
                page.traces
                    .iter()
                    .map(|t| t.trace_id.to_bytes()[0])
                    .collect(),
            );
            match page.next {
                Some(next) => request.after = Some(next),
                None => return pages,
            }
        }
    }

    fn request(sort: Sort, attributes: &[(&str, &str)]) -> TraceSearch {
        TraceSearch {
            sort,
            limit: 2,
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..TraceSearch::default()
        }
    }

    #[test]
    fn pages_follow_each_other_in_every_order() {
        let store = store_of(5);
        assert_eq!(
            pages(&store, request(Sort::Newest, &[])),
            [vec![5, 4], vec![3, 2], vec![1]]
        );
        // Older traces last longer here.
        assert_eq!(
            pages(&store, request(Sort::Longest, &[])),
            [vec![1, 2], vec![3, 4], vec![5]]
        );
        assert_eq!(
            pages(&store, request(Sort::Shortest, &[])),
            [vec![5, 4], vec![3, 2], vec![1]]
        );
    }

    #[test]
    fn an_attribute_search_pages_over_the_matching_traces_only() {
        let store = store_of(5);
        assert_eq!(
            pages(&store, request(Sort::Newest, &[("parity", "odd")])),
            [vec![5, 3], vec![1]]
        );
        assert_eq!(
            pages(&store, request(Sort::Longest, &[("parity", "odd")])),
            [vec![1, 3], vec![5]]
        );
    }

    /// Four traces of a front service calling a back one: in 1 the back
    /// fails, in 2 the front, in 3 neither; trace 4 is the back alone,
    /// failing. The spans of trace `t` start just after `10 * t`.
    fn front_and_back() -> MemoryStore {
        let store = MemoryStore::new(Limits::spans(1000));
        let span = |t: u8, id: u64, service: &str, failed: bool| Span {
            resource: std::sync::Arc::new(crate::span::Resource::of_service(service)),
            start_unix_nanos: 10 * u64::from(t) + id,
            // Older traces last longer.
            end_unix_nanos: 10 * u64::from(t) + 10 - u64::from(t),
            parent_id: (id == 2).then(|| dapple::SpanId::new(1).unwrap()),
            status: if failed {
                crate::span::StatusCode::Error
            } else {
                crate::span::StatusCode::Unset
            },
            ..Span::example(t, id)
        };
        store
            .insert(vec![
                span(1, 1, "front", false),
                span(1, 2, "back", true),
                span(2, 1, "front", true),
                span(2, 2, "back", false),
                span(3, 1, "front", false),
                span(3, 2, "back", false),
                span(4, 2, "back", true),
            ])
            .unwrap();
        store
    }

    fn front_with_errors(same_span: bool) -> TraceSearch {
        TraceSearch {
            filter: SpanFilter {
                service: Some("front".into()),
                error_only: true,
                ..SpanFilter::default()
            },
            same_span,
            limit: 1,
            ..TraceSearch::default()
        }
    }

    #[test]
    fn filters_may_match_different_spans_of_a_trace_or_one_span_when_asked() {
        let store = front_and_back();
        // A front span and an error anywhere: traces 2 and 1, a page each.
        assert_eq!(pages(&store, front_with_errors(false)), [vec![2], vec![1]]);
        // A failing front span: trace 2 only.
        assert_eq!(pages(&store, front_with_errors(true)), [vec![2]]);
        // Ordered by duration too.
        let longest = TraceSearch {
            sort: Sort::Longest,
            ..front_with_errors(false)
        };
        assert_eq!(pages(&store, longest), [vec![1], vec![2]]);
        // An attribute is a filter of its own as well.
        let with_attribute = TraceSearch {
            attributes: vec![("parity".into(), "odd".into())],
            ..front_with_errors(false)
        };
        let none: Vec<Vec<u8>> = vec![vec![]];
        assert_eq!(pages(&store, with_attribute), none);
    }

    #[test]
    fn a_cursor_reads_back_as_written() {
        let cursor = Cursor {
            key: 42,
            trace_id: TraceId::from_bytes([3; 16]).unwrap(),
        };
        assert_eq!(cursor.to_string().parse(), Ok(cursor));
        assert_eq!("42".parse::<Cursor>(), Err(InvalidCursor));
        assert_eq!("x-0303".parse::<Cursor>(), Err(InvalidCursor));
    }
}
