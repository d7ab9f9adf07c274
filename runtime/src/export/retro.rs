//! Retroactive sampling, on the reporter thread: every trace is recorded,
//! but only a baseline of them is sent as it comes. The rest wait in a
//! ring, bounded in bytes and age, until something asks for their trace:
//! a span ending in error, a span slower than its threshold,
//! [`keep_trace`](crate::keep_trace), or the collector passing on another
//! process's ask. Then the trace's spans still in the ring are sent, and
//! every later one.
//!
//! The baseline is decided from the trace id alone, with the same rule as
//! head sampling, so every process sends the same baseline traces whole.

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::reporter::Exporter;
use crate::id::TraceId;
use crate::local::buffer::SpanBatch;
use crate::record::SpanRecord;
use crate::sampling::{self, KEPT_BY, Origin};
use crate::span::Status;
use crate::value::KeyValue;

/// Retroactive sampling's settings. Start from `default()` and change what
/// you need.
///
/// ```
/// use std::time::Duration;
/// use dapple::export::Retroactive;
///
/// let retroactive = Retroactive::default()
///     .with_baseline(0.01)
///     .with_slow(Duration::from_millis(500))
///     .with_slow_name("load_user", Duration::from_millis(50));
/// let config = dapple::Config::default().with_retroactive(retroactive);
/// # drop(config);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Retroactive {
    /// The share of traces sent whatever happens in them, for dashboards:
    /// 0.0 to 1.0.
    pub baseline: f64,
    /// The most memory the ring of spans not sent takes, in bytes.
    pub ring_bytes: usize,
    /// How long a span waits in the ring at most.
    pub ring_age: Duration,
    /// A span that lasts longer keeps its trace (none when `None`).
    pub slow: Option<Duration>,
    /// Thresholds for spans of these names, instead of `slow`.
    pub slow_by_name: Vec<(String, Duration)>,
}

impl Default for Retroactive {
    /// A 1 % baseline, 64 MiB and 30 s of ring, no slow threshold.
    fn default() -> Retroactive {
        Retroactive {
            baseline: 0.01,
            ring_bytes: 64 * 1024 * 1024,
            ring_age: Duration::from_secs(30),
            slow: None,
            slow_by_name: Vec::new(),
        }
    }
}

impl Retroactive {
    /// Sets the share of traces sent whatever happens (clamped to 0..=1).
    pub fn with_baseline(mut self, probability: f64) -> Retroactive {
        self.baseline = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
        self
    }

    /// Sets the ring's memory bound, in bytes.
    pub fn with_ring_bytes(mut self, bytes: usize) -> Retroactive {
        self.ring_bytes = bytes;
        self
    }

    /// Sets how long a span waits in the ring at most.
    pub fn with_ring_age(mut self, age: Duration) -> Retroactive {
        self.ring_age = age;
        self
    }

    /// Keeps the trace of any span that lasts longer than `threshold`.
    pub fn with_slow(mut self, threshold: Duration) -> Retroactive {
        self.slow = Some(threshold);
        self
    }

    /// Keeps the trace of a span named `name` that lasts longer than
    /// `threshold` (instead of the threshold for every span).
    pub fn with_slow_name(mut self, name: impl Into<String>, threshold: Duration) -> Retroactive {
        self.slow_by_name.push((name.into(), threshold));
        self
    }
}

/// What triggered keeping a trace, as `sampling.kept_by` says it.
const ERROR: &str = "error";
const SLOW: &str = "slow";

/// Traces kept at most: past it the oldest are forgotten (their later
/// spans then wait in the ring like any other).
const MAX_KEPT: usize = 65_536;

/// What retroactive sampling holds and has done, updated by the reporter
/// thread after each batch and tick.
#[derive(Debug, Default)]
pub struct RetroFigures {
    ring_spans: AtomicU64,
    ring_bytes: AtomicU64,
    evicted_spans: AtomicU64,
    kept_traces: AtomicU64,
}

impl RetroFigures {
    /// Spans waiting in the ring.
    pub fn ring_spans(&self) -> u64 {
        self.ring_spans.load(Relaxed)
    }

