//! Forwarding: a collector started with `--forward-otlp` hands every span
//! it accepts, whatever the ingest, to another OTLP endpoint (here a second
//! real collector), and counts what was forwarded and dropped.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{CollectorProcess, printed_trace_id, render_trace, run_traced_program};

const TREE: &str = "program.main
  program.load
    program.read_item
    program.read_item
    program.read_item
  program.compute
  program.store
";

/// Polls `GET /api/forwarding` until its first forwarder has handled
/// `spans` spans (forwarded or dropped), for up to ten seconds.
fn forwarding_settles(collector: &CollectorProcess, spans: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = collector.get("/api/forwarding");
        assert_eq!(status, 200, "{body}");
        let first = &body["forwarders"][0];
        let handled = first["forwarded"].as_u64().unwrap() + first["dropped"].as_u64().unwrap();
        if handled >= spans || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn native_spans_accepted_by_one_collector_arrive_whole_at_the_next() {
    let next = CollectorProcess::start(&["--otlp-http", "127.0.0.1:0"]);
    let url = format!("http://{}/v1/traces", next.otlp_http.unwrap());
    let first =
        CollectorProcess::start(&["--forward-otlp", &url, "--forward-header", "x-tenant=blue"]);
    let output = run_traced_program(&first.native.to_string(), &[], 10);
    assert!(output.status.success(), "{output:?}");
    let trace_id = printed_trace_id(&output);

    let body = forwarding_settles(&first, 7);
    let forwarder = &body["forwarders"][0];
    assert_eq!(forwarder["url"], url.as_str());
    assert_eq!(forwarder["forwarded"], 7, "{body}");
    assert_eq!(forwarder["dropped"], 0);
    assert_eq!(forwarder["queued"], 0);

    let (status, here) = first.get(&format!("/api/traces/{trace_id}"));
    assert_eq!(status, 200);
    let (status, there) = next.get(&format!("/api/traces/{trace_id}"));
    assert_eq!(status, 200, "{there}");
    assert_eq!(render_trace(&there), TREE);
    // The same spans, field for field, resource included.
    let mut here = here["spans"].as_array().unwrap().clone();
    let mut there = there["spans"].as_array().unwrap().clone();
    here.sort_by_key(|s| s["span_id"].as_str().unwrap().to_owned());
    there.sort_by_key(|s| s["span_id"].as_str().unwrap().to_owned());
    assert_eq!(here, there);
}

#[test]
fn an_endpoint_that_refuses_gets_no_retries_and_its_spans_count_as_dropped() {
    // The next collector was started without OTLP ingest: its query API
    // answers /v1/traces with 404, which is not worth retrying (a retry
    // would keep the spans queued, never dropped).
    let next = CollectorProcess::start(&[]);
    let url = format!("http://{}/v1/traces", next.http);
    let first = CollectorProcess::start(&["--forward-otlp", &url]);
    let output = run_traced_program(&first.native.to_string(), &[], 10);
    assert!(output.status.success(), "{output:?}");
    let body = forwarding_settles(&first, 7);
    assert_eq!(body["forwarders"][0]["dropped"], 7, "{body}");
    assert_eq!(body["forwarders"][0]["forwarded"], 0);
    // What the first collector accepted is still there.
    let trace_id = printed_trace_id(&output);
    assert_eq!(first.get(&format!("/api/traces/{trace_id}")).0, 200);
}

#[test]
fn a_forward_url_that_is_not_http_is_refused_at_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(["serve", "--forward-otlp", "ftp://elsewhere"])
        .output()
        .expect("the collector runs");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("expected an http:// URL"),
        "{output:?}"
    );
}
