//! Keeps a shared static on a cache line of its own, so that threads writing
//! one (a lock) do not slow threads reading another (a flag read per span).

use std::ops::Deref;

/// `T` aligned to two cache lines (adjacent-line prefetch pairs them).
#[repr(align(128))]
#[derive(Debug)]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> Deref for Padded<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}
