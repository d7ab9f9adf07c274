//! The application thread's cost of a traced call, alone: a root with 100
//! nested sync leaf calls, `#[traced]`, into a reporter whose exporter only
//! counts. Small enough to read under callgrind, which counts instructions
//! where timings on a shared machine wander:
//!
//! ```sh
//! cargo run --release -p dapple-bench --bin hotpath s 200000   # sampled: ns per call
//! cargo run --release -p dapple-bench --bin hotpath u 2000000  # unsampled children
//! valgrind --tool=callgrind target/release/hotpath s 20000     # instructions
//! ```
//!
//! (`figures` measures the whole pipeline, up to bytes on a socket.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use dapple::SpanBatch;
use dapple::export::{Reporter, ReporterConfig};
use dapple::traced;

static DELIVERED: AtomicU64 = AtomicU64::new(0);

#[traced(name = "leaf")]
fn leaf() {
    std::hint::black_box(());
}

#[traced(name = "root")]
fn root() {
    for _ in 0..100 {
        leaf();
    }
}

#[traced(name = "root", sample = 0.0)]
fn unsampled_root() {
    for _ in 0..100 {
        leaf();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sampled = match args.next().as_deref() {
        Some("s") | None => true,
        Some("u") => false,
        Some(other) => {
            eprintln!("usage: hotpath [s|u] [roots]; not {other:?}");
            std::process::exit(2);
        }
    };
    let roots: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let reporter = Reporter::install(
        |batch: SpanBatch| {
            DELIVERED.fetch_add(batch.len() as u64, Ordering::Relaxed);
        },
        ReporterConfig::default(),
    );
    let started = Instant::now();
    for _ in 0..roots {
        if sampled { root() } else { unsampled_root() }
    }
    let ns = started.elapsed().as_nanos() as f64 / (f64::from(roots) * 101.0);
    reporter.flush(std::time::Duration::from_secs(10));
    let delivered = DELIVERED.load(Ordering::Relaxed);
    let expected = if sampled { u64::from(roots) * 101 } else { 0 };
    println!(
        "{} {ns:.1} ns/call, {delivered} of {expected} spans delivered",
        if sampled { "sampled" } else { "unsampled" }
    );
    if delivered != expected {
        std::process::exit(1);
    }
}
