//! Dapple's collector: receives spans over the native TCP protocol and over
//! HTTP, keeps them in a store, and answers queries about them.
//!
//! The layers point one way: [`ingest`] turns what arrives on the wire into
//! the collector's own [`span::Span`]s; [`store`] keeps them behind one
//! trait; [`query`] works out searches, aggregates and dependencies over
//! that trait; [`http`] only reads parameters and writes serde types, for
//! the query API and HTTP ingest; [`server`] starts them together.

pub mod access;
pub mod allocator;
pub mod cli;
pub mod demo;
pub mod dropped;
pub mod forward;
pub mod http;
pub mod ingest;
pub mod log;
pub mod net;
pub mod query;
pub mod server;
pub mod span;
pub mod store;
pub mod tail;
