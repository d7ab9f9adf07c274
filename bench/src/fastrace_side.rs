//! The workloads with fastrace's `#[trace]` (feature `enable`).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fastrace::collector::{Config, Reporter, SpanContext, SpanRecord};
use fastrace::prelude::*;

use crate::LEAVES;

/// Counts reported spans and drops them.
struct Sink(Arc<AtomicU64>);

impl Reporter for Sink {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

fn counter() -> &'static Arc<AtomicU64> {
    static COUNT: std::sync::OnceLock<Arc<AtomicU64>> = std::sync::OnceLock::new();
    COUNT.get_or_init(|| {
        let count = Arc::new(AtomicU64::new(0));
        fastrace::set_reporter(Sink(count.clone()), Config::default());
        count
    })
}

/// Installs the counting reporter once for the process.
pub fn install() {
    counter();
}

#[trace(name = "leaf")]
fn leaf() {
    black_box(());
}

pub fn sync_root() {
    let root = Span::root("root", SpanContext::random());
    let _guard = root.set_local_parent();
    for _ in 0..LEAVES {
        leaf();
    }
}

pub fn unsampled_root() {
    let root = Span::root("root", SpanContext::random().sampled(false));
    let _guard = root.set_local_parent();
    for _ in 0..LEAVES {
        leaf();
    }
}

#[trace(name = "leaf", properties = { "n": "{n}", "s": "{s}" })]
fn leaf_args(n: i64, s: &str) {
    black_box((n, s));
}

pub fn args_root() {
    let root = Span::root("root", SpanContext::random());
    let _guard = root.set_local_parent();
    for i in 0..LEAVES {
        leaf_args(i as i64, "GET /users");
    }
}

#[trace(name = "leaf")]
async fn async_leaf() {
    black_box(());
}

pub async fn async_root() {
    let root = Span::root("root", SpanContext::random());
    async {
        for _ in 0..LEAVES {
            async_leaf().await;
        }
    }
    .in_span(root)
    .await
}

/// Spans delivered so far.
pub fn delivered() -> u64 {
    counter().load(Ordering::Relaxed)
}

/// Asks the background collector to report what it holds.
pub fn flush() {
    fastrace::flush();
}
