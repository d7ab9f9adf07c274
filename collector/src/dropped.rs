//! What clients said they dropped (their memory bound was reached), per
//! service, since the collector started.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Spans dropped by clients, per service.
#[derive(Debug, Default)]
pub struct DroppedSpans(Mutex<BTreeMap<String, u64>>);

impl DroppedSpans {
    /// Adds what a batch reported.
    pub fn add(&self, service: &str, spans: u64) {
        if spans == 0 {
            return;
        }
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(service.to_owned()).or_default() += spans;
    }

    /// The counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
