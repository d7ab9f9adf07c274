//! Head sampling: the decision is taken once, at the root, and travels with
//! the context to every child.

use std::sync::atomic::{AtomicU64, Ordering};

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

/// Whether a new trace with this id is sampled under `threshold`.
#[inline]
pub(crate) fn decide(trace_id: TraceId, threshold: u64) -> bool {
    threshold == ALWAYS || (trace_id.to_u128() as u64) < threshold
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
