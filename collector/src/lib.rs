//! Dapple's collector: receives spans over the native TCP protocol and over
//! HTTP, keeps them in a store, and answers queries about them.
//!
//! The pieces, one module each: [`store`] (where spans live), [`ingest`]
//! (the TCP protocol), [`http`] (the query API and HTTP ingest), and
//! [`server`] (which starts them together).

pub mod cli;
pub mod demo;
pub mod dropped;
pub mod duration;
pub mod http;
pub mod ingest;
pub mod log;
pub mod server;
pub mod store;
