//! The seam between recording and reporting: finished spans go to the one
//! sink set for the process (the reporter, or an in-process sink in tests).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::local::buffer::{self, SpanBatch};
use crate::padded::Padded;

/// Receives finished spans, a batch at a time.
///
/// `collect` runs on the thread that finished the spans, so it should only
/// hand them on (to a queue, a background thread); the reporter does that,
/// and [`MemorySink`](crate::MemorySink) keeps them for tests.
pub trait Sink: Send + Sync + 'static {
    /// Takes a batch of finished spans.
    fn collect(&self, batch: SpanBatch);
}

static ENABLED: Padded<AtomicBool> = Padded(AtomicBool::new(false));
static SINK: Padded<RwLock<Option<Arc<dyn Sink>>>> = Padded(RwLock::new(None));

/// Sends every span finished from now on to `sink`, replacing the one set
/// before. Until a sink is set, spans record nothing.
pub fn set_sink(sink: Arc<dyn Sink>) {
    crate::panic::install_hook();
    if let Ok(mut slot) = SINK.write() {
        *slot = Some(sink);
    }
    ENABLED.store(true, Ordering::Release);
}

/// Stops recording: spans started from now on record nothing.
pub fn clear_sink() {
    ENABLED.store(false, Ordering::Release);
    if let Ok(mut slot) = SINK.write() {
        *slot = None;
    }
}

/// Hands the spans this thread finished but still buffers to the sink.
///
/// Threads hand their spans on by themselves when they leave their outermost
/// span, when a traced task yields, when a buffer fills and when they exit;
/// call this only to be sure before reading a sink's contents while a
/// span of this thread is still open.
pub fn flush_thread() {
    buffer::flush();
}

#[inline]
pub(crate) fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(crate) fn deliver(batch: SpanBatch) {
    let sink = SINK.read().ok().and_then(|slot| slot.clone());
    if let Some(sink) = sink {
        sink.collect(batch);
    }
}
