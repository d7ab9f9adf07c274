//! Starts the native ingest and the HTTP API on their listeners.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::dropped::DroppedSpans;
use crate::forward::{DEFAULT_QUEUE_SPANS, Forwarder, ForwardingStore};
use crate::http::{AppState, otlp_router, router};
use crate::ingest;
use crate::ingest::otlp::OtlpIngest;
use crate::log;
use crate::store::Store;

/// Where to listen and what to serve.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The HTTP API (and HTTP ingest).
    pub http: SocketAddr,
    /// The native TCP ingest.
    pub native: SocketAddr,
    /// The largest frame accepted on the native port, and the largest OTLP
    /// request (compressed or not).
    pub max_frame_bytes: usize,
    /// OTLP/HTTP ingest (`POST /v1/traces`), when asked for.
    pub otlp_http: Option<SocketAddr>,
    /// OTLP/gRPC ingest, when asked for.
    pub otlp_grpc: Option<SocketAddr>,
    /// OTLP/HTTP traces URLs everything accepted is forwarded to.
    pub forward_otlp: Vec<String>,
    /// Headers on every forwarded request.
    pub forward_headers: Vec<(String, String)>,
}

/// The bound addresses of a started server (port 0 becomes a real port).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The HTTP API.
    pub http: SocketAddr,
    /// The native ingest.
    pub native: SocketAddr,
    /// OTLP/HTTP ingest.
    pub otlp_http: Option<SocketAddr>,
    /// OTLP/gRPC ingest.
    pub otlp_grpc: Option<SocketAddr>,
}

async fn bind(address: Option<SocketAddr>) -> std::io::Result<Option<TcpListener>> {
    match address {
        Some(address) => TcpListener::bind(address).await.map(Some),
        None => Ok(None),
    }
}

fn local(listener: &Option<TcpListener>) -> std::io::Result<Option<SocketAddr>> {
    listener.as_ref().map(TcpListener::local_addr).transpose()
}

/// Binds every listener asked for and serves until the process ends.
pub async fn run(
    config: ServerConfig,
    store: Arc<dyn Store>,
    on_bound: impl FnOnce(Bound),
) -> std::io::Result<()> {
    let http = TcpListener::bind(config.http).await?;
    let native = TcpListener::bind(config.native).await?;
    let otlp_http = bind(config.otlp_http).await?;
    let otlp_grpc = bind(config.otlp_grpc).await?;
    on_bound(Bound {
        http: http.local_addr()?,
        native: native.local_addr()?,
        otlp_http: local(&otlp_http)?,
        otlp_grpc: local(&otlp_grpc)?,
    });
    let forwarders = config
        .forward_otlp
        .iter()
        .map(|url| {
            Forwarder::start(
                url.clone(),
                config.forward_headers.clone(),
                DEFAULT_QUEUE_SPANS,
            )
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let store: Arc<dyn Store> = if forwarders.is_empty() {
        store
    } else {
        Arc::new(ForwardingStore::new(store, forwarders.clone()))
    };
    let dropped = Arc::new(DroppedSpans::default());
    let otlp = Arc::new(OtlpIngest::new(store.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(ingest::serve(
        native,
        store.clone(),
        dropped.clone(),
        config.max_frame_bytes,
    ));
    if let Some(listener) = otlp_http {
        let app = otlp_router(otlp.clone(), config.max_frame_bytes);
        tasks.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                log::error(format_args!("OTLP/HTTP ingest stopped: {e}"));
            }
        });
    }
    if let Some(listener) = otlp_grpc {
        let otlp = otlp.clone();
        tasks.spawn(async move {
            if let Err(e) = ingest::grpc::serve(listener, otlp, config.max_frame_bytes).await {
                log::error(format_args!("OTLP/gRPC ingest stopped: {e}"));
            }
        });
    }
    let app = router(AppState {
        store,
        dropped,
        forwarders: forwarders.into(),
    });
    let served = axum::serve(http, app).await;
    tasks.abort_all();
    served
}
