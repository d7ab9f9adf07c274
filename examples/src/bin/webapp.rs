//! Appdash's webapp demo in one process: the front service, service A,
//! service B and B1, each its own axum server on loopback, all reporting to
//! the collector at `DAPPLE_COLLECTOR` (default `127.0.0.1:7701`).
//!
//! ```text
//! cargo run --release -p dapple-collector -- serve &
//! cargo run -p dapple-examples --bin webapp
//! # open http://127.0.0.1:8699/ and follow the link to the trace
//! ```
//!
//! One process reports one service name (`webapp`); run `frontservice`,
//! `serviceA` and `serviceB` (or `dapple-collector demo`) to see three.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use dapple_examples::webapp::{self, Service, ServiceArgs};

#[derive(Parser)]
#[command(about = "Appdash's webapp demo, ported to Dapple, in one process")]
struct Cli {
    /// Where the front page listens.
    #[arg(long, default_value = "127.0.0.1:8699")]
    listen: SocketAddr,
    /// The collector's web UI, for the front page's links.
    #[arg(long, default_value = "http://127.0.0.1:7700")]
    ui: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match dapple::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("webapp: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _guard = dapple::init(config);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let result: std::io::Result<()> = runtime.block_on(async move {
        let backend = |service| async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}", listener.local_addr()?);
            let router = match service {
                Service::A => webapp::service_a(),
                _ => {
                    let b1 = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                    let b1_url = format!("http://{}", b1.local_addr()?);
                    tokio::spawn(webapp::serve(
                        b1,
                        webapp::service_b1(),
                        std::future::pending(),
                    ));
                    webapp::service_b(b1_url)
                }
            };
            tokio::spawn(webapp::serve(listener, router, std::future::pending()));
            std::io::Result::Ok(url)
        };
        let service_a = backend(Service::A).await?;
        let service_b = backend(Service::B).await?;
        let args = ServiceArgs {
            listen: Some(cli.listen),
            service_a,
            service_b,
            b1_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ui: cli.ui,
            stop_on_stdin_eof: false,
        };
        webapp::serve_service(Service::Front, args, webapp::stop_signal(false)).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webapp: {e}");
            ExitCode::FAILURE
        }
    }
}
