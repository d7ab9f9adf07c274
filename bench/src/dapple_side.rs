//! The workloads with Dapple's `#[traced]`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dapple::{Collector, SpanBatch, traced};

use crate::LEAVES;

/// Counts delivered spans and drops them.
#[derive(Debug, Default)]
pub struct Sink(pub AtomicU64);

impl Collector for Sink {
    fn collect(&self, batch: SpanBatch) {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

/// Installs the counting sink once for the process.
pub fn sink() -> &'static Arc<Sink> {
    static SINK: std::sync::OnceLock<Arc<Sink>> = std::sync::OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Arc::new(Sink::default());
        dapple::set_collector(sink.clone());
        sink
    })
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
    sink().0.load(Ordering::Relaxed)
}

/// Hands this thread's buffered spans on.
pub fn flush() {
    dapple::flush_thread();
}
