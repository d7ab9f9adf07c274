//! The services of Dapple's webapp demo (Appdash's, ported): a front service whose page calls service
//! A and service B, and B calls a nested service B1. Every service is its
//! own axum server with Dapple's server layer, does its work in
//! `#[traced]` functions, and calls the others through one of Dapple's
//! client integrations (the front service's reqwest clients with
//! `dapple::reqwest::TracingMiddleware`, B's hyper client with
//! `dapple::client::ClientLayer`), each naming the service it calls. So one
//! page view is one trace, with HTTP, functions, SQL, spawned work and,
//! one request in five, an error:
//!
//! ```text
//! GET /                                 front server span
//!   render_page                           #[traced]
//!     GET serviceA /users/{id}              client span to A
//!       GET /users/{id}                       A's server span
//!         load_user                             #[traced], args(id)
//!           SELECT users                          SQL on an SQLite file
//!     GET serviceB /report                  client span to B
//!       GET /report                           B's server span
//!         build_report                          #[traced]
//!           count_stock                           tokio::spawn, carried by the macro
//!           score_items                           spawn_blocking, carried by the macro
//!           GET serviceB1 /price                  client span to B1
//!             GET /price                            B1's server span
//!               quote_price                           #[traced(err)]: fails one call in five
//! ```
//!
//! A crate of its own so that both users link only what they need: the
//! examples' binaries `frontservice`, `serviceA` and `serviceB` run one
//! service per process and `webapp` runs them all in one, while
//! `dapple-collector demo` runs the three processes beside a collector.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use dapple::client::{ClientLayer, ClientService};
use dapple::server::TraceLayer;
use dapple::sql::TracedConnection;
use dapple::traced;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

type Bytes = axum::body::Bytes;
type PlainClient = Client<HttpConnector, Empty<Bytes>>;
type TracedClient = ClientService<PlainClient>;

/// Spans in the trace of one page view of the front service.
pub const SPANS_PER_VIEW: usize = 14;

/// One of the demo's services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// The front page; calls A and B.
    Front,
    /// Loads a user from an SQLite file.
    A,
    /// Builds a report in a spawned task and a blocking thread, then asks
    /// B1 (served by the same process) for a price.
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
    /// Service A's SQLite file of users (A only); by default a database in
    /// memory, so that a service stopped any way leaves no file behind.
    #[arg(long)]
    pub users_db: Option<PathBuf>,
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
        Service::A => service_a(Users::open(args.users_db)?),
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
                    .map(MatchedPath::as_str)
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
    /// Calls service A.
    a: reqwest_middleware::ClientWithMiddleware,
    /// Calls service B.
    b: reqwest_middleware::ClientWithMiddleware,
    /// Page views so far: each asks A for another user.
    views: Arc<AtomicU64>,
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
    let client = |service: &'static str| {
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(dapple::reqwest::TracingMiddleware::new().with_peer_service(service))
            .build()
    };
    Router::new().route("/", get(home)).with_state(Front {
        config,
        a: client("serviceA"),
        b: client("serviceB"),
        views: Arc::default(),
    })
}

/// What A and B answered, as `(status, body)` or why there was no answer.
type Answer = Result<(StatusCode, String), String>;

