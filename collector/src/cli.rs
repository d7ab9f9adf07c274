//! The command line of `dapple-collector`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::access::Tokens;
use crate::ingest::keep::KeepExchange;
use crate::log::{self, Level};
use crate::net::{PortConfig, Timeouts};
use crate::server::{self, ServerConfig};
use crate::store::{ClickHouseConfig, ClickHouseStore, Limits, MemoryStore, SqliteStore, Store};
use crate::tail::TailPolicies;
use clap::{Parser, Subcommand, ValueEnum};
use dapple::export::parse_duration;

#[derive(Parser)]
#[command(
    name = "dapple-collector",
    version,
    about = "Dapple's collector: receives spans, stores them and answers queries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive spans and serve the query API.
    Serve(Box<Serve>),
    /// Run a collector (memory store) with the webapp demo's services
    /// reporting to it and a request to them every second: traces in the UI
    /// within seconds.
    Demo(Demo),
    /// Run one of the demo's services (`demo` starts these).
    #[command(hide = true)]
    DemoService {
        service: dapple_demo::Service,
        #[command(flatten)]
        args: dapple_demo::ServiceArgs,
    },
}

#[derive(Parser)]
struct Demo {
    /// Address of the web UI and the query API.
    #[arg(long, default_value = "127.0.0.1:7700")]
    http: SocketAddr,
    /// Address of the native TCP ingest the services report to.
    #[arg(long, alias = "collector", default_value = "127.0.0.1:7701")]
    native: SocketAddr,
    /// Address of the demo's front service.
    #[arg(long, default_value = "127.0.0.1:8699")]
    front: SocketAddr,
    /// Time between two requests to the front page, e.g. `1s`, `250ms`.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    interval: Duration,
    /// How the services sample: `retroactive` records every request and
    /// keeps each failing one whole, and `--baseline` of the others;
    /// `head` keeps every request.
    #[arg(long, value_enum, default_value = "retroactive")]
    sampling: DemoSampling,
    /// Under retroactive sampling, the share of requests kept whatever
    /// happens in them (0 to 1).
    #[arg(long, default_value = "0.2", value_parser = dapple::export::parse_probability)]
    baseline: f64,
}

/// The demo's sampling modes.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum DemoSampling {
    Retroactive,
    Head,
}

