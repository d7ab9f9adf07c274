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

/// Every (service, span name) with a span that started within `window`
/// (of `service` only, when given), the most frequent first (ties by
/// service, then name).
pub fn operations(
    store: &dyn Store,
    window: Duration,
    service: Option<&str>,
) -> Result<Vec<Operation>, StoreError> {
    let filter = SpanFilter {
        service: service.map(str::to_owned),
        ..super::in_window(window)
    };
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for span in store.spans(&filter)? {
        groups
            .entry((span.service().to_string(), span.name.to_string()))
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
    /// How the window is cut into buckets.
    pub buckets: Buckets,
}

/// How a series cuts its window into buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buckets {
    /// This many equal buckets (at least 1) over the whole window, the first
    /// starting where the window starts.
    Count(u64),
    /// Buckets of this length over the whole window, starting at multiples
    /// of it (in Unix time), so their starts read as round times.
    Every(Duration),
    /// Buckets of a readable length (one of [`AUTO_STEPS`]), at most
    /// [`AUTO_BUCKETS`] of them, aligned as for `Every`, over the part of the
    /// window that holds spans: from the oldest span (or the last minute,
    /// if that is longer) to now. A window of a week whose spans all came
    /// in the last hour is drawn in minutes, not in empty two-hour buckets.
    Auto,
}

/// The most buckets [`Buckets::Auto`] makes (unless the range is longer
/// than [`AUTO_BUCKETS`] weeks).
pub const AUTO_BUCKETS: u64 = 120;

/// The bucket lengths [`Buckets::Auto`] chooses from, in seconds: each a
/// length a clock reads at a glance.
pub const AUTO_STEPS: [u64; 20] = [
    1, 2, 5, 10, 15, 30, // seconds
    60, 120, 300, 600, 900, 1_800, // minutes
    3_600, 7_200, 10_800, 21_600, 43_200, // hours
    86_400, 172_800, 604_800, // days
];

/// The shortest range [`Buckets::Auto`] draws: a few fresh spans show
/// as a minute of one-second buckets, not as two or three wide bars.
const AUTO_MIN_RANGE_NS: u64 = 60 * NANOS_PER_SECOND;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

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
    let window_ns = u64::try_from(request.window.as_nanos()).unwrap_or(u64::MAX);
    let end = dapple::now_unix_nanos();
    let start = end.saturating_sub(window_ns);
    let filter = SpanFilter {
        service: request.service.clone(),
        name: Some(request.name.clone()),
        start_ns: Some(start),
        limit: super::WINDOW_SCAN_LIMIT,
        ..SpanFilter::default()
    };
    let spans = store.spans(&filter)?;
    let (first, bucket_ns, buckets) = match request.buckets {
        Buckets::Count(buckets) => {
            let buckets = buckets.max(1);
            // At least one nanosecond per bucket, so every span maps to a bucket.
            (start, (end - start).div_ceil(buckets).max(1), buckets)
        }
        Buckets::Every(step) => aligned(start, end, duration_ns(step)),
        Buckets::Auto => {
            let oldest = spans.iter().map(|s| s.start_unix_nanos).min();
            let from = oldest
                .map_or(start, |t| t.min(end.saturating_sub(AUTO_MIN_RANGE_NS)))
                .max(start);
            aligned(from, end, auto_step(end - from))
        }
    };
    let mut slots = vec![Group::default(); buckets as usize];
    for span in &spans {
        let index = (span.start_unix_nanos.saturating_sub(first) / bucket_ns) as usize;
        // A span that started after `end` (a clock ahead of ours) counts in the last bucket.
        slots[index.min(buckets as usize - 1)].add(span);
    }
    Ok(Series {
        bucket_nanos: bucket_ns,
        points: slots
            .into_iter()
            .enumerate()
            .map(|(i, group)| Point {
                start_unix_nanos: first + i as u64 * bucket_ns,
                latency: group.latency(),
            })
            .collect(),
    })
}

/// At most how many buckets of `step`, aligned as [`Buckets::Every`]
/// aligns them, cover a `window`; `None` past `max`.
pub fn aligned_buckets(window: Duration, step: Duration, max: u64) -> Option<u64> {
    let count = duration_ns(window)
        .div_ceil(duration_ns(step))
        .saturating_add(1);
    (count <= max).then_some(count)
}

/// The first bucket's start, the bucket length and the number of buckets
/// of `step` (at least 1 ns) that cover `from..=end`, starting at a multiple
/// of `step`.
fn aligned(from: u64, end: u64, step: u64) -> (u64, u64, u64) {
    let step = step.max(1);
    let first = from - from % step;
    (first, step, (end - first) / step + 1)
}

/// The first of [`AUTO_STEPS`] that cuts `range_ns` into at most
/// [`AUTO_BUCKETS`] buckets; past them, whole days.
fn auto_step(range_ns: u64) -> u64 {
    let fits = |step: u64| range_ns.div_ceil(step) <= AUTO_BUCKETS;
    AUTO_STEPS
        .iter()
        .map(|s| s * NANOS_PER_SECOND)
        .find(|&step| fits(step))
        .unwrap_or_else(|| {
            let day = 86_400 * NANOS_PER_SECOND;
            range_ns
                .div_ceil(AUTO_BUCKETS)
                .div_ceil(day)
                .saturating_mul(day)
        })
}

fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
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

    #[test]
    fn auto_steps_are_readable_and_give_at_most_120_buckets() {
        let s = NANOS_PER_SECOND;
        for (range, step) in [
            (1, s),
            (60 * s, s),
            (121 * s, 2 * s),
            (3_450 * s, 30 * s),
            (3_600 * s, 30 * s),
            (3_601 * s, 60 * s),
            (6 * 3_600 * s, 300 * s),
            (7 * 86_400 * s, 7_200 * s),
            (120 * 7 * 86_400 * s, 7 * 86_400 * s),
            (500 * 7 * 86_400 * s, 30 * 86_400 * s),
        ] {
            assert_eq!(auto_step(range), step, "{range}");
            assert!(range.div_ceil(step) <= AUTO_BUCKETS);
        }
    }

    #[test]
    fn aligned_buckets_start_at_a_multiple_of_the_step_and_hold_the_end() {
        assert_eq!(aligned(1_234, 5_000, 1_000), (1_000, 1_000, 5));
        assert_eq!(aligned(1_000, 4_999, 1_000), (1_000, 1_000, 4));
        assert_eq!(aligned(7, 7, 1_000), (0, 1_000, 1));
        let window = Duration::from_secs(600);
        assert_eq!(
            aligned_buckets(window, Duration::from_secs(10), 1_000),
            Some(61)
        );
        assert_eq!(
            aligned_buckets(window, Duration::from_millis(100), 1_000),
            None
        );
    }
}
