//! A `dapple.v1.Batch` message: decoded by prost, its resource and spans
//! converted as the collector converts them (`convert::resource`,
//! `convert::spans`), stored, then read back through the store's query
//! functions (a trace, spans by filter, trace keys, services) and the
//! collector's trace search, aggregates and dependencies.
//!
//! Checks: no panic, no unbounded work; the store stays within its bounds
//! and consistent with what was inserted; the same frame read the fast way
//! (`convert::batch_frame`) gives the same spans.

#![no_main]

use std::sync::Arc;
use std::time::Duration;

use dapple_collector::ingest::convert;
use dapple_collector::query::{aggregate, dependencies, search};
use dapple_fuzz::{insert_and_check, same_spans, store};
use dapple_proto::{Batch, Frame, frame};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let Ok(batch) = Batch::decode(bytes) else {
        return;
    };
    let resource = Arc::new(convert::resource(batch.resource.clone()));
    let spans = convert::spans(&resource, batch.spans.clone());
    assert!(spans.len() <= batch.spans.len());

    // The same batch in a frame, read without prost's intermediate types.
    let wire = Frame {
        kind: Some(frame::Kind::Batch(batch)),
    }
    .encode_to_vec();
    let fast = convert::batch_frame(&resource, &wire, usize::MAX)
        .expect("a frame prost encoded decodes")
        .expect("a batch frame is a batch");
    assert!(
        same_spans(&fast.spans, &spans),
        "batch_frame and prost differ"
    );

    let name = spans.first().map(|s| s.name.to_string()).unwrap_or_default();
    let store = store();
    insert_and_check(&*store, spans);
    let store = &*store;

    // Every span the store holds is within this window, whenever it started.
    let always = Duration::from_nanos(u64::MAX);
    search::search(
        store,
        &search::TraceSearch {
            filter: Default::default(),
            attributes: vec![("http.route".into(), "/".into())],
            sort: search::Sort::Longest,
            same_span: false,
            limit: 10,
            after: None,
        },
    )
    .unwrap();
    aggregate::operations(store, always, None).unwrap();
    aggregate::series(
        store,
        &aggregate::SeriesRequest {
            service: None,
            name,
            window: always,
            buckets: aggregate::Buckets::Count(7),
        },
    )
    .unwrap();
    dependencies::dependencies(store, always).unwrap();
});
