//! What runs in the background: the reporter thread that takes batches off
//! the application's threads and hands them to an exporter, the native TCP
//! exporter, and `dapple::init`, which starts both.

mod encode;
mod init;
mod reporter;
mod tcp;

pub use init::{Config, ConfigError, Guard, dropped_spans, flush, init};
pub use reporter::{Exporter, Reporter, ReporterConfig, ReporterStats};
pub use tcp::TcpExporter;
