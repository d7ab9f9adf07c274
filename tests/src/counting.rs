//! An allocator that counts, for the tests that pin "no allocation in
//! steady state". A test binary installs it with
//! `#[global_allocator] static GLOBAL: Counting = Counting;`, then counts
//! either the calling thread or every thread of the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The system allocator, counting allocations while asked to.
#[derive(Debug)]
pub struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static EVERY_THREAD: AtomicBool = AtomicBool::new(false);

thread_local! {
    static THIS_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Counts (or stops counting) this thread's allocations.
pub fn count_this_thread(on: bool) {
    THIS_THREAD.with(|c| c.set(on));
}

/// Counts (or stops counting) the allocations of every thread.
pub fn count_every_thread(on: bool) {
    EVERY_THREAD.store(on, Ordering::SeqCst);
}

/// Allocations counted so far.
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::SeqCst)
}

fn counted() {
    if EVERY_THREAD.load(Ordering::Relaxed) || THIS_THREAD.try_with(Cell::get).unwrap_or(false) {
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
