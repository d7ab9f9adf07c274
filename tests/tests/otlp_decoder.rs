//! Dapple's OTLP/HTTP export read by a decoder that is not Dapple's: the
//! traced program, configured only by the `OTEL_*` variables, exports to
//! `tests/python/otlp_sink.py`, which decodes each request with the
//! official protobuf classes of `opentelemetry-proto` (what the Python
//! SDK's exporters use) and writes every span as a JSON line; the tests
//! assert on what Python decoded, field by field and with the wire types.
//!
//! Without the Python packages the tests print a skip notice and pass,
//! except under `CI=true`, where they fail (`.ci/run` installs them).

mod support;

#[path = "support/python.rs"]
mod python;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use python::PythonServer;
use serde_json::{Value, json};
use support::{printed_trace_id, render_trace};

const TREE: &str = "program.main
  program.load
    program.read_item
    program.read_item
    program.read_item
  program.compute
  program.store
";

/// The service name the program is given through `OTEL_SERVICE_NAME`.
const SERVICE: &str = "decoded-program";

/// What the sink decoded from one run of the traced program.
struct Decoded {
    /// The program's output.
    output: Output,
    /// The program's process id.
    pid: u32,
    /// Unix nanoseconds just before it started and just after it ended.
    ran: (u64, u64),
    /// One `{content_type, content_encoding, spans}` per request.
    requests: Vec<Value>,
    /// Every span, as `otlp_sink.py` writes them.
    spans: Vec<Value>,
}

fn unix_nanos() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_nanos()).unwrap()
}

/// Runs the traced program with `args`, exporting over OTLP/HTTP to a
/// fresh sink; `None` (after a skip notice) without the Python packages.
fn export_to_sink(args: &[&str]) -> Option<Decoded> {
    if !python::python_has(python::SDK, "the OTLP decoder tests") {
        return None;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("decoded.jsonl");
    let sink = PythonServer::start("otlp_sink.py", &["--out", out.to_str().expect("UTF-8")]);
    let port: u16 = sink
        .first_line
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the sink printed {:?}", sink.first_line));

    let before = unix_nanos();
    let child = Command::new(env!("CARGO_BIN_EXE_traced_program"))
        .args(args)
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("OTEL_SERVICE_NAME", SERVICE)
        .env("FLUSH_SECS", "10")
        .env("RUST_BACKTRACE", "0")
        .env_remove("DAPPLE_ENDPOINT")
        .env_remove("DAPPLE_SERVICE")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the traced program starts");
    let pid = child.id();
    let output = child.wait_with_output().expect("the traced program ends");
    let after = unix_nanos();

    // The sink writes a request's lines before it answers, and the program
    // waits for the answers before it ends: the file is complete.
    let (requests, spans) = read_decoded(&out);
    Some(Decoded {
        output,
        pid,
        ran: (before, after),
        requests,
        spans,
    })
}

/// The sink's JSON lines: the requests and the spans.
fn read_decoded(path: &Path) -> (Vec<Value>, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (mut requests, mut spans) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let line: Value = serde_json::from_str(line).expect("a JSON line");
        match (&line["request"], &line["span"]) {
            (Value::Null, span @ Value::Object(_)) => spans.push(span.clone()),
            (request @ Value::Object(_), Value::Null) => requests.push(request.clone()),
            _ => panic!("neither a request nor a span: {line}"),
        }
    }
    (requests, spans)
}

/// The number the program printed after `what`.
fn printed(output: &Output, what: &str) -> u64 {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(what)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {what:?} line in {output:?}"))
}

fn field<'a>(span: &'a Value, key: &str) -> &'a Value {
    span.get(key)
        .unwrap_or_else(|| panic!("no {key:?} in {span}"))
}

fn uint(span: &Value, key: &str) -> u64 {
    field(span, key)
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {span}"))
}

