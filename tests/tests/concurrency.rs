//! Eight threads recording at once: no span lost, none in the wrong trace.

use dapple::traced;
use dapple_tests::collector;

const THREADS: u32 = 8;
const REQUESTS: u32 = 200;

#[traced(name = "conc.request", args(thread, request))]
fn request(thread: u32, request: u32) {
    for step in 0..3 {
        stage(thread, request, step);
    }
}

#[traced(name = "conc.stage", args(thread, request, step))]
fn stage(thread: u32, request: u32, step: u32) {
    leaf(thread, request);
}

#[traced(name = "conc.leaf", args(thread, request))]
fn leaf(thread: u32, request: u32) {}

#[test]
fn eight_threads_record_concurrently_without_losing_or_mixing_spans() {
    collector();
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            std::thread::spawn(move || {
                for r in 0..REQUESTS {
                    request(thread, r);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let roots = collector().named("conc.request");
    assert_eq!(roots.len(), (THREADS * REQUESTS) as usize);
    let mut seen = std::collections::HashSet::new();
    for root in &roots {
        let key = (
            root.attribute("thread").unwrap().as_i64().unwrap(),
            root.attribute("request").unwrap().as_i64().unwrap(),
        );
        assert!(seen.insert(key), "one root per request: {key:?}");
        let trace = collector().trace(root.trace_id());
        assert_eq!(trace.len(), 7, "root, 3 stages, 3 leaves");
        for span in &trace {
            assert_eq!(span.attribute("thread").unwrap().as_i64(), Some(key.0));
            assert_eq!(span.attribute("request").unwrap().as_i64(), Some(key.1));
        }
        let tree = dapple::SpanTree::build(trace).unwrap();
        assert_eq!(
            tree.render(),
            "conc.request\n  conc.stage\n    conc.leaf\n  conc.stage\n    conc.leaf\n  conc.stage\n    conc.leaf\n"
        );
    }
}