    /// Memory the ring takes, as its bound counts it.
    pub fn ring_bytes(&self) -> u64 {
        self.ring_bytes.load(Relaxed)
    }

    /// Spans that left the ring unsent (bound or age).
    pub fn evicted_spans(&self) -> u64 {
        self.evicted_spans.load(Relaxed)
    }

    /// Traces kept so far (triggered here or asked for).
    pub fn kept_traces(&self) -> u64 {
        self.kept_traces.load(Relaxed)
    }
}

/// Retroactive sampling around an exporter: sends it the baseline and the
/// kept traces, holds the rest in a ring, and tells it (for the collector)
/// which traces this process triggered. `dapple::init` sets it up from
/// [`Config::with_retroactive`](crate::Config::with_retroactive); with
/// [`Reporter::install`](super::Reporter::install) it works around any
/// exporter. The process should record every trace (a sample rate of 1).
pub struct RetroExporter<E> {
    inner: E,
    baseline: u64,
    slow: Option<u64>,
    slow_by_name: HashMap<String, u64>,
    ring: Ring,
    kept: Kept,
    /// Asks taken from the application and the collector.
    asks: Vec<(TraceId, Origin)>,
    /// Traces triggered here since the collector was last told.
    triggered: Vec<(TraceId, &'static str)>,
    /// The spans to send with the next export.
    ship: Vec<SpanRecord>,
    kept_count: u64,
    figures: Arc<RetroFigures>,
}

impl<E: std::fmt::Debug> std::fmt::Debug for RetroExporter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetroExporter")
            .field("inner", &self.inner)
            .field("ring_spans", &self.ring.spans)
            .field("ring_bytes", &self.ring.bytes)
            .field("kept", &self.kept_count)
            .finish()
    }
}

impl<E: Exporter> RetroExporter<E> {
    /// Wraps `inner`, and makes [`keep_trace`](crate::keep_trace) work.
    pub fn new(inner: E, settings: &Retroactive) -> RetroExporter<E> {
        sampling::set_retroactive(true);
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        RetroExporter {
            inner,
            baseline: sampling::threshold(settings.baseline),
            slow: settings.slow.map(nanos),
            slow_by_name: settings
                .slow_by_name
                .iter()
                .map(|(name, threshold)| (name.clone(), nanos(*threshold)))
                .collect(),
            ring: Ring::new(settings.ring_bytes, settings.ring_age),
            kept: Kept::new(settings.ring_age * 2),
            asks: Vec::new(),
            triggered: Vec::new(),
            ship: Vec::new(),
            kept_count: 0,
            figures: Arc::default(),
        }
    }

    /// Its figures, as they change.
    pub fn figures(&self) -> Arc<RetroFigures> {
        self.figures.clone()
    }

