//! Tail sampling in the collector (`--tail-sampling FILE`): traces that
//! arrive complete over OTLP/HTTP wait until quiet, then the file's policies
//! decide which are stored, and `GET /api/sampling` counts the decisions.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::CollectorProcess;

const POLICIES: &str = r#"
decision_wait = "300ms"

[[policy]]
name = "errors"
errors = true

[[policy]]
name = "gold customers"
attribute = { key = "user.tier", value = "gold" }
"#;

/// An OTLP/JSON span of `trace` (32 hex digits).
fn span(trace: &str, id: &str, name: &str, extra: Value) -> Value {
    let mut span = json!({
        "traceId": trace,
        "spanId": id,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000005000000",
    });
    if let (Some(span), Some(extra)) = (span.as_object_mut(), extra.as_object()) {
        span.extend(extra.clone());
    }
    span
}

#[test]
fn quiet_traces_are_kept_by_the_first_policy_that_matches_and_the_rest_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.toml");
    std::fs::write(&file, POLICIES).unwrap();
    let collector = CollectorProcess::start(&[
        "--otlp-http",
        "127.0.0.1:0",
        "--tail-sampling",
        file.to_str().unwrap(),
    ]);
    let (failed, gold, plain) = (
        "11111111111111111111111111111111",
        "22222222222222222222222222222222",
        "33333333333333333333333333333333",
    );
    let error = json!({ "status": { "code": 2, "message": "card declined" } });
    let tier =
        json!({ "attributes": [{ "key": "user.tier", "value": { "stringValue": "gold" } }] });
    let spans = vec![
        span(failed, "1111111111111111", "GET /checkout", json!({})),
        span(failed, "1111111111111112", "charge", error),
        span(gold, "2222222222222221", "GET /checkout", tier),
        span(plain, "3333333333333331", "GET /checkout", json!({})),
    ];
    let body = json!({
        "resourceSpans": [{
            "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "shop" } }] },
            "scopeSpans": [{ "spans": spans }],
        }],
    });
    let otlp = collector.otlp_http.expect("OTLP/HTTP ingest");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(&format!("http://{otlp}/v1/traces"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .expect("the collector answers");
    assert_eq!(response.status().as_u16(), 200);

    // Nothing is stored until the traces have been quiet for 300 ms.
    let deadline = Instant::now() + Duration::from_secs(20);
    let counts = loop {
        let (_, sampling) = collector.get("/api/sampling");
        let counts = sampling["tail_sampling"].clone();
        if counts["waiting_traces"] == 0 {
            break counts;
        }
        assert!(Instant::now() < deadline, "still waiting: {counts}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        counts["policies"],
        json!([
            { "name": "errors", "kept_traces": 1 },
            { "name": "gold customers", "kept_traces": 1 },
        ])
    );
    assert_eq!(counts["dropped_traces"], 1);

    let kept_by = |trace: &str| -> Vec<Value> {
        let (status, body) = collector.get(&format!("/api/traces/{trace}"));
        assert_eq!(status, 200, "{body}");
        body["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["attributes"]["sampling.kept_by"].clone())
            .collect()
    };
    let mut failed_trace = kept_by(failed);
    failed_trace.sort_by_key(|v| v.is_null());
    assert_eq!(failed_trace, [json!("errors"), Value::Null]);
    assert_eq!(kept_by(gold), [json!("gold customers")]);
    let (status, body) = collector.get(&format!("/api/traces/{plain}"));
    assert!(
        status == 404 || body["spans"].as_array().is_some_and(Vec::is_empty),
        "the plain trace was dropped: {status} {body}"
    );
}
