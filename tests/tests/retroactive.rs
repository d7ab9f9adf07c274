//! Retroactive sampling in one process: every trace is recorded, a
//! baseline is sent, and the rest waits in a ring until an error, a slow
//! span or `keep_trace()` keeps its trace. Then what the ring holds of the
//! trace is sent, and every later span of it. The ring stays within its
//! bounds of bytes and age.
//!
//! The sink is process-wide, so these tests run one at a time.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dapple::export::{
    Exporter, Reporter, ReporterConfig, RetroExporter, RetroFigures, Retroactive,
};
use dapple::{KEPT_BY, Span, SpanBatch, SpanContext, SpanId, Status, TraceId, traced};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A span sent: its trace, its name and its `sampling.kept_by`.
type Sent = (TraceId, String, Option<String>);

/// What the wrapped exporter was sent and told.
#[derive(Clone, Default)]
struct Seen {
    spans: Arc<Mutex<Vec<Sent>>>,
    /// Traces the collector would be told this process triggered.
    told: Arc<Mutex<Vec<(TraceId, &'static str)>>>,
}

impl Exporter for Seen {
    fn export(&mut self, batch: SpanBatch) {
        let mut spans = self.spans.lock().unwrap();
        for record in batch.spans() {
            let kept_by = record.attribute(KEPT_BY).map(|v| v.to_string());
            spans.push((record.trace_id(), record.name().to_owned(), kept_by));
        }
    }

