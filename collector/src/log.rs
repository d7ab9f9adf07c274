//! The collector's own messages, on stderr, filtered by `--log-level`.

use std::fmt::Arguments;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// How much the collector says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    /// Only failures.
    Error = 0,
    /// Also refused connections and bad frames.
    Warn = 1,
    /// Also starts and stops.
    Info = 2,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the level.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

fn say(level: Level, message: Arguments<'_>) {
    if level as u8 <= LEVEL.load(Ordering::Relaxed) {
        eprintln!(
            "dapple-collector {}: {message}",
            format!("{level:?}").to_lowercase()
        );
    }
}

/// A failure.
pub fn error(message: Arguments<'_>) {
    say(Level::Error, message);
}

/// Something a client did wrong.
pub fn warn(message: Arguments<'_>) {
    say(Level::Warn, message);
}

/// Progress.
pub fn info(message: Arguments<'_>) {
    say(Level::Info, message);
}

/// Warnings of one kind, at most one line per period: a peer hammering the
/// collector with refused connections costs a line a second, not a line
/// per attempt. The line after a quiet spell says how many were left out.
#[derive(Debug)]
pub struct Throttled {
    period: Duration,
    state: Mutex<Option<(Instant, u64)>>,
}

impl Throttled {
    /// At most one line per `period`.
    pub const fn new(period: Duration) -> Throttled {
        Throttled {
            period,
            state: Mutex::new(None),
        }
    }

    /// A warning, said unless one was said less than a period ago.
    pub fn warn(&self, message: Arguments<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match &mut *state {
            Some((last, left_out)) if now.duration_since(*last) < self.period => {
                *left_out = left_out.saturating_add(1);
            }
            _ => {
                let left_out = state.map_or(0, |(_, n)| n);
                *state = Some((now, 0));
                drop(state);
                if left_out > 0 {
                    warn(format_args!("{message} (and {left_out} more like it)"));
                } else {
                    warn(message);
                }
            }
        }
    }
}

/// An error with its causes, `outer: inner: innermost`, for the log.
#[derive(Debug)]
pub struct Chain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