async fn home(State(front): State<Front>, Query(query): Query<FailQuery>) -> Response {
    let context = dapple::current_context();
    let user = front.views.fetch_add(1, Ordering::Relaxed) % USERS.len() as u64 + 1;
    let (a, b) = render_page(&front, user, query.fails()).await;
    let ok = [&a, &b]
        .iter()
        .all(|r| r.as_ref().is_ok_and(|(status, _)| status.is_success()));
    let line = |name: &str, result: &Answer| match result {
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

/// Asks A for user `user`, then B for a report (passing a failure on when
/// asked for one).
#[traced]
async fn render_page(front: &Front, user: u64, fail: bool) -> (Answer, Answer) {
    let a = call(
        &front.a,
        &format!("{}/users/{user}", front.config.service_a),
    )
    .await;
    let fail = if fail { "?fail=1" } else { "" };
    let b = call(
        &front.b,
        &format!("{}/report{fail}", front.config.service_b),
    )
    .await;
    (a, b)
}

/// The users service A knows: `(id, name, plan)`.
const USERS: [(i64, &str, &str); 5] = [
    (1, "Ada", "team"),
    (2, "Grace", "enterprise"),
    (3, "Edsger", "free"),
    (4, "Barbara", "team"),
    (5, "Ken", "free"),
];

/// Service A's SQLite database of users.
pub struct Users {
    connection: Mutex<TracedConnection>,
}

impl Users {
    /// Opens (or creates) the users file at `path`, or a database in
    /// memory, and fills it.
    pub fn open(path: Option<PathBuf>) -> std::io::Result<Users> {
        let connection = match path {
            Some(file) => rusqlite::Connection::open(file),
            None => rusqlite::Connection::open_in_memory(),
        }
        .map_err(std::io::Error::other)?;
        // Filled before it is traced: setting up is no request's work.
        fill(&connection).map_err(std::io::Error::other)?;
        Ok(Users {
            connection: Mutex::new(TracedConnection::new(connection)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TracedConnection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Creates the users table, if need be, and puts [`USERS`] in it.
fn fill(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "PRAGMA busy_timeout = 5000;
         CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, plan TEXT NOT NULL);",
    )?;
    for (id, name, plan) in USERS {
        connection.execute(
            "INSERT OR IGNORE INTO users (id, name, plan) VALUES (?1, ?2, ?3)",
            (id, name, plan),
        )?;
    }
    Ok(())
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

/// Service A: `GET /users/{id}` reads a user from its SQLite file.
pub fn service_a(users: Users) -> Router {
    Router::new()
        .route("/users/{id}", get(get_user))
        .with_state(Arc::new(users))
}

async fn get_user(State(users): State<Arc<Users>>, Path(id): Path<i64>) -> (StatusCode, String) {
    match load_user(&users, id) {
        Ok(Some((name, plan))) => (StatusCode::OK, format!("service A: {name} ({plan} plan)")),
        Ok(None) => (StatusCode::NOT_FOUND, format!("service A: no user {id}")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("service A: {e}")),
    }
}

/// One user's name and plan, by id.
#[traced(args(id), err)]
fn load_user(users: &Users, id: i64) -> rusqlite::Result<Option<(String, String)>> {
    let connection = users.lock();
    let mut statement = connection.prepare("SELECT name, plan FROM users WHERE id = ?1")?;
    let mut rows = statement.query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.next().transpose()
}

/// Service B: `GET /report` builds a report, then asks B1 at `b1` for a
/// price.
pub fn service_b(b1: String) -> Router {
    Router::new()
        .route("/report", get(report))
        .with_state((b1, traced_client("serviceB1")))
}

async fn report(
    State((b1, client)): State<(String, TracedClient)>,
    Query(query): Query<FailQuery>,
) -> (StatusCode, String) {
    build_report(&b1, &client, query.fails()).await
}

/// Counts stock in a spawned task and scores items on a blocking thread
/// (both carried into the report's trace by `#[traced]`), then prices the
/// report with B1.
#[traced]
async fn build_report(b1: &str, client: &TracedClient, fail: bool) -> (StatusCode, String) {
    let stock = tokio::spawn(count_stock());
    let score = tokio::task::spawn_blocking(|| score_items(20_000));
    let (stock, score) = match (stock.await, score.await) {
        (Ok(stock), Ok(score)) => (stock, score),
        _ => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "service B: a task failed".into(),
            );
        }
    };
    let fail = if fail { "?fail=1" } else { "" };
    match fetch(client, &format!("{b1}/price{fail}")).await {
        Ok((status, body)) if status.is_success() => (
            StatusCode::OK,
            format!("service B: {stock} in stock, score {score}, {body}"),
        ),
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

/// Waits on the (pretend) warehouse for about 40 ms.
#[traced]
async fn count_stock() -> u64 {
    tokio::time::sleep(Duration::from_millis(40)).await;
    42
}

/// A few milliseconds of real computation, off the async workers.
#[traced(args(items))]
fn score_items(items: u64) -> u64 {
    (1..=items).fold(17u64, |acc, i| {
        acc.wrapping_mul(31).wrapping_add(i * i) % 1_000_003
    })
}

/// Service B1: `GET /price` quotes a price; one call in five fails, and
/// `?fail=1` makes a call fail.
pub fn service_b1() -> Router {
    Router::new()
        .route("/price", get(price))
        .with_state(Arc::new(AtomicU64::new(0)))
}

async fn price(
    State(calls): State<Arc<AtomicU64>>,
    Query(query): Query<FailQuery>,
) -> (StatusCode, String) {
    let call = calls.fetch_add(1, Ordering::Relaxed) + 1;
    tokio::time::sleep(Duration::from_millis(30)).await;
    match quote_price(call, query.fails()) {
        Ok(cents) => (StatusCode::OK, format!("B1: {cents} cents")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("B1: {e}")),
    }
}

/// Why B1 could not quote.
#[derive(Debug, thiserror::Error)]
enum PriceError {
    #[error("the price list is being updated (call {0})")]
    Updating(u64),
    #[error("failed, as asked")]
    Asked,
}

/// The price of call `call`: every fifth call fails, as does one asked to.
#[traced(args(call), err)]
fn quote_price(call: u64, asked_to_fail: bool) -> Result<u64, PriceError> {
    if asked_to_fail {
        Err(PriceError::Asked)
    } else if call.is_multiple_of(5) {
        Err(PriceError::Updating(call))
    } else {
        Ok(1_999 + call % 7 * 100)
    }
}

fn plain_client() -> PlainClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn traced_client(service: &'static str) -> TracedClient {
    ClientLayer::new()
        .with_peer_service(service)
        .layer(plain_client())
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

/// Requests the front page at `front` every `interval` until `stop`
/// completes (B1 fails one call in five by itself). The requests are not
/// traced, so each page view starts its own trace. Prints one line per
/// request that got no answer.
pub async fn drive(front: String, interval: Duration, stop: impl Future<Output = ()>) {
    let client = plain_client();
    let mut tick = tokio::time::interval(interval);
    tokio::pin!(stop);
    let url = format!("{front}/");
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = fetch(&client, &url).await {
            eprintln!("demo: {url}: {e}");
        }
    }
}
