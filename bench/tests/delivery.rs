//! The benchmark's set-up is sound: every library delivers every span of a
//! small run to its sink, so the figures compare equal work.

use dapple_bench::{Library, Runner, SPANS_PER_ROOT, Workload, measure};

#[test]
fn every_library_delivers_every_span_of_a_small_run() {
    for library in Library::ALL {
        let runner = Runner::new(library);
        for workload in Workload::ALL {
            let Some(figure) = measure(&runner, workload, 20) else {
                assert_eq!((library, workload), (Library::Tracing, Workload::Unsampled));
                continue;
            };
            let threads = if workload == Workload::TwoThreads {
                2
            } else {
                1
            };
            assert_eq!(figure.calls, 20 * threads * SPANS_PER_ROOT);
            assert_eq!(
                figure.delivered,
                20 * threads * workload.delivered_per_root(),
                "{library:?} on {workload:?}"
            );
            assert_eq!(figure.dropped, 0, "{library:?} on {workload:?}");
        }
    }
}
