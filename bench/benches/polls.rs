//! What an async span costs per poll: a `#[traced]` async fn polled 2 and
//! 65 times (the span is current during each poll, and its busy time and
//! polls are counted), beside the same future with only a context carried
//! (`in_current_span`) and with nothing. Throughput is in polls.
//!
//! `cargo bench -p dapple-bench --bench polls`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dapple::{FutureExt, SpanBatch, traced};

/// Pending this many times before ready: once, as most async fns that
/// wait at all, and many times.
const PENDING: [u32; 2] = [1, 64];

/// Discards every batch.
struct Discard;

impl dapple::Sink for Discard {
    fn collect(&self, batch: SpanBatch) {
        black_box(batch);
    }
}

/// Pending `n` times (waking itself each time), then ready.
struct Yields(u32);

impl Future for Yields {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 = black_box(self.0 - 1);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[traced(name = "polls.traced")]
async fn traced(n: u32) {
    Yields(n).await
}

async fn plain(n: u32) {
    Yields(n).await
}

/// Polls `future` to completion on this thread.
fn run(future: impl Future<Output = ()>) {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    while future.as_mut().poll(&mut cx).is_pending() {}
}

fn polls(c: &mut Criterion) {
    dapple::set_sink(Arc::new(Discard));
    for pending in PENDING {
        let mut group = c.benchmark_group(format!("polls/{}", pending + 1));
        group.throughput(Throughput::Elements(u64::from(pending) + 1));
        group.bench_function("plain future", |b| {
            b.iter(|| run(plain(black_box(pending))))
        });
        group.bench_function("in_current_span (context only)", |b| {
            let mut root = dapple::Span::root("polls.root");
            let _entered = root.enter();
            b.iter(|| run(plain(black_box(pending)).in_current_span()))
        });
        group.bench_function("#[traced] async fn (span, busy time)", |b| {
            b.iter(|| run(traced(black_box(pending))))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = polls
}
criterion_main!(benches);
