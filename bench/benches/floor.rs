//! The floor under a span: the clock reads and id generation that every
//! sampled span pays, beside `Instant::now()`.
//!
//! `cargo bench -p dapple-bench --bench floor`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

fn floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    group.bench_function("std Instant::now", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    group.bench_function("dapple now_unix_nanos", |b| {
        b.iter(|| black_box(dapple::now_unix_nanos()))
    });
    group.bench_function("dapple SpanId::random", |b| {
        b.iter(|| black_box(dapple::SpanId::random()))
    });
    group.bench_function("dapple current_context", |b| {
        b.iter(|| black_box(dapple::current_context()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = floor
}
criterion_main!(benches);
