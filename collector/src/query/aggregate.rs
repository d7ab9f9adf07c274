//! Latency and errors per span name over a time window, and one name's
//! latency over time.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::span::Span;
use crate::store::{SpanFilter, Store, StoreError};

/// How long a group of spans took, and how many failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Spans in the group.
    pub count: u64,
    /// Of which ended in error.
    pub error_count: u64,
    /// Median duration, nanoseconds (nearest rank).
    pub p50_nanos: u64,
    /// 90th percentile.
    pub p90_nanos: u64,
    /// 99th percentile.
    pub p99_nanos: u64,
    /// The longest.
    pub max_nanos: u64,
}

impl Latency {
    /// The figures of spans with `durations` of which `errors` failed.
    fn of(mut durations: Vec<u64>, errors: u64) -> Latency {
        durations.sort_unstable();
        Latency {
            count: durations.len() as u64,
            error_count: errors,
            p50_nanos: percentile(&durations, 50.0),
            p90_nanos: percentile(&durations, 90.0),
            p99_nanos: percentile(&durations, 99.0),
            max_nanos: durations.last().copied().unwrap_or(0),
        }
    }

    /// The share of spans that failed (0 for none).
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.error_count as f64 / self.count as f64
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Durations and errors of a group of spans, gathered before the figures.
#[derive(Clone, Debug, Default)]
struct Group {
    durations: Vec<u64>,
    errors: u64,
}

impl Group {
    fn add(&mut self, span: &Span) {
        self.durations.push(span.duration_nanos());
        self.errors += u64::from(span.is_error());
    }

    fn latency(self) -> Latency {
        Latency::of(self.durations, self.errors)
    }
}

/// One span name of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// The service.
    pub service: String,
    /// The span name.
    pub name: String,
    /// Its figures.
    pub latency: Latency,
}

/// Every (service, span name) with a span that started within `window`,
/// the most frequent first (ties by service, then name).
pub fn operations(store: &dyn Store, window: Duration) -> Result<Vec<Operation>, StoreError> {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for span in store.spans(&super::in_window(window))? {
        groups
            .entry((span.service.to_string(), span.name.clone()))
            .or_default()
            .add(&span);
    }
    let mut operations: Vec<Operation> = groups
        .into_iter()
        .map(|((service, name), group)| Operation {
            service,
            name,
            latency: group.latency(),
        })
        .collect();
    operations.sort_by_key(|o| std::cmp::Reverse(o.latency.count));
    Ok(operations)
}

/// Which spans a series follows, and how finely.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRequest {
    /// Only this service's spans, when set.
    pub service: Option<String>,
    /// The span name.
    pub name: String,
    /// How far back from now.
    pub window: Duration,
    /// Buckets the window is cut into (at least 1).
    pub buckets: u64,
}

/// One bucket of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// The bucket's start, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// The figures of the spans that started in it.
    pub latency: Latency,
}

/// A span name's latency over a window, in equal buckets.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Each bucket's length.
    pub bucket_nanos: u64,
    /// The buckets, oldest first.
    pub points: Vec<Point>,
}

/// The series `request` asks for, over the window up to now.
pub fn series(store: &dyn Store, request: &SeriesRequest) -> Result<Series, StoreError> {
    let buckets = request.buckets.max(1);
    let window_ns = u64::try_from(request.window.as_nanos()).unwrap_or(u64::MAX);
    let end = dapple::now_unix_nanos();
    let start = end.saturating_sub(window_ns);
    // At least one nanosecond per bucket, so every span maps to a bucket.
    let bucket_ns = (end - start).div_ceil(buckets).max(1);
    let filter = SpanFilter {
        service: request.service.clone(),
        name: Some(request.name.clone()),
        start_ns: Some(start),
        limit: super::WINDOW_SCAN_LIMIT,
        ..SpanFilter::default()
    };
    let mut slots = vec![Group::default(); buckets as usize];
    for span in store.spans(&filter)? {
        let index = (span.start_unix_nanos.saturating_sub(start) / bucket_ns) as usize;
        // A span that started after `end` (a clock ahead of ours) counts in the last bucket.
        slots[index.min(buckets as usize - 1)].add(&span);
    }
    Ok(Series {
        bucket_nanos: bucket_ns,
        points: slots
            .into_iter()
            .enumerate()
            .map(|(i, group)| Point {
                start_unix_nanos: start + i as u64 * bucket_ns,
                latency: group.latency(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latency = Latency::of((1..=100).rev().collect(), 3);
        assert_eq!(
            (
                latency.p50_nanos,
                latency.p90_nanos,
                latency.p99_nanos,
                latency.max_nanos
            ),
            (50, 90, 99, 100)
        );
        assert_eq!(latency.error_rate(), 0.03);
        assert_eq!(Latency::of(Vec::new(), 0), Latency::default());
    }
}
