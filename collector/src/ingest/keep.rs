//! Retroactive sampling's relay: a client that triggered keeping a trace
//! (an error, a slow span, `keep_trace()`) says so in a `Keep` frame, and
//! the collector passes it on to every other native connection, whose
//! processes then send what their rings still hold of the trace.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dapple_proto as proto;
use tokio::sync::broadcast;

/// Asks in flight to the connections at most: a connection that falls
/// further behind misses the oldest (they matter only while rings still
/// hold the traces).
const CAPACITY: usize = 4096;

/// Passes keep asks between native connections.
#[derive(Debug)]
pub struct KeepRelay {
    sender: broadcast::Sender<Arc<Relayed>>,
    next_connection: AtomicU64,
    relayed: AtomicU64,
}

/// One ask, and the connection it came from (not told again).
#[derive(Debug)]
pub struct Relayed {
    /// The connection it came from.
    pub from: u64,
    /// The traces.
    pub keep: proto::Keep,
}

impl Default for KeepRelay {
    fn default() -> KeepRelay {
        KeepRelay {
            sender: broadcast::channel(CAPACITY).0,
            next_connection: AtomicU64::new(1),
            relayed: AtomicU64::new(0),
        }
    }
}

impl KeepRelay {
    /// A number for a new connection, and the asks of the others.
    pub fn join(&self) -> (u64, broadcast::Receiver<Arc<Relayed>>) {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        (id, self.sender.subscribe())
    }

    /// Passes `keep`, from connection `from`, to the other connections.
    pub fn publish(&self, from: u64, keep: proto::Keep) {
        self.relayed
            .fetch_add(keep.traces.len() as u64, Ordering::Relaxed);
        // No receiver means no other connection: nobody to tell.
        let _ = self.sender.send(Arc::new(Relayed { from, keep }));
    }

    /// Traces asked to be kept so far.
    pub fn relayed_traces(&self) -> u64 {
        self.relayed.load(Ordering::Relaxed)
    }
}