/// A probability, from 0 to 1.
#[derive(Parser)]
struct Serve {
    /// Address of the HTTP API and HTTP ingest (POST /api/v1/spans). Port 0
    /// picks a free port; the bound addresses are printed on start.
    #[arg(long, default_value = "127.0.0.1:7700")]
    http: SocketAddr,
    /// Address of the native TCP ingest that `dapple::init` reports to.
    #[arg(long, alias = "collector", default_value = "127.0.0.1:7701")]
    native: SocketAddr,
    /// Where spans are kept.
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    store: StoreKind,
    /// Directory of the SQLite database (`--store sqlite`).
    #[arg(long, default_value = "dapple-data")]
    data_dir: PathBuf,
    /// ClickHouse's HTTP interface (`--store clickhouse`).
    #[arg(long, default_value = "http://127.0.0.1:8123")]
    clickhouse_url: String,
    /// The ClickHouse database, made when missing.
    #[arg(long, default_value = ClickHouseConfig::DEFAULT_DATABASE)]
    clickhouse_database: String,
    /// The ClickHouse user, when not `default`.
    #[arg(long)]
    clickhouse_user: Option<String>,
    /// A file holding the ClickHouse user's password.
    #[arg(long)]
    clickhouse_password_file: Option<PathBuf>,
    /// How long spans are kept, e.g. `24h`, `7d`; by default until the span
    /// bound pushes them out.
    #[arg(long, value_parser = parse_duration)]
    retention: Option<Duration>,
    /// The most spans kept; past it the oldest are deleted (whole oldest
    /// traces in memory, whole oldest days in ClickHouse). 1,000,000 in
    /// memory and SQLite by default; unbounded in ClickHouse.
    #[arg(long)]
    max_spans: Option<usize>,
    /// The most bytes kept (the spans' size in memory, used database pages in
    /// SQLite); past it the oldest spans are deleted. 1 GiB in memory by
    /// default; unbounded in SQLite.
    #[arg(long)]
    max_bytes: Option<u64>,
    /// How much the collector writes to stderr.
    #[arg(long, value_enum, default_value_t = Level::Info)]
    log_level: Level,
    /// The largest frame accepted on the native port, in bytes; larger ones
    /// get an error frame and the connection is closed.
    #[arg(long, default_value_t = dapple_proto::DEFAULT_MAX_FRAME_BYTES)]
    max_frame_bytes: usize,
    /// Address of OTLP/HTTP ingest (`POST /v1/traces`, protobuf or JSON,
    /// gzip), e.g. `127.0.0.1:4318`; off by default. Requests are bounded
    /// by `--max-frame-bytes`, compressed and decompressed.
    #[arg(long)]
    otlp_http: Option<SocketAddr>,
    /// Address of OTLP/gRPC ingest (gzip accepted), e.g. `127.0.0.1:4317`;
    /// off by default.
    #[arg(long)]
    otlp_grpc: Option<SocketAddr>,
    /// An OTLP/HTTP traces URL (`http://host:4318/v1/traces`) to forward
    /// every accepted span to, from any ingest; repeat for several.
    #[arg(long, value_parser = parse_forward_url)]
    forward_otlp: Vec<String>,
    /// A header (`name=value`) on every forwarded request; repeatable.
    #[arg(long, value_parser = parse_header)]
    forward_header: Vec<(String, String)>,
    /// The most spans one batch or OTLP request may hold; larger ones are
    /// refused.
    #[arg(long, default_value_t = server::DEFAULT_MAX_BATCH_SPANS)]
    max_batch_spans: usize,
    /// Tail sampling of OTLP ingest: a TOML file of policies (errors,
    /// latency per operation, attribute match, a share of the rest); each
    /// trace is decided once quiet, and only kept ones are stored.
    #[arg(long)]
    tail_sampling: Option<PathBuf>,
    /// Connections held open at once on each port; past it new ones wait.
    #[arg(long, default_value_t = server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// How long a native frame may take to arrive once begun, a TLS
    /// handshake to finish, and an HTTP request's headers to arrive.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    read_timeout: Duration,
    /// A native connection with no frame on the way for this long is closed
    /// (clients reconnect when they have spans to send).
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    native_idle_timeout: Duration,
    /// An HTTP connection with no request for this long is closed.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    http_idle_timeout: Duration,
    /// TLS on every port: the server's certificate chain (PEM), with
    /// `--tls-key`.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Ingest requires a bearer token from this file (one per line,
    /// optionally `label token`; `#` comments): in the native hello, or as
    /// `Authorization: Bearer` over HTTP, OTLP/HTTP and gRPC.
    #[arg(long)]
    ingest_token_file: Option<PathBuf>,
    /// The query API requires a bearer token from this file (same format);
    /// the UI asks for it.
    #[arg(long)]
    read_token_file: Option<PathBuf>,
}

/// The memory store's byte bound when none is given.
const DEFAULT_MEMORY_BYTES: u64 = 1 << 30;

/// The memory and SQLite stores' span bound when none is given.
const DEFAULT_MAX_SPANS: usize = 1_000_000;

fn parse_forward_url(url: &str) -> Result<String, String> {
    if url.starts_with("http://") && url.len() > "http://".len() {
        Ok(url.to_owned())
    } else {
        Err(format!(
            "{url:?}: expected an http:// URL (https is not supported yet)"
        ))
    }
}

fn parse_header(header: &str) -> Result<(String, String), String> {
    match header.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("{header:?}: expected name=value")),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum StoreKind {
    /// In memory: fast, gone on restart.
    Memory,
    /// A SQLite file in `--data-dir`: survives restarts and `kill -9`.
    Sqlite,
    /// A ClickHouse server (`--clickhouse-url`), which several collectors
    /// can share.
    Clickhouse,
}

