//! Head sampling: the decision is taken once, at the root, and travels with
//! the context to every child. And what retroactive sampling needs from the
//! application's threads: [`keep_trace`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::id::TraceId;
use crate::padded::Padded;

/// Roots are sampled when the low half of their trace id is below this.
static THRESHOLD: Padded<AtomicU64> = Padded(AtomicU64::new(ALWAYS));

/// The threshold that samples everything.
pub(crate) const ALWAYS: u64 = u64::MAX;

/// Sets the probability, from 0.0 to 1.0, that a new trace is recorded.
/// Values outside the range are clamped. The default is 1.0.
pub fn set_sample_rate(probability: f64) {
    THRESHOLD.store(threshold(probability), Ordering::Relaxed);
}

/// The probability that a new trace is recorded.
pub fn sample_rate() -> f64 {
    match THRESHOLD.load(Ordering::Relaxed) {
        ALWAYS => 1.0,
        t => t as f64 / u64::MAX as f64,
    }
}

/// The threshold for a probability.
pub const fn threshold(probability: f64) -> u64 {
    if probability.is_nan() || probability <= 0.0 {
        0
    } else if probability >= 1.0 {
        ALWAYS
    } else {
        (probability * u64::MAX as f64) as u64
    }
}

#[inline]
pub(crate) fn global_threshold() -> u64 {
    THRESHOLD.load(Ordering::Relaxed)
}

/// Whether the trace `trace_id` falls within `probability` by head
/// sampling's rule (the low half of its id below the probability's share):
/// every process, and every collector, draws the same for one trace.
pub fn within_probability(trace_id: TraceId, probability: f64) -> bool {
    decide(trace_id, threshold(probability))
}

/// Whether a new trace with this id is sampled under `threshold`.
#[inline]
pub(crate) fn decide(trace_id: TraceId, threshold: u64) -> bool {
    threshold == ALWAYS || (trace_id.to_u128() as u64) < threshold
}

/// Whether retroactive sampling is on (`dapple::init` turns it on).
static RETROACTIVE: Padded<AtomicBool> = Padded(AtomicBool::new(false));

/// Traces to keep, asked for since the reporter last looked, with whether
/// the ask came from this process (then other processes are told too).
static KEEP_ASKED: Mutex<Vec<(TraceId, Origin)>> = Mutex::new(Vec::new());

/// Whether [`KEEP_ASKED`] may hold something: the reporter looks at the
/// atomic, not the lock, on every wake-up.
static KEEP_PENDING: AtomicBool = AtomicBool::new(false);

/// Asks for a trace to keep waiting at most: past it asks are dropped (the
/// reporter takes them every few milliseconds while busy).
const MAX_KEEP_ASKED: usize = 4096;

/// Where an ask to keep a trace came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// This process: [`keep_trace`].
    Here,
    /// Another process, through the collector (only the exporter hears of
    /// those).
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    Elsewhere,
}

/// Keeps the current trace whole under retroactive sampling: this process
/// ships the spans of it that it still holds and every later one, and tells
/// the collector, which tells the other processes that recorded spans of
/// it. Does nothing outside a span or without retroactive sampling (where
/// a recorded trace is sent whole anyway).
///
/// ```
/// #[dapple::traced]
/// fn charge(amount: u64) {
///     if amount > 10_000 {
///         // Worth a look, error or not.
///         dapple::keep_trace();
///     }
/// }
/// # charge(20_000);
/// ```
pub fn keep_trace() {
    if !RETROACTIVE.load(Ordering::Relaxed) {
        return;
    }
    if let Some(context) = crate::context::current_context() {
        crate::context::with_current_span(|span| {
            span.set_attribute(KEPT_BY, "keep_trace");
        });
        ask_to_keep(context.trace_id(), Origin::Here);
    }
}

/// The attribute that says, on the span that triggered it, why a trace was
/// kept under retroactive sampling.
pub const KEPT_BY: &str = "sampling.kept_by";

/// Turns retroactive sampling's asks on or off.
#[cfg_attr(not(feature = "export"), allow(dead_code))]
pub(crate) fn set_retroactive(on: bool) {
    RETROACTIVE.store(on, Ordering::Relaxed);
}

/// Asks the reporter to keep `trace`.
pub(crate) fn ask_to_keep(trace: TraceId, origin: Origin) {
    let mut asked = KEEP_ASKED.lock().unwrap_or_else(|e| e.into_inner());
    if asked.len() < MAX_KEEP_ASKED {
        asked.push((trace, origin));
        KEEP_PENDING.store(true, Ordering::Release);
    }
}

/// Moves the asks made since the last call into `into`.
#[cfg_attr(not(feature = "export"), allow(dead_code))]
pub(crate) fn take_keep_asks(into: &mut Vec<(TraceId, Origin)>) {
    if !KEEP_PENDING.swap(false, Ordering::Acquire) {
        return;
    }
    let mut asked = KEEP_ASKED.lock().unwrap_or_else(|e| e.into_inner());
    into.append(&mut asked);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_cover_the_range() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(-1.0), 0);
        assert_eq!(threshold(f64::NAN), 0);
        assert_eq!(threshold(1.0), ALWAYS);
        assert_eq!(threshold(7.0), ALWAYS);
        let half = threshold(0.5);
        assert!(half > u64::MAX / 2 - 4096 && half < u64::MAX / 2 + 4096);
    }

    #[test]
    fn a_quarter_rate_samples_about_a_quarter() {
        let t = threshold(0.25);
        let sampled = (0..20_000).filter(|_| decide(TraceId::random(), t)).count();
        assert!((4_000..6_000).contains(&sampled), "{sampled}");
    }
}
