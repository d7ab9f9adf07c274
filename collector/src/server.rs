//! Starts the native ingest and the HTTP API on their listeners.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::access::Tokens;
use crate::dropped::DroppedSpans;
use crate::forward::{DEFAULT_QUEUE_SPANS, Forwarder, ForwardingStore};
use crate::http::{Access, AppState, grpc_router, otlp_router, router};
use crate::ingest::keep::KeepExchange;
use crate::ingest::limits::{IngestCounts, LimitedStore};
use crate::ingest::otlp::OtlpIngest;
use crate::ingest::{self, DecodeBudget, NativeIngest};
use crate::net::{PortConfig, serve_http};
use crate::store::Store;
use crate::tail::{TailPolicies, TailSampler};

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
    /// Connection limits, timeouts and TLS, for every port.
    pub ports: PortConfig,
    /// Tokens asked of ingest clients, when set.
    pub ingest_tokens: Option<Arc<Tokens>>,
    /// Tokens asked of query API clients, when set.
    pub read_tokens: Option<Arc<Tokens>>,
    /// The most spans one batch or export request may hold.
    pub max_batch_spans: usize,
    /// Memory for requests and frames being decoded, all ingest together.
    pub decode_budget_bytes: u64,
    /// Where keep asks pass to and from collectors sharing the store.
    pub keep_exchange: Option<Arc<dyn KeepExchange>>,
    /// Tail sampling of OTLP ingest, when policies are given.
    pub tail_sampling: Option<TailPolicies>,
}

impl ServerConfig {
    /// The defaults, on the given addresses: no OTLP, no forwarding, no TLS,
    /// no tokens.
    pub fn new(http: SocketAddr, native: SocketAddr) -> ServerConfig {
        ServerConfig {
            http,
            native,
            max_frame_bytes: dapple_proto::DEFAULT_MAX_FRAME_BYTES,
            otlp_http: None,
            otlp_grpc: None,
            forward_otlp: Vec::new(),
            forward_headers: Vec::new(),
            ports: PortConfig {
                max_connections: DEFAULT_MAX_CONNECTIONS,
                timeouts: Default::default(),
                tls: None,
            },
            ingest_tokens: None,
            read_tokens: None,
            max_batch_spans: DEFAULT_MAX_BATCH_SPANS,
            decode_budget_bytes: DecodeBudget::DEFAULT_BYTES,
            keep_exchange: None,
            tail_sampling: None,
        }
    }

    /// Who may use the port bound to `address`.
    fn access(&self, address: SocketAddr) -> Access {
        Access {
            read_tokens: self.read_tokens.clone(),
            ingest_tokens: self.ingest_tokens.clone(),
            loopback: address.ip().is_loopback(),
        }
    }
}

/// Connections held at once per port, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Spans one batch or export request may hold, by default.
pub const DEFAULT_MAX_BATCH_SPANS: usize = 100_000;

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
    let ingest_counts = Arc::new(IngestCounts::default());
    let store: Arc<dyn Store> = Arc::new(LimitedStore::new(store, ingest_counts.clone()));
    let dropped = Arc::new(DroppedSpans::default());
    let budget = Arc::new(DecodeBudget::new(
        config
            .decode_budget_bytes
            .max(DecodeBudget::native(config.max_frame_bytes)),
    ));
    // Spans from other SDKs arrive complete: tail sampling decides which
    // traces of them are stored, when asked for.
    let tail = config
        .tail_sampling
        .clone()
        .map(|policies| TailSampler::start(store.clone(), policies));
    let otlp_store: Arc<dyn Store> = match &tail {
        Some(tail) => tail.clone(),
        None => store.clone(),
    };
    let otlp = Arc::new(OtlpIngest::new(
        otlp_store,
        budget.clone(),
        config.max_batch_spans,
    ));
    let native_ingest = Arc::new(NativeIngest {
        store: store.clone(),
        dropped: dropped.clone(),
        tokens: config.ingest_tokens.clone(),
        max_frame_bytes: config.max_frame_bytes,
        max_batch_spans: config.max_batch_spans,
        budget,
        keeps: Default::default(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(exchange) = config.keep_exchange.clone() {
        tasks.spawn(ingest::keep::exchange(
            native_ingest.keeps.clone(),
            exchange,
        ));
    }
    tasks.spawn(ingest::serve(
        native,
        config.ports.clone(),
        native_ingest.clone(),
    ));
    if let Some(listener) = otlp_http {
        let access = config.access(listener.local_addr()?);
        let app = otlp_router(otlp.clone(), config.max_frame_bytes, &access);
        tasks.spawn(serve_http(listener, "OTLP/HTTP", config.ports.clone(), app));
    }
    if let Some(listener) = otlp_grpc {
        let access = config.access(listener.local_addr()?);
        let app = grpc_router(otlp.clone(), config.max_frame_bytes, &access);
        tasks.spawn(serve_http(listener, "OTLP/gRPC", config.ports.clone(), app));
    }
    let access = config.access(http.local_addr()?);
    let app = router(
        AppState {
            store,
            dropped,
            forwarders: forwarders.into(),
            ingest_counts,
            native: native_ingest,
            tail,
        },
        &access,
    );
    serve_http(http, "HTTP", config.ports.clone(), app).await;
    tasks.abort_all();
    Ok(())
}
