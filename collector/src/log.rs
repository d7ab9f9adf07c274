//! The collector's own messages, on stderr, filtered by `--log-level`.

use std::fmt::Arguments;
use std::sync::atomic::{AtomicU8, Ordering};

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
