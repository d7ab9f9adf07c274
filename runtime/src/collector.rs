//! The seam between recording and reporting: finished spans go to the one
//! collector set for the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::local::buffer::{self, SpanBatch};
use crate::padded::Padded;

/// Receives finished spans, a batch at a time.
///
/// `collect` runs on the thread that finished the spans, so it should only
/// hand them on (to a queue, a background thread); the reporter does that,
/// and [`MemoryCollector`](crate::MemoryCollector) keeps them for tests.
pub trait Collector: Send + Sync + 'static {
    /// Takes a batch of finished spans.
    fn collect(&self, batch: SpanBatch);
}

static ENABLED: Padded<AtomicBool> = Padded(AtomicBool::new(false));
static COLLECTOR: Padded<RwLock<Option<Arc<dyn Collector>>>> = Padded(RwLock::new(None));

/// Sends every span finished from now on to `collector`, replacing the one
/// set before. Until a collector is set, spans record nothing.
pub fn set_collector(collector: Arc<dyn Collector>) {
    crate::panic::install_hook();
    if let Ok(mut slot) = COLLECTOR.write() {
        *slot = Some(collector);
    }
    ENABLED.store(true, Ordering::Release);
}

/// Stops recording: spans started from now on record nothing.
pub fn clear_collector() {
    ENABLED.store(false, Ordering::Release);
    if let Ok(mut slot) = COLLECTOR.write() {
        *slot = None;
    }
}

/// Hands the spans this thread finished but still buffers to the collector.
///
/// Threads hand their spans on by themselves when they leave their outermost
/// span, when a traced task yields, when a buffer fills and when they exit;
/// call this only to be sure before reading a collector's contents while a
/// span of this thread is still open.
pub fn flush_thread() {
    buffer::flush();
}

#[inline]
pub(crate) fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(crate) fn deliver(batch: SpanBatch) {
    let collector = COLLECTOR.read().ok().and_then(|slot| slot.clone());
    if let Some(collector) = collector {
        collector.collect(batch);
    }
}
