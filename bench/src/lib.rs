//! Dapple, fastrace and `tracing` + OpenTelemetry on the same workloads,
//! each ending in encoded wire bytes handed to a socket.
//!
//! Each workload is one root span with [`LEAVES`] traced leaf calls. Every
//! library runs with its default settings and its own exporter: Dapple's
//! native TCP exporter, fastrace's OpenTelemetry reporter with the OTLP/HTTP
//! exporter, and tracing-opentelemetry with the SDK's batch span processor
//! and the same OTLP/HTTP exporter. They all send to a [`null_sink`] running
//! as a separate process, which decodes, acknowledges and counts.
//!
//! The `figures` binary runs each [`Setup`] in a process of its own (the
//! libraries install process-wide state: `dapple::init`, fastrace's
//! reporter, `tracing`'s global default subscriber) and measures, per
//! workload, the application threads' CPU per traced call and the whole
//! process's CPU per span the sink received. [`figures`] is that run, for
//! the binary and for `tests/delivery.rs`.

pub mod alloc;
pub mod collector_load;
pub mod collector_process;
pub mod cpu;
pub mod dapple_side;
pub mod fastrace_side;
pub mod null_sink;
pub mod sink;
pub mod tracing_side;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use sink::{SinkAddrs, SinkProcess};

/// Leaf calls under each root.
pub const LEAVES: usize = 100;

/// Spans one sampled root records: itself and its leaves.
pub const SPANS_PER_ROOT: u64 = LEAVES as u64 + 1;

/// The string argument of workload (e): short enough (at most 15 bytes) to
/// be kept in place by Dapple's span record.
pub const SHORT_ARG: &str = "GET /users";

/// The string argument of workload (f): about 40 bytes.
pub const LONG_ARG: &str = "GET /api/v1/customers/8f3a2c/orders?n=20";

const _: () = assert!(SHORT_ARG.len() <= 15 && LONG_ARG.len() == 40);

/// How long a library's flush may wait for its exporter.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait, after a library's flush returned, for spans it should
/// already have delivered: each flush waits for its exporter (Dapple for
/// the sink's acknowledgements, the others for their HTTP responses), so
/// what is missing then was dropped.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A tracing library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Library {
    /// Dapple's `#[traced]`.
    Dapple,
    /// fastrace's `#[trace]`, feature `enable`.
    Fastrace,
    /// `tracing`'s `#[instrument]`.
    Tracing,
}

/// What one measured iteration does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// (a) a root and 100 nested sync leaf calls.
    Sync,
    /// (b) a root and 100 awaited async leaf calls on a current-thread runtime.
    Async,
    /// (c) (a) on two long-lived threads at once.
    TwoThreads,
    /// (d) (a) with the root unsampled or tracing switched off.
    Unsampled,
    /// (e) (a) with an integer and [`SHORT_ARG`] recorded on each leaf.
    ShortArgs,
    /// (f) (a) with an integer and [`LONG_ARG`] recorded on each leaf.
    LongArgs,
}

impl Workload {
    /// Every workload, in the order.
    pub const ALL: [Workload; 6] = [
        Workload::Sync,
        Workload::Async,
        Workload::TwoThreads,
        Workload::Unsampled,
        Workload::ShortArgs,
        Workload::LongArgs,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Sync => "a sync",
            Workload::Async => "b async",
            Workload::TwoThreads => "c two threads",
            Workload::Unsampled => "d unsampled",
            Workload::ShortArgs => "e args, 10 B",
            Workload::LongArgs => "f args, 40 B",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Workload::Sync => "sync",
            Workload::Async => "async",
            Workload::TwoThreads => "two-threads",
            Workload::Unsampled => "unsampled",
            Workload::ShortArgs => "short-args",
            Workload::LongArgs => "long-args",
        }
    }

    fn parse(arg: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.arg() == arg)
    }

    /// Threads running roots at once.
    pub fn threads(self) -> u64 {
        if self == Workload::TwoThreads { 2 } else { 1 }
    }

    /// Spans each root delivers.
    pub fn delivered_per_root(self) -> u64 {
        match self {
            Workload::Unsampled => 0,
            _ => SPANS_PER_ROOT,
        }
    }
}

