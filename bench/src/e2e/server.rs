//! The servers: the same axum router and handler chain, built with and
//! without Dapple.

use axum::Router;
use axum::extract::{MatchedPath, Path, Request};
use axum::routing::get;
use axum::serve::ListenerExt;
use dapple::export::{Reporter, ReporterConfig};

use super::Mode;

/// The chain with no Dapple in it.
mod plain {
    macro_rules! chain_fn {
        ($($item:tt)*) => { $($item)* };
    }
    include!("chain.rs");
}

/// The same chain, every fn `#[dapple::traced]`.
mod traced {
    macro_rules! chain_fn {
        ($($item:tt)*) => { #[::dapple::traced] $($item)* };
    }
    include!("chain.rs");
}

async fn plain_handler(Path(seed): Path<u64>) -> String {
    plain::level_1(seed).await.to_string()
}

async fn traced_handler(Path(seed): Path<u64>) -> String {
    traced::level_1(seed).await.to_string()
}

/// The route the load generator asks for.
pub const ROUTE: &str = "/chain/{seed}";

fn router(mode: Mode) -> Router {
    match mode {
        Mode::BuiltOut => Router::new().route(ROUTE, get(plain_handler)),
        Mode::SampleZero | Mode::Discard | Mode::Collector => {
            Router::new().route(ROUTE, get(traced_handler)).route_layer(
                dapple::server::TraceLayer::new().with_route(|request: &Request| {
                    request
                        .extensions()
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                }),
            )
        }
    }
}

/// What keeps a mode's reporting alive while the server runs.
#[allow(dead_code)] // held, never read
enum Reporting {
    None,
    Init(dapple::Guard),
    Discard(Reporter),
}

/// Sets up the mode's reporting, serves on a free loopback port and prints
/// `listening ADDR`; runs until killed.
pub fn run(mode: Mode, endpoint: Option<String>) -> std::io::Result<()> {
    let init = |sample_rate: f64| {
        let endpoint = endpoint.clone().ok_or_else(|| {
            std::io::Error::other(format!("{} needs {}", mode.name(), super::ENDPOINT))
        })?;
        Ok::<_, std::io::Error>(Reporting::Init(dapple::init(
            dapple::Config::default()
                .with_endpoint(endpoint)
                .with_service(mode.service())
                .with_sample_rate(sample_rate),
        )))
    };
    let _reporting = match mode {
        Mode::BuiltOut => Reporting::None,
        Mode::SampleZero => init(0.0)?,
        Mode::Discard => Reporting::Discard(Reporter::install(
            |batch: dapple::SpanBatch| drop(batch),
            ReporterConfig::default(),
        )),
        Mode::Collector => init(1.0)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening http={}", listener.local_addr()?);
        let listener = listener.tap_io(|tcp| {
            // Small answers on a keep-alive connection: no Nagle delay.
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, router(mode)).await
    })
}
