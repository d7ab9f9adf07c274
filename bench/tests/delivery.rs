//! The benchmark's set-up is sound: every library, in its own worker
//! process, delivers every span of a small run as wire bytes to the real
//! null sink process, so the figures compare equal work.

use std::path::Path;

use dapple_bench::{Setup, figures};

#[test]
fn every_library_delivers_every_span_of_a_small_run_to_the_null_sink() {
    // Small enough for the OpenTelemetry batch processor's default queue
    // (2048 spans): it drops past it, by design.
    let roots = 5;
    let figures = figures(Path::new(env!("CARGO_BIN_EXE_figures")), roots)
        .expect("the null sink and the workers ran");
    let expected_rows: usize = Setup::ALL.iter().map(|s| s.workloads().len()).sum();
    assert_eq!(figures.len(), expected_rows);
    for f in &figures {
        let what = format!("{:?} on {:?}", f.setup, f.workload);
        assert_eq!(
            f.expected,
            roots * f.workload.threads() * f.workload.delivered_per_root(),
            "{what}"
        );
        assert_eq!(f.delivered, f.expected, "{what}");
        assert_eq!(f.dropped(), 0, "{what}");
        assert!(f.app_ns > 0, "{what}");
    }
}
