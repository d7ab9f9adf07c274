//! Recording a sampled span, with no arguments or with a long text argument,
//! allocates nothing once the thread's buffers are warm.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dapple::{Sink, SpanBatch, traced};
use dapple_tests::counting::{self, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Drops every batch: its buffer goes back to the pool.
struct Discard(AtomicUsize);

impl Sink for Discard {
    fn collect(&self, batch: SpanBatch) {
        self.0.fetch_add(batch.len(), Ordering::Relaxed);
    }
}

#[traced(name = "alloc.root")]
fn root() {
    for _ in 0..300 {
        leaf();
    }
}

#[traced(name = "alloc.leaf")]
fn leaf() {}

/// 40 bytes: kept in place with the integer.
const FORTY: &str = "GET /users/{id}/orders?page=2&sort=newer";
/// 80 bytes: more than the room in place, so it goes to the span's box.
const EIGHTY: &str =
    "GET /users/{id}/orders?page=2&sort=newest&fields=id,total,items,created_at&x=yz0";

#[traced(name = "alloc.args_root")]
fn args_root() {
    for i in 0..300 {
        leaf_with_args(i, if i % 2 == 0 { FORTY } else { EIGHTY });
    }
}

#[traced(name = "alloc.args_leaf", args(n, route))]
fn leaf_with_args(n: i64, route: &str) {}

#[test]
fn sampled_spans_with_and_without_long_arguments_allocate_nothing_in_steady_state() {
    let sink = Arc::new(Discard(AtomicUsize::new(0)));
    dapple::set_sink(sink.clone());
    for _ in 0..10 {
        root();
    }
    let warm = sink.0.load(Ordering::Relaxed);
    assert_eq!(warm, 10 * 301, "spans are recorded and delivered");

    counting::count_this_thread(true);
    for _ in 0..100 {
        root();
    }
    counting::count_this_thread(false);

    assert_eq!(sink.0.load(Ordering::Relaxed) - warm, 100 * 301);
    assert_eq!(
        counting::allocations(),
        0,
        "allocations while recording 30,100 spans"
    );

    // A 40-byte text argument stays in place; one too long for the room in
    // place (80 bytes) goes to the span's recycled box. Neither allocates.
    assert_eq!((FORTY.len(), EIGHTY.len()), (40, 80));
    for _ in 0..10 {
        args_root();
    }
    let warm = sink.0.load(Ordering::Relaxed);
    let before = counting::allocations();

    counting::count_this_thread(true);
    for _ in 0..100 {
        args_root();
    }
    counting::count_this_thread(false);

    assert_eq!(sink.0.load(Ordering::Relaxed) - warm, 100 * 301);
    assert_eq!(
        counting::allocations() - before,
        0,
        "allocations while recording 30,100 spans with 40- and 80-byte arguments"
    );
}
