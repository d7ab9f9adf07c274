//! What clients said they dropped (their memory bound was reached), per
//! service and per client identity, since the collector started. A client
//! can only add to its own counts: another client's figures for the same
//! service stay as that client reported them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::access::Identity;

/// Counts kept at most; past that, reports for new (service, client) pairs
/// are left out, so a client inventing service names cannot grow the map
/// without bound.
const MAX_COUNTS: usize = 10_000;

/// Spans dropped by clients, per service and client.
#[derive(Debug, Default)]
pub struct DroppedSpans(Mutex<BTreeMap<(String, Identity), u64>>);

impl DroppedSpans {
    /// Adds what a batch from `client` reported; counts saturate.
    pub fn add(&self, service: &str, client: &Identity, spans: u64) {
        if spans == 0 {
            return;
        }
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = (service.to_owned(), client.clone());
        if counts.len() >= MAX_COUNTS && !counts.contains_key(&key) {
            return;
        }
        let count = counts.entry(key).or_default();
        *count = count.saturating_add(spans);
    }

    /// The counts so far: service, then client.
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut snapshot: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((service, client), count) in counts.iter() {
            snapshot
                .entry(service.clone())
                .or_default()
                .insert(client.0.clone(), *count);
        }
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_and_stay_with_the_client_that_reported_them() {
        let dropped = DroppedSpans::default();
        let (a, b) = (Identity("a".into()), Identity("b".into()));
        dropped.add("checkout", &a, u64::MAX - 1);
        dropped.add("checkout", &a, 5);
        dropped.add("checkout", &b, 3);
        let snapshot = dropped.snapshot();
        assert_eq!(snapshot["checkout"]["a"], u64::MAX);
        assert_eq!(snapshot["checkout"]["b"], 3);
    }
}