    fn keep(&mut self, traces: &[(TraceId, &'static str)]) {
        self.told.lock().unwrap().extend_from_slice(traces);
    }
}

impl Seen {
    /// The names of the spans of `trace` sent, sorted.
    fn sent(&self, trace: TraceId) -> Vec<String> {
        let mut names: Vec<String> = self
            .spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.0 == trace)
            .map(|s| s.1.clone())
            .collect();
        names.sort();
        names
    }

    /// Why the span `name` of `trace` says its trace was kept.
    fn kept_by(&self, trace: TraceId, name: &str) -> Option<String> {
        let spans = self.spans.lock().unwrap();
        let span = spans.iter().find(|s| s.0 == trace && s.1 == name)?;
        span.2.clone()
    }
}

/// A reporter under retroactive sampling around `Seen`.
struct Setup {
    seen: Seen,
    figures: Arc<RetroFigures>,
    reporter: Reporter,
    /// Dropped last: the next test starts once this one's reporter stopped.
    _order: MutexGuard<'static, ()>,
}

fn setup(retroactive: Retroactive) -> Setup {
    let order = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    dapple::set_sample_rate(1.0);
    let seen = Seen::default();
    let exporter = RetroExporter::new(seen.clone(), &retroactive);
    let figures = exporter.figures();
    let reporter = Reporter::install(exporter, ReporterConfig::default());
    Setup {
        seen,
        figures,
        reporter,
        _order: order,
    }
}

impl Setup {
    /// Waits until the reporter took everything finished so far.
    fn settle(&self) {
        assert_eq!(self.reporter.flush(Duration::from_secs(5)), 0);
    }
}

/// A span of a trace no baseline below one half sends, as a request from
/// another process starts it here.
fn outside_half_baseline() -> Span {
    let trace = loop {
        let trace = TraceId::random();
        if trace.to_u128() as u64 > u64::MAX / 2 {
            break trace;
        }
    };
    Span::child_of("request", SpanContext::new(trace, SpanId::random(), true))
}

#[traced(name = "load_user")]
fn load_user() {}

#[traced(name = "charge", err)]
fn charge(declined: bool) -> Result<(), String> {
    if declined {
        Err("card declined".into())
    } else {
        Ok(())
    }
}

#[test]
fn an_error_sends_what_the_ring_holds_of_its_trace_and_every_later_span() {
    let setup = setup(Retroactive::default().with_baseline(0.0));
    let mut root = outside_half_baseline();
    let trace = root.context().unwrap().trace_id();
    {
        let _in_root = root.enter();
        load_user();
    }
    setup.settle();
    assert!(
        setup.seen.sent(trace).is_empty(),
        "nothing sent before the error"
    );
    assert_eq!(setup.figures.ring_spans(), 1);

    {
        let _in_root = root.enter();
        let _ = charge(true);
    }
    setup.settle();
    assert_eq!(setup.seen.sent(trace), ["charge", "load_user"]);
    assert_eq!(
        setup.seen.kept_by(trace, "charge").as_deref(),
        Some("error")
    );
    assert_eq!(setup.seen.kept_by(trace, "load_user"), None);
    assert_eq!(*setup.seen.told.lock().unwrap(), [(trace, "error")]);
    assert_eq!(setup.figures.ring_spans(), 0);

    // The root ends after the error: sent as it comes.
    drop(root);
    setup.settle();
    assert_eq!(setup.seen.sent(trace), ["charge", "load_user", "request"]);
    assert_eq!(setup.figures.kept_traces(), 1);
}

#[test]
fn traces_without_a_trigger_stay_in_the_ring_and_the_baseline_is_sent() {
    let setup = setup(Retroactive::default().with_baseline(0.5));
    let mut baseline = 0;
    let mut held = 0;
    for _ in 0..200 {
        let mut root = Span::root("request");
        let trace = root.context().unwrap().trace_id();
        {
            let _in_root = root.enter();
            load_user();
            let _ = charge(false);
        }
        drop(root);
        if trace.to_u128() as u64 <= u64::MAX / 2 {
            baseline += 1;
        } else {
            held += 1;
        }
    }
    setup.settle();
    // The baseline is decided by trace id, as head sampling decides it, so
    // every process sends the same traces whole.
    let spans = setup.seen.spans.lock().unwrap();
    assert_eq!(spans.len(), 3 * baseline);
    assert!(spans.iter().all(|s| s.0.to_u128() as u64 <= u64::MAX / 2));
    assert_eq!(setup.figures.ring_spans(), 3 * held as u64);
    assert!(setup.seen.told.lock().unwrap().is_empty());
}

#[test]
fn a_slow_span_keeps_its_trace_with_thresholds_by_name() {
    let setup = setup(
        Retroactive::default()
            .with_baseline(0.0)
            .with_slow(Duration::from_secs(3600))
            .with_slow_name("load_user", Duration::from_millis(20)),
    );
    #[traced(name = "load_user")]
    fn slow_load() {
        std::thread::sleep(Duration::from_millis(30));
    }
    #[traced(name = "render")]
    fn slow_render() {
        // Slower than load_user's threshold, but not its own.
        std::thread::sleep(Duration::from_millis(30));
    }

    let mut quick = outside_half_baseline();
    {
        let _entered = quick.enter();
        load_user();
        slow_render();
    }
    let quick_trace = quick.context().unwrap().trace_id();
    drop(quick);
    let mut slow = outside_half_baseline();
    let slow_trace = slow.context().unwrap().trace_id();
    {
        let _entered = slow.enter();
        slow_load();
    }
    drop(slow);
    setup.settle();
    assert!(setup.seen.sent(quick_trace).is_empty());
    assert_eq!(setup.seen.sent(slow_trace), ["load_user", "request"]);
    assert_eq!(
        setup.seen.kept_by(slow_trace, "load_user").as_deref(),
        Some("slow")
    );
    assert_eq!(*setup.seen.told.lock().unwrap(), [(slow_trace, "slow")]);
}

#[test]
fn keep_trace_keeps_the_current_trace_and_says_so_on_its_span() {
    let setup = setup(Retroactive::default().with_baseline(0.0));
    #[traced(name = "refund")]
    fn refund(amount: u64) {
        if amount > 10_000 {
            dapple::keep_trace();
        }
    }
    let mut small = outside_half_baseline();
    let small_trace = small.context().unwrap().trace_id();
    {
        let _entered = small.enter();
        refund(5);
    }
    drop(small);
    let mut large = outside_half_baseline();
    let large_trace = large.context().unwrap().trace_id();
    {
        let _entered = large.enter();
        load_user();
        refund(50_000);
    }
    drop(large);
    setup.settle();
    assert!(setup.seen.sent(small_trace).is_empty());
    assert_eq!(
        setup.seen.sent(large_trace),
        ["load_user", "refund", "request"]
    );
    assert_eq!(
        setup.seen.kept_by(large_trace, "refund").as_deref(),
        Some("keep_trace")
    );
    assert_eq!(
        *setup.seen.told.lock().unwrap(),
        [(large_trace, "keep_trace")]
    );
}

#[test]
fn the_ring_keeps_within_its_bytes_and_lets_old_spans_go() {
    const RING_BYTES: usize = 256 * 1024;
    let setup = setup(
        Retroactive::default()
            .with_baseline(0.0)
            .with_ring_bytes(RING_BYTES)
            .with_ring_age(Duration::from_millis(200)),
    );
    let mut most = 0;
    for _ in 0..200 {
        for _ in 0..100 {
            let mut root = outside_half_baseline();
            {
                let _entered = root.enter();
                load_user();
            }
        }
        setup.settle();
        most = most.max(setup.figures.ring_bytes());
    }
    assert!(most <= RING_BYTES as u64, "{most} bytes in the ring");
    assert!(most > RING_BYTES as u64 / 2, "the ring fills: {most} bytes");
    assert!(setup.figures.evicted_spans() > 0);
    assert!(setup.seen.spans.lock().unwrap().is_empty());

    // Past its age a span goes, with nothing new coming.
    std::thread::sleep(Duration::from_millis(300));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while setup.figures.ring_spans() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(setup.figures.ring_spans(), 0);
    // An error in a trace whose spans aged out sends only what came after.
    let mut late = outside_half_baseline();
    let trace = late.context().unwrap().trace_id();
    late.set_status(Status::Error("late".into()));
    drop(late);
    setup.settle();
    assert_eq!(setup.seen.sent(trace), ["request"]);
}
