//! A thread-local random generator for ids and sampling: no atomics, no locks.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A seed that differs per thread and per process (std's hasher keys are random).
#[cold]
fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(crate::clock::now_unix_nanos());
    std::hash::Hash::hash(&std::thread::current().id(), &mut hasher);
    hasher.finish() | 1
}

/// The next number of this thread's wyrand sequence.
#[inline]
pub(crate) fn next_u64() -> u64 {
    STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_differ_between_threads() {
        let a = std::thread::spawn(super::next_u64).join().unwrap();
        let b = std::thread::spawn(super::next_u64).join().unwrap();
        assert_ne!(a, b);
    }
}
