//! What lives on the application's threads: the buffer of finished spans.

pub(crate) mod attributes;
pub(crate) mod buffer;