/// One library in one configuration: what a `figures` worker process
/// installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// `dapple::init` at its defaults, to the sink's native port; for (d),
    /// `dapple::set_sample_rate(0.0)`.
    Dapple,
    /// Dapple linked in, `dapple::init` never called: no sink.
    DappleNoInit,
    /// `dapple::init` with its OTLP/HTTP exporter to the sink's OTLP port.
    DappleOtlp,
    /// `tracing`'s `#[instrument]` bridged by `dapple_tracing::layer()` (the
    /// global default), reported by `dapple::init` to the native port; for
    /// (d), `dapple::set_sample_rate(0.0)`.
    TracingDapple,
    /// fastrace with `fastrace-opentelemetry` and OTLP/HTTP; for (d), roots
    /// with `sampled(false)`.
    Fastrace,
    /// `tracing` + tracing-opentelemetry + OTLP/HTTP, global default.
    TracingOtel,
    /// The same with the sampler `ParentBased(AlwaysOff)`.
    TracingOtelUnsampled,
    /// The same with a `LevelFilter::OFF` layer.
    TracingOff,
}

impl Setup {
    /// Every setup, Dapple first (the base of the ratios).
    pub const ALL: [Setup; 8] = [
        Setup::Dapple,
        Setup::DappleNoInit,
        Setup::DappleOtlp,
        Setup::TracingDapple,
        Setup::Fastrace,
        Setup::TracingOtel,
        Setup::TracingOtelUnsampled,
        Setup::TracingOff,
    ];

    /// The library.
    pub fn library(self) -> Library {
        match self {
            Setup::Dapple | Setup::DappleNoInit | Setup::DappleOtlp => Library::Dapple,
            Setup::Fastrace => Library::Fastrace,
            _ => Library::Tracing,
        }
    }

    /// Whether it sends Dapple's native protocol (else OTLP).
    fn sends_native(self) -> bool {
        matches!(
            self,
            Setup::Dapple | Setup::DappleNoInit | Setup::TracingDapple
        )
    }

    /// Whether it calls `dapple::init` (once per process).
    pub fn inits_dapple(self) -> bool {
        matches!(
            self,
            Setup::Dapple | Setup::DappleOtlp | Setup::TracingDapple
        )
    }

    /// The workloads this setup runs.
    pub fn workloads(self) -> &'static [Workload] {
        match self {
            Setup::Dapple | Setup::Fastrace | Setup::TracingDapple => &Workload::ALL,
            Setup::TracingOtel | Setup::DappleOtlp => &[
                Workload::Sync,
                Workload::Async,
                Workload::TwoThreads,
                Workload::ShortArgs,
                Workload::LongArgs,
            ],
            Setup::DappleNoInit | Setup::TracingOtelUnsampled | Setup::TracingOff => {
                &[Workload::Unsampled]
            }
        }
    }

    /// The name of its row in a table.
    pub fn label(self, workload: Workload) -> &'static str {
        match (self, workload) {
            (Setup::Dapple, Workload::Unsampled) => "dapple, rate 0",
            (Setup::Dapple, _) => "dapple",
            (Setup::DappleNoInit, _) => "dapple, no init",
            (Setup::DappleOtlp, _) => "dapple+otlp",
            (Setup::TracingDapple, Workload::Unsampled) => "tracing+dapple, rate 0",
            (Setup::TracingDapple, _) => "tracing+dapple",
            (Setup::Fastrace, Workload::Unsampled) => "fastrace, unsampled",
            (Setup::Fastrace, _) => "fastrace+otlp",
            (Setup::TracingOtel, _) => "tracing+otel+otlp",
            (Setup::TracingOtelUnsampled, _) => "tracing+otel, AlwaysOff",
            (Setup::TracingOff, _) => "tracing, level OFF",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Setup::Dapple => "dapple",
            Setup::DappleNoInit => "dapple-no-init",
            Setup::DappleOtlp => "dapple-otlp",
            Setup::TracingDapple => "tracing-dapple",
            Setup::Fastrace => "fastrace",
            Setup::TracingOtel => "tracing-otel",
            Setup::TracingOtelUnsampled => "tracing-otel-unsampled",
            Setup::TracingOff => "tracing-off",
        }
    }

    /// The setup named `arg`, as a worker is told.
    pub fn parse(arg: &str) -> Option<Setup> {
        Setup::ALL.into_iter().find(|s| s.arg() == arg)
    }
}