/// Checks what holds for every span of one run: protobuf requests, the
/// printed trace id, unique 8-byte ids, parents that are in the trace,
/// internal kind, the sampled flag, times within the run and children
/// within their parents, the program's resource and Dapple's scope, and no
/// key twice. Gives the spans by name.
fn check_common<'a>(decoded: &'a Decoded, trace_id: &str) -> HashMap<&'a str, Vec<&'a Value>> {
    let spans = &decoded.spans;
    for request in &decoded.requests {
        assert_eq!(request["content_type"], "application/x-protobuf");
    }
    let counted: u64 = decoded.requests.iter().map(|r| uint(r, "spans")).sum();
    assert_eq!(counted, spans.len() as u64, "{:?}", decoded.requests);

    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .map(|s| (field(s, "span_id").as_str().expect("a span id"), s))
        .collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique: {spans:#?}");
    let (started, ended) = decoded.ran;
    for span in spans {
        let name = field(span, "name");
        assert_eq!(field(span, "trace_id"), trace_id, "{name}");
        let id = field(span, "span_id").as_str().unwrap();
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}: span id {id}"
        );
        assert_eq!(field(span, "kind"), "internal", "{name}");
        assert_eq!(uint(span, "flags") & 0xff, 1, "{name}: W3C flags, sampled");
        assert_eq!(field(span, "trace_state"), "", "{name}");
        let (start, end) = (uint(span, "start_unix_nanos"), uint(span, "end_unix_nanos"));
        assert!(start <= end, "{name}: starts after it ends: {span}");
        // Unix nanoseconds of this run, not another clock or unit.
        assert!(
            started <= start && end <= ended,
            "{name}: {start}..{end} is outside the run {started}..{ended}"
        );
        if let Some(parent) = field(span, "parent_id").as_str() {
            let parent = by_id
                .get(parent)
                .unwrap_or_else(|| panic!("{name}: parent {parent} is not in the trace"));
            assert!(
                uint(parent, "start_unix_nanos") <= start && end <= uint(parent, "end_unix_nanos"),
                "{name} is not within its parent {}",
                parent["name"]
            );
        }
        let resource = field(span, "resource");
        assert_eq!(
            resource["service.name"],
            json!({"string": SERVICE}),
            "{name}"
        );
        assert_eq!(resource["telemetry.sdk.name"], json!({"string": "dapple"}));
        assert_eq!(
            resource["telemetry.sdk.language"],
            json!({"string": "rust"})
        );
        assert_eq!(resource["process.pid"], json!({"int": decoded.pid}));
        assert_eq!(resource, &spans[0]["resource"], "one resource for all");
        assert_eq!(
            field(span, "scope"),
            &json!({"name": "dapple", "version": env!("CARGO_PKG_VERSION"), "attributes": {}}),
            "{name}"
        );
        // The sink shows a key sent twice as a list of its values.
        for (map, what) in [(&span["attributes"], "attribute"), (resource, "resource")] {
            for (key, value) in map.as_object().expect("a map") {
                assert!(
                    !value.is_array(),
                    "{name}: {what} {key} sent twice: {value}"
                );
            }
        }
        for count in ["dropped_attributes", "dropped_events", "dropped_links"] {
            assert_eq!(field(span, count), 0, "{name}: {count}");
        }
        assert_eq!(field(span, "links"), &json!([]), "{name}");
    }
    let mut by_name: HashMap<&str, Vec<&Value>> = HashMap::new();
    for span in spans {
        by_name
            .entry(span["name"].as_str().expect("a name"))
            .or_default()
            .push(span);
    }
    by_name
}

#[test]
fn the_official_decoder_reads_the_whole_tree_with_typed_attributes() {
    let Some(decoded) = export_to_sink(&[]) else {
        return;
    };
    let output = &decoded.output;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(printed(output, "undelivered "), 0);
    assert_eq!(printed(output, "dropped "), 0);
    let trace_id = printed_trace_id(output);

    assert_eq!(decoded.spans.len(), 7, "{:#?}", decoded.spans);
    assert_eq!(render_trace(&json!({"spans": decoded.spans})), TREE);
    let by_name = check_common(&decoded, &trace_id);
    let one = |name: &str| {
        let spans = &by_name[name];
        assert_eq!(spans.len(), 1, "{name}: {spans:#?}");
        spans[0]
    };

    assert_eq!(one("program.main")["parent_id"], Value::Null);
    assert_eq!(one("program.main")["attributes"], json!({}));
    assert_eq!(
        one("program.load")["attributes"],
        json!({"items": {"int": 3}})
    );
    assert_eq!(
        one("program.compute")["attributes"],
        json!({"n": {"int": 4}, "return": {"int": 24}})
    );
    for read in &by_name["program.read_item"] {
        assert_eq!(read["attributes"], json!({}));
        assert_eq!(read["parent_id"], one("program.load")["span_id"]);
    }

    let store = one("program.store");
    assert_eq!(store["attributes"]["total"], json!({"int": 24}));
    assert_eq!(
        store["status"],
        json!({"code": "error", "message": "disk full after 24 bytes"})
    );
    for span in &decoded.spans {
        if span["name"] != "program.store" {
            assert_eq!(span["status"], json!({"code": "unset", "message": ""}));
        }
    }
}

#[test]
fn a_panicking_programs_spans_decode_with_the_panic_as_their_error() {
    let Some(decoded) = export_to_sink(&["panic"]) else {
        return;
    };
    let output = &decoded.output;
    assert!(!output.status.success(), "the program panics: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the program gave up"), "{stderr}");
    let trace_id = printed_trace_id(output);

    assert_eq!(
        render_trace(&json!({"spans": decoded.spans})),
        format!("{TREE}  program.explode\n")
    );
    let by_name = check_common(&decoded, &trace_id);
    let panicked = json!({"code": "error", "message": "panicked: the program gave up"});
    for name in ["program.explode", "program.main"] {
        assert_eq!(by_name[name][0]["status"], panicked, "{name}");
    }
}
