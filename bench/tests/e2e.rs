//! A short run of the end-to-end benchmark (`--bin e2e`): every mode's
//! server answers every request, and every span of the collector mode
//! reaches the collector. No timings are checked here; they belong to the
//! benchmark.

#[path = "../src/e2e/mod.rs"]
#[allow(dead_code)] // the test uses the driver's part
mod e2e;

use std::path::Path;

use e2e::driver::{self, Plan};
use e2e::load::Amount;

const REQUESTS: u64 = 200;

#[test]
fn every_mode_answers_every_request_and_the_collector_gets_every_span() {
    let plan = Plan {
        rounds: 1,
        window: Amount::Requests(REQUESTS),
        warmup: Amount::Requests(0),
        connections: 32,
    };
    let report = driver::run(Path::new(env!("CARGO_BIN_EXE_e2e")), &plan, |_| {})
        .expect("the servers and the collector run");
    for run in &report.modes {
        assert_eq!(
            (run.answered(), run.failed()),
            (REQUESTS, 0),
            "{} answers every request with 200",
            run.mode.name()
        );
    }
    assert_eq!(report.expected_spans, REQUESTS * e2e::SPANS_PER_REQUEST);
    assert_eq!(
        report.received_spans, report.expected_spans,
        "every span of the collector mode arrives"
    );
    assert_eq!(report.sample_zero_spans, 0, "sample rate 0 sends nothing");
    assert_eq!(report.dropped_spans, 0, "nothing is dropped at this rate");
}
