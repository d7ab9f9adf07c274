//! The span clock: cheap monotonic ticks on the hot path, converted to Unix
//! nanoseconds off it.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The moment all ticks count from, read once per process.
struct Anchor {
    instant: Instant,
    unix_nanos: u64,
}

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| Anchor {
        instant: Instant::now(),
        unix_nanos: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    })
}

/// A reading of the span clock, comparable within the process.
pub(crate) type Ticks = u64;

/// Reads the span clock.
#[inline]
pub(crate) fn now() -> Ticks {
    anchor().instant.elapsed().as_nanos() as u64
}

/// Converts a reading of the span clock to nanoseconds since the Unix epoch.
#[inline]
pub(crate) fn to_unix_nanos(ticks: Ticks) -> u64 {
    anchor().unix_nanos + ticks
}

/// Nanoseconds since the Unix epoch, on the span clock.
pub fn now_unix_nanos() -> u64 {
    to_unix_nanos(now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_never_go_backwards_and_match_the_wall_clock() {
        let a = now();
        let b = now();
        assert!(b >= a);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let ours = now_unix_nanos();
        assert!(ours.abs_diff(wall) < 1_000_000_000, "{ours} vs {wall}");
    }
}
