//! `GET /api/dependencies?window=`: which services called which within a
//! time window, for the dependency graph.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::params::Params;
use super::{ApiError, AppState};
use crate::query::dependencies::{self, Dependency};

pub(super) async fn dependencies(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<DependenciesResponse>, ApiError> {
    let params = Params(pairs);
    params.only(&["window"])?;
    let (label, window) = params.window()?;
    let edges = state
        .with_store(move |store| dependencies::dependencies(store, window))
        .await?;
    Ok(Json(DependenciesResponse {
        dependencies: edges.into_iter().map(EdgeJson::from).collect(),
        window: label,
    }))
}

// Fields in alphabetical order: the order the API has always written.

/// The calls between services.
#[derive(Debug, Serialize)]
pub(super) struct DependenciesResponse {
    dependencies: Vec<EdgeJson>,
    window: String,
}

#[derive(Debug, Serialize)]
struct EdgeJson {
    callee: String,
    caller: String,
    calls: u64,
    error_count: u64,
}

impl From<Dependency> for EdgeJson {
    fn from(edge: Dependency) -> EdgeJson {
        EdgeJson {
            callee: edge.callee,
            caller: edge.caller,
            calls: edge.calls,
            error_count: edge.error_count,
        }
    }
}
