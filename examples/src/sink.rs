//! Where a one-shot example's spans go: to the collector at
//! `DAPPLE_ENDPOINT` when it is set, or else into this process's memory, to
//! be printed as a tree.

use dapple::{Guard, MemorySink, SpanTree, TraceId};

/// The chosen destination; [`Sink::finish`] reports what was recorded.
#[derive(Debug)]
pub enum Sink {
    /// Spans stay in this process.
    Memory(MemorySink),
    /// Spans go to a collector.
    Collector {
        /// Flushes when dropped.
        guard: Guard,
        /// The collector's native address.
        address: String,
    },
}

impl Sink {
    /// Reads `DAPPLE_*`; the error is the message to print.
    pub fn from_env() -> Result<Sink, String> {
        let config = dapple::Config::from_env().map_err(|e| e.to_string())?;
        Ok(if std::env::var_os("DAPPLE_ENDPOINT").is_some() {
            let address = config.endpoint().to_owned();
            Sink::Collector {
                guard: dapple::init(config),
                address,
            }
        } else {
            Sink::Memory(MemorySink::install())
        })
    }

    /// Prints the trace whose root is named `root` with `print` (in
    /// memory), or where to find trace `trace_id` (collector), then flushes.
    pub fn finish(self, root: &str, trace_id: Option<TraceId>, print: impl Fn(&SpanTree)) {
        match (self, trace_id) {
            (Sink::Memory(memory), _) => match memory.tree_of(root) {
                Some(tree) => print(&tree),
                None => eprintln!("no trace was recorded"),
            },
            (Sink::Collector { guard, address }, Some(trace_id)) => {
                println!(
                    "trace {trace_id}, sent to the collector at {address}: see \
                     /api/traces/{trace_id} on its HTTP port (127.0.0.1:7700 by default)"
                );
                drop(guard);
            }
            (Sink::Collector { .. }, None) => {
                println!("the trace was not sampled (DAPPLE_SAMPLE)")
            }
        }
    }
}
