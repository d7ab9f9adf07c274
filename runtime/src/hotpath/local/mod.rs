//! What lives on the application's threads: the buffer of finished spans
//! and the recycled boxes of their rarer parts.

pub(crate) mod buffer;
pub(crate) mod extras;
