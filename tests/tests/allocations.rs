//! Recording a sampled span, with no arguments or with a long text argument,
//! allocates nothing once the thread's buffers are warm.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dapple::{Sink, SpanBatch, traced};

/// Counts the allocations made by threads that ask to be counted.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counted() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: every method hands its arguments unchanged to the system
// allocator, which upholds `GlobalAlloc`'s contract; counting allocates
// nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller's `layout` obligations pass on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc`/`realloc` above
        // with this `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: as for `dealloc`; `new_size` obligations pass on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

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

#[traced(name = "alloc.args_root")]
fn args_root() {
    for i in 0..300 {
        leaf_with_args(i, "GET /users/{id}/orders?page=2&sort=newest");
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

    COUNTING.with(|c| c.set(true));
    for _ in 0..100 {
        root();
    }
    COUNTING.with(|c| c.set(false));

    assert_eq!(sink.0.load(Ordering::Relaxed) - warm, 100 * 301);
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst),
        0,
        "allocations while recording 30,100 spans"
    );

    // A text argument too long to keep in place (40 bytes and more) goes to
    // the span's recycled box, and allocates nothing either.
    for _ in 0..10 {
        args_root();
    }
    let warm = sink.0.load(Ordering::Relaxed);
    let before = ALLOCATIONS.load(Ordering::SeqCst);

    COUNTING.with(|c| c.set(true));
    for _ in 0..100 {
        args_root();
    }
    COUNTING.with(|c| c.set(false));

    assert_eq!(sink.0.load(Ordering::Relaxed) - warm, 100 * 301);
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst) - before,
        0,
        "allocations while recording 30,100 spans with a 40-byte argument"
    );
}
