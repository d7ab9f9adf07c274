//! The reporter thread: every span reaches the exporter; a stalled exporter
//! never blocks the application, and past the memory bound whole batches are
//! dropped and counted. The collector is process-wide, so these run in order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dapple::SpanBatch;
use dapple::export::{Reporter, ReporterConfig};
use dapple::traced;

static ORDER: Mutex<()> = Mutex::new(());

#[traced(name = "reporter.root")]
fn root() {
    for _ in 0..9 {
        leaf();
    }
}

#[traced(name = "reporter.leaf")]
fn leaf() {}

#[test]
fn every_span_from_many_threads_reaches_the_exporter() {
    let _order = ORDER.lock().unwrap();
    let exported = Arc::new(AtomicU64::new(0));
    let counter = exported.clone();
    let reporter = Reporter::install(
        move |batch: SpanBatch| {
            counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
        },
        ReporterConfig::default(),
    );
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..500 {
                    root();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        reporter.flush(Duration::from_secs(10)),
        0,
        "nothing left queued"
    );
    assert_eq!(exported.load(Ordering::Relaxed), 4 * 500 * 10);
    let stats = reporter.stats();
    assert_eq!(stats.exported_spans, 20_000);
    assert_eq!(stats.dropped_spans, 0);
}

#[test]
fn a_stalled_exporter_never_blocks_the_application_and_drops_whole_batches() {
    let _order = ORDER.lock().unwrap();
    let (release, stalled) = mpsc::channel::<()>();
    let stalled = Mutex::new(stalled);
    let exported = Arc::new(AtomicU64::new(0));
    let counter = exported.clone();
    let reporter = Reporter::install(
        move |batch: SpanBatch| {
            // Stalls until the test releases it, as a dead network would.
            let _ = stalled.lock().unwrap().recv();
            counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
        },
        ReporterConfig::default().with_max_queued_bytes(64 * 1024),
    );
    // Runs to the end although the exporter takes nothing: no application
    // thread waits for it.
    for _ in 0..2_000 {
        root();
    }
    let stats = reporter.stats();
    assert!(stats.dropped_batches > 0, "{stats:?}");
    assert_eq!(
        stats.dropped_spans % 10,
        0,
        "whole batches (roots) are dropped"
    );
    assert_eq!(
        reporter.flush(Duration::from_millis(50)),
        stats.queued_spans,
        "a flush that times out reports what is still queued"
    );
    for _ in 0..10_000 {
        let _ = release.send(());
    }
    assert_eq!(reporter.flush(Duration::from_secs(10)), 0);
    let stats = reporter.stats();
    assert_eq!(
        stats.exported_spans + stats.dropped_spans,
        20_000,
        "every span is exported or counted as dropped: {stats:?}"
    );
    assert_eq!(exported.load(Ordering::Relaxed), stats.exported_spans);
    drop(reporter);
}

#[test]
fn spans_the_tcp_exporter_drops_count_in_dapple_dropped_spans() {
    let _order = ORDER.lock().unwrap();
    // A port nothing listens on any more: the collector is unreachable.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    // No span fits in a frame this small, so the exporter drops each one;
    // the reporter's own queue has room for all of them.
    let config = dapple::Config::default()
        .with_endpoint(address.to_string())
        .with_service("reporter-test")
        .with_flush_timeout(Duration::from_millis(50))
        .with_max_frame_bytes(16);
    let tracing = dapple::init(config);
    root();
    assert_eq!(
        dapple::flush(Duration::from_millis(200)),
        0,
        "dropped spans are not waiting for delivery"
    );
    assert_eq!(dapple::dropped_spans(), 10, "the root and its nine leaves");
    drop(tracing);
}
