//! What the query API asks of the stores, worked out over the [`Store`]
//! trait: trace searches with their paging ([`search`]), one trace
//! ([`trace`]), latency aggregates ([`aggregate`]), the calls between
//! services ([`dependencies`]) and the services themselves ([`services`]).
//!
//! Every function here blocks on the store: call them off the async
//! workers. They return plain results; the HTTP layer decides their JSON.
//!
//! [`Store`]: crate::store::Store

pub mod aggregate;
pub mod dependencies;
pub mod search;
pub mod services;
pub mod summary;
pub mod trace;

/// Spans read for one aggregate over a window, at most.
const WINDOW_SCAN_LIMIT: usize = 2_000_000;

/// The filter for every span that started within `window` of now.
fn in_window(window: std::time::Duration) -> crate::store::SpanFilter {
    crate::store::SpanFilter {
        start_ns: Some(dapple::now_unix_nanos().saturating_sub(window.as_nanos() as u64)),
        limit: WINDOW_SCAN_LIMIT,
        ..crate::store::SpanFilter::default()
    }
}