/// One library set up in this process, with its exporter to the sink.
#[derive(Debug)]
pub struct Installed {
    setup: Setup,
    sink: SinkAddrs,
    _dapple: Option<dapple::Guard>,
    tracing: Option<tracing_side::Subscriber>,
    runtime: tokio::runtime::Runtime,
}

impl Installed {
    /// Installs `setup` for the whole process (`tracing` as the global
    /// default subscriber); once per process.
    pub fn new(setup: Setup, sink: SinkAddrs) -> Installed {
        let installed = Installed::scoped(setup, sink);
        if let Some(subscriber) = &installed.tracing {
            subscriber.set_global_default();
        }
        installed
    }

    /// The same, but `tracing`'s subscriber is only created: run under
    /// [`Installed::with_default`] to use it (the criterion benches, where
    /// several `tracing` set-ups share a process).
    pub fn scoped(setup: Setup, sink: SinkAddrs) -> Installed {
        let mut dapple = None;
        let mut tracing = None;
        match setup {
            Setup::Dapple => dapple = Some(dapple_side::install(&sink)),
            Setup::DappleNoInit => {}
            Setup::DappleOtlp => dapple = Some(dapple_side::install_otlp(&sink)),
            Setup::TracingDapple => {
                dapple = Some(dapple_side::install(&sink));
                tracing = Some(tracing_side::Subscriber::bridged());
            }
            Setup::Fastrace => fastrace_side::install(&sink),
            Setup::TracingOtel => {
                tracing = Some(tracing_side::Subscriber::new(
                    &sink,
                    tracing_side::Filter::Sampled,
                ))
            }
            Setup::TracingOtelUnsampled => {
                tracing = Some(tracing_side::Subscriber::new(
                    &sink,
                    tracing_side::Filter::Unsampled,
                ))
            }
            Setup::TracingOff => {
                tracing = Some(tracing_side::Subscriber::new(
                    &sink,
                    tracing_side::Filter::LevelOff,
                ))
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        Installed {
            setup,
            sink,
            _dapple: dapple,
            tracing,
            runtime,
        }
    }

    /// The setup.
    pub fn setup(&self) -> Setup {
        self.setup
    }

    /// Runs `f` with this setup's `tracing` subscriber as the thread's
    /// default (for [`Installed::scoped`]; otherwise just runs `f`).
    pub fn with_default<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.tracing {
            Some(s) => tracing::dispatcher::with_default(&s.dispatch, f),
            None => f(),
        }
    }

    /// A `Send` task that runs `n` roots of `workload` on the calling
    /// thread (a sync workload: not [`Workload::Async`]), for a [`Pool`].
    pub fn task(&self, workload: Workload) -> Task {
        let root = sync_root(self.setup, workload);
        let dispatch = self.tracing.as_ref().map(|s| s.dispatch.clone());
        Arc::new(move |n| {
            let run = || {
                for _ in 0..n {
                    root();
                }
            };
            match &dispatch {
                Some(d) => tracing::dispatcher::with_default(d, run),
                None => run(),
            }
        })
    }

    /// Runs one root of `workload` on this thread ([`Workload::TwoThreads`]
    /// runs as [`Workload::Sync`]: see [`Installed::task`] and [`Pool`]).
    #[inline]
    pub fn run_once(&self, workload: Workload) {
        if workload == Workload::Async {
            match self.setup.library() {
                Library::Dapple => self.runtime.block_on(dapple_side::async_root()),
                Library::Fastrace => self.runtime.block_on(fastrace_side::async_root()),
                Library::Tracing => self.runtime.block_on(tracing_side::async_root()),
            }
        } else {
            sync_root(self.setup, workload)()
        }
    }

    /// Before running `workload`: Dapple's unsampled run sets the sample
    /// rate to 0, every other run to 1.
    pub fn prepare(&self, workload: Workload) {
        if self.setup.inits_dapple() {
            dapple::set_sample_rate(if workload == Workload::Unsampled {
                0.0
            } else {
                1.0
            });
        }
    }

    /// Asks the library to send what it holds, and waits for it to be sent
    /// (each library's own flush).
    pub fn flush(&self) {
        match self.setup.library() {
            Library::Dapple => {
                dapple::flush_thread();
                dapple::flush(FLUSH_TIMEOUT);
            }
            Library::Fastrace => fastrace_side::flush(),
            Library::Tracing => {
                if let Some(s) = &self.tracing {
                    s.flush();
                }
                if self.setup.inits_dapple() {
                    // Bridged spans end on this thread's buffer.
                    self.with_default(dapple::flush_thread);
                    dapple::flush(FLUSH_TIMEOUT);
                }
            }
        }
    }

    /// Flushes and waits until the sink received `target` spans from this
    /// library; the count then, and the spans of the nudges it took.
    ///
    /// fastrace holds what overflows a thread's queue on that thread until
    /// it records again (see [`fastrace_side::nudge`]): for it, each
    /// application thread records one more span, the library flushes again,
    /// and so on until every span arrived or nudging stops helping.
    fn settle(&self, pool: &Pool, workload: Workload, target: u64) -> std::io::Result<(u64, u64)> {
        self.flush();
        let mut nudged = 0;
        let mut received = self.wait_received(target, DELIVERY_TIMEOUT)?;
        if self.setup.library() != Library::Fastrace {
            return Ok((received, nudged));
        }
        let mut stalled = 0;
        while received < target + nudged && stalled < 10 {
            if workload == Workload::TwoThreads {
                let nudge: Task = Arc::new(|_| fastrace_side::nudge());
                pool.run(&nudge, 1);
            } else {
                fastrace_side::nudge();
            }
            nudged += workload.threads();
            self.flush();
            let now = self.received()?;
            stalled = if now > received { 0 } else { stalled + 1 };
            received = now;
        }
        Ok((received, nudged))
    }

    /// Spans the sink received from this library so far.
    fn received(&self) -> std::io::Result<u64> {
        let counts = self.sink.counts()?;
        Ok(self.pick(counts))
    }

    /// Waits until the sink received `target` spans from this library, or
    /// `timeout` passed; the count then.
    fn wait_received(&self, target: u64, timeout: Duration) -> std::io::Result<u64> {
        let wanted = if self.setup.sends_native() {
            (target, 0)
        } else {
            (0, target)
        };
        Ok(self.pick(self.sink.wait_for(wanted, timeout)?))
    }

    fn pick(&self, (native, otlp): sink::Counts) -> u64 {
        if self.setup.sends_native() {
            native
        } else {
            otlp
        }
    }
}

/// The sync root function of a setup and workload.
fn sync_root(setup: Setup, workload: Workload) -> fn() {
    match (setup.library(), workload) {
        (Library::Dapple, Workload::ShortArgs) => dapple_side::args_root,
        (Library::Dapple, Workload::LongArgs) => dapple_side::long_args_root,
        (Library::Dapple, _) => dapple_side::sync_root,
        (Library::Fastrace, Workload::Unsampled) => fastrace_side::unsampled_root,
        (Library::Fastrace, Workload::ShortArgs) => fastrace_side::args_root,
        (Library::Fastrace, Workload::LongArgs) => fastrace_side::long_args_root,
        (Library::Fastrace, _) => fastrace_side::sync_root,
        (Library::Tracing, Workload::ShortArgs) => tracing_side::args_root,
        (Library::Tracing, Workload::LongArgs) => tracing_side::long_args_root,
        (Library::Tracing, _) => tracing_side::sync_root,
    }
}

/// Work for a [`Pool`] thread: run `n` roots.
pub type Task = Arc<dyn Fn(u64) + Send + Sync>;

struct Job {
    task: Task,
    roots: u64,
    start: Arc<Barrier>,
}

/// What one pool thread reports for a job.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    /// The thread's CPU time for the job, in ns.
    pub cpu_ns: u64,
    /// Its wall time.
    pub wall: Duration,
}

