//! Spans from `tracing`-instrumented code in a Dapple trace:
//! `cargo run -p dapple-examples --bin tracing_bridge`.
//!
//! `dapple_tracing::layer()` makes every `tracing` span a Dapple span and
//! shares one current span between the two libraries: here a `#[traced]`
//! handler calls a "library" written with `#[tracing::instrument]`, which
//! calls back into `#[traced]` code, across `.await` and `tokio::spawn`,
//! and `tracing` events land on the innermost span.
//!
//! Without `DAPPLE_ENDPOINT` the tree is printed; with it (and
//! `dapple-collector serve` running) the trace goes to the collector.

use std::process::ExitCode;

use dapple::{SpanTree, TraceId, traced};
use dapple_examples::sink::Sink;
use tracing_subscriber::layer::SubscriberExt;

/// A library written with `tracing`, as most of the ecosystem is.
mod storage {
    #[tracing::instrument(name = "storage.fetch", skip_all, fields(table = "orders", rows))]
    pub async fn fetch(id: u64) -> Vec<u64> {
        tokio::task::yield_now().await;
        let rows: Vec<u64> = (0..id % 5).collect();
        tracing::Span::current().record("rows", rows.len());
        tracing::debug!(cached = false, "read from disk");
        super::decode(rows).await
    }
}

#[traced(name = "decode", args(rows))]
async fn decode(rows: Vec<u64>) -> Vec<u64> {
    rows.into_iter().map(|r| r * 10).collect()
}

#[traced(name = "handle_order", args(id))]
async fn handle_order(id: u64) -> Option<TraceId> {
    let rows = tokio::spawn(storage::fetch(id)).await.unwrap_or_default();
    if rows.is_empty() {
        tracing::error!(id, "no rows for the order");
    }
    dapple::current_context().map(|c| c.trace_id())
}

fn main() -> ExitCode {
    let sink = match Sink::from_env() {
        Ok(sink) => sink,
        Err(error) => {
            eprintln!("tracing_bridge: {error}");
            return ExitCode::FAILURE;
        }
    };
    let subscriber = tracing_subscriber::registry().with(dapple_tracing::layer());
    if let Err(error) = tracing::subscriber::set_global_default(subscriber) {
        eprintln!("tracing_bridge: {error}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tracing_bridge: no tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let trace_id = runtime.block_on(handle_order(7));
    sink.finish("handle_order", trace_id, |tree| print_tree(tree, 0));
    ExitCode::SUCCESS
}

/// One span a line, indented by depth, with its events.
fn print_tree(tree: &SpanTree, depth: usize) {
    let span = &tree.span;
    println!("{:indent$}{}", "", span.name(), indent = depth * 2);
    for event in span.events() {
        println!("{:indent$}  * {}", "", event.name, indent = depth * 2);
    }
    for child in &tree.children {
        print_tree(child, depth + 1);
    }
}
