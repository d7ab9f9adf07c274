//! The services of Dapple's webapp demo (Appdash's, ported): a front service whose page calls service
//! A and service B, and B calls a nested service B1. Every service is its
//! own axum server with Dapple's server layer, and every call between them
//! goes through one of Dapple's client integrations (the front service's
//! reqwest client with `dapple::reqwest::TracingMiddleware`, B's hyper
//! client with `dapple::client::ClientLayer`), so one page view is one
//! trace:
//!
//! ```text
//! GET /                      front server span
//!   GET /work                  client span to A
//!     GET /work                  A's server span
//!   GET /work                  client span to B
//!     GET /work                  B's server span
//!       GET /work                  client span to B1
//!         GET /work                  B1's server span
//! ```
//!
//! A crate of its own so that both users link only what they need: the
//! examples' binaries `frontservice`, `serviceA` and `serviceB` run one
//! service per process and `webapp` runs them all in one, while
//! `dapple-collector demo` runs the three processes beside a collector.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use dapple::client::{ClientLayer, ClientService};
use dapple::server::TraceLayer;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

type Bytes = axum::body::Bytes;
type PlainClient = Client<HttpConnector, Empty<Bytes>>;
type TracedClient = ClientService<PlainClient>;

/// One of the demo's services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// The front page; calls A and B.
    Front,
    /// Works about 100 ms.
    A,
    /// Works about 100 ms, then calls B1 (served by the same process).
    B,
}

impl Service {
    /// The `service.name` the process reports unless `DAPPLE_SERVICE` says
    /// otherwise.
    pub fn default_name(self) -> &'static str {
        match self {
            Service::Front => "frontservice",
            Service::A => "serviceA",
            Service::B => "serviceB",
        }
    }

    fn default_listen(self) -> SocketAddr {
        let port = match self {
            Service::Front => 8699,
            Service::A => 8701,
            Service::B => 8702,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// The command line of one service process.
#[derive(Clone, Debug, clap::Args)]
pub struct ServiceArgs {
    /// Where to listen; port 0 picks a free port. The bound address is
    /// printed as `listening http://ADDR`. Defaults: front 8699, A 8701,
    /// B 8702 on 127.0.0.1.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Service A's base URL (front only).
    #[arg(long, default_value = "http://127.0.0.1:8701")]
    pub service_a: String,
    /// Service B's base URL (front only).
    #[arg(long, default_value = "http://127.0.0.1:8702")]
    pub service_b: String,
    /// Where B1 listens (B only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub b1_listen: SocketAddr,
    /// The collector's web UI, for the front page's links.
    #[arg(long, default_value = "http://127.0.0.1:7700")]
    pub ui: String,
    /// Stop when standard input closes (so a parent that dies takes its
    /// services with it).
    #[arg(long, hide = true)]
    pub stop_on_stdin_eof: bool,
}

#[derive(clap::Parser)]
#[command(about = "Runs one service of Dapple's webapp demo")]
struct ServiceCli {
    #[command(flatten)]
    args: ServiceArgs,
}

/// `main` of a one-service binary: reads its command line and runs until
/// Ctrl-C or SIGTERM.
pub fn service_main(service: Service) -> ExitCode {
    let cli: ServiceCli = clap::Parser::parse();
    run_process(service, cli.args)
}

/// Runs `service` as this process: reports to the collector named by
/// `DAPPLE_ENDPOINT`, serves until Ctrl-C, SIGTERM (or standard input
/// closing, when asked), then flushes its spans.
pub fn run_process(service: Service, args: ServiceArgs) -> ExitCode {
    let config = match dapple::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", service.default_name());
            return ExitCode::FAILURE;
        }
    };
    let config = if std::env::var_os("DAPPLE_SERVICE").is_none() {
        config.with_service(service.default_name())
    } else {
        config
    };
    let _guard = dapple::init(config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{}: cannot start: {e}", service.default_name());
            return ExitCode::FAILURE;
        }
    };
    let stop_on_eof = args.stop_on_stdin_eof;
    match runtime.block_on(serve_service(service, args, stop_signal(stop_on_eof))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e}", service.default_name());
            ExitCode::FAILURE
        }
    }
}

