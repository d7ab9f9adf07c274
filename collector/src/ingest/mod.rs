//! Receiving spans: the native TCP protocol and OTLP (gRPC here, HTTP in
//! [`crate::http`]), each converted to the collector's own form in one
//! place ([`convert`] for the native wire form, [`otlp`] for OTLP's).

pub mod convert;
pub mod grpc;
pub mod otlp;
mod tcp;

pub use tcp::serve;
