//! `POST /api/v1/spans`: the native batch message over HTTP.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use dapple_proto as proto;
use prost::Message;
use serde::Serialize;

use super::{ApiError, AppState};
use crate::access::Identity;
use crate::ingest::convert;

/// What an HTTP batch did: spans in it, and spans new to the store.
#[derive(Serialize)]
pub(super) struct Ingested {
    received: usize,
    stored: usize,
}

/// Decodes off the async workers, in the blocking pool, as the native TCP
/// ingest does: a large batch must not stall other connections. The body
/// must say it is protobuf: a page on another origin cannot send that
/// without the browser asking first, and the collector answers no such
/// question.
pub(super) async fn post_spans(
    State(state): State<AppState>,
    Extension(client): Extension<Identity>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Ingested>, ApiError> {
    super::guard::require_media_type(
        &headers,
        &["application/x-protobuf", "application/protobuf"],
    )?;
    let batch = tokio::task::spawn_blocking(move || proto::Batch::decode(body))
        .await?
        .map_err(|e| ApiError::bad_body(format!("not a dapple.v1.Batch message: {e}")))?;
    let resource = std::sync::Arc::new(convert::resource(batch.resource));
    let received = batch.spans.len();
    state
        .dropped
        .add(&resource.service, &client, batch.dropped_spans);
    let stored = state
        .write_store(move |store| store.insert(convert::spans(&resource, batch.spans)))
        .await?;
    Ok(Json(Ingested { received, stored }))
}
