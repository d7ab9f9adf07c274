//! Dapple's collector: receives spans over the native TCP protocol and over
//! HTTP, keeps them in a store, and answers queries about them.
//!
//! The layers point one way: [`ingest`] turns what arrives on the wire into
//! the collector's own [`span::Span`]s; [`store`] keeps them behind one
//! trait; [`query`] works out searches, aggregates and dependencies over
//! that trait; [`http`] only reads parameters and writes serde types, for
//! the query API and HTTP ingest; [`server`] starts them together.

pub mod access;
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

#[cfg(not(all(feature = "jemalloc", not(target_env = "msvc"))))]
pub use std::alloc::System as Allocator;
/// The allocator `dapple-collector` runs on: jemalloc with the default
/// feature `jemalloc` (it spends less CPU per stored span than glibc's
/// malloc, on spans that are freed by other threads than made them), the
/// system's otherwise. A binary that serves as the collector installs it
/// with `#[global_allocator] static A: dapple_collector::Allocator =
/// dapple_collector::Allocator;`.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
pub use tikv_jemallocator::Jemalloc as Allocator;