    /// What triggers keeping `record`'s trace, if anything does.
    fn trigger(&self, record: &SpanRecord) -> Option<&'static str> {
        if matches!(record.status(), Status::Error(_)) {
            return Some(ERROR);
        }
        if self.slow.is_none() && self.slow_by_name.is_empty() {
            return None;
        }
        let threshold = self
            .slow_by_name
            .get(record.name())
            .copied()
            .or(self.slow)?;
        (record.duration_nanos() > threshold).then_some(SLOW)
    }

    /// Sorts `record`: sent, kept in the ring, or the trigger of its trace.
    fn sort(&mut self, mut record: SpanRecord, now: Instant) {
        let trace = record.trace_id();
        if sampling::decide(trace, self.baseline) || self.kept.contains(trace, now) {
            self.ship.push(record);
            return;
        }
        match self.trigger(&record) {
            Some(reason) => {
                record.push_attribute(KeyValue::new(KEPT_BY, reason));
                self.ship.push(record);
                self.keep(trace, now);
                self.triggered.push((trace, reason));
            }
            None => self.ring.push(record, now),
        }
    }

    /// Keeps `trace`: its spans in the ring go with the next export, and
    /// later ones are sent as they come.
    fn keep(&mut self, trace: TraceId, now: Instant) {
        if self.kept.insert(trace, now) {
            self.kept_count += 1;
            self.ring.take_trace(trace, &mut self.ship);
        }
    }

    /// Acts on the asks made since the last look.
    fn take_asks(&mut self, now: Instant) {
        sampling::take_keep_asks(&mut self.asks);
        let mut asks = std::mem::take(&mut self.asks);
        for (trace, origin) in asks.drain(..) {
            self.keep(trace, now);
            if origin == Origin::Here {
                self.triggered.push((trace, "keep_trace"));
            }
        }
        self.asks = asks;
    }

    /// Sends what is to be sent, and tells the collector what triggered;
    /// whether there was anything.
    fn send(&mut self) -> bool {
        let mut sent = false;
        if !self.ship.is_empty() {
            let spans = std::mem::take(&mut self.ship);
            self.inner.export(SpanBatch::new(spans));
            sent = true;
        }
        if !self.triggered.is_empty() {
            self.inner.keep(&self.triggered);
            self.triggered.clear();
            sent = true;
        }
        sent
    }

    /// Publishes the ring's figures.
    fn publish(&self) {
        let figures = &self.figures;
        figures.ring_spans.store(self.ring.spans as u64, Relaxed);
        figures.ring_bytes.store(self.ring.bytes as u64, Relaxed);
        figures.evicted_spans.store(self.ring.evicted, Relaxed);
        figures.kept_traces.store(self.kept_count, Relaxed);
    }
}

impl<E: Exporter> Exporter for RetroExporter<E> {
    fn export(&mut self, mut batch: SpanBatch) {
        let now = Instant::now();
        self.take_asks(now);
        for record in batch.drain() {
            self.sort(record, now);
        }
        self.ring.expire(now);
        let _ = self.send();
        self.publish();
    }

    fn tick(&mut self) {
        self.inner.tick();
        // The collector's asks arrive while the exporter reads its acks.
        let now = Instant::now();
        self.take_asks(now);
        self.ring.expire(now);
        if self.send() {
            // No batch came, so the reporter will not say it drained.
            self.inner.drained();
        }
        self.publish();
    }

    fn drained(&mut self) {
        self.inner.drained();
    }

    fn dropped(&mut self, spans: u64) {
        self.inner.dropped(spans);
    }

