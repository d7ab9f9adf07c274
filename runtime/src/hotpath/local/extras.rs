//! Recycled boxes for the rarer parts of spans (attributes other than
//! arguments in place, events, links, status): a span that needs one takes
//! an empty box from its thread's cache, and a delivered batch gives its
//! boxes back, so a span with attributes allocates nothing in steady state.

use std::cell::RefCell;
use std::sync::Mutex;

use crate::padded::Padded;
use crate::span::{Extras, Status};

/// Room for a few attributes without growing.
const ATTRIBUTES: usize = 8;
/// Text of long arguments a recycled box may keep room for.
const TEXT_BYTES: usize = 4096;
/// Boxes a thread takes from the shared pool at once.
const REFILL: usize = 64;
/// Boxes the shared pool keeps.
const POOL_LIMIT: usize = 16 * 1024;

// The boxes themselves are what is recycled, so they stay boxed.
#[allow(clippy::vec_box)]
static POOL: Padded<Mutex<Vec<Box<Extras>>>> = Padded(Mutex::new(Vec::new()));

thread_local! {
    #[allow(clippy::vec_box)]
    static CACHE: RefCell<Vec<Box<Extras>>> = const { RefCell::new(Vec::new()) };
}

/// An empty box with room for a few attributes.
pub(crate) fn take() -> Box<Extras> {
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
        .unwrap_or_else(|| {
            Box::new(Extras {
                attributes: Vec::with_capacity(ATTRIBUTES),
                ..Extras::default()
            })
        })
}

/// Takes back the boxes of delivered spans, emptied. Boxes whose lists
/// grew large are freed rather than kept. Allocates nothing.
pub(crate) fn give_back(boxes: impl Iterator<Item = Box<Extras>>) {
    let mut boxes = boxes.peekable();
    if boxes.peek().is_none() {
        return;
    }
    let Ok(mut pool) = POOL.lock() else {
        return;
    };
    for mut extras in boxes {
        let reusable = extras.attributes.capacity() == ATTRIBUTES
            && extras.events.capacity() <= ATTRIBUTES
            && extras.links.capacity() <= ATTRIBUTES
            && extras.long_args.capacity() <= ATTRIBUTES
            && extras.text.capacity() <= TEXT_BYTES;
        if !reusable || pool.len() >= POOL_LIMIT {
            continue;
        }
        extras.attributes.clear();
        extras.events.clear();
        extras.links.clear();
        extras.long_args.clear();
        extras.text.clear();
        extras.status = Status::Unset;
        pool.push(extras);
    }
}
