//! One trace across languages: a Python client instrumented with the
//! OpenTelemetry SDK (`tests/python/call_front.py`) calls the webapp demo's
//! front service, whose Rust services (front, A, B, each a process) report
//! over Dapple's native protocol while Python reports over OTLP/HTTP, to the
//! same collector. The W3C `traceparent` header carries the trace from the
//! Python CLIENT span into the Rust server span: the query API, the service
//! graph and the trace page in a real browser show one trace.
//!
//! Without the Python packages the tests print a skip notice and pass, and
//! so does the browser test without Chromium, except under `CI=true`, where
//! they fail (`.ci/run` installs both).

mod support;

#[path = "support/python.rs"]
mod python;

#[allow(dead_code)] // this test uses a part
#[path = "ui/browser.rs"]
mod browser;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures::FutureExt;
use serde_json::{Value, json};
use support::{CollectorProcess, ServiceProcess};

/// The Python client's `service.name`.
const PYTHON: &str = "py-shopper";

/// The trace, as `service: name (kind)` by parent, children by name (the
/// demo's spawned work starts in no fixed order).
const TREE: &str = "py-shopper: python.checkout (server)
  py-shopper: GET (client)
    frontservice: GET / (server)
      frontservice: dapple_demo::render_page (internal)
        frontservice: GET serviceA /users/1 (client)
          serviceA: GET /users/{id} (server)
            serviceA: dapple_demo::load_user (internal)
              serviceA: SELECT users (client)
        frontservice: GET serviceB /report (client)
          serviceB: GET /report (server)
            serviceB: dapple_demo::build_report (internal)
              serviceB: GET serviceB1 /price (client)
                serviceB: GET /price (server)
                  serviceB: dapple_demo::quote_price (internal)
              serviceB: dapple_demo::count_stock (internal)
              serviceB: dapple_demo::score_items (internal)
";

/// Spans in [`TREE`].
const SPANS: usize = 16;

/// Clock skew allowed between two processes of one machine.
const SKEW_NANOS: i128 = 2_000_000;

/// The collector and the three Rust services, after the Python client's
/// one call, with the trace that call made.
struct CrossTrace {
    collector: CollectorProcess,
    _services: [ServiceProcess; 3],
    /// The front service's base URL.
    front: String,
    /// What `call_front.py` printed: `trace_id`, `root_span_id`,
    /// `client_span_id`, `status`, `traceresponse`.
    python: Value,
    /// The trace's spans from the query API, once all arrived.
    spans: Vec<Value>,
}

impl CrossTrace {
    fn trace_id(&self) -> &str {
        self.python["trace_id"].as_str().expect("a trace id")
    }

    fn run() -> CrossTrace {
        let collector = CollectorProcess::start(&["--otlp-http", "127.0.0.1:0"]);
        let a = ServiceProcess::start(&collector, "a", "serviceA", &[]);
        let b = ServiceProcess::start(&collector, "b", "serviceB", &[]);
        let ui = format!("http://{}", collector.http);
        let front = ServiceProcess::start(
            &collector,
            "front",
            "frontservice",
            &["--service-a", &a.url, "--service-b", &b.url, "--ui", &ui],
        );
        let endpoint = format!(
            "http://{}/v1/traces",
            collector.otlp_http.expect("the OTLP/HTTP address")
        );
        let printed = python::run_script(
            "call_front.py",
            &[
                "--endpoint",
                &endpoint,
                "--front",
                &front.url,
                "--service",
                PYTHON,
            ],
        );
        let python: Value = printed
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("call_front.py printed {printed:?}"));
        let trace_id = python["trace_id"].as_str().expect("a trace id");
        // The Rust services report natively on their own schedule.
        let spans = collector.trace_with(trace_id, SPANS);
        CrossTrace {
            front: front.url.clone(),
            _services: [a, b, front],
            collector,
            python,
            spans,
        }
    }

    /// The span with `id`.
    fn span(&self, id: &Value) -> &Value {
        self.spans
            .iter()
            .find(|s| &s["span_id"] == id)
            .unwrap_or_else(|| panic!("no span {id} in {:#?}", self.spans))
    }
}