    fn keep(&mut self, traces: &[(TraceId, &'static str)]) {
        self.inner.keep(traces);
    }

    fn is_idle(&self) -> bool {
        // While spans wait in the ring, ticks expire them and read the
        // collector's asks for them.
        self.inner.is_idle() && self.ring.is_empty()
    }

    fn flush(&mut self, deadline: Instant) -> u64 {
        let now = Instant::now();
        self.take_asks(now);
        let _ = self.send();
        self.inner.flush(deadline)
    }
}

/// Spans not sent, oldest first, bounded in bytes and age. A span taken
/// out for its trace leaves an empty slot behind, which goes with age.
///
/// Each trace with spans in the ring is indexed by where its first span
/// is and how many it has there, so that keeping a trace reads its own
/// stretch of the ring, not the whole of it (a scan of cold memory per
/// trigger would cost more than recording).
struct Ring {
    slots: VecDeque<Slot>,
    /// Per trace in the ring: the number of its first slot, and its spans.
    traces: HashMap<TraceId, (u64, usize)>,
    /// Slots popped so far: the number of the front slot.
    popped: u64,
    bytes: usize,
    spans: usize,
    max_bytes: usize,
    max_age: Duration,
    /// Spans that left without being sent.
    evicted: u64,
}

struct Slot {
    trace: TraceId,
    came: Instant,
    bytes: usize,
    record: Option<SpanRecord>,
}

impl Ring {
    fn new(max_bytes: usize, max_age: Duration) -> Ring {
        Ring {
            // As many slots as the bound allows at most, up front: growing
            // by doubling would copy the ring and fault its pages in again.
            // The pages are touched only as the ring fills.
            slots: VecDeque::with_capacity(max_bytes / size_of::<Slot>()),
            traces: HashMap::new(),
            popped: 0,
            bytes: 0,
            spans: 0,
            max_bytes,
            max_age,
            evicted: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Memory a span takes in the ring: its slot, what it holds, and its
    /// share of the index.
    fn slot_bytes(record: &SpanRecord) -> usize {
        size_of::<Slot>() + size_of::<(TraceId, (u64, usize))>() + record.out_of_line_bytes()
    }

    fn push(&mut self, record: SpanRecord, now: Instant) {
        let bytes = Self::slot_bytes(&record);
        let trace = record.trace_id();
        let number = self.popped + self.slots.len() as u64;
        self.traces.entry(trace).or_insert((number, 0)).1 += 1;
        self.bytes += bytes;
        self.spans += 1;
        self.slots.push_back(Slot {
            trace,
            came: now,
            bytes,
            record: Some(record),
        });
        while self.bytes > self.max_bytes {
            self.pop();
        }
    }

    /// Drops the oldest slot.
    fn pop(&mut self) {
        if let Some(slot) = self.slots.pop_front() {
            self.popped += 1;
            self.bytes -= slot.bytes;
            if slot.record.is_some() {
                self.spans -= 1;
                self.evicted += 1;
                self.forget_one(slot.trace);
            }
        }
    }

    /// One span of `trace` left the ring (the oldest of it still there,
    /// when it left by age or bound).
    fn forget_one(&mut self, trace: TraceId) {
        if let Some(entry) = self.traces.get_mut(&trace) {
            entry.1 -= 1;
            if entry.1 == 0 {
                self.traces.remove(&trace);
            } else {
                // Its next span is further on.
                entry.0 = entry.0.max(self.popped);
            }
        }
    }

    /// Drops the slots older than the age bound.
    fn expire(&mut self, now: Instant) {
        while self
            .slots
            .front()
            .is_some_and(|s| now.duration_since(s.came) > self.max_age)
        {
            self.pop();
        }
    }

    /// Moves the spans of `trace` into `into`.
    fn take_trace(&mut self, trace: TraceId, into: &mut Vec<SpanRecord>) {
        let Some((first, count)) = self.traces.remove(&trace) else {
            return;
        };
        let start = first.saturating_sub(self.popped) as usize;
        let mut left = count;
        for slot in self.slots.range_mut(start.min(self.slots.len())..) {
            if left == 0 {
                break;
            }
            if slot.trace == trace
                && let Some(record) = slot.record.take()
            {
                // The slot stays until it ages out: counted as its bare size.
                let freed = slot.bytes - size_of::<Slot>();
                slot.bytes -= freed;
                self.bytes -= freed;
                self.spans -= 1;
                left -= 1;
                into.push(record);
            }
        }
    }
}

/// The traces kept lately, forgotten after a while (longer than a span
/// waits in the ring) or when there are too many.
struct Kept {
    traces: HashMap<TraceId, Instant>,
    order: VecDeque<(TraceId, Instant)>,
    keep_for: Duration,
}

impl Kept {
    fn new(keep_for: Duration) -> Kept {
        Kept {
            traces: HashMap::new(),
            order: VecDeque::new(),
            keep_for,
        }
    }

    fn contains(&mut self, trace: TraceId, now: Instant) -> bool {
        if self.traces.is_empty() {
            return false;
        }
        self.forget_old(now);
        self.traces.contains_key(&trace)
    }

    /// Keeps `trace`; false when it was kept already.
    fn insert(&mut self, trace: TraceId, now: Instant) -> bool {
        self.forget_old(now);
        if self.traces.contains_key(&trace) {
            return false;
        }
        if self.order.len() >= MAX_KEPT
            && let Some((oldest, _)) = self.order.pop_front()
        {
            self.traces.remove(&oldest);
        }
        self.traces.insert(trace, now);
        self.order.push_back((trace, now));
        true
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some(&(trace, at)) = self.order.front() {
            if now.duration_since(at) <= self.keep_for {
                break;
            }
            self.order.pop_front();
            self.traces.remove(&trace);
        }
    }
}