/// Binds `service` (and B1 with B), prints `listening http://ADDR`, and
/// serves until `stop` completes.
pub async fn serve_service(
    service: Service,
    args: ServiceArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(args.listen.unwrap_or(service.default_listen())).await?;
    let router = router(service, args).await?;
    println!("listening http://{}", listener.local_addr()?);
    serve(listener, router, stop).await
}

/// The routes of `service`; for B, B1 is bound and served too.
pub async fn router(service: Service, args: ServiceArgs) -> std::io::Result<Router> {
    Ok(match service {
        Service::Front => front(FrontConfig {
            service_a: args.service_a,
            service_b: args.service_b,
            ui: args.ui,
        }),
        Service::A => service_a(),
        Service::B => {
            let b1 = TcpListener::bind(args.b1_listen).await?;
            let b1_url = format!("http://{}", b1.local_addr()?);
            tokio::spawn(serve(b1, service_b1(), std::future::pending()));
            service_b(b1_url)
        }
    })
}

/// Completes on Ctrl-C, SIGTERM, or (when `stdin_eof`) standard input
/// closing.
pub async fn stop_signal(stdin_eof: bool) {
    let eof = async move {
        if !stdin_eof {
            return std::future::pending().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 64];
        loop {
            match tokio::io::AsyncReadExt::read(&mut stdin, &mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
        () = eof => {}
    }
}

/// Serves `router` on `listener` inside Dapple's server layer until `stop`
/// completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router.route_layer(
        TraceLayer::new()
            .with_route(|request: &Request| {
                request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|path| path.as_str().to_owned())
            })
            .with_client_address(|request: &Request| {
                request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|info| info.0.ip().to_string())
            }),
    );
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await
}

/// Where the front service finds the others.
#[derive(Clone, Debug)]
pub struct FrontConfig {
    /// Service A's base URL.
    pub service_a: String,
    /// Service B's base URL.
    pub service_b: String,
    /// The collector's web UI.
    pub ui: String,
}

#[derive(Clone)]
struct Front {
    config: FrontConfig,
    client: reqwest_middleware::ClientWithMiddleware,
}

/// `?fail=1` asks B1 to fail, to show an error trace.
#[derive(serde::Deserialize, Default)]
struct FailQuery {
    #[serde(default)]
    fail: Option<String>,
}

impl FailQuery {
    fn fails(&self) -> bool {
        self.fail
            .as_deref()
            .is_some_and(|v| v != "0" && v != "false")
    }
}

/// The front service: `GET /` calls A, then B, and shows the trace.
pub fn front(config: FrontConfig) -> Router {
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(dapple::reqwest::TracingMiddleware::new())
        .build();
    Router::new()
        .route("/", get(home))
        .with_state(Front { config, client })
}