/// Two long-lived threads, started once and fed work through channels, for
/// workload (c): spawning threads per run would measure thread start-up and
/// each library's per-thread set-up instead.
#[derive(Debug)]
pub struct Pool {
    threads: Vec<(Sender<Job>, Receiver<Done>, std::thread::JoinHandle<()>)>,
}

impl Pool {
    /// Starts `threads` threads.
    pub fn new(threads: usize) -> Pool {
        let threads = (0..threads)
            .map(|i| {
                let (jobs, job_rx) = channel::<Job>();
                let (done_tx, done) = channel();
                let handle = std::thread::Builder::new()
                    .name(format!("bench-{i}"))
                    .spawn(move || {
                        for job in job_rx {
                            job.start.wait();
                            let (cpu, wall) = (cpu::thread_ns(), Instant::now());
                            (job.task)(job.roots);
                            let cpu_ns = cpu::thread_ns() - cpu;
                            let wall = wall.elapsed();
                            dapple::flush_thread();
                            if done_tx.send(Done { cpu_ns, wall }).is_err() {
                                return;
                            }
                        }
                    })
                    .expect("a pool thread");
                (jobs, done, handle)
            })
            .collect();
        Pool { threads }
    }

    /// Runs `task(roots)` on every thread at once; what each reported.
    pub fn run(&self, task: &Task, roots: u64) -> Vec<Done> {
        let start = Arc::new(Barrier::new(self.threads.len()));
        for (jobs, _, _) in &self.threads {
            jobs.send(Job {
                task: task.clone(),
                roots,
                start: start.clone(),
            })
            .expect("a live pool thread");
        }
        self.threads
            .iter()
            .map(|(_, done, _)| done.recv().expect("a live pool thread"))
            .collect()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for (jobs, done, handle) in self.threads.drain(..) {
            drop((jobs, done));
            let _ = handle.join();
        }
    }
}

