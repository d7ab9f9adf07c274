//! What runs in the background: the reporter thread that takes batches off
//! the application's threads and hands them to an exporter.

mod reporter;

pub use reporter::{Exporter, Reporter, ReporterConfig, ReporterStats};
