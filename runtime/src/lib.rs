//! Distributed tracing for Rust, in the line of Google's Dapper and Appdash.
//!
//! Put [`#[traced]`](traced) on a function and every call becomes a span with
//! a name, timing, a parent, the arguments you choose and its errors. The
//! current span follows your code on its own: across `.await`, into tasks
//! spawned with `tokio::spawn` or `spawn_blocking`, and into threads started
//! with `std::thread::spawn`, because `#[traced]` rewrites those calls to
//! carry it.
//!
//! ```
//! use dapple::{MemorySink, traced};
//!
//! #[traced(name = "checkout", args(user))]
//! fn checkout(user: u64, items: &[&str]) -> Result<u32, String> {
//!     let total = price(items)?;
//!     std::thread::spawn(|| audit()).join().unwrap(); // a child span, on another thread
//!     Ok(total)
//! }
//!
//! #[traced(err, name = "price")]
//! fn price(items: &[&str]) -> Result<u32, String> {
//!     if items.is_empty() { Err("empty cart".into()) } else { Ok(items.len() as u32 * 5) }
//! }
//!
//! #[traced(name = "audit")]
//! fn audit() {}
//!
//! // Tests read spans back in-process; applications send them to a collector.
//! let spans = MemorySink::install();
//! checkout(7, &["tea", "milk"]).unwrap();
//!
//! let tree = spans.tree_of("checkout").unwrap();
//! assert_eq!(tree.render(), "checkout\n  price\n  audit\n");
//! assert_eq!(tree.span.attribute("user").and_then(|v| v.as_i64()), Some(7));
//! ```
//!
//! The pieces:
//! - [`Span`]: a span started and ended by hand; [`SpanContext`], [`TraceId`]
//!   and [`SpanId`] identify it across threads and processes.
//! - [`current_context`] and [`with_current_span`] read and amend the current
//!   span; [`events`] records typed events (logs, SQL, HTTP) on it.
//! - [`FutureExt::in_current_span`], [`spawn`], [`bind`] carry the context
//!   where `#[traced]` cannot see the spawn.
//! - [`Sink`] receives finished spans; [`MemorySink`] keeps them.
//! - [`set_sample_rate`] chooses how many traces are recorded.

#[cfg(feature = "export")]
pub mod export;
mod hotpath;
mod integrations;

#[doc(hidden)]
pub mod __private;

// The hot path's modules, reachable as `crate::span` and so on.
use hotpath::{
    args, clock, context, future, id, local, memory, padded, panic, rand, record, sampling, sink,
    span, spawn, value,
};
#[cfg(feature = "tower")]
use integrations::http_future;

pub use integrations::events;
#[cfg(feature = "http")]
pub use integrations::propagation;
#[cfg(feature = "reqwest")]
pub use integrations::reqwest;
#[cfg(feature = "rusqlite")]
pub use integrations::sql;
#[cfg(feature = "tower")]
pub use integrations::{client, server};

pub use args::StaticAttributes;
pub use clock::now_unix_nanos;
pub use context::{ContextGuard, SpanContext, current_context, with_current_span};
pub use dapple_macros::traced;
#[cfg(feature = "export")]
pub use export::{Config, ConfigError, Guard, Protocol, dropped_spans, flush, init, try_init};
pub use future::{FutureExt, InSpan, Instrumented};
pub use id::{IdError, SpanId, TraceId};
pub use local::buffer::SpanBatch;
pub use memory::{MemorySink, SpanTree};
pub use record::{Event, Link, PollTimes, SpanRecord};
pub use sampling::{KEPT_BY, keep_trace, sample_rate, set_sample_rate, within_probability};
pub use sink::{Sink, clear_sink, flush_thread, set_sink};
pub use span::{DetachedEntry, Entered, Span, SpanKind, Status};
pub use spawn::bind;
#[cfg(feature = "tokio")]
pub use spawn::{spawn, spawn_blocking};
pub use value::{KeyValue, Text, ToValue, Value};
