//! The HTTP side: the web UI, the JSON query API, HTTP ingest and health,
//! assembled in one router.

mod aggregates;
mod dependencies;
mod error;
mod guard;
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
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};

pub use error::ApiError;
pub use otlp::{grpc_router, otlp_router};

use crate::access::Tokens;
use crate::store::{Store, StoreError};

/// Who may use a port: the tokens asked of readers and writers (none asked
/// when `None`), and whether the port listens on loopback only, in which
/// case requests must name a loopback host.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Tokens for the query API.
    pub read_tokens: Option<Arc<Tokens>>,
    /// Tokens for ingest.
    pub ingest_tokens: Option<Arc<Tokens>>,
    /// The port is bound to a loopback address.
    pub loopback: bool,
}

impl Access {
    /// `router` behind the Host check, when on loopback.
    fn guard_host(&self, router: Router) -> Router {
        if self.loopback {
            router.layer(from_fn(guard::loopback_host_only))
        } else {
            router
        }
    }
}

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// Where spans live.
    pub store: Arc<dyn Store>,
    /// What clients dropped.
    pub dropped: Arc<crate::dropped::DroppedSpans>,
    /// Where accepted spans are forwarded.
    pub forwarders: Arc<[Arc<crate::forward::Forwarder>]>,
    /// What ingest's bounds changed, and the spans accepted.
    pub ingest_counts: Arc<crate::ingest::limits::IngestCounts>,
    /// Native ingest, for batches posted over HTTP: its store, bounds and
    /// decode budget.
    pub native: Arc<crate::ingest::NativeIngest>,
    /// Tail sampling of OTLP ingest, when on.
    pub tail: Option<Arc<crate::tail::TailSampler>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Queries run at once, at most: one per core, so that however many
/// clients query, ingest keeps its share of the machine. The others wait.
static QUERIES: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::sync::Semaphore::new(cores)
});

impl AppState {
    /// Runs a query on the store from tokio's blocking threads (the stores
    /// block on locks and disk), at most [`QUERIES`] at once; a store
    /// failure is an internal error.
    async fn with_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _turn = QUERIES.acquire().await;
        self.write_store(work).await
    }

    /// Runs ingest's `work` on the store from tokio's blocking threads,
    /// without waiting for queries.
    async fn write_store<T: Send + 'static>(
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

/// `GET /api/ingest`: what ingest's bounds on spans changed so far, and
/// the spans accepted per service.
async fn ingest_stats(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    use std::sync::atomic::Ordering::Relaxed;
    axum::Json(serde_json::json!({
        "truncated_values": state.ingest_counts.truncated.load(Relaxed),
        "clamped_times": state.ingest_counts.clamped_times.load(Relaxed),
        "accepted_spans": state.ingest_counts.accepted(),
    }))
}

/// `GET /api/sampling`: tail sampling's decisions so far (`null` when off).
async fn sampling(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    let tail = state.tail.as_ref().map(|t| t.counts_json());
    axum::Json(serde_json::json!({ "tail_sampling": tail }))
}

/// The collector's HTTP routes: the UI and `/healthz` for anyone, the
/// query API for holders of a read token, HTTP ingest for holders of an
/// ingest token (when tokens are asked for).
pub fn router(state: AppState, access: &Access) -> Router {
    let pages = ui::PAGES.iter().fold(Router::new(), |router, page| {
        router.route(page, get(ui::index))
    });
    let open = pages
        .route("/ui/{name}", get(ui::asset))
        .route("/healthz", get(|| async { "ok" }));
    let ingest = Router::new()
        .route("/api/v1/spans", post(ingest::post_spans))
        .layer(from_fn_with_state(
            access.ingest_tokens.clone(),
            guard::identify_writer,
        ))
        .with_state(state.clone());
    let read = Router::new()
        .route("/api/traces", get(search::search))
        .route("/api/traces/{trace_id}", get(traces::get_trace))
        .route("/api/services", get(services::services))
        .route("/api/services/{service}/names", get(services::span_names))
        .route("/api/aggregates", get(aggregates::aggregates))
        .route("/api/aggregates/series", get(aggregates::series))
        .route("/api/dependencies", get(dependencies::dependencies))
        .route("/api/forwarding", get(forwarding))
        .route("/api/ingest", get(ingest_stats))
        .route("/api/sampling", get(sampling))
        .layer(from_fn_with_state(
            access.read_tokens.clone(),
            guard::require_read_token,
        ))
        .with_state(state);
    access.guard_host(open.merge(ingest).merge(read))
}
