//! Counting allocations cheaply enough to leave on while measuring CPU.
//!
//! Each thread counts into its own cache line (a slot taken once, on the
//! thread's first allocation), with a plain load and store rather than a
//! locked add: no line is shared between threads, so counting costs every
//! library about the same nanosecond per allocation and adds no contention.
//! [`allocations`] sums the slots. Install it in a binary with
//! `#[global_allocator] static A: dapple_bench::alloc::Counting = Counting;`;
//! without it, [`allocations`] stays 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Slots; threads beyond this many share slots and may lose a few counts.
const SLOTS: usize = 256;

#[repr(align(64))]
struct Slot(AtomicU64);

static COUNTS: [Slot; SLOTS] = [const { Slot(AtomicU64::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // `const` and without a destructor: reading it never allocates.
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The system allocator, counting the allocations of each thread.
#[derive(Debug)]
pub struct Counting;

#[inline]
fn count() {
    let slot = SLOT
        .try_with(|slot| {
            if slot.get() == usize::MAX {
                slot.set(NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS);
            }
            slot.get()
        })
        .unwrap_or(SLOTS - 1);
    let counter = &COUNTS[slot].0;
    // Only this thread writes its slot: a load and a store suffice.
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds
// `GlobalAlloc`'s contract; counting touches no allocated memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `realloc`'s contract: `ptr` came from
        // this allocator (that is, from `System`) with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations (and reallocations) counted so far in this process.
pub fn allocations() -> u64 {
    COUNTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
}
