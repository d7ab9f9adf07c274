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
        .map(|s| ((s.trace_id, s.span_id), s.service()))
        .collect();
    let mut edges: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for span in &spans {
        let caller = span
            .parent_id
            .and_then(|parent| service_of.get(&(span.trace_id, parent)))
            .filter(|caller| **caller != span.service());
        if let Some(caller) = caller {
            let edge = edges.entry((caller, span.service())).or_default();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Resource, Span, StatusCode};
    use crate::store::{Limits, MemoryStore};

    #[test]
    fn a_child_in_another_service_is_a_call_and_its_error_counts() {
        let now = dapple::now_unix_nanos();
        let span = |id: u64, parent: u64, service: &str, error: bool| Span {
            parent_id: SpanId::new(parent),
            resource: std::sync::Arc::new(Resource::of_service(service)),
            start_unix_nanos: now,
            status: if error {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            ..Span::example(1, id)
        };
        let store = MemoryStore::new(Limits::spans(100));
        store
            .insert(vec![
                span(1, 0, "front", false),
                span(2, 1, "front", false),
                span(3, 2, "back", true),
                span(4, 2, "back", false),
                span(5, 3, "back", false),
            ])
            .unwrap();
        assert_eq!(
            dependencies(&store, Duration::from_secs(60)).unwrap(),
            [Dependency {
                caller: "front".into(),
                callee: "back".into(),
                calls: 2,
                error_count: 1,
            }]
        );
    }
}
