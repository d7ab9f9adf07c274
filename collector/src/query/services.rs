//! The services that sent spans, and the names of their spans.

use crate::store::{Store, StoreError};

/// Every service, sorted.
pub fn services(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .services()?
        .into_iter()
        .map(|(service, _)| service)
        .collect())
}

/// The span names of `service`, sorted; `None` when no span came from it.
pub fn span_names(store: &dyn Store, service: &str) -> Result<Option<Vec<String>>, StoreError> {
    Ok(store
        .services()?
        .into_iter()
        .find(|(s, _)| s == service)
        .map(|(_, names)| names))
}
