//! A small instrumented program for the end-to-end tests: records one trace
//! of a few levels, across a thread and a task, reports it to the collector
//! named by `DAPPLE_ENDPOINT` (or over OTLP, as the `OTEL_EXPORTER_OTLP_*`
//! variables say), and prints its trace id, then the spans it could not
//! deliver and those it dropped.
//!
//! `traced_program [panic | many N]`: with `panic`, a traced function
//! panics; with `many N`, it records N such traces, 20 ms apart.

use std::time::Duration;

use dapple::traced;

#[traced(name = "program.main")]
fn program(panic: bool) -> String {
    let trace_id = dapple::current_context()
        .expect("the root span is current")
        .trace_id()
        .to_string();
    println!("trace {trace_id}");
    load(3);
    let total = std::thread::spawn(|| compute(4))
        .join()
        .expect("the thread runs");
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(async {
            // The store fails on purpose: its span records the error.
            let stored = tokio::spawn(store(total)).await.expect("the task runs");
            assert!(stored.is_err());
        });
    if panic {
        explode();
    }
    trace_id
}

#[traced(name = "program.load", args(items))]
fn load(items: u32) {
    for _ in 0..items {
        read_item();
    }
}

#[traced(name = "program.read_item")]
fn read_item() {}

#[traced(name = "program.compute", args(n), ret)]
fn compute(n: u64) -> u64 {
    (1..=n).product()
}

#[traced(name = "program.store", args(total), err)]
async fn store(total: u64) -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    if total == 0 {
        return Err("nothing to store".into());
    }
    Err(format!("disk full after {total} bytes"))
}

#[traced(name = "program.explode")]
fn explode() {
    panic!("the program gave up");
}

fn main() {
    let config = match dapple::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("traced_program: {e}");
            std::process::exit(2);
        }
    };
    let flush = Duration::from_secs(
        std::env::var("FLUSH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    );
    let guard = dapple::init(config.with_flush_timeout(flush));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("panic") => {
            program(true);
        }
        Some("many") => {
            let n: u32 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10);
            for _ in 0..n {
                program(false);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        _ => {
            program(false);
        }
    }
    let undelivered = guard.flush(flush);
    println!("undelivered {undelivered}");
    println!("dropped {}", dapple::dropped_spans());
}