/// What one setup costs on one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The setup.
    pub setup: Setup,
    /// The workload.
    pub workload: Workload,
    /// Traced calls made (spans started).
    pub calls: u64,
    /// Spans that should reach the sink.
    pub expected: u64,
    /// Spans the sink received.
    pub delivered: u64,
    /// CPU time of the application threads, in ns.
    pub app_ns: u64,
    /// CPU time of the whole process, from the first call until the sink
    /// received the last span, in ns.
    pub process_ns: u64,
    /// Allocations in the whole process over the same time (0 when the
    /// counting allocator is not installed).
    pub allocations: u64,
}

impl Figure {
    /// Spans that should have been delivered and were not.
    pub fn dropped(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    /// Application-thread CPU per traced call, in ns.
    pub fn app_ns_per_call(&self) -> f64 {
        self.app_ns as f64 / self.calls as f64
    }

    /// Whole-process CPU per delivered span, in ns (`None` when nothing is
    /// delivered, as for unsampled roots).
    pub fn process_ns_per_delivered(&self) -> Option<f64> {
        (self.delivered > 0).then(|| self.process_ns as f64 / self.delivered as f64)
    }

    /// Allocations per traced call, in the whole process.
    pub fn allocations_per_call(&self) -> f64 {
        self.allocations as f64 / self.calls as f64
    }

    fn to_line(&self) -> String {
        format!(
            "figure {} {} {} {} {} {} {} {}",
            self.setup.arg(),
            self.workload.arg(),
            self.calls,
            self.expected,
            self.delivered,
            self.app_ns,
            self.process_ns,
            self.allocations
        )
    }

    fn from_line(line: &str) -> Option<Figure> {
        let mut words = line.strip_prefix("figure ")?.split(' ');
        let setup = Setup::parse(words.next()?)?;
        let workload = Workload::parse(words.next()?)?;
        let mut numbers = words.map(|w| w.parse::<u64>().ok());
        let mut next = || numbers.next().flatten();
        Some(Figure {
            setup,
            workload,
            calls: next()?,
            expected: next()?,
            delivered: next()?,
            app_ns: next()?,
            process_ns: next()?,
            allocations: next()?,
        })
    }
}

/// Measures `roots` roots of `workload` (per thread for
/// [`Workload::TwoThreads`]) after a warm-up whose spans are all delivered
/// first.
pub fn measure(
    installed: &Installed,
    pool: &Pool,
    workload: Workload,
    roots: u64,
) -> std::io::Result<Figure> {
    installed.prepare(workload);
    let task = installed.task(workload);
    let run = |n: u64| -> u64 {
        if workload == Workload::TwoThreads {
            return pool.run(&task, n).iter().map(|d| d.cpu_ns).sum();
        }
        installed.with_default(|| {
            let start = cpu::thread_ns();
            for _ in 0..n {
                installed.run_once(workload);
            }
            let used = cpu::thread_ns() - start;
            dapple::flush_thread();
            used
        })
    };
    let per_run = workload.threads() * workload.delivered_per_root();

    // Warm up (buffers, pools, connections, lazily started threads), and
    // let the warm-up's spans arrive.
    let warm_up = roots / 10 + 1;
    let before = installed.received()?;
    run(warm_up);
    installed.settle(pool, workload, before + warm_up * per_run)?;
    let before = installed.received()?;

    let expected = roots * per_run;
    let (process_start, allocations_start) = (cpu::process_ns(), alloc::allocations());
    let app_ns = run(roots);
    let (received, nudged) = installed.settle(pool, workload, before + expected)?;
    let process_ns = cpu::process_ns() - process_start;
    let allocations = alloc::allocations() - allocations_start;

    Ok(Figure {
        setup: installed.setup,
        workload,
        calls: roots * workload.threads() * SPANS_PER_ROOT + nudged,
        expected: expected + nudged,
        delivered: received - before,
        app_ns,
        process_ns,
        allocations,
    })
}

/// A `figures` worker process: installs `setup`, measures its workloads
/// and prints one line per figure for [`figures`] to read.
pub fn worker(setup: Setup, roots: u64, sink: SinkAddrs) -> std::io::Result<()> {
    let installed = Installed::new(setup, sink);
    let pool = Pool::new(2);
    for &workload in setup.workloads() {
        let figure = measure(&installed, &pool, workload, roots)?;
        println!("{}", figure.to_line());
    }
    Ok(())
}

/// The whole comparison: starts the null sink (`program --null-sink`), then
/// one worker process per [`Setup`] (`program --worker <setup> <roots>
/// <native> <otlp>`), one after the other; their figures in order.
pub fn figures(program: &Path, roots: u64) -> std::io::Result<Vec<Figure>> {
    let sink = SinkProcess::start(program, &["--null-sink"])?;
    let mut figures = Vec::new();
    for setup in Setup::ALL {
        let output = Command::new(program)
            .args(["--worker", setup.arg(), &roots.to_string()])
            .args([&sink.addrs().native, &sink.addrs().otlp])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()?;
        if !output.status.success() {
            return Err(std::io::Error::other(format!(
                "the {setup:?} worker failed: {}",
                output.status
            )));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let found: Vec<Figure> = stdout.lines().filter_map(Figure::from_line).collect();
        if found.len() != setup.workloads().len() {
            return Err(std::io::Error::other(format!(
                "the {setup:?} worker printed {stdout:?}"
            )));
        }
        figures.extend(found);
    }
    Ok(figures)
}

/// Runs `figures` in the mode its arguments ask for: `--null-sink`,
/// `--worker ...`, or none (the parent); `None` for the parent.
pub fn child_mode(args: &[String]) -> Option<std::io::Result<()>> {
    match args.first().map(String::as_str) {
        Some("--null-sink") => Some(null_sink::serve()),
        Some("--worker") => {
            let (Some(setup), Some(roots), Some(native), Some(otlp)) = (
                args.get(1).and_then(|a| Setup::parse(a)),
                args.get(2).and_then(|a| a.parse().ok()),
                args.get(3),
                args.get(4),
            ) else {
                return Some(Err(std::io::Error::other(
                    "usage: --worker <setup> <roots> <native addr> <otlp url>",
                )));
            };
            let sink = SinkAddrs {
                native: native.clone(),
                otlp: otlp.clone(),
            };
            Some(worker(setup, roots, sink))
        }
        _ => None,
    }
}
