//! What runs in the background: the reporter thread that takes batches off
//! the application's threads and hands them to an exporter, the native TCP
//! exporter, and `dapple::init`, which starts both.

mod encode;
mod init;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "otlp")]
mod otlp_encode;
#[cfg(feature = "otlp-grpc")]
mod otlp_grpc;
mod reporter;
mod tcp;
mod wire;

pub use init::{Config, ConfigError, Guard, Protocol, dropped_spans, flush, init};
#[cfg(feature = "otlp")]
pub use otlp::OtlpExporter;
pub use reporter::{Exporter, Reporter, ReporterConfig, ReporterStats};
pub use tcp::TcpExporter;