/// Runs the command line given to the process.
pub fn main() -> std::process::ExitCode {
    let serve = match Cli::parse().command {
        Command::Serve(serve) => serve,
        Command::Demo(demo) => {
            return crate::demo::run(crate::demo::DemoConfig {
                http: demo.http,
                native: demo.native,
                front: demo.front,
                interval: demo.interval,
                retroactive_baseline: match demo.sampling {
                    DemoSampling::Retroactive => Some(demo.baseline),
                    DemoSampling::Head => None,
                },
            });
        }
        Command::DemoService { service, args } => {
            return dapple_demo::run_process(service, args);
        }
    };
    log::set_level(serve.log_level);
    let (max_bytes, max_spans) = match serve.store {
        StoreKind::Memory => (
            Some(serve.max_bytes.unwrap_or(DEFAULT_MEMORY_BYTES)),
            serve.max_spans.unwrap_or(DEFAULT_MAX_SPANS),
        ),
        StoreKind::Sqlite => (
            serve.max_bytes,
            serve.max_spans.unwrap_or(DEFAULT_MAX_SPANS),
        ),
        StoreKind::Clickhouse => (serve.max_bytes, serve.max_spans.unwrap_or(usize::MAX)),
    };
    let limits = Limits {
        max_spans: max_spans.max(1),
        max_bytes,
        retention: serve.retention,
    };
    let fail = |what: &dyn std::error::Error| {
        log::error(format_args!("{}", log::Chain(what)));
        std::process::ExitCode::FAILURE
    };
    let tls = match (&serve.tls_cert, &serve.tls_key) {
        (Some(cert), Some(key)) => match crate::net::load_tls(cert, key) {
            Ok(tls) => Some(tls),
            Err(e) => return fail(&e),
        },
        _ => None,
    };
    let tokens = |file: &Option<PathBuf>| file.as_deref().map(Tokens::load).transpose();
    let (ingest_tokens, read_tokens) = match (
        tokens(&serve.ingest_token_file),
        tokens(&serve.read_token_file),
    ) {
        (Ok(ingest), Ok(read)) => (ingest.map(Arc::new), read.map(Arc::new)),
        (Err(e), _) | (_, Err(e)) => return fail(&e),
    };
    let tail_sampling = match serve.tail_sampling.as_deref().map(TailPolicies::load) {
        Some(Ok(policies)) => Some(policies),
        Some(Err(e)) => return fail(&e),
        None => None,
    };
    // Collectors sharing ClickHouse pass keep asks to each other through it.
    let mut keep_exchange: Option<Arc<dyn KeepExchange>> = None;
    let store: Arc<dyn Store> = match serve.store {
        StoreKind::Memory => Arc::new(MemoryStore::new(limits)),
        StoreKind::Sqlite => match SqliteStore::open(&serve.data_dir, limits) {
            Ok(store) => Arc::new(store),
            Err(e) => {
                log::error(format_args!(
                    "{}: {}",
                    serve.data_dir.display(),
                    log::Chain(&e)
                ));
                return std::process::ExitCode::FAILURE;
            }
        },
        StoreKind::Clickhouse => {
            let password = match &serve.clickhouse_password_file {
                Some(file) => match std::fs::read_to_string(file) {
                    Ok(text) => Some(text.trim_end_matches(['\r', '\n']).to_owned()),
                    Err(e) => {
                        log::error(format_args!("{}: cannot read it: {e}", file.display()));
                        return std::process::ExitCode::FAILURE;
                    }
                },
                None => None,
            };
            let config = ClickHouseConfig {
                url: serve.clickhouse_url.clone(),
                database: serve.clickhouse_database.clone(),
                user: serve.clickhouse_user.clone(),
                password,
            };
            match ClickHouseStore::open(&config, limits) {
                Ok(store) => {
                    let store = Arc::new(store);
                    keep_exchange = Some(store.clone());
                    store
                }
                Err(e) => {
                    log::error(format_args!(
                        "ClickHouse at {}: {}",
                        config.url,
                        log::Chain(&e)
                    ));
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            log::error(format_args!("cannot start: {e}"));
            return std::process::ExitCode::FAILURE;
        }
    };
    let config = ServerConfig {
        max_frame_bytes: serve.max_frame_bytes,
        otlp_http: serve.otlp_http,
        otlp_grpc: serve.otlp_grpc,
        forward_otlp: serve.forward_otlp,
        forward_headers: serve.forward_header,
        ports: PortConfig {
            max_connections: serve.max_connections.max(1),
            timeouts: Timeouts {
                read: serve.read_timeout,
                native_idle: serve.native_idle_timeout,
                http_idle: serve.http_idle_timeout,
            },
            tls,
        },
        ingest_tokens,
        read_tokens,
        max_batch_spans: serve.max_batch_spans.max(1),
        keep_exchange,
        tail_sampling,
        ..ServerConfig::new(serve.http, serve.native)
    };
    let result = runtime.block_on(server::run(config, store, |bound| {
        let mut line = format!("listening native={} http={}", bound.native, bound.http);
        if let Some(otlp) = bound.otlp_http {
            line.push_str(&format!(" otlp_http={otlp}"));
        }
        if let Some(otlp) = bound.otlp_grpc {
            line.push_str(&format!(" otlp_grpc={otlp}"));
        }
        println!("{line}");
        log::info(format_args!(
            "native ingest on {}, query API on http://{}",
            bound.native, bound.http
        ));
        if let Some(otlp) = bound.otlp_http {
            log::info(format_args!("OTLP/HTTP ingest on http://{otlp}/v1/traces"));
        }
        if let Some(otlp) = bound.otlp_grpc {
            log::info(format_args!("OTLP/gRPC ingest on {otlp}"));
        }
    }));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            log::error(format_args!("{e}"));
            std::process::ExitCode::FAILURE
        }
    }
}
