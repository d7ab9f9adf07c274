//! Where spans live, behind one trait.

mod clickhouse;
mod memory;
mod sqlite;

pub use clickhouse::{ClickHouseConfig, ClickHouseError, ClickHouseStore};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use dapple::TraceId;

use crate::span::Span;

/// How much a store keeps; past any bound the oldest spans go.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Spans kept at most.
    pub max_spans: usize,
    /// Bytes kept at most (the spans' size in memory, used pages in SQLite).
    pub max_bytes: Option<u64>,
    /// How long after it started a span is kept.
    pub retention: Option<std::time::Duration>,
}

impl Limits {
    /// At most `max_spans` spans, no other bound.
    pub fn spans(max_spans: usize) -> Limits {
        Limits {
            max_spans: max_spans.max(1),
            max_bytes: None,
            retention: None,
        }
    }
}

/// Which spans to find. Every field narrows; `None` does not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanFilter {
    /// The span's service.
    pub service: Option<String>,
    /// The span's name.
    pub name: Option<String>,
    /// Shortest duration, in nanoseconds.
    pub min_duration_ns: Option<u64>,
    /// Longest duration, in nanoseconds.
    pub max_duration_ns: Option<u64>,
    /// Started at or after, Unix nanoseconds.
    pub start_ns: Option<u64>,
    /// Started before, Unix nanoseconds.
    pub end_ns: Option<u64>,
    /// Only spans with status error.
    pub error_only: bool,
    /// At most this many spans, newest first.
    pub limit: usize,
}

impl SpanFilter {
    /// Whether a span passes the filter (all but the limit).
    pub fn matches(&self, span: &Span) -> bool {
        let duration = span.duration_nanos();
        self.service.as_deref().is_none_or(|s| s == span.service())
            && self.name.as_deref().is_none_or(|n| n == span.name)
            && self.min_duration_ns.is_none_or(|d| duration >= d)
            && self.max_duration_ns.is_none_or(|d| duration <= d)
            && self.start_ns.is_none_or(|t| span.start_unix_nanos >= t)
            && self.end_ns.is_none_or(|t| span.start_unix_nanos < t)
            && (!self.error_only || span.is_error())
    }
}

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be made.
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("SQLite failed")]
    Sqlite(#[from] rusqlite::Error),
    /// ClickHouse failed, or could not be reached.
    #[error("ClickHouse failed")]
    ClickHouse(#[from] ClickHouseError),
    /// A stored span could not be read back.
    #[error("a stored span is corrupt")]
    Corrupt(#[from] crate::ingest::convert::DecodeError),
    /// A thread of the store's own could not be started.
    #[error("cannot start the store's {0} thread")]
    Thread(&'static str, #[source] std::io::Error),
}

/// The read methods of a [`Store`] that wraps another in its field
/// `$inner` and reads through it (a wrapper changes only `insert`).
macro_rules! read_through {
    ($inner:ident) => {
        fn trace(
            &self,
            trace_id: dapple::TraceId,
        ) -> Result<Vec<crate::span::Span>, crate::store::StoreError> {
            self.$inner.trace(trace_id)
        }

        fn span_count(&self) -> Result<usize, crate::store::StoreError> {
            self.$inner.span_count()
        }

        fn spans(
            &self,
            filter: &crate::store::SpanFilter,
        ) -> Result<Vec<crate::span::Span>, crate::store::StoreError> {
            self.$inner.spans(filter)
        }

        fn trace_keys(
            &self,
            filter: &crate::store::SpanFilter,
            before: Option<(u64, dapple::TraceId)>,
        ) -> Result<Vec<(u64, dapple::TraceId)>, crate::store::StoreError> {
            self.$inner.trace_keys(filter, before)
        }

        fn services(&self) -> Result<Vec<(String, Vec<String>)>, crate::store::StoreError> {
            self.$inner.services()
        }
    };
}
pub(crate) use read_through;

/// A place for spans. Inserting a span whose (trace, span) id is already
/// stored does nothing, so a re-sent batch never doubles a span.
pub trait Store: std::fmt::Debug + Send + Sync + 'static {
    /// Stores spans; returns how many were new.
    fn insert(&self, spans: Vec<Span>) -> Result<usize, StoreError>;

    /// Every span of a trace.
    fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StoreError>;

    /// How many spans are stored.
    fn span_count(&self) -> Result<usize, StoreError>;

    /// Spans passing `filter`, newest first, at most `filter.limit`.
    fn spans(&self, filter: &SpanFilter) -> Result<Vec<Span>, StoreError>;

    /// The traces with a span passing `filter`, each with the start of its
    /// newest such span, newest first, below `before` (a key from a previous
    /// page), at most `filter.limit`.
    fn trace_keys(
        &self,
        filter: &SpanFilter,
        before: Option<(u64, TraceId)>,
    ) -> Result<Vec<(u64, TraceId)>, StoreError>;

    /// Every service, with the names of its spans, sorted.
    fn services(&self) -> Result<Vec<(String, Vec<String>)>, StoreError>;
}
