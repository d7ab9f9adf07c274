//! A real foreign client: the OpenTelemetry Python SDK and its OTLP
//! exporters (`tests/python/emit_tree.py`) send a known trace to a real
//! collector, over OTLP/HTTP and over OTLP/gRPC with gzip, and the query API
//! shows exactly that tree.
//!
//! Without the Python packages the tests print a skip notice and pass,
//! except under `CI=true`, where they fail (`.ci/run` installs them).

mod support;

#[path = "support/python.rs"]
mod python;

use serde_json::{Value, json};
use support::{CollectorProcess, assert_same_span};

/// What `emit_tree.py` imports; `.ci/run` installs the packages.
const IMPORTS: &str = "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, \
                       opentelemetry.exporter.otlp.proto.grpc";

/// The script's fixed times are after this, in Unix nanoseconds.
const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

/// Whether `python3` has the SDK and both exporters (see
/// [`python::python_has`]).
fn python_sdk() -> bool {
    python::python_has(IMPORTS, "OTLP tests with the Python SDK")
}

/// Runs `emit_tree.py` with `args` (killed after a minute, should an export
/// hang) and returns the trace id it printed.
fn emit_tree(args: &[&str]) -> String {
    let trace = python::run_script("emit_tree.py", args).trim().to_owned();
    assert!(
        trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a trace id: {trace:?}"
    );
    trace
}

/// `trace`'s spans from the query API, by start time, each with its parent
/// named (`"parent": name`) instead of its ids, which are random.
fn named_spans(collector: &CollectorProcess, trace: &str) -> Vec<Value> {
    let (status, body) = collector.get(&format!("/api/traces/{trace}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trace_id"], trace);
    let mut spans = body["spans"].as_array().expect("spans").clone();
    spans.sort_by_key(|s| s["start_unix_nanos"].as_u64());
    let name_of = |id: &Value| -> Value {
        spans
            .iter()
            .find(|s| &s["span_id"] == id)
            .map_or_else(|| panic!("no span {id} in {body}"), |s| s["name"].clone())
    };
    let parents: Vec<Value> = spans
        .iter()
        .map(|s| match &s["parent_id"] {
            Value::Null => Value::Null,
            id => name_of(id),
        })
        .collect();
    for (span, parent) in spans.iter_mut().zip(parents) {
        let span = span.as_object_mut().expect("a span object");
        let id = span.remove("span_id").unwrap_or_default();
        assert!(
            id.as_str()
                .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())),
            "span id {id}"
        );
        span.remove("parent_id");
        span.insert("parent".into(), parent);
    }
    spans
}

/// How the query API shows a span of the script's tree: what they all
/// share, then `fields`.
fn shown(name: &str, parent: Option<&str>, ms: (u64, u64), fields: Value) -> Value {
    let mut span = json!({
        "name": name,
        "parent": parent,
        "kind": "internal",
        "service": "py-checkout",
        "start_unix_nanos": T0 + ms.0 * MS,
        "end_unix_nanos": T0 + ms.1 * MS,
        "duration_nanos": (ms.1 - ms.0) * MS,
        // The SDK sets "has is-remote" (0x100), and not the sampled bit.
        "flags": 0x100,
        // From the script's sampler.
        "trace_state": "dapple=e2e",
        "status": {"code": "unset", "message": ""},
        "attributes": {},
        "events": [],
        "links": [],
        "dropped": {"attributes": 0, "events": 0, "links": 0},
        "resource": {
            "attributes": {
                "service.name": "py-checkout",
                "service.version": "2.0.1",
                "deployment.environment.name": "e2e",
                "host.cpus": 4,
            },
            "dropped_attributes": 0,
        },
        "scope": {
            "name": "dapple.e2e.checkout",
            "version": "0.4.2",
            "attributes": {"scope.team": "payments"},
            "dropped_attributes": 0,
        },
    });
    for (key, value) in fields.as_object().expect("fields") {
        span[key] = value.clone();
    }
    span
}

/// The tree `emit_tree.py` sends, by start time.
fn known_tree() -> Vec<Value> {
    let retry = |attempt: u64, at: u64| {
        json!({
            "name": "retry",
            "unix_nanos": T0 + at,
            "attributes": {"attempt": attempt, "backoff.ms": 12.5 * attempt as f64, "card.brand": "visa"},
            "dropped_attributes": 0,
        })
    };
    vec![
        shown(
            "GET /checkout",
            None,
            (0, 10),
            json!({
                "kind": "server",
                // Python sequences arrive as arrays, bytes as hex, dicts as objects.
                "attributes": {
                    "http.request.method": "GET",
                    "http.response.status_code": 200,
                    "checkout.express": true,
                    "checkout.total": 42.5,
                    "checkout.items": ["book", "pen"],
                    "checkout.quantities": [1, -2, 3],
                    "checkout.discounts": [0.5, 0.25],
                    "checkout.gift": [true, false],
                    "checkout.receipt": "00feff",
                    "checkout.customer": {"id": 7, "tier": "gold"},
                    "checkout.notes": ["fragile", 2, null],
                },
            }),
        ),
        shown(
            "charge card",
            Some("GET /checkout"),
            (1, 4),
            json!({
                "kind": "client",
                "status": {"code": "error", "message": "card declined"},
                // The SDK kept the last two of three (`max_events=2`).
                "events": [retry(2, 2 * MS + MS / 2), retry(3, 3 * MS)],
                "dropped": {"attributes": 0, "events": 1, "links": 0},
            }),
        ),
        shown(
            "render receipt",
            Some("GET /checkout"),
            (5, 9),
            json!({
                "links": [{
                    "trace_id": "5b8efff798038103d269b633813fc60c",
                    "span_id": "eee19b7ec3c1b174",
                    "trace_state": "",
                    // "Has is-remote" and "is remote".
                    "flags": 0x300,
                    "attributes": {"link.reason": "reprint", "link.copies": 2},
                    "dropped_attributes": 0,
                }],
            }),
        ),
        shown(
            "load template",
            Some("render receipt"),
            (6, 7),
            json!({"status": {"code": "ok", "message": ""}}),
        ),
    ]
}

fn assert_known_tree(collector: &CollectorProcess, trace: &str) {
    let spans = named_spans(collector, trace);
    let expected = known_tree();
    assert_eq!(spans.len(), expected.len(), "{spans:#?}");
    for (span, expected) in spans.iter().zip(&expected) {
        assert_same_span(span, expected);
    }
}

fn collector() -> CollectorProcess {
    CollectorProcess::start(&[
        "--otlp-http",
        "127.0.0.1:0",
        "--otlp-grpc",
        "127.0.0.1:0",
        "--log-level",
        "warn",
    ])
}

#[test]
fn the_python_sdk_exports_a_tree_over_otlp_http() {
    if !python_sdk() {
        return;
    }
    let collector = collector();
    let endpoint = format!(
        "http://{}/v1/traces",
        collector.otlp_http.expect("OTLP/HTTP")
    );
    let trace = emit_tree(&["--protocol", "http", "--endpoint", &endpoint]);
    assert_known_tree(&collector, &trace);
}

#[test]
fn the_python_sdk_exports_a_tree_over_otlp_grpc_with_gzip() {
    if !python_sdk() {
        return;
    }
    let collector = collector();
    let endpoint = format!("http://{}", collector.otlp_grpc.expect("OTLP/gRPC"));
    let trace = emit_tree(&["--protocol", "grpc", "--endpoint", &endpoint, "--gzip"]);
    assert_known_tree(&collector, &trace);
}
