//! The reporter thread. Application threads hand it whole batches under one
//! short lock per batch and never wait for it; its queue is bounded in bytes,
//! and past the bound whole batches are dropped and counted.

use std::collections::VecDeque;
use std::mem::size_of;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::local::buffer::SpanBatch;
use crate::record::SpanRecord;
use crate::sink::Sink;

/// Receives batches on the reporter thread: encodes and sends them, or
/// anything else. It may block; only the reporter thread waits for it.
pub trait Exporter: Send + 'static {
    /// Takes one batch.
    fn export(&mut self, batch: SpanBatch);

    /// Called when the reporter thread wakes with nothing new (every 10 ms):
    /// a chance to reconnect, re-send, read acknowledgements.
    fn tick(&mut self) {}

    /// Called after the batches of one wake-up were exported: a chance to
    /// send what `export` gathered as one message.
    fn drained(&mut self) {}

    /// Told which traces this process triggered keeping, under retroactive
    /// sampling, so that it can tell the collector (which tells the other
    /// processes). The native exporter does; others have no one to tell.
    fn keep(&mut self, traces: &[(crate::TraceId, &'static str)]) {
        let _ = traces;
    }

    /// Told how many spans the reporter dropped (memory bound) since it last
    /// said, so that the count can reach the collector.
    fn dropped(&mut self, spans: u64) {
        let _ = spans;
    }

    /// Whether the exporter has nothing left to do until a batch arrives
    /// (nothing to re-send, no acknowledgement awaited). The reporter then
    /// sleeps until woken instead of ticking, so an idle process spends no
    /// CPU on reporting.
    fn is_idle(&self) -> bool {
        true
    }

    /// Tries until `deadline` to deliver everything taken so far; returns the
    /// number of spans still undelivered.
    fn flush(&mut self, deadline: Instant) -> u64 {
        let _ = deadline;
        0
    }
}

impl<F: FnMut(SpanBatch) + Send + 'static> Exporter for F {
    fn export(&mut self, batch: SpanBatch) {
        self(batch)
    }
}

/// How the reporter bounds its memory. Start from `default()` and set the
/// fields you need: more will come.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ReporterConfig {
    /// The most memory, in bytes, that batches waiting for the exporter may
    /// take; past it new batches are dropped whole.
    pub max_queued_bytes: usize,
}

impl Default for ReporterConfig {
    fn default() -> ReporterConfig {
        ReporterConfig {
            max_queued_bytes: 64 * 1024 * 1024,
        }
    }
}

impl ReporterConfig {
    /// Sets the most memory, in bytes, that waiting batches may take.
    pub fn with_max_queued_bytes(mut self, bytes: usize) -> ReporterConfig {
        self.max_queued_bytes = bytes;
        self
    }
}

/// What the reporter has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReporterStats {
    /// Spans handed to the exporter.
    pub exported_spans: u64,
    /// Spans waiting for the exporter.
    pub queued_spans: u64,
    /// Batches dropped because the queue was full.
    pub dropped_batches: u64,
    /// Spans in those batches.
    pub dropped_spans: u64,
}

#[derive(Default)]
struct Queue {
    /// Batches with the memory each holds, as the bound counts it.
    batches: VecDeque<(SpanBatch, usize)>,
    bytes: usize,
    /// Batches taken by the thread and not yet exported.
    exporting: u64,
    stats: ReporterStats,
    stopping: bool,
    /// The thread waits without a timeout: the next batch must wake it.
    sleeping: bool,
    /// A flush asked for, with its deadline and number.
    flush_request: Option<(u64, Instant)>,
    /// The number of the last flush asked for, and of the last answered
    /// with the spans the exporter could not deliver.
    flushes_asked: u64,
    flush_answer: (u64, u64),
}

