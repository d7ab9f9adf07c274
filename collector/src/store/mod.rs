//! Where spans live, behind one trait.

mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use dapple::TraceId;
use dapple::proto;

/// A stored span: the wire form and the service that sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSpan {
    /// The service (`service.name` of its process).
    pub service: String,
    /// The span as it arrived.
    pub span: proto::Span,
}

impl StoredSpan {
    /// The span's trace, when its id is valid.
    pub fn trace_id(&self) -> Option<TraceId> {
        let bytes: [u8; 16] = self.span.trace_id.as_slice().try_into().ok()?;
        TraceId::from_bytes(bytes)
    }
}

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store's medium failed.
    #[error("store failed: {0}")]
    Failed(String),
}

/// A place for spans. Inserting a span whose (trace, span) id is already
/// stored does nothing, so a re-sent batch never doubles a span.
pub trait Store: Send + Sync + 'static {
    /// Stores spans from one service; returns how many were new.
    fn insert(&self, service: &str, spans: Vec<proto::Span>) -> Result<usize, StoreError>;

    /// Every span of a trace.
    fn trace(&self, trace_id: TraceId) -> Result<Vec<StoredSpan>, StoreError>;

    /// How many spans are stored.
    fn span_count(&self) -> Result<usize, StoreError>;
}
