//! Receiving spans over the native TCP protocol.

mod tcp;

pub use tcp::serve;
