//! `GET /api/services`: the services that sent spans, and what clients
//! dropped; `GET /api/services/{service}/names`: one service's span names.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::{ApiError, AppState};
use crate::query::services;

pub(super) async fn services(
    State(state): State<AppState>,
) -> Result<Json<ServicesResponse>, ApiError> {
    let services = state.with_store(services::services).await?;
    Ok(Json(ServicesResponse {
        dropped_spans: state.dropped.snapshot(),
        services,
    }))
}

pub(super) async fn span_names(
    State(state): State<AppState>,
    Path(service): Path<String>,
) -> Result<Json<NamesResponse>, ApiError> {
    let wanted = service.clone();
    let names = state
        .with_store(move |store| services::span_names(store, &wanted))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no service {service:?}")))?;
    Ok(Json(NamesResponse { names, service }))
}

// Fields in alphabetical order: the order the API has always written.

/// Every service, and the spans each client said it dropped: per service,
/// per client (its token's label, or its IP address).
#[derive(Debug, Serialize)]
pub(super) struct ServicesResponse {
    dropped_spans: BTreeMap<String, BTreeMap<String, u64>>,
    services: Vec<String>,
}

/// One service's span names.
#[derive(Debug, Serialize)]
pub(super) struct NamesResponse {
    names: Vec<String>,
    service: String,
}
