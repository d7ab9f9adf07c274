//! The current span crossing into tasks and threads:
//! `cargo run -p dapple-examples --bin spawn`.
//!
//! Inside a `#[traced]` function the macro rewrites `tokio::spawn`,
//! `tokio::task::spawn`, `tokio::task::spawn_local`,
//! `tokio::task::spawn_blocking`, `std::thread::spawn` and
//! `std::thread::Builder::spawn` to carry the current span, so the work they
//! start is its child with no code of yours. For what the macro cannot see
//! (a runtime handle, scoped threads, a thread pool, a function that is not
//! traced), `dapple::spawn`, `dapple::bind` and `.in_current_span()` do the
//! same by hand.
//!
//! Without `DAPPLE_ENDPOINT` the spans are kept in memory and the tree is
//! printed: every `work` span is a child of `spawn.demo`, whichever thread
//! ran it. With `DAPPLE_ENDPOINT=127.0.0.1:7701` (and `dapple-collector
//! serve` running) the trace goes to the collector instead.

use std::process::ExitCode;

use dapple::{FutureExt, SpanTree, TraceId, traced};
use dapple_examples::sink::Sink;

/// Async work, named in the tree after the way it was started.
#[traced(name = "work", args(via))]
async fn work(via: &'static str) {
    tokio::task::yield_now().await;
}

/// Blocking work, on a thread of its own.
#[traced(name = "work", args(via))]
fn blocking_work(via: &'static str) {
    std::thread::sleep(std::time::Duration::from_millis(1));
}

#[traced(name = "spawn.demo")]
async fn demo() -> Option<TraceId> {
    // Rewritten by #[traced]: each of these carries spawn.demo along.
    tokio::spawn(work("tokio::spawn")).await.ok();
    tokio::task::spawn(work("tokio::task::spawn")).await.ok();
    tokio::task::spawn_local(work("tokio::task::spawn_local"))
        .await
        .ok();
    tokio::task::spawn_blocking(|| blocking_work("tokio::task::spawn_blocking"))
        .await
        .ok();
    std::thread::spawn(|| blocking_work("std::thread::spawn"))
        .join()
        .ok();
    std::thread::Builder::new()
        .name("builder-thread".into())
        .spawn(|| blocking_work("std::thread::Builder::spawn"))
        .map(|thread| thread.join())
        .ok();

    // Not rewritten: carried by hand.
    untraced_helper().await;
    tokio::runtime::Handle::current()
        .spawn(work("Handle::spawn + in_current_span").in_current_span())
        .await
        .ok();
    std::thread::scope(|scope| {
        scope.spawn(dapple::bind(|| {
            blocking_work("thread::scope + dapple::bind")
        }));
    });

    dapple::current_context().map(|context| context.trace_id())
}

/// A function without `#[traced]`: nothing rewrites its spawn, so it uses
/// `dapple::spawn`, a `tokio::spawn` that carries the current span.
async fn untraced_helper() {
    dapple::spawn(work("dapple::spawn")).await.ok();
}

fn main() -> ExitCode {
    let sink = match Sink::from_env() {
        Ok(sink) => sink,
        Err(error) => {
            eprintln!("spawn: {error}");
            return ExitCode::FAILURE;
        }
    };

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("spawn: no tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // spawn_local needs a LocalSet around the task that calls it.
    let trace_id = runtime.block_on(tokio::task::LocalSet::new().run_until(demo()));

    sink.finish("spawn.demo", trace_id, |tree| print_tree(tree, 0));
    ExitCode::SUCCESS
}

/// One span a line, indented by depth, with how it was started.
fn print_tree(tree: &SpanTree, depth: usize) {
    let span = &tree.span;
    match span.attribute("via") {
        Some(via) => println!("{:indent$}{} ({via})", "", span.name(), indent = depth * 2),
        None => println!("{:indent$}{}", "", span.name(), indent = depth * 2),
    }
    for child in &tree.children {
        print_tree(child, depth + 1);
    }
}
