//! The HTTP side: the web UI, the JSON query API, HTTP ingest and health,
//! assembled in one router.

mod aggregates;
mod dependencies;
mod error;
mod ingest;
mod otlp;
mod otlp_json;
mod params;
mod search;
mod services;
mod traces;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use error::ApiError;
pub use otlp::otlp_router;

use crate::store::{Store, StoreError};

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// Where spans live.
    pub store: Arc<dyn Store>,
    /// What clients dropped.
    pub dropped: Arc<crate::dropped::DroppedSpans>,
    /// Where accepted spans are forwarded.
    pub forwarders: Arc<[Arc<crate::forward::Forwarder>]>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Runs `work` on the store from tokio's blocking threads (the stores
    /// block on locks and disk); a store failure is an internal error.
    async fn with_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || work(store.as_ref())).await??)
    }
}

/// `GET /api/forwarding`: each endpoint spans are forwarded to, with the
/// spans it accepted, those dropped and those waiting.
async fn forwarding(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    let forwarders: Vec<_> = state.forwarders.iter().map(|f| f.stats()).collect();
    axum::Json(serde_json::json!({ "forwarders": forwarders }))
}

/// The collector's HTTP routes.
pub fn router(state: AppState) -> Router {
    let pages = ui::PAGES.iter().fold(Router::new(), |router, page| {
        router.route(page, get(ui::index))
    });
    pages
        .route("/ui/{name}", get(ui::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/traces", get(search::search))
        .route("/api/traces/{trace_id}", get(traces::get_trace))
        .route("/api/services", get(services::services))
        .route("/api/services/{service}/names", get(services::span_names))
        .route("/api/aggregates", get(aggregates::aggregates))
        .route("/api/aggregates/series", get(aggregates::series))
        .route("/api/dependencies", get(dependencies::dependencies))
        .route("/api/v1/spans", post(ingest::post_spans))
        .route("/api/forwarding", get(forwarding))
        .with_state(state)
}
