//! Retroactive sampling's relay: a client that triggered keeping a trace
//! (an error, a slow span, `keep_trace()`) says so in a `Keep` frame, and
//! the collector passes it on to every other native connection, whose
//! processes then send what their rings still hold of the trace. Collectors
//! that share a store (ClickHouse) also pass asks to each other through it
//! ([`exchange`]).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dapple_proto as proto;
use tokio::sync::broadcast;

use crate::store::StoreError;

/// How often a collector looks for other collectors' asks.
const EXCHANGE_INTERVAL: Duration = Duration::from_millis(250);

/// How far back each look reaches again, for asks stamped by a clock
/// behind this one or written late.
const EXCHANGE_OVERLAP_NANOS: u64 = 5_000_000_000;

/// The relay's number for asks that came from other collectors: never a
/// connection's, so every connection is told, and never shared again.
const FROM_ELSEWHERE: u64 = 0;

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

/// An ask to keep a trace, shared between collectors.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedKeep {
    /// When it was shared, in nanoseconds since the Unix epoch.
    pub at_ns: u64,
    /// The collector that shared it.
    pub collector: u64,
    /// The trace and why.
    pub trace: proto::KeptTrace,
}

/// Where collectors that share a store pass keep asks to each other.
pub trait KeepExchange: Send + Sync + std::fmt::Debug + 'static {
    /// Shares asks that this collector's clients made.
    fn share(&self, asks: &[SharedKeep]) -> Result<(), StoreError>;

    /// The asks collectors other than `collector` shared at or after
    /// `since_ns`, oldest first.
    fn shared_since(&self, collector: u64, since_ns: u64) -> Result<Vec<SharedKeep>, StoreError>;
}

/// Shares the asks of this collector's clients through `exchange`, and
/// passes other collectors' asks to this collector's clients, for ever.
pub async fn exchange(relay: Arc<KeepRelay>, exchange: Arc<dyn KeepExchange>) {
    let me = loop {
        let id = rand_id();
        if id != FROM_ELSEWHERE {
            break id;
        }
    };
    let mut asks = relay.sender.subscribe();
    let mut waiting: Vec<SharedKeep> = Vec::new();
    let mut cursor = dapple::now_unix_nanos();
    let mut seen = Seen::default();
    let mut tick = tokio::time::interval(EXCHANGE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ask = asks.recv() => match ask {
                Ok(ask) if ask.from != FROM_ELSEWHERE && waiting.len() < CAPACITY => {
                    let at_ns = dapple::now_unix_nanos();
                    waiting.extend(ask.keep.traces.iter().map(|trace| SharedKeep {
                        at_ns,
                        collector: me,
                        trace: trace.clone(),
                    }));
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                let shared = std::mem::take(&mut waiting);
                let since = cursor.saturating_sub(EXCHANGE_OVERLAP_NANOS);
                let store = exchange.clone();
                let looked = tokio::task::spawn_blocking(move || {
                    if !shared.is_empty() {
                        store.share(&shared)?;
                    }
                    store.shared_since(me, since)
                })
                .await;
                let found = match looked {
                    Ok(Ok(found)) => found,
                    Ok(Err(e)) => {
                        EXCHANGE_FAILED.warn(format_args!(
                            "passing keep asks between collectors: {}",
                            crate::log::Chain(&e)
                        ));
                        continue;
                    }
                    Err(_) => continue,
                };
                let mut traces = Vec::new();
                for ask in found {
                    cursor = cursor.max(ask.at_ns);
                    if seen.first_time(&ask) {
                        traces.push(ask.trace);
                    }
                }
                if !traces.is_empty() {
                    relay.publish(FROM_ELSEWHERE, proto::Keep { traces });
                }
            }
        }
    }
}

static EXCHANGE_FAILED: crate::log::Throttled =
    crate::log::Throttled::new(std::time::Duration::from_secs(10));

/// A random collector number.
fn rand_id() -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&dapple::TraceId::random().to_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

/// The asks passed on lately, so that the overlap of two looks passes none
/// twice.
#[derive(Default)]
struct Seen {
    asks: HashSet<(u64, u64, Vec<u8>)>,
    order: VecDeque<(u64, u64, Vec<u8>)>,
}

impl Seen {
    /// Whether `ask` was not seen before (and remembers it).
    fn first_time(&mut self, ask: &SharedKeep) -> bool {
        let key = (ask.at_ns, ask.collector, ask.trace.trace_id.clone());
        // Asks older than the overlap cannot come again.
        while self
            .order
            .front()
            .is_some_and(|old| old.0 + 2 * EXCHANGE_OVERLAP_NANOS < ask.at_ns)
            || self.order.len() > 16 * CAPACITY
        {
            if let Some(old) = self.order.pop_front() {
                self.asks.remove(&old);
            }
        }
        if !self.asks.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        true
    }
}
