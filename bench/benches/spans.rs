//! Application-thread time of each library on each workload, side by side.
//! One iteration is one root span with 100 traced leaf calls.
//!
//! `cargo bench -p dapple-bench --bench spans`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dapple_bench::{Library, Runner, SPANS_PER_ROOT, Workload};

fn workloads(c: &mut Criterion) {
    let runners: Vec<Runner> = Library::ALL.into_iter().map(Runner::new).collect();
    for workload in Workload::ALL {
        let mut group = c.benchmark_group(workload.name());
        group.throughput(Throughput::Elements(SPANS_PER_ROOT));
        for runner in runners.iter().filter(|r| r.supports(workload)) {
            let name = runner.library().name();
            if workload == Workload::TwoThreads {
                group.bench_function(name, |b| {
                    b.iter_custom(|iters| two_threads(runner, iters));
                });
            } else {
                runner.with_default(workload, || {
                    group.bench_function(name, |b| b.iter(|| runner.run_once(workload)));
                });
            }
        }
        group.finish();
    }
}

/// Runs `iters` roots on each of two threads at once; the time is the
/// slower thread's.
fn two_threads(runner: &Runner, iters: u64) -> std::time::Duration {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    runner.with_default(Workload::TwoThreads, || {
                        barrier.wait();
                        let start = std::time::Instant::now();
                        for _ in 0..iters {
                            runner.run_once(Workload::TwoThreads);
                        }
                        start.elapsed()
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread"))
            .max()
            .unwrap_or_default()
    })
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = workloads
}
criterion_main!(benches);
