//! One trace, its spans in the order they started.

use dapple::TraceId;

use crate::span::Span;
use crate::store::{Store, StoreError};

/// Every span of trace `id` by start (ties by span id, so the order is the
/// same on every request); empty when the store has none.
pub fn trace(store: &dyn Store, id: TraceId) -> Result<Vec<Span>, StoreError> {
    let mut spans = store.trace(id)?;
    spans.sort_by_key(|s| (s.start_unix_nanos, s.span_id.to_u64()));
    Ok(spans)
}
