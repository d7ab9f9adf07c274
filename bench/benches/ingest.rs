//! The collector's own CPU per span, on one thread and without a socket:
//! batch frames of 1,000 spans, as `collector_figures` sends them, decoded
//! into the collector's form (and dropped), and decoded then stored into a
//! memory store kept at its bound (each frame's traces new to it, older ones evicted,
//! as in a long-running collector). What `collector_figures` adds to this
//! is the network, the threads between them, and a store that grows.
//!
//! `cargo bench -p dapple-bench --bench ingest`

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dapple_bench::collector_load::{LEAVES, batch_frame};
use dapple_collector::ingest::convert;
use dapple_collector::store::{Limits, MemoryStore, Store};
use dapple_proto as proto;
use prost::Message;

// The allocator `dapple-collector` runs on.
dapple_collector::global_allocator!();

/// Traces per frame: 1,000 spans.
const TRACES_PER_FRAME: u64 = 10;
/// Frames taken in turn; the store holds half of their spans, so each
/// frame's traces have been evicted by the time it comes round again.
const FRAMES: u64 = 200;

fn ingest(c: &mut Criterion) {
    let resource = Arc::new(convert::resource(Some(proto::Resource {
        service_name: "bench".into(),
        ..Default::default()
    })));
    // Frame `n` carries traces `n * TRACES_PER_FRAME` onwards.
    let frames: Vec<Vec<u8>> = (0..FRAMES)
        .map(|n| {
            let traces = n * TRACES_PER_FRAME..(n + 1) * TRACES_PER_FRAME;
            batch_frame(n + 1, traces, 1_700_000_000_000_000_000).encode_to_vec()
        })
        .collect();
    let spans_per_frame = TRACES_PER_FRAME * (LEAVES + 1);
    let decode = |frame: &[u8]| {
        convert::batch_frame(&resource, frame, spans_per_frame as usize)
            .expect("a valid frame")
            .expect("a batch")
            .spans
    };

    let mut group = c.benchmark_group("collector ingest");
    group.throughput(Throughput::Elements(spans_per_frame));
    let mut next = frames.iter().cycle();
    group.bench_function("decode, then drop", |b| {
        b.iter(|| decode(next.next().expect("frames")))
    });
    let store = MemoryStore::new(Limits::spans((FRAMES * spans_per_frame / 2) as usize));
    let mut next = frames.iter().cycle();
    group.bench_function("decode and store at the bound", |b| {
        b.iter(|| {
            let spans = decode(next.next().expect("frames"));
            assert_eq!(store.insert(spans).expect("stored") as u64, spans_per_frame);
        })
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