async fn home(State(front): State<Front>, Query(query): Query<FailQuery>) -> Response {
    let context = dapple::current_context();
    let a = call(&front.client, &format!("{}/work", front.config.service_a)).await;
    let fail = if query.fails() { "?fail=1" } else { "" };
    let b = call(
        &front.client,
        &format!("{}/work{fail}", front.config.service_b),
    )
    .await;
    let ok = [&a, &b]
        .iter()
        .all(|r| r.as_ref().is_ok_and(|(status, _)| status.is_success()));
    let line = |name: &str, result: &Result<(StatusCode, String), String>| match result {
        Ok((status, body)) => format!("<li>{name}: {status} {}</li>", escape(body)),
        Err(e) => format!("<li>{name}: failed: {}</li>", escape(e)),
    };
    let ui = front.config.ui.trim_end_matches('/');
    let trace = match &context {
        Some(context) => format!(
            "<p>This page was trace <a href=\"{ui}/trace/{id}\">{id}</a>.</p>",
            id = context.trace_id()
        ),
        None => "<p>This page was not traced (unsampled).</p>".to_owned(),
    };
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Dapple webapp demo</title></head>\
         <body><h1>Dapple webapp demo</h1><ul>{}{}</ul>{trace}\
         <p><a href=\"{ui}/?service=frontservice\">All traces of the front service</a> · \
         <a href=\"/\">Load again</a> · <a href=\"/?fail=1\">Load with a failure in B1</a></p>\
         </body></html>",
        line("service A", &a),
        line("service B", &b),
    );
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    let mut response = (status, Html(page)).into_response();
    if let Some(context) = context
        && let Ok(value) = HeaderValue::from_str(&dapple::propagation::format_traceparent(&context))
    {
        // W3C Trace Context level 2's response header: which trace this was.
        response.headers_mut().insert("traceresponse", value);
    }
    response
}

/// Service A: about 100 ms of work.
pub fn service_a() -> Router {
    Router::new().route(
        "/work",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            "service A: done"
        }),
    )
}

/// Service B: about 100 ms of work, then a call to B1 at `b1`.
pub fn service_b(b1: String) -> Router {
    Router::new()
        .route("/work", get(work_b))
        .with_state((b1, traced_client()))
}

async fn work_b(
    State((b1, client)): State<(String, TracedClient)>,
    Query(query): Query<FailQuery>,
) -> (StatusCode, String) {
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fail = if query.fails() { "?fail=1" } else { "" };
    match fetch(&client, &format!("{b1}/work{fail}")).await {
        Ok((status, body)) if status.is_success() => (StatusCode::OK, format!("service B: {body}")),
        Ok((status, body)) => (
            StatusCode::BAD_GATEWAY,
            format!("service B: B1 answered {status}: {body}"),
        ),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("service B: B1 unreachable: {e}"),
        ),
    }
}

/// Service B1: about 30 ms of work; `?fail=1` makes it fail.
pub fn service_b1() -> Router {
    Router::new().route(
        "/work",
        get(|Query(query): Query<FailQuery>| async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            if query.fails() {
                (StatusCode::INTERNAL_SERVER_ERROR, "B1: failed, as asked")
            } else {
                (StatusCode::OK, "B1: done")
            }
        }),
    )
}

fn plain_client() -> PlainClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn traced_client() -> TracedClient {
    ClientLayer::new().layer(plain_client())
}

/// GETs `url` with the front service's reqwest client: the status and the
/// body as text.
async fn call(
    client: &reqwest_middleware::ClientWithMiddleware,
    url: &str,
) -> Result<(StatusCode, String), String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = StatusCode::from_u16(response.status().as_u16()).map_err(|e| e.to_string())?;
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// GETs `url` with `client`: the status and the body as text.
async fn fetch<S>(client: &S, url: &str) -> Result<(StatusCode, String), String>
where
    S: tower::Service<
            http::Request<Empty<Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
        > + Clone,
    S::Error: std::fmt::Display,
{
    let request = http::Request::get(url)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = client
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Requests the front page at `front` every `interval`, every fifth time
/// with a failure in B1, until `stop` completes. The requests are not
/// traced, so each page view starts its own trace. Prints one line per
/// failed request.
pub async fn drive(front: String, interval: Duration, stop: impl Future<Output = ()>) {
    let client = plain_client();
    let mut tick = tokio::time::interval(interval);
    tokio::pin!(stop);
    for n in 1u64.. {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        let url = if n % 5 == 0 {
            format!("{front}/?fail=1")
        } else {
            format!("{front}/")
        };
        if let Err(e) = fetch(&client, &url).await {
            eprintln!("demo: {url}: {e}");
        }
    }
}
