//! One line of a trace list: what a trace is, in a few figures.

use dapple::TraceId;

use crate::span::Span;

/// A trace in a few figures.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSummary {
    /// The trace.
    pub trace_id: TraceId,
    /// The root span's name (or the earliest span's, when the root never
    /// arrived); `None` for a trace with no spans.
    pub root_name: Option<String>,
    /// That span's service.
    pub root_service: Option<String>,
    /// Every service in the trace, sorted.
    pub services: Vec<String>,
    /// Spans stored.
    pub span_count: usize,
    /// Of which ended in error.
    pub error_count: usize,
    /// The first start, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// From the first start to the last end.
    pub duration_nanos: u64,
}

impl TraceSummary {
    /// The summary of trace `id` made of `spans`.
    pub fn of(id: TraceId, spans: &[Span]) -> TraceSummary {
        let root = spans
            .iter()
            .find(|s| s.parent_id.is_none())
            .or_else(|| spans.iter().min_by_key(|s| s.start_unix_nanos));
        let mut services: Vec<&str> = spans.iter().map(|s| s.service()).collect();
        services.sort_unstable();
        services.dedup();
        let (start, duration) = extent(spans);
        TraceSummary {
            trace_id: id,
            root_name: root.map(|r| r.name.to_string()),
            root_service: root.map(|r| r.service().to_string()),
            services: services.into_iter().map(str::to_owned).collect(),
            span_count: spans.len(),
            error_count: spans.iter().filter(|s| s.is_error()).count(),
            start_unix_nanos: start,
            duration_nanos: duration,
        }
    }
}

/// The first start of `spans` and the time from it to the last end (zeros
/// for no spans).
pub fn extent(spans: &[Span]) -> (u64, u64) {
    let start = spans.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_unix_nanos).max().unwrap_or(0);
    (start, end.saturating_sub(start))
}
