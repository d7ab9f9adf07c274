//! A thread-local buffer of finished spans, handed to the sink a batch
//! at a time: when it is full, when the thread leaves its outermost span, when
//! an instrumented future yields to its executor, and when the thread exits.
//!
//! Buffers are recycled through a small pool, so recording allocates nothing
//! in steady state.

use std::cell::RefCell;
use std::mem;
use std::sync::Mutex;

use crate::context::current_context;
use crate::padded::Padded;
use crate::record::SpanRecord;
use crate::sink;

/// Spans a buffer holds before it is handed on.
pub(crate) const CAPACITY: usize = 256;

/// Empty buffers kept for reuse: as many as were ever waiting for the
/// reporter at once, up to 1024 (40 MiB, less than the reporter's default
/// queue bound lets wait). Fewer made a process whose application outran
/// its reporter for a moment allocate new buffers, fault their pages in,
/// and give them back to the system, at every burst.
const POOL_LIMIT: usize = 1024;

static POOL: Padded<Mutex<Vec<Vec<SpanRecord>>>> = Padded(Mutex::new(Vec::new()));

struct LocalBuffer {
    spans: Vec<SpanRecord>,
}

impl Drop for LocalBuffer {
    fn drop(&mut self) {
        // The thread is exiting: nothing may stay behind.
        if !self.spans.is_empty() {
            sink::deliver(SpanBatch::new(mem::take(&mut self.spans)));
        }
    }
}

thread_local! {
    static BUFFER: RefCell<LocalBuffer> = const { RefCell::new(LocalBuffer { spans: Vec::new() }) };
}

/// Adds the finished span `record` makes; hands the buffer on when it is
/// full or when this thread has no current span any more. The record is
/// written straight into the buffer, not built first and copied in.
#[inline]
pub(crate) fn push(record: impl FnOnce() -> SpanRecord) {
    let full = BUFFER.try_with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let spans = &mut buffer.spans;
        if spans.len() == spans.capacity() {
            if spans.capacity() == 0 {
                *spans = take_empty();
            } else {
                spans.reserve(1);
            }
        }
        let len = spans.len();
        if let Some(slot) = spans.spare_capacity_mut().first_mut() {
            slot.write(record());
            // SAFETY: the element at `len` was just written, and the
            // capacity holds it.
            unsafe { spans.set_len(len + 1) };
        }
        spans.len() >= CAPACITY
    });
    match full {
        Ok(true) => flush(),
        Ok(false) if current_context().is_none() => flush(),
        Ok(false) => {}
        // The thread is being torn down; the span is lost with it.
        Err(_) => {}
    }
}

/// Hands this thread's finished spans to the sink, if there are any.
pub(crate) fn flush() {
    let batch = BUFFER.try_with(|buffer| {
        // Busy only when a panic hook flushes in the middle of a push.
        let Ok(mut buffer) = buffer.try_borrow_mut() else {
            return None;
        };
        if buffer.spans.is_empty() {
            None
        } else {
            Some(SpanBatch::new(mem::replace(
                &mut buffer.spans,
                take_empty(),
            )))
        }
    });
    // Delivered outside the borrow: a sink may itself record spans.
    if let Ok(Some(batch)) = batch {
        sink::deliver(batch);
    }
}

/// Hands spans on when this thread is idle (it has no current span).
#[inline]
pub(crate) fn flush_if_idle() {
    if current_context().is_none() {
        flush();
    }
}

fn take_empty() -> Vec<SpanRecord> {
    let reused = POOL.lock().ok().and_then(|mut pool| pool.pop());
    reused.unwrap_or_else(|| Vec::with_capacity(CAPACITY))
}

fn give_back(mut spans: Vec<SpanRecord>) {
    spans.clear();
    if spans.capacity() != CAPACITY {
        return;
    }
    if let Ok(mut pool) = POOL.lock()
        && pool.len() < POOL_LIMIT
    {
        pool.push(spans);
    }
}

/// Finished spans handed to a [`Sink`](crate::Sink) in one go.
/// Its memory goes back to a pool when it is dropped.
#[derive(Debug, Default)]
pub struct SpanBatch {
    spans: Vec<SpanRecord>,
}

impl SpanBatch {
    pub(crate) fn new(spans: Vec<SpanRecord>) -> SpanBatch {
        SpanBatch { spans }
    }

    /// The spans, in the order they ended on their thread.
    pub fn spans(&self) -> &[SpanRecord] {
        &self.spans
    }

    /// Moves the spans out, leaving the batch empty.
    pub fn drain(&mut self) -> std::vec::Drain<'_, SpanRecord> {
        self.spans.drain(..)
    }

    /// How many spans the batch holds.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl Drop for SpanBatch {
    fn drop(&mut self) {
        let mut spans = mem::take(&mut self.spans);
        crate::local::extras::give_back(spans.iter_mut().filter_map(SpanRecord::take_extras));
        give_back(spans);
    }
}
