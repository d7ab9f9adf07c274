//! `POST /api/v1/spans`: the native batch message over HTTP.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use dapple_proto as proto;
use prost::Message;
use serde::Serialize;

use super::{ApiError, AppState};

/// What an HTTP batch did: spans in it, and spans new to the store.
#[derive(Serialize)]
pub(super) struct Ingested {
    received: usize,
    stored: usize,
}

/// Decodes off the async workers, in the blocking pool, as the native TCP
/// ingest does: a large batch must not stall other connections.
pub(super) async fn post_spans(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Ingested>, ApiError> {
    let batch = tokio::task::spawn_blocking(move || proto::Batch::decode(body))
        .await?
        .map_err(|e| ApiError::bad_body(format!("not a dapple.v1.Batch message: {e}")))?;
    let service = batch
        .resource
        .map(|r| r.service_name)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown_service".to_owned());
    let service: std::sync::Arc<str> = service.into();
    let received = batch.spans.len();
    state.dropped.add(&service, batch.dropped_spans);
    let stored = state
        .with_store(move |store| store.insert(crate::ingest::convert::spans(&service, batch.spans)))
        .await?;
    Ok(Json(Ingested { received, stored }))
}
