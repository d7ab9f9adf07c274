//! What runs in the background: the reporter thread that takes batches off
//! the application's threads and hands them to an exporter, the native TCP
//! exporter, and `dapple::init`, which starts both. With the `tls` feature
//! (on by default) the exporters speak TLS to a collector whose certificate
//! a given CA signed.

mod encode;
mod init;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "otlp")]
mod otlp_encode;
#[cfg(feature = "otlp-grpc")]
mod otlp_grpc;
mod parse;
mod reporter;
mod retro;
mod stream;
mod tcp;
mod tls;
#[cfg(all(test, feature = "tls"))]
mod tls_testing;
mod warn;
mod wire;

pub use init::{Config, ConfigError, Guard, Protocol, dropped_spans, flush, init, try_init};
#[cfg(feature = "otlp")]
pub use otlp::OtlpExporter;
pub use parse::{parse_duration, parse_probability};
pub use reporter::{Exporter, Reporter, ReporterConfig, ReporterStats};
pub use retro::{RetroExporter, RetroFigures, Retroactive};
/// The rustls this crate was built with, for [`TcpExporter::with_tls`].
#[cfg(feature = "tls")]
pub use rustls;
pub use tcp::TcpExporter;
