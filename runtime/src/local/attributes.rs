//! Recycled attribute lists: a span that records arguments takes an empty
//! list from its thread's cache, and a delivered batch gives its lists back,
//! so recording attributes allocates nothing in steady state.

use std::cell::RefCell;
use std::sync::Mutex;

use crate::padded::Padded;
use crate::value::KeyValue;

/// Room for a few attributes without growing.
const LIST_CAPACITY: usize = 4;
/// Lists a thread takes from the shared pool at once.
const REFILL: usize = 64;
/// Lists the shared pool keeps.
const POOL_LIMIT: usize = 16 * 1024;

static POOL: Padded<Mutex<Vec<Vec<KeyValue>>>> = Padded(Mutex::new(Vec::new()));

thread_local! {
    static CACHE: RefCell<Vec<Vec<KeyValue>>> = const { RefCell::new(Vec::new()) };
}

/// An empty list with room for a few attributes.
pub(crate) fn take() -> Vec<KeyValue> {
    CACHE
        .try_with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.is_empty()
                && let Ok(mut pool) = POOL.lock()
            {
                let keep = pool.len().saturating_sub(REFILL);
                cache.extend(pool.drain(keep..));
            }
            cache.pop()
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(LIST_CAPACITY))
}

/// Takes back the lists of delivered spans, emptied.
pub(crate) fn give_back(lists: impl Iterator<Item = Vec<KeyValue>>) {
    let mut emptied: Vec<Vec<KeyValue>> = lists
        .filter(|list| list.capacity() == LIST_CAPACITY)
        .map(|mut list| {
            list.clear();
            list
        })
        .collect();
    if emptied.is_empty() {
        return;
    }
    if let Ok(mut pool) = POOL.lock() {
        let room = POOL_LIMIT.saturating_sub(pool.len());
        emptied.truncate(room);
        pool.append(&mut emptied);
    }
}
