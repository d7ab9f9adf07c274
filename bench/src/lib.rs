//! Dapple, fastrace and `tracing` (+ OpenTelemetry) on the same workloads, so
//! that one run compares them on one machine.
//!
//! Each workload is one root span with [`LEAVES`] traced leaf calls. The
//! criterion benches (`benches/spans.rs`) time the application thread; the
//! `figures` binary also measures the CPU time of the whole process per span
//! delivered to each library's sink, background threads included, and checks
//! that none was dropped.

pub mod cpu;
pub mod dapple_side;
pub mod fastrace_side;
pub mod tracing_side;

use std::time::{Duration, Instant};

/// Leaf calls under each root.
pub const LEAVES: usize = 100;

/// Spans one sampled root records: itself and its leaves.
pub const SPANS_PER_ROOT: u64 = LEAVES as u64 + 1;

/// A tracing library set up with a sink that discards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Library {
    /// Dapple's `#[traced]`.
    Dapple,
    /// fastrace's `#[trace]`, feature `enable`.
    Fastrace,
    /// `tracing`'s `#[instrument]` with the registry alone.
    Tracing,
    /// `tracing` with tracing-opentelemetry and the SDK's batch processor.
    TracingOtel,
}

impl Library {
    /// Every library, Dapple first.
    pub const ALL: [Library; 4] = [
        Library::Dapple,
        Library::Fastrace,
        Library::Tracing,
        Library::TracingOtel,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Library::Dapple => "dapple",
            Library::Fastrace => "fastrace",
            Library::Tracing => "tracing (registry)",
            Library::TracingOtel => "tracing+otel",
        }
    }
}

/// What one measured iteration does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// (a) a root and 100 nested sync leaf calls.
    Sync,
    /// (b) a root and 100 awaited async leaf calls on a current-thread runtime.
    Async,
    /// (c) (a) on two threads at once.
    TwoThreads,
    /// (d) (a) with the root unsampled.
    Unsampled,
    /// (e) (a) with two arguments recorded on each leaf.
    Args,
}

impl Workload {
    /// Every workload, in the order.
    pub const ALL: [Workload; 5] = [
        Workload::Sync,
        Workload::Async,
        Workload::TwoThreads,
        Workload::Unsampled,
        Workload::Args,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Sync => "a sync",
            Workload::Async => "b async",
            Workload::TwoThreads => "c two threads",
            Workload::Unsampled => "d unsampled",
            Workload::Args => "e two args",
        }
    }

    /// Spans each root delivers.
    pub fn delivered_per_root(self) -> u64 {
        match self {
            Workload::Unsampled => 0,
            _ => SPANS_PER_ROOT,
        }
    }
}

/// One library set up to run the workloads.
#[derive(Debug)]
pub struct Runner {
    library: Library,
    subscriber: Option<tracing_side::Subscriber>,
    unsampled: Option<tracing_side::Subscriber>,
    runtime: tokio::runtime::Runtime,
}

