//! Application-thread wall time of each library on each workload, side by
//! side. One iteration is one root span with 100 traced leaf calls.
//!
//! Every library's exporter is live and sends to a null sink process, as in
//! `figures`, but this measures only the application thread: the libraries'
//! background threads (encoding, sending) share the cores and are not
//! counted, and the OpenTelemetry batch processor drops spans past its
//! default queue without that showing here. The `tracing` set-ups share this
//! process, so each is a scoped default (`with_default`), not the global
//! one `figures` uses, and "Dapple, no init" is left to `figures`. For the
//! whole cost per delivered span, run `figures`.
//!
//! `cargo bench -p dapple-bench --bench spans`

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dapple_bench::sink::SinkProcess;
use dapple_bench::{Installed, Pool, SPANS_PER_ROOT, Setup, Workload};

fn workloads(c: &mut Criterion) {
    let sink = SinkProcess::start(Path::new(env!("CARGO_BIN_EXE_null_sink")), &[])
        .expect("the null sink starts");
    let installed: Vec<Installed> = Setup::ALL
        .into_iter()
        // One `dapple::init` per process: the native Dapple set-up only.
        .filter(|&s| s == Setup::Dapple || !s.inits_dapple())
        .filter(|&s| s != Setup::DappleNoInit)
        .map(|s| Installed::scoped(s, sink.addrs().clone()))
        .collect();
    let pool = Pool::new(2);
    for workload in Workload::ALL {
        let mut group = c.benchmark_group(workload.name());
        group.throughput(Throughput::Elements(SPANS_PER_ROOT));
        for setup in installed
            .iter()
            .filter(|i| i.setup().workloads().contains(&workload))
        {
            setup.prepare(workload);
            let name = setup.setup().label(workload);
            if workload == Workload::TwoThreads {
                let task = setup.task(workload);
                group.bench_function(name, |b| {
                    b.iter_custom(|iters| {
                        pool.run(&task, iters)
                            .iter()
                            .map(|d| d.wall)
                            .max()
                            .unwrap_or_default()
                    });
                });
            } else {
                setup.with_default(|| {
                    group.bench_function(name, |b| b.iter(|| setup.run_once(workload)));
                });
            }
        }
        group.finish();
    }
    for setup in &installed {
        setup.flush();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = workloads
}
criterion_main!(benches);
