//! The workloads with Dapple's `#[traced]`.

use std::hint::black_box;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use dapple::export::{Reporter, ReporterConfig};
use dapple::{SpanBatch, traced};

use crate::LEAVES;

/// Spans the exporter received.
static DELIVERED: AtomicU64 = AtomicU64::new(0);

/// Starts, once for the process, Dapple's reporter thread with an exporter
/// that counts batches and drops them (on the reporter thread, where their
/// memory goes back to the pools).
pub fn install() {
    static REPORTER: OnceLock<Reporter> = OnceLock::new();
    REPORTER.get_or_init(|| {
        Reporter::install(
            |batch: SpanBatch| {
                DELIVERED.fetch_add(batch.len() as u64, Ordering::Relaxed);
            },
            ReporterConfig::default().with_max_queued_bytes(1 << 30),
        )
    });
}

#[traced(name = "leaf")]
fn leaf() {
    black_box(());
}

#[traced(name = "root")]
pub fn sync_root() {
    for _ in 0..LEAVES {
        leaf();
    }
}

#[traced(name = "root", sample = 0.0)]
pub fn unsampled_root() {
    for _ in 0..LEAVES {
        leaf();
    }
}

#[traced(name = "leaf", args(n, s))]
fn leaf_args(n: i64, s: &str) {
    black_box((n, s));
}

#[traced(name = "root")]
pub fn args_root() {
    for i in 0..LEAVES {
        leaf_args(i as i64, "GET /users");
    }
}

#[traced(name = "leaf")]
async fn async_leaf() {
    black_box(());
}

#[traced(name = "root")]
pub async fn async_root() {
    for _ in 0..LEAVES {
        async_leaf().await;
    }
}

/// Spans delivered so far.
pub fn delivered() -> u64 {
    DELIVERED.load(Ordering::Relaxed)
}

/// Hands this thread's buffered spans on.
pub fn flush() {
    dapple::flush_thread();
}
