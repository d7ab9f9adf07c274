//! What the exporters say on stderr about faults that last (a refused
//! token, an untrusted certificate): at most once a minute, since they
//! retry every few seconds and a line per retry would bury the
//! application's own output.

use std::fmt;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(60);

/// One exporter's warnings, said at most once per [`INTERVAL`].
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    last: Option<Instant>,
    /// What was said last, for tests to read.
    #[cfg(test)]
    pub(crate) said: Option<String>,
}

impl Warnings {
    /// Prints `dapple: <message>` unless something was printed less than a
    /// minute ago; whether it was printed.
    pub(crate) fn warn(&mut self, message: fmt::Arguments<'_>) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < INTERVAL)
        {
            return false;
        }
        self.last = Some(now);
        #[cfg(test)]
        {
            self.said = Some(message.to_string());
        }
        eprintln!("dapple: {message}");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_fault_is_reported_once_a_minute() {
        let mut warnings = Warnings::default();
        assert!(warnings.warn(format_args!("refused")));
        assert!(!warnings.warn(format_args!("refused")));
        warnings.last = Instant::now().checked_sub(INTERVAL);
        assert!(warnings.warn(format_args!("refused")));
    }
}