struct Shared {
    config: ReporterConfig,
    queue: Mutex<Queue>,
    /// Signalled when a batch arrives or the reporter stops.
    arrived: Condvar,
    /// Signalled when the queue becomes empty.
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How often the reporter thread looks at its queue unasked.
const TICK: Duration = Duration::from_millis(10);

/// Queued batches that wake the reporter thread before its tick.
const WAKE_BATCHES: usize = 64;

/// Memory a batch holds, as the bound counts it.
fn batch_bytes(batch: &SpanBatch) -> usize {
    let out_of_line: usize = batch
        .spans()
        .iter()
        .map(SpanRecord::out_of_line_bytes)
        .sum();
    batch.len() * size_of::<SpanRecord>() + out_of_line
}

/// The collector side of the reporter: what application threads call.
struct Handle(Arc<Shared>);

impl Sink for Handle {
    fn collect(&self, batch: SpanBatch) {
        let bytes = batch_bytes(&batch);
        let mut queue = self.0.lock();
        if queue.bytes + bytes > self.0.config.max_queued_bytes {
            queue.stats.dropped_batches += 1;
            queue.stats.dropped_spans += batch.len() as u64;
            // Dropped after the lock is released.
            drop(queue);
            return;
        }
        queue.bytes += bytes;
        queue.stats.queued_spans += batch.len() as u64;
        queue.batches.push_back((batch, bytes));
        // While busy the thread wakes by itself every TICK; waking it costs
        // the application a system call, so only a filling queue does, or
        // the first batch after the thread went to sleep.
        let wake = std::mem::take(&mut queue.sleeping)
            || queue.batches.len() >= WAKE_BATCHES
            || queue.bytes >= self.0.config.max_queued_bytes / 4;
        drop(queue);
        if wake {
            self.0.arrived.notify_one();
        }
    }
}

/// A running reporter thread, set as the process's collector. Dropping it
/// flushes (for up to five seconds) and stops the thread.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use dapple::export::{Reporter, ReporterConfig};
///
/// let seen = Arc::new(AtomicU64::new(0));
/// let counter = seen.clone();
/// let reporter = Reporter::install(
///     move |batch: dapple::SpanBatch| { counter.fetch_add(batch.len() as u64, Ordering::Relaxed); },
///     ReporterConfig::default(),
/// );
/// dapple::Span::root("work").end();
/// assert_eq!(reporter.flush(Duration::from_secs(5)), 0);
/// assert_eq!(seen.load(Ordering::Relaxed), 1);
/// ```
pub struct Reporter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// How long dropping it waits for the exporter.
    drop_flush: Duration,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Reporter {
    /// Starts the reporter thread with `exporter` and sets it as the
    /// process's collector.
    pub fn install(exporter: impl Exporter, config: ReporterConfig) -> Reporter {
        let shared = Arc::new(Shared {
            config,
            queue: Mutex::new(Queue::default()),
            arrived: Condvar::new(),
            drained: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("dapple-reporter".into())
            .spawn({
                let shared = shared.clone();
                move || run(&shared, exporter)
            })
            .ok();
        crate::set_sink(Arc::new(Handle(shared.clone())));
        Reporter {
            shared,
            thread,
            drop_flush: Duration::from_secs(5),
        }
    }

    /// Hands this thread's buffered spans on and waits up to `timeout` for
    /// the exporter to take every queued batch. Returns the number of spans
    /// still waiting.
    pub fn flush(&self, timeout: Duration) -> u64 {
        crate::flush_thread();
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.lock();
        queue.flushes_asked += 1;
        let number = queue.flushes_asked;
        queue.flush_request = Some((number, deadline));
        self.shared.arrived.notify_one();
        // The thread answers by the deadline; a little slack covers the
        // exporter's last read.
        let give_up = deadline + Duration::from_millis(100);
        while queue.flush_answer.0 < number && self.thread.is_some() {
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return queue.stats.queued_spans;
            }
            queue = self
                .shared
                .drained
                .wait_timeout(queue, left)
                .map(|(q, _)| q)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        queue.stats.queued_spans + queue.flush_answer.1
    }

    /// What the reporter has done so far.
    pub fn stats(&self) -> ReporterStats {
        self.shared.lock().stats
    }
}

impl Reporter {
    /// Stops the thread after waiting at most `timeout` for the exporter
    /// (dropping it waits up to 5 s).
    pub fn stop(mut self, timeout: Duration) {
        self.drop_flush = timeout;
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.flush(self.drop_flush);
        crate::clear_sink();
        self.shared.lock().stopping = true;
        self.shared.arrived.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Passes on the drops the exporter has not heard of.
fn tell_dropped(exporter: &mut impl Exporter, dropped: u64, said: &mut u64) {
    if dropped > *said {
        exporter.dropped(dropped - *said);
        *said = dropped;
    }
}

/// The reporter thread: takes every queued batch at once, exports them
/// outside the lock.
fn run(shared: &Shared, mut exporter: impl Exporter) {
    let mut taken: Vec<(SpanBatch, usize)> = Vec::new();
    let mut dropped_said = 0;
    // Whether the last wait ended with nothing queued.
    let mut ticked_empty = false;
    loop {
        {
            let mut queue = shared.lock();
            if queue.batches.is_empty() {
                let dropped = queue.stats.dropped_spans;
                if let Some((number, deadline)) = queue.flush_request.take() {
                    drop(queue);
                    tell_dropped(&mut exporter, dropped, &mut dropped_said);
                    let undelivered = exporter.flush(deadline);
                    let mut queue = shared.lock();
                    queue.flush_answer = (number, undelivered);
                    drop(queue);
                    shared.drained.notify_all();
                    continue;
                }
                if queue.stopping {
                    return;
                }
                // Nothing came during the last tick and the exporter has
                // nothing pending: sleep until a batch, a flush or the stop.
                let idle = ticked_empty && exporter.is_idle();
                queue.sleeping = idle;
                queue = if idle {
                    shared
                        .arrived
                        .wait(queue)
                        .unwrap_or_else(|e| e.into_inner())
                } else {
                    shared
                        .arrived
                        .wait_timeout(queue, TICK)
                        .map(|(q, _)| q)
                        .unwrap_or_else(|e| e.into_inner().0)
                };
                queue.sleeping = false;
                ticked_empty = queue.batches.is_empty();
                if queue.batches.is_empty() {
                    let flush_asked = queue.flush_request.is_some();
                    let dropped = queue.stats.dropped_spans;
                    drop(queue);
                    tell_dropped(&mut exporter, dropped, &mut dropped_said);
                    if !flush_asked {
                        exporter.tick();
                    }
                    continue;
                }
            }
            taken.extend(queue.batches.drain(..));
            queue.exporting = taken.len() as u64;
            let dropped = queue.stats.dropped_spans;
            drop(queue);
            tell_dropped(&mut exporter, dropped, &mut dropped_said);
        }
        for (batch, bytes) in taken.drain(..) {
            let spans = batch.len() as u64;
            exporter.export(batch);
            let mut queue = shared.lock();
            queue.bytes -= bytes;
            queue.exporting -= 1;
            queue.stats.queued_spans -= spans;
            queue.stats.exported_spans += spans;
        }
        exporter.drained();
        if shared.lock().batches.is_empty() {
            shared.drained.notify_all();
        }
    }
}
