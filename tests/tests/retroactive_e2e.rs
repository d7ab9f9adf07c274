//! Retroactive sampling across processes: the webapp demo's front service,
//! service A and service B (with B1) each record every trace into their
//! ring and send none (no baseline). A page view that fails in B1, the
//! deepest service, must still be stored whole: B's error keeps the trace,
//! the collector tells the front service and A, and A sends the span its
//! ring holds though nothing went wrong in A. A page view that succeeds is
//! not stored at all.

mod support;

use support::{CollectorProcess, ServiceProcess, view_traced as view};

const RETROACTIVE: &[(&str, &str)] =
    &[("DAPPLE_SAMPLING", "retroactive"), ("DAPPLE_BASELINE", "0")];

#[test]
fn a_failure_in_the_deepest_service_keeps_the_whole_trace_from_every_process() {
    let collector = CollectorProcess::start(&[]);
    let start = |role, name, extra: &[&str]| {
        ServiceProcess::start_with_env(&collector, role, name, extra, RETROACTIVE)
    };
    let a = start("a", "serviceA", &[]);
    let b = start("b", "serviceB", &[]);
    let front = start(
        "front",
        "frontservice",
        &["--service-a", &a.url, "--service-b", &b.url],
    );

    let (status, ok_trace) = view(&format!("{}/", front.url));
    assert_eq!(status, 200);
    let (status, failed_trace) = view(&format!("{}/?fail=1", front.url));
    assert_eq!(status, 502);

    let spans = collector.trace_with(&failed_trace, dapple_demo::SPANS_PER_VIEW);
    let mut seen: Vec<(String, String, String)> = spans
        .iter()
        .map(|s| {
            let text = |key: &str| s[key].as_str().unwrap_or_default().to_owned();
            (
                text("service"),
                text("kind"),
                s["status"]["code"].to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("frontservice", "client", "\"error\""),
            ("frontservice", "client", "\"unset\""),
            ("frontservice", "internal", "\"unset\""),
            ("frontservice", "server", "\"error\""),
            ("serviceA", "client", "\"unset\""),
            ("serviceA", "internal", "\"unset\""),
            ("serviceA", "server", "\"unset\""),
            ("serviceB", "client", "\"error\""),
            ("serviceB", "internal", "\"error\""),
            ("serviceB", "internal", "\"unset\""),
            ("serviceB", "internal", "\"unset\""),
            ("serviceB", "internal", "\"unset\""),
            ("serviceB", "server", "\"error\""),
            ("serviceB", "server", "\"error\""),
        ]
        .map(|(s, k, c)| (s.to_owned(), k.to_owned(), c.to_owned())),
        "{spans:#?}"
    );
    // B1's server span triggered it, and says so.
    let triggers: Vec<&serde_json::Value> = spans
        .iter()
        .filter(|s| s["attributes"]["sampling.kept_by"] == "error")
        .collect();
    assert!(!triggers.is_empty(), "{spans:#?}");

    // The page view that went well was recorded everywhere, sent nowhere.
    let (status, body) = collector.get(&format!("/api/traces/{ok_trace}"));
    let stored = body["spans"].as_array().map_or(0, Vec::len);
    assert!(status == 404 || stored == 0, "{status} {body}");
}
