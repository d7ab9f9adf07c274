//! Where Dapple meets other libraries: typed events, HTTP header
//! propagation, tower server and client layers, reqwest, rusqlite. Each
//! needs its feature, except the typed events, which need nothing.

#[cfg(feature = "tower")]
pub mod client;
pub mod events;
#[cfg(feature = "tower")]
pub(crate) mod http_future;
#[cfg(feature = "http")]
pub mod propagation;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tower")]
pub mod server;
#[cfg(feature = "rusqlite")]
pub mod sql;
