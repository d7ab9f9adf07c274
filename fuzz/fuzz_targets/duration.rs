//! `parse_duration`, which reads the query API's `window`,
//! `min_duration` and `max_duration`, the collector's flags and the runtime's variables.
//!
//! Checks: no panic (no overflow, no slicing inside a character); a
//! duration read is at most `u64::MAX` nanoseconds and reads back the same
//! when written in nanoseconds.

#![no_main]

use dapple::export::parse_duration;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(duration) = parse_duration(text) {
        let nanos = u64::try_from(duration.as_nanos()).expect("at most u64::MAX nanoseconds");
        assert_eq!(parse_duration(&format!("{nanos}ns")), Ok(duration));
    }
});
