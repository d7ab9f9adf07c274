//! `POST /api/v1/spans`: the native batch message over HTTP.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::Serialize;

use super::{ApiError, AppState};
use crate::access::Identity;
use crate::ingest::DecodeBudget;
use crate::ingest::convert::{self, BatchError};

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
    let native = state.native.clone();
    let share = native
        .budget
        .reserve(DecodeBudget::native(body.len()))
        .await
        .ok_or_else(|| {
            ApiError::TooLarge("the batch is too large to decode: send smaller ones".into())
        })?;
    let (received, stored) = tokio::task::spawn_blocking(move || {
        let _share = share;
        let (resource, batch, received) = convert::batch_message(&body, native.max_batch_spans)
            .map_err(|e| match e {
                BatchError::Decode(e) => {
                    ApiError::bad_body(format!("not a dapple.v1.Batch message: {e}"))
                }
                too_many => ApiError::TooLarge(too_many.to_string()),
            })?;
        native
            .dropped
            .add(&resource.service, &client, batch.dropped_spans);
        let stored = native.store.insert(batch.spans)?;
        Ok::<_, ApiError>((received, stored))
    })
    .await??;
    Ok(Json(Ingested { received, stored }))
}
