//! Dapple's OTLP/HTTP exporter end to end: a traced program, configured
//! only by the standard `OTEL_EXPORTER_OTLP_*` variables, reports to the
//! real collector's OTLP/HTTP ingest; and against a scripted endpoint, it
//! retries what is worth retrying (honouring `Retry-After`) and never
//! retries a 400.

mod support;

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use support::{CollectorProcess, printed_trace_id, render_trace};

const TREE: &str = "program.main
  program.load
    program.read_item
    program.read_item
    program.read_item
  program.compute
  program.store
";

/// Runs the traced program with only OTLP variables pointing it at `base`.
fn run_over_otlp(base: &str, extra: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_traced_program"));
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", base)
        .env("OTEL_SERVICE_NAME", "otlp-program")
        .env("FLUSH_SECS", "10")
        .env_remove("DAPPLE_ENDPOINT")
        .env_remove("DAPPLE_SERVICE");
    for (name, value) in extra {
        command.env(name, value);
    }
    command.output().expect("the traced program runs")
}

fn printed(output: &Output, what: &str) -> u64 {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(what)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {what:?} line in {output:?}"))
}

#[test]
fn a_program_configured_by_the_otlp_variables_reports_its_exact_tree() {
    let collector = CollectorProcess::start(&["--otlp-http", "127.0.0.1:0"]);
    let otlp = collector.otlp_http.expect("the OTLP/HTTP address");
    let output = run_over_otlp(&format!("http://{otlp}"), &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(printed(&output, "undelivered "), 0);
    assert_eq!(printed(&output, "dropped "), 0);
    let trace_id = printed_trace_id(&output);

    let (status, trace) = collector.get(&format!("/api/traces/{trace_id}"));
    assert_eq!(status, 200, "{trace}");
    assert_eq!(render_trace(&trace), TREE);
    let spans = trace["spans"].as_array().unwrap();
    let by_name = |name: &str| spans.iter().find(|s| s["name"] == name).unwrap();
    let store = by_name("program.store");
    assert_eq!(store["service"], "otlp-program");
    assert_eq!(store["status"]["code"], "error");
    assert_eq!(store["status"]["message"], "disk full after 24 bytes");
    assert_eq!(by_name("program.load")["attributes"]["items"], 3);
    assert_eq!(by_name("program.compute")["attributes"]["return"], 24);
    assert_eq!(store["flags"], 1, "sampled");
    assert_eq!(store["scope"]["name"], "dapple");
    let resource = &store["resource"]["attributes"];
    assert_eq!(resource["service.name"], "otlp-program");
    assert_eq!(resource["telemetry.sdk.name"], "dapple");
    assert_eq!(resource["telemetry.sdk.language"], "rust");
    assert!(resource["process.pid"].as_i64().unwrap() > 0);
}

/// A status and, maybe, a `Retry-After` in seconds.
type Answer = (u16, Option<&'static str>);

/// A digest of a request's body, and its `api-key` header.
type Received = (u64, Option<String>);

#[test]
fn the_same_program_reports_over_otlp_grpc_when_the_protocol_says_so() {
    let collector = CollectorProcess::start(&["--otlp-grpc", "127.0.0.1:0"]);
    let otlp = collector.otlp_grpc.expect("the OTLP/gRPC address");
    let output = run_over_otlp(
        &format!("http://{otlp}"),
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(printed(&output, "undelivered "), 0);
    assert_eq!(printed(&output, "dropped "), 0);
    let trace_id = printed_trace_id(&output);
    let (status, trace) = collector.get(&format!("/api/traces/{trace_id}"));
    assert_eq!(status, 200, "{trace}");
    assert_eq!(render_trace(&trace), TREE);
    let spans = trace["spans"].as_array().unwrap();
    let store = spans.iter().find(|s| s["name"] == "program.store").unwrap();
    assert_eq!(store["status"]["message"], "disk full after 24 bytes");
    assert_eq!(
        store["resource"]["attributes"]["service.name"],
        "otlp-program"
    );
}

/// An OTLP endpoint that answers with the statuses it is given, in order
/// (then 200), and records what it received.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<Vec<Answer>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn answer(
    State(script): State<Script>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let api_key = headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let digest = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hasher);
        hasher.finish()
    };
    script.received.lock().unwrap().push((digest, api_key));
    let next = {
        let mut answers = script.answers.lock().unwrap();
        (!answers.is_empty()).then(|| answers.remove(0))
    };
    let (status, retry_after) = next.unwrap_or((200, None));
    let mut response = (StatusCode::from_u16(status).unwrap(), Vec::<u8>::new()).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.parse().unwrap());
    }
    response
}

/// Runs the program against an endpoint scripted with `answers`; what the
/// endpoint received (a digest of each body, and its `api-key` header) and
/// the program's
/// output.
fn against_script(answers: Vec<Answer>) -> (Vec<Received>, Output) {
    let script = Script {
        answers: Arc::new(Mutex::new(answers)),
        ..Script::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/traces", post(answer))
        .with_state(script.clone());
    let server = runtime.spawn(async move { axum::serve(listener, app).await });
    let output = run_over_otlp(
        &format!("http://{address}"),
        &[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret")],
    );
    server.abort();
    let received = script.received.lock().unwrap().clone();
    (received, output)
}

#[test]
fn a_503_with_retry_after_is_retried_and_the_spans_arrive() {
    let (received, output) = against_script(vec![(503, Some("1")), (429, None)]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(printed(&output, "undelivered "), 0);
    assert_eq!(printed(&output, "dropped "), 0);
    // The spans may leave in more than one request (they end on three
    // threads); the first is refused twice, then sent a third time.
    assert!(received.len() >= 3, "{received:?}");
    assert!(
        received[..3].iter().all(|(body, _)| *body == received[0].0),
        "the same request each time: {received:?}"
    );
    assert!(
        received
            .iter()
            .all(|(_, key)| key.as_deref() == Some("s3cret"))
    );
}

#[test]
fn a_400_is_never_retried_and_its_spans_are_counted_as_dropped() {
    let (received, output) = against_script(vec![(400, None); 8]);
    assert!(output.status.success(), "{output:?}");
    let mut bodies: Vec<u64> = received.iter().map(|(body, _)| *body).collect();
    bodies.sort_unstable();
    bodies.dedup();
    assert_eq!(
        bodies.len(),
        received.len(),
        "no request sent twice: {received:?}"
    );
    assert_eq!(printed(&output, "undelivered "), 0);
    assert_eq!(
        printed(&output, "dropped "),
        7,
        "the seven spans of the trace"
    );
}
