//! Receiving spans: the native TCP protocol, and the one conversion from
//! the wire form of a span to the collector's own.

pub mod convert;
mod tcp;

pub use tcp::serve;
