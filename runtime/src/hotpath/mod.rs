//! The hot path: what a traced call touches on the application's thread.
//! Span handles, the current-span stack, finished-span records, the
//! thread-local buffer, ids, the clock, attribute values and sampling. It
//! needs nothing but `std` and `pin-project`.

pub(crate) mod args;
pub(crate) mod clock;
pub(crate) mod context;
pub(crate) mod future;
pub(crate) mod id;
pub(crate) mod local;
pub(crate) mod memory;
pub(crate) mod padded;
pub(crate) mod panic;
pub(crate) mod rand;
pub(crate) mod record;
pub(crate) mod sampling;
pub(crate) mod sink;
pub(crate) mod span;
pub(crate) mod spawn;
pub(crate) mod value;
