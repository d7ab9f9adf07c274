//! The webapp demo across processes: the collector, the front service,
//! service A and service B (with B1) each a process of its own, talking
//! HTTP on loopback. One page view must come out as one trace of exactly
//! the demo's shape, and a malformed incoming header must start a fresh one.

mod support;

use std::collections::HashMap;

use serde_json::Value;
use support::{CollectorProcess, ServiceProcess};

/// Clock skew allowed between two processes of one machine.
const SKEW_NANOS: i128 = 2_000_000;

/// The collector and the three services, wired together.
struct Demo {
    collector: CollectorProcess,
    front: ServiceProcess,
    a: ServiceProcess,
    _b: ServiceProcess,
}

impl Demo {
    fn start() -> Demo {
        let collector = CollectorProcess::start(&[]);
        let a = ServiceProcess::start(&collector, "a", "serviceA", &[]);
        let b = ServiceProcess::start(&collector, "b", "serviceB", &[]);
        let ui = format!("http://{}", collector.http);
        let front = ServiceProcess::start(
            &collector,
            "front",
            "frontservice",
            &["--service-a", &a.url, "--service-b", &b.url, "--ui", &ui],
        );
        Demo {
            collector,
            front,
            a,
            _b: b,
        }
    }

    /// GETs the front page with `headers`: the status and the trace id of
    /// its `traceresponse` header.
    fn view(&self, headers: &[(&str, &str)]) -> (u16, String, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.get(&format!("{}/", self.front.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.call().expect("the front service answers");
        let traceresponse = response
            .headers()
            .get("traceresponse")
            .and_then(|v| v.to_str().ok())
            .expect("a traceresponse header")
            .to_owned();
        let trace_id = traceresponse
            .split('-')
            .nth(1)
            .expect("a trace id")
            .to_owned();
        let body = response.body_mut().read_to_string().expect("a page");
        (response.status().as_u16(), trace_id, body)
    }
}

fn nanos(span: &Value, key: &str) -> i128 {
    i128::from(
        span[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {span}")),
    )
}

/// One span of the expected shape: service, kind, name, children.
struct Expect {
    service: &'static str,
    kind: &'static str,
    name: &'static str,
    children: Vec<Expect>,
}

fn span(
    service: &'static str,
    kind: &'static str,
    name: &'static str,
    children: Vec<Expect>,
) -> Expect {
    Expect {
        service,
        kind,
        name,
        children,
    }
}

/// Checks `actual` and its subtree against `expected` (children in any
/// order: spawned work starts in no fixed order), and that each child lies
/// within its parent's time, allowing for clock skew.
fn check(actual: &Value, expected: &Expect, by_parent: &HashMap<String, Vec<&Value>>, path: &str) {
    let path = format!(
        "{path} > {} {} ({})",
        expected.service, expected.name, expected.kind
    );
    assert_eq!(actual["service"], expected.service, "{path}: {actual}");
    assert_eq!(actual["kind"], expected.kind, "{path}: {actual}");
    assert_eq!(actual["name"], expected.name, "{path}: {actual}");
    assert_eq!(actual["status"]["code"], "unset", "{path}: {actual}");
    if expected.name.starts_with("GET ") {
        assert_eq!(
            actual["attributes"]["http.response.status_code"], 200,
            "{path}: {actual}"
        );
    }
    assert_eq!(
        nanos(actual, "duration_nanos"),
        nanos(actual, "end_unix_nanos") - nanos(actual, "start_unix_nanos"),
        "{path}"
    );
    let id = actual["span_id"].as_str().expect("a span id");
    let mut children = by_parent.get(id).cloned().unwrap_or_default();
    children.sort_by_key(|s| s["name"].as_str().map(str::to_owned));
    let mut expected_children: Vec<&Expect> = expected.children.iter().collect();
    expected_children.sort_by_key(|e| e.name);
    assert_eq!(
        children.len(),
        expected_children.len(),
        "{path}: children {children:?}"
    );
    for (child, want) in children.iter().zip(expected_children) {
        assert!(
            nanos(child, "start_unix_nanos") >= nanos(actual, "start_unix_nanos") - SKEW_NANOS,
            "{path}: a child starts before its parent: {child}"
        );
        assert!(
            nanos(child, "end_unix_nanos") <= nanos(actual, "end_unix_nanos") + SKEW_NANOS,
            "{path}: a child ends after its parent: {child}"
        );
        check(child, want, by_parent, &path);
    }
}

/// Spans in one page view of the demo.
const SPANS: usize = 14;

#[test]
fn one_page_view_is_one_trace_across_four_servers_and_three_processes() {
    let demo = Demo::start();
    let (status, trace_id, page) = demo.view(&[]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!("http://{}/trace/{trace_id}", demo.collector.http)),
        "the page links to its trace: {page}"
    );

    let spans = demo.collector.trace_with(&trace_id, SPANS);
    assert_eq!(spans.len(), SPANS, "{spans:?}");
    let mut by_parent: HashMap<String, Vec<&Value>> = HashMap::new();
    let mut roots = Vec::new();
    for s in &spans {
        match s["parent_id"].as_str() {
            Some(parent) => by_parent.entry(parent.to_owned()).or_default().push(s),
            None => roots.push(s),
        }
    }
    assert_eq!(roots.len(), 1, "one root: {roots:?}");

    let (front, a, b) = ("frontservice", "serviceA", "serviceB");
    let expected = span(
        front,
        "server",
        "GET /",
        vec![span(
            front,
            "internal",
            "dapple_demo::render_page",
            vec![
                span(
                    front,
                    "client",
                    "GET serviceA /users/1",
                    vec![span(
                        a,
                        "server",
                        "GET /users/{id}",
                        vec![span(
                            a,
                            "internal",
                            "dapple_demo::load_user",
                            vec![span(a, "client", "SELECT users", vec![])],
                        )],
                    )],
                ),
                span(
                    front,
                    "client",
                    "GET serviceB /report",
                    vec![span(
                        b,
                        "server",
                        "GET /report",
                        vec![span(
                            b,
                            "internal",
                            "dapple_demo::build_report",
                            vec![
                                span(b, "internal", "dapple_demo::count_stock", vec![]),
                                span(b, "internal", "dapple_demo::score_items", vec![]),
                                span(
                                    b,
                                    "client",
                                    "GET serviceB1 /price",
                                    vec![span(
                                        b,
                                        "server",
                                        "GET /price",
                                        vec![span(
                                            b,
                                            "internal",
                                            "dapple_demo::quote_price",
                                            vec![],
                                        )],
                                    )],
                                ),
                            ],
                        )],
                    )],
                ),
            ],
        )],
    );
    check(roots[0], &expected, &by_parent, "");

    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {spans:?}"))
    };
    // The front's first page view asks A for user 1, which A reads from its
    // SQLite file.
    assert_eq!(
        named("GET serviceA /users/1")["attributes"]["url.full"],
        format!("{}/users/1", demo.a.url)
    );
    assert_eq!(
        named("GET serviceA /users/1")["attributes"]["peer.service"],
        "serviceA"
    );
    assert_eq!(named("dapple_demo::load_user")["attributes"]["id"], 1);
    let select = named("SELECT users");
    assert_eq!(select["attributes"]["db.system.name"], "sqlite");
    assert_eq!(select["attributes"]["db.response.returned_rows"], 1);
    // Async spans say how long they ran and how long they waited: the
    // stock count waits on a 40 ms timer.
    let stock = named("dapple_demo::count_stock");
    assert!(stock["attributes"]["polls"].as_i64() >= Some(2), "{stock}");
    assert!(
        stock["attributes"]["idle_ns"].as_i64() >= Some(40_000_000),
        "{stock}"
    );
}

#[test]
fn malformed_incoming_headers_start_a_fresh_trace_and_still_get_200() {
    let demo = Demo::start();
    let claimed = "4bf92f3577b34da6a3ce929d0e0e4736";
    for header in [
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
        ),
        (
            "traceparent",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("b3", "4bf92f3577b34da6a3ce929d0e0e4736-zz-1"),
        ("Span-ID", "4bf92f3577b34da6/oops"),
    ] {
        let (status, trace_id, page) = demo.view(&[header]);
        assert_eq!(status, 200, "{header:?}: {page}");
        assert_ne!(trace_id, claimed, "{header:?}");
        let spans = demo.collector.trace_with(&trace_id, SPANS);
        let root = spans
            .iter()
            .find(|s| s["name"] == "GET /" && s["service"] == "frontservice")
            .expect("the front server span");
        assert_eq!(root["parent_id"], Value::Null, "{header:?}: {root}");
    }
}

#[test]
fn every_fifth_price_fails_in_a_function_marked_err_and_fails_the_page() {
    let demo = Demo::start();
    for _ in 0..4 {
        assert_eq!(demo.view(&[]).0, 200);
    }
    let (status, trace_id, page) = demo.view(&[]);
    assert_eq!(status, 502, "{page}");
    let spans = demo.collector.trace_with(&trace_id, SPANS);
    let quote = spans
        .iter()
        .find(|s| s["name"] == "dapple_demo::quote_price")
        .expect("B1's quote");
    assert_eq!(quote["status"]["code"], "error", "{quote}");
    assert_eq!(
        quote["status"]["message"], "the price list is being updated (call 5)",
        "{quote}"
    );
    // The failure shows on the way back up, up to the page's own span.
    for name in ["GET /price", "GET serviceB1 /price", "GET /report", "GET /"] {
        let span = spans.iter().find(|s| s["name"] == name).expect(name);
        assert_eq!(span["status"]["code"], "error", "{span}");
    }
}
