//! The span clock. On the hot path a reading is one TSC read where the
//! kernel itself trusts the TSC (its clocksource is `tsc`), and
//! `Instant::now()` elsewhere. Readings are converted to Unix nanoseconds off
//! the hot path, with a TSC rate calibrated against `Instant` over the
//! process's life.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::padded::Padded;

/// A reading of the span clock, comparable within the process.
pub(crate) type Ticks = u64;

const UNKNOWN: u8 = 0;
const TSC: u8 = 1;
const STD: u8 = 2;

static SOURCE: Padded<AtomicU8> = Padded(AtomicU8::new(UNKNOWN));

/// The moment readings are anchored to, taken once per process.
struct Anchor {
    instant: Instant,
    unix_nanos: u64,
    tsc: u64,
}

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| Anchor {
        tsc: read_tsc(),
        instant: Instant::now(),
        unix_nanos: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    })
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn read_tsc() -> u64 {
    #[allow(unused_unsafe)]
    // SAFETY: `rdtsc` exists on every x86_64 processor and has no
    // preconditions.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn read_tsc() -> u64 {
    0
}

/// Whether the TSC can time spans: the kernel uses it as its clocksource only
/// when it is invariant and synchronised across cores.
fn tsc_is_trusted() -> bool {
    cfg!(all(target_arch = "x86_64", target_os = "linux"))
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|source| source.trim() == "tsc")
}

#[cold]
fn choose_source() -> u8 {
    anchor();
    let source = if tsc_is_trusted() { TSC } else { STD };
    SOURCE.store(source, Ordering::Relaxed);
    source
}

/// Reads the span clock.
#[inline]
pub(crate) fn now() -> Ticks {
    let mut source = SOURCE.load(Ordering::Relaxed);
    if source == UNKNOWN {
        source = choose_source();
    }
    if source == TSC {
        read_tsc()
    } else {
        anchor().instant.elapsed().as_nanos() as u64
    }
}

/// Whether spans are timed with the TSC in this process.
pub fn uses_tsc() -> bool {
    now();
    SOURCE.load(Ordering::Relaxed) == TSC
}

/// Converts readings to Unix nanoseconds. Cheap to copy; take one per batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Converter {
    ticks: Ticks,
    unix_nanos: u64,
    nanos_per_tick: f64,
}

impl Converter {
    /// The Unix time of a reading.
    #[inline]
    pub(crate) fn unix_nanos(&self, ticks: Ticks) -> u64 {
        // Readings of one process lie well within i64 of each other; 64-bit
        // arithmetic keeps this off the slow 128-bit float conversions.
        let offset = ticks.wrapping_sub(self.ticks) as i64 as f64 * self.nanos_per_tick;
        (self.unix_nanos as i64)
            .saturating_add(offset as i64)
            .max(0) as u64
    }

    /// The nanoseconds between two readings.
    #[inline]
    pub(crate) fn nanos(&self, from: Ticks, to: Ticks) -> u64 {
        (to.saturating_sub(from) as f64 * self.nanos_per_tick) as u64
    }
}

/// How long the TSC is watched before its rate is first trusted.
const FIRST_CALIBRATION: Duration = Duration::from_millis(20);
/// How often the rate is refined.
const RECALIBRATION: Duration = Duration::from_secs(1);

/// The current converter. With the TSC, the rate is measured against
/// `Instant` over everything since the anchor, so it sharpens as the process
/// runs; the first call may wait up to 20 ms for a first measurement. Each
/// thread keeps its own copy for a second, so converting timestamps takes
/// the shared lock about once a second per thread, not once per timestamp.
pub(crate) fn converter() -> Converter {
    thread_local! {
        static CACHED: Cell<Option<Converter>> = const { Cell::new(None) };
    }
    let cached = CACHED.try_with(Cell::get).ok().flatten();
    if let Some(converter) = cached
        && converter.nanos(converter.ticks, now()) < RECALIBRATION.as_nanos() as u64
    {
        return converter;
    }
    let converter = shared_converter();
    let _ = CACHED.try_with(|cell| cell.set(Some(converter)));
    converter
}

fn shared_converter() -> Converter {
    let anchor = anchor();
    if !uses_tsc() {
        return Converter {
            ticks: 0,
            unix_nanos: anchor.unix_nanos,
            nanos_per_tick: 1.0,
        };
    }
    static LATEST: Mutex<Option<(Instant, Converter)>> = Mutex::new(None);
    let mut latest = LATEST.lock().unwrap_or_else(|e| e.into_inner());
    match *latest {
        Some((at, converter)) if at.elapsed() < RECALIBRATION => converter,
        _ => {
            let waited = anchor.instant.elapsed();
            if waited < FIRST_CALIBRATION {
                std::thread::sleep(FIRST_CALIBRATION - waited);
            }
            let tsc = read_tsc();
            let instant = Instant::now();
            let since = instant.duration_since(anchor.instant).as_nanos() as u64;
            let converter = Converter {
                ticks: tsc,
                unix_nanos: anchor.unix_nanos + since,
                nanos_per_tick: since as f64 / tsc.saturating_sub(anchor.tsc).max(1) as f64,
            };
            *latest = Some((instant, converter));
            converter
        }
    }
}

/// Nanoseconds since the Unix epoch, on the span clock's timeline.
pub fn now_unix_nanos() -> u64 {
    let anchor = anchor();
    anchor.unix_nanos + anchor.instant.elapsed().as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_convert_to_the_wall_clock_and_to_durations() {
        let start = now();
        std::thread::sleep(Duration::from_millis(30));
        let end = now();
        assert!(end > start);
        let converter = converter();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let converted = converter.unix_nanos(end);
        assert!(
            converted.abs_diff(wall) < 50_000_000,
            "{converted} vs {wall}"
        );
        let slept = converter.nanos(start, end);
        assert!(
            (29_000_000..1_000_000_000).contains(&slept),
            "slept 30 ms, measured {slept} ns"
        );
        let between = converter.unix_nanos(end) - converter.unix_nanos(start);
        assert!(
            between.abs_diff(slept) <= 1,
            "durations and timestamps agree"
        );
    }
}
