//! Starts the native ingest and the HTTP API on their listeners.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::dropped::DroppedSpans;
use crate::http::{AppState, router};
use crate::ingest;
use crate::store::Store;

/// Where to listen and what to serve.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The HTTP API (and HTTP ingest).
    pub http: SocketAddr,
    /// The native TCP ingest.
    pub native: SocketAddr,
    /// The largest frame accepted on the native port.
    pub max_frame_bytes: usize,
}

/// The bound addresses of a started server (port 0 becomes a real port).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The HTTP API.
    pub http: SocketAddr,
    /// The native ingest.
    pub native: SocketAddr,
}

/// Binds both listeners and serves until the process ends.
pub async fn run(
    config: ServerConfig,
    store: Arc<dyn Store>,
    on_bound: impl FnOnce(Bound),
) -> std::io::Result<()> {
    let http = TcpListener::bind(config.http).await?;
    let native = TcpListener::bind(config.native).await?;
    on_bound(Bound {
        http: http.local_addr()?,
        native: native.local_addr()?,
    });
    let dropped = Arc::new(DroppedSpans::default());
    let ingest = tokio::spawn(ingest::serve(
        native,
        store.clone(),
        dropped.clone(),
        config.max_frame_bytes,
    ));
    let app = router(AppState { store, dropped });
    let served = axum::serve(http, app).await;
    ingest.abort();
    served
}