impl Runner {
    /// Sets the library up with its discarding sink.
    pub fn new(library: Library) -> Runner {
        let (subscriber, unsampled) = match library {
            Library::Dapple => {
                dapple_side::install();
                (None, None)
            }
            Library::Fastrace => {
                fastrace_side::install();
                (None, None)
            }
            Library::Tracing => (Some(tracing_side::Subscriber::registry()), None),
            Library::TracingOtel => (
                Some(tracing_side::Subscriber::opentelemetry(true)),
                Some(tracing_side::Subscriber::opentelemetry(false)),
            ),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        Runner {
            library,
            subscriber,
            unsampled,
            runtime,
        }
    }

    /// The library.
    pub fn library(&self) -> Library {
        self.library
    }

    /// Whether the library has this workload: the `tracing` registry alone
    /// has no sampling, so no unsampled root.
    pub fn supports(&self, workload: Workload) -> bool {
        !(self.library == Library::Tracing && workload == Workload::Unsampled)
    }

    /// Runs `f` with this library's subscriber as the thread's default
    /// (`tracing` only; the others are global).
    pub fn with_default<R>(&self, workload: Workload, f: impl FnOnce() -> R) -> R {
        let subscriber = match workload {
            Workload::Unsampled => self.unsampled.as_ref(),
            _ => self.subscriber.as_ref(),
        };
        match subscriber {
            Some(s) => tracing::dispatcher::with_default(&s.dispatch, f),
            None => f(),
        }
    }

    /// Runs one root of `workload` on this thread (for [`Workload::TwoThreads`],
    /// the same as [`Workload::Sync`]: the caller starts the threads). Call it
    /// inside [`Runner::with_default`].
    #[inline]
    pub fn run_once(&self, workload: Workload) {
        match (self.library, workload) {
            (Library::Dapple, Workload::Sync | Workload::TwoThreads) => dapple_side::sync_root(),
            (Library::Dapple, Workload::Unsampled) => dapple_side::unsampled_root(),
            (Library::Dapple, Workload::Args) => dapple_side::args_root(),
            (Library::Dapple, Workload::Async) => self.runtime.block_on(dapple_side::async_root()),
            (Library::Fastrace, Workload::Sync | Workload::TwoThreads) => {
                fastrace_side::sync_root()
            }
            (Library::Fastrace, Workload::Unsampled) => fastrace_side::unsampled_root(),
            (Library::Fastrace, Workload::Args) => fastrace_side::args_root(),
            (Library::Fastrace, Workload::Async) => {
                self.runtime.block_on(fastrace_side::async_root())
            }
            (_, Workload::Sync | Workload::TwoThreads | Workload::Unsampled) => {
                tracing_side::sync_root()
            }
            (_, Workload::Args) => tracing_side::args_root(),
            (_, Workload::Async) => self.runtime.block_on(tracing_side::async_root()),
        }
    }

    /// Spans delivered to the sink so far.
    pub fn delivered(&self, workload: Workload) -> u64 {
        match self.library {
            Library::Dapple => dapple_side::delivered(),
            Library::Fastrace => fastrace_side::delivered(),
            _ => match workload {
                Workload::Unsampled => self.unsampled.as_ref(),
                _ => self.subscriber.as_ref(),
            }
            .map_or(0, |s| s.delivered()),
        }
    }

    /// Asks the library to deliver what it still holds.
    pub fn flush(&self) {
        match self.library {
            Library::Dapple => dapple_side::flush(),
            Library::Fastrace => fastrace_side::flush(),
            _ => {
                for s in [&self.subscriber, &self.unsampled].into_iter().flatten() {
                    s.flush();
                }
            }
        }
    }

    /// Flushes and waits until `target` spans were delivered or `timeout`
    /// passed; returns the number delivered.
    pub fn wait_for(&self, workload: Workload, target: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            self.flush();
            let delivered = self.delivered(workload);
            if delivered >= target || Instant::now() >= deadline {
                return delivered;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// What one library costs on one workload.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The library.
    pub library: Library,
    /// The workload.
    pub workload: Workload,
    /// Traced calls made.
    pub calls: u64,
    /// Spans delivered to the sink.
    pub delivered: u64,
    /// Spans that should have been delivered and were not.
    pub dropped: u64,
    /// CPU time of the application threads per traced call, in ns.
    pub app_ns_per_call: f64,
    /// CPU time of the whole process per delivered span, in ns (`None`
    /// when nothing is delivered, as for unsampled roots).
    pub process_ns_per_delivered: Option<f64>,
}

/// Measures `roots` roots of `workload` (per thread for
/// [`Workload::TwoThreads`]) after a warm-up; `None` when the library does
/// not have the workload.
pub fn measure(runner: &Runner, workload: Workload, roots: u64) -> Option<Figure> {
    if !runner.supports(workload) {
        return None;
    }
    let threads: u64 = if workload == Workload::TwoThreads {
        2
    } else {
        1
    };
    let run = |n: u64| -> u64 {
        runner.with_default(workload, || {
            let start = cpu::thread_ns();
            for _ in 0..n {
                runner.run_once(workload);
            }
            let used = cpu::thread_ns() - start;
            dapple::flush_thread();
            used
        })
    };
    let run_on_threads = |n: u64| -> u64 {
        if threads == 1 {
            return run(n);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads).map(|_| scope.spawn(|| run(n))).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a bench thread"))
                .sum()
        })
    };

    // Warm up: buffers, pools and lazily started threads.
    run_on_threads(roots / 10 + 1);
    let settled = runner.delivered(workload);
    let settled = runner.wait_for(workload, settled, Duration::from_millis(200));
    let before = runner.wait_for(workload, settled + u64::MAX / 2, Duration::from_millis(50));

    let process_start = cpu::process_ns();
    let app_ns = run_on_threads(roots);
    let expected = roots * threads * workload.delivered_per_root();
    let delivered = runner.wait_for(workload, before + expected, Duration::from_secs(60)) - before;
    let process_ns = cpu::process_ns() - process_start;

    let calls = roots * threads * SPANS_PER_ROOT;
    Some(Figure {
        library: runner.library,
        workload,
        calls,
        delivered,
        dropped: expected.saturating_sub(delivered),
        app_ns_per_call: app_ns as f64 / calls as f64,
        process_ns_per_delivered: (delivered > 0).then(|| process_ns as f64 / delivered as f64),
    })
}
