//! `dapple-collector demo`: a collector (memory store) with the webapp demo
//! beside it: the front service, service A and service B, each a child
//! process reporting to this collector, and a request to the front page
//! about every second, so the UI has traces within seconds.

use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dapple_demo::Service;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::log;
use crate::server::{self, Bound, ServerConfig};
use crate::store::{Limits, MemoryStore};

/// Where the demo listens and how often it calls the front page.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The collector's HTTP port: the UI and the query API.
    pub http: SocketAddr,
    /// The collector's native ingest.
    pub native: SocketAddr,
    /// The front service.
    pub front: SocketAddr,
    /// Time between two requests to the front page.
    pub interval: Duration,
    /// Retroactive sampling with this baseline (every failing request kept
    /// whole); head sampling of every request when `None`.
    pub retroactive_baseline: Option<f64>,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The collector could not bind its ports.
    #[error("the collector cannot listen")]
    Listen(#[source] std::io::Error),
    /// The collector's task ended before it bound its ports.
    #[error("the collector did not start")]
    NotStarted,
    /// This program's path, needed to start the services, is unknown.
    #[error("cannot find this program")]
    CurrentExe(#[source] std::io::Error),
    /// A service's process could not be started.
    #[error("cannot start {service}")]
    Spawn {
        /// The service.
        service: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A service's output could not be read.
    #[error("cannot read what {service} printed")]
    Output {
        /// The service.
        service: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A service ended before it said where it listens.
    #[error("{service} stopped before it listened")]
    Stopped {
        /// The service.
        service: &'static str,
    },
    /// A service printed something other than where it listens.
    #[error("{service} printed {line:?}, not where it listens")]
    Unexpected {
        /// The service.
        service: &'static str,
        /// What it printed.
        line: String,
    },
}

/// Runs the demo until Ctrl-C.
pub fn run(config: DemoConfig) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            log::error(format_args!("cannot start: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error(format_args!("demo: {}", log::Chain(&e)));
            ExitCode::FAILURE
        }
    }
}

async fn demo(config: DemoConfig) -> Result<(), DemoError> {
    let store = Arc::new(MemoryStore::new(Limits {
        max_spans: 1_000_000,
        max_bytes: None,
        retention: None,
    }));
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel::<Bound>();
    let server_config = ServerConfig::new(config.http, config.native);
    let server = tokio::spawn(server::run(server_config, store, move |bound| {
        let _ = bound_tx.send(bound);
    }));
    let bound = match bound_rx.await {
        Ok(bound) => bound,
        Err(_) => {
            return Err(match server.await {
                Ok(Err(e)) => DemoError::Listen(e),
                _ => DemoError::NotStarted,
            });
        }
    };
    let ui = format!("http://{}", bound.http);
    let free = SocketAddr::from(([127, 0, 0, 1], 0));
    let sampling = Sampling {
        native: bound.native,
        retroactive_baseline: config.retroactive_baseline,
    };
    let (mut a, a_url) = start(Service::A, &sampling, &[], free).await?;
    let (mut b, b_url) = start(Service::B, &sampling, &[], free).await?;
    let front_args = ["--service-a", &a_url, "--service-b", &b_url, "--ui", &ui];
    let (mut front, front_url) =
        start(Service::Front, &sampling, &front_args, config.front).await?;

    println!("Dapple demo");
    println!("  web UI:         {ui}/");
    println!(
        "  front service:  {front_url}/  (requested every {:?})",
        config.interval
    );
    println!("  services:       frontservice -> serviceA, serviceB -> B1");
    println!("  spans arrive on {} (native ingest)", bound.native);
    match config.retroactive_baseline {
        Some(baseline) => println!(
            "  sampling:       retroactive: every request recorded, each failing one kept whole, {:.0}% of the others",
            baseline * 100.0
        ),
        None => println!("  sampling:       every request kept"),
    }
    println!("Ctrl-C stops the demo.");

    // `Child::wait` would close the services' standard input, which stops
    // them: hold it while they run.
    let inputs: Vec<_> = [&mut front, &mut a, &mut b]
        .into_iter()
        .map(|child| child.stdin.take())
        .collect();
    let stopped = async {
        tokio::select! {
            () = dapple_demo::stop_signal(false) => {}
            status = front.wait() => log::error(format_args!("the front service stopped: {status:?}")),
            status = a.wait() => log::error(format_args!("service A stopped: {status:?}")),
            status = b.wait() => log::error(format_args!("service B stopped: {status:?}")),
        }
    };
    dapple_demo::drive(front_url, config.interval, stopped).await;
    drop(inputs);
    for mut child in [front, a, b] {
        // Closing standard input stops a service after it flushes its
        // spans; `wait` closes it.
        if tokio::time::timeout(Duration::from_secs(3), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
    server.abort();
    Ok(())
}

/// Where the services report, and how they sample.
struct Sampling {
    native: SocketAddr,
    retroactive_baseline: Option<f64>,
}

/// Starts `service` as a child process of this binary reporting as
/// `sampling` says; returns it and the URL it serves.
async fn start(
    service: Service,
    sampling: &Sampling,
    extra: &[&str],
    listen: SocketAddr,
) -> Result<(Child, String), DemoError> {
    let name = service.default_name();
    let exe = std::env::current_exe().map_err(DemoError::CurrentExe)?;
    // The name `demo-service` parses back into `service`.
    let role = clap::ValueEnum::to_possible_value(&service)
        .map(|value| value.get_name().to_owned())
        .unwrap_or_default();
    let mut command = Command::new(exe);
    command
        .args(["demo-service", &role, "--stop-on-stdin-eof", "--listen"])
        .arg(listen.to_string())
        .args(extra)
        .env("DAPPLE_ENDPOINT", sampling.native.to_string())
        .env("DAPPLE_SERVICE", name);
    match sampling.retroactive_baseline {
        Some(baseline) => command
            .env("DAPPLE_SAMPLING", "retroactive")
            .env("DAPPLE_BASELINE", baseline.to_string()),
        None => command.env("DAPPLE_SAMPLING", "head"),
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| DemoError::Spawn {
            service: name,
            source,
        })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .next_line()
        .await
        .map_err(|source| DemoError::Output {
            service: name,
            source,
        })?
        .ok_or(DemoError::Stopped { service: name })?;
    let url = line
        .strip_prefix("listening ")
        .ok_or_else(|| DemoError::Unexpected {
            service: name,
            line: line.clone(),
        })?
        .to_owned();
    Ok((child, url))
}
