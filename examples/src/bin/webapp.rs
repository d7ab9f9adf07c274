//! Appdash's webapp demo in one process: the front service, service A,
//! service B and B1, each its own axum server on loopback, all reporting to
//! the collector at `DAPPLE_ENDPOINT` (default `127.0.0.1:7701`).
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
use dapple_demo::{Service, ServiceArgs};

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
        let free = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut args = ServiceArgs {
            listen: Some(free),
            service_a: String::new(),
            service_b: String::new(),
            b1_listen: free,
            users_db: None,
            ui: cli.ui,
            stop_on_stdin_eof: false,
        };
        // A and B (with B1) on free ports, in the background.
        let backend = |service, args| async move {
            let listener = tokio::net::TcpListener::bind(free).await?;
            let url = format!("http://{}", listener.local_addr()?);
            let router = dapple_demo::router(service, args).await?;
            tokio::spawn(dapple_demo::serve(listener, router, std::future::pending()));
            std::io::Result::Ok(url)
        };
        args.service_a = backend(Service::A, args.clone()).await?;
        args.service_b = backend(Service::B, args.clone()).await?;
        args.listen = Some(cli.listen);
        dapple_demo::serve_service(Service::Front, args, dapple_demo::stop_signal(false)).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webapp: {e}");
            ExitCode::FAILURE
        }
    }
}