/// The trace the running tests share, made on first use (`None`, after a
/// skip notice, without the Python packages); stopped when the last of
/// them is done.
fn cross_trace() -> Option<Arc<CrossTrace>> {
    static SHARED: Mutex<Weak<CrossTrace>> = Mutex::new(Weak::new());
    if !python::python_has(python::SDK, "the cross-language trace tests") {
        return None;
    }
    let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(trace) = slot.upgrade() {
        return Some(trace);
    }
    let trace = Arc::new(CrossTrace::run());
    *slot = Arc::downgrade(&trace);
    Some(trace)
}

/// `spans` as `service: name (kind)` lines, indented by depth, children by
/// name.
fn tree(spans: &[Value]) -> String {
    fn walk(spans: &[Value], parent: &Value, depth: usize, out: &mut String) {
        let mut children: Vec<&Value> =
            spans.iter().filter(|s| &s["parent_id"] == parent).collect();
        children.sort_by_key(|s| s["name"].as_str().map(str::to_owned));
        for s in children {
            let (service, name, kind) = (&s["service"], &s["name"], &s["kind"]);
            let line = format!("{service}: {name} ({kind})").replace('"', "");
            out.push_str(&format!("{:indent$}{line}\n", "", indent = depth * 2));
            walk(spans, &s["span_id"], depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(spans, &Value::Null, 0, &mut out);
    out
}

fn nanos(span: &Value, key: &str) -> i128 {
    i128::from(
        span[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {span}")),
    )
}

#[test]
fn a_python_client_and_the_rust_services_make_one_trace() {
    let Some(cross) = cross_trace() else { return };
    let (python, spans, trace_id) = (&cross.python, &cross.spans, cross.trace_id());
    assert_eq!(python["status"], 200, "{python}");
    assert_eq!(spans.len(), SPANS, "{spans:#?}");
    assert_eq!(tree(spans), TREE, "{spans:#?}");

    // Python's own ids: its root has no parent, its CLIENT span is the
    // parent of the front service's server span.
    let root = cross.span(&python["root_span_id"]);
    assert_eq!(root["parent_id"], Value::Null, "{root}");
    let client = cross.span(&python["client_span_id"]);
    assert_eq!(client["parent_id"], python["root_span_id"], "{client}");
    assert_eq!(client["kind"], "client");
    assert_eq!(
        client["attributes"]["url.full"],
        format!("{}/", cross.front)
    );
    let front = spans
        .iter()
        .find(|s| s["service"] == "frontservice" && s["kind"] == "server")
        .expect("the front service's server span");
    assert_eq!(front["parent_id"], python["client_span_id"], "{front}");
    assert_eq!(front["name"], "GET /");
    assert!(
        front["attributes"]["user_agent.original"]
            .as_str()
            .is_some_and(|ua| ua.starts_with("Python-urllib/")),
        "the front service served the Python client: {front}"
    );
    // The front service answered in the same trace, naming its own span.
    assert_eq!(
        python["traceresponse"],
        format!("00-{trace_id}-{}-01", front["span_id"].as_str().unwrap()),
    );
    // The Rust server span lies within the Python client span that waited on it.
    assert!(
        nanos(front, "start_unix_nanos") >= nanos(client, "start_unix_nanos") - SKEW_NANOS
            && nanos(front, "end_unix_nanos") <= nanos(client, "end_unix_nanos") + SKEW_NANOS,
        "the front's server span is outside the Python client span: {front} {client}"
    );

    // Each span is named by its process: Python's from the SDK's resource,
    // the Rust services' from DAPPLE_SERVICE.
    for span in spans {
        let service = &span["service"];
        assert_eq!(
            span["resource"]["attributes"]["service.name"], *service,
            "{span}"
        );
        let python_span = span["scope"]["name"] == "dapple.e2e.shopper";
        assert_eq!(python_span, service == PYTHON, "{span}");
    }

    // The collector holds this one trace, and nothing of these services
    // anywhere else.
    let (status, search) = cross.collector.get("/api/traces?limit=100");
    assert_eq!(status, 200, "{search}");
    let traces = search["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 1, "one trace: {search:#}");
    assert_eq!(traces[0]["trace_id"], trace_id);
    assert_eq!(traces[0]["span_count"], SPANS);
    assert_eq!(traces[0]["root_service"], PYTHON);
    assert_eq!(
        traces[0]["services"],
        json!(["frontservice", PYTHON, "serviceA", "serviceB"])
    );

    // The service graph: Python calls the front service, which calls A and B.
    let (status, graph) = cross.collector.get("/api/dependencies");
    assert_eq!(status, 200, "{graph}");
    let calls: HashMap<(String, String), u64> = graph["dependencies"]
        .as_array()
        .unwrap_or_else(|| panic!("no dependencies in {graph}"))
        .iter()
        .map(|d| {
            let name = |key: &str| d[key].as_str().expect("a service").to_owned();
            (
                (name("caller"), name("callee")),
                d["calls"].as_u64().expect("calls"),
            )
        })
        .collect();
    let edge = |caller: &str, callee: &str| ((caller.to_owned(), callee.to_owned()), 1);
    assert_eq!(
        calls,
        HashMap::from([
            edge(PYTHON, "frontservice"),
            edge("frontservice", "serviceA"),
            edge("frontservice", "serviceB"),
        ]),
        "{graph:#}"
    );
}

#[tokio::test]
async fn the_trace_page_shows_python_and_rust_spans_in_one_waterfall() {
    let Some(chromium) = browser::Chromium::find() else {
        return;
    };
    let Some(cross) = cross_trace() else { return };
    let driver = browser::ChromeDriver::start(chromium);
    let page = browser::Page::open(&driver, cross.collector.http).await;
    let outcome = AssertUnwindSafe(check_trace_page(&page, &cross))
        .catch_unwind()
        .await;
    page.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Opens the trace's page, checks the waterfall and the legend, selects
/// the front service's server span and saves a screenshot.
async fn check_trace_page(page: &browser::Page, cross: &CrossTrace) {
    page.goto(&format!("/trace/{}", cross.trace_id())).await;
    let rows = page
        .wait_for(
            "the waterfall with every span",
            &format!(
                "const rows = document.querySelectorAll('#waterfall .wf-row');
                 if (rows.length < {SPANS}) return null;
                 return [...rows].map(r => `${{' '.repeat(2 * r.dataset.depth)}}${{r.dataset.service}}: ${{r.dataset.name}}`);"
            ),
        )
        .await;
    // The waterfall orders children by start, which for the demo's spawned
    // work varies: compared as sets of indented lines.
    let mut expected: Vec<String> = TREE
        .lines()
        .map(|l| l.rsplit_once(" (").expect("a kind").0.to_owned())
        .collect();
    expected.sort();
    let mut rows: Vec<String> = serde_json::from_value(rows).expect("rows");
    rows.sort();
    assert_eq!(rows, expected, "one waterfall, nested across languages");
    assert_eq!(
        page.js("return document.querySelector('#span-count').textContent")
            .await,
        json!(SPANS.to_string())
    );

    // Every service's name is in the legend, on screen.
    let legend = page
        .js("return [...document.querySelectorAll('.legend .service')]
               .filter(e => e.getBoundingClientRect().width > 0 && getComputedStyle(e).visibility === 'visible')
               .map(e => e.textContent)")
        .await;
    assert_eq!(
        legend,
        json!(["frontservice", PYTHON, "serviceA", "serviceB"])
    );

    // The Rust server span's details name the Python span as its parent.
    page.click(".wf-row[data-service='frontservice'][data-name='GET /']")
        .await;
    let facts = page
        .wait_for(
            "the front service's span details",
            "return document.querySelector('#detail-name')?.textContent === 'GET /'
               && document.querySelector('#span-details').innerText",
        )
        .await;
    let facts = facts.as_str().expect("text");
    let client = cross.python["client_span_id"].as_str().unwrap();
    assert!(facts.contains("frontservice"), "{facts}");
    assert!(facts.contains(&format!("Parent\n{client}")), "{facts}");
    page.screenshot("cross-language-trace").await;
}
