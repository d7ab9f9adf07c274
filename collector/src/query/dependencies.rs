//! Which services call which: a span whose parent came from another
//! service is one call from the parent's service to its own.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use dapple::{SpanId, TraceId};

use crate::store::{Store, StoreError};

/// Calls from one service to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The calling service.
    pub caller: String,
    /// The called service.
    pub callee: String,
    /// Calls seen.
    pub calls: u64,
    /// Of which the callee's span ended in error.
    pub error_count: u64,
}

/// Every caller-callee pair among the spans that started within `window`,
/// sorted by caller, then callee.
pub fn dependencies(store: &dyn Store, window: Duration) -> Result<Vec<Dependency>, StoreError> {
    let spans = store.spans(&super::in_window(window))?;
    let service_of: HashMap<(TraceId, SpanId), &str> = spans
        .iter()
        .map(|s| ((s.trace_id, s.span_id), s.service.as_str()))
        .collect();
    let mut edges: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for span in &spans {
        let caller = span
            .parent_id
            .and_then(|parent| service_of.get(&(span.trace_id, parent)))
            .filter(|caller| **caller != span.service);
        if let Some(caller) = caller {
            let edge = edges.entry((caller, span.service.as_str())).or_default();
            edge.0 += 1;
            edge.1 += u64::from(span.is_error());
        }
    }
    Ok(edges
        .into_iter()
        .map(|((caller, callee), (calls, error_count))| Dependency {
            caller: caller.to_owned(),
            callee: callee.to_owned(),
            calls,
            error_count,
        })
        .collect())
}
