//! What runs in the background: the reporter thread that takes batches off
//! the application's threads and hands them to an exporter.

mod reporter;
mod tcp;

pub use reporter::{Exporter, Reporter, ReporterConfig, ReporterStats};
pub use tcp::TcpExporter;
