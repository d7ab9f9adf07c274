//! Real processes for the end-to-end tests: the collector and the traced
//! program, both built in this package.

#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A real collector process on free loopback ports, killed when dropped.
#[derive(Debug)]
pub struct CollectorProcess {
    child: Child,
    /// Its native TCP ingest.
    pub native: SocketAddr,
    /// Its HTTP API.
    pub http: SocketAddr,
    /// Its OTLP/HTTP ingest, when started with `--otlp-http`.
    pub otlp_http: Option<SocketAddr>,
    /// Its OTLP/gRPC ingest, when started with `--otlp-grpc`.
    pub otlp_grpc: Option<SocketAddr>,
}

impl CollectorProcess {
    /// Starts `collector serve` with the given extra arguments, on ports the
    /// system picks unless the arguments name them.
    pub fn start(extra: &[&str]) -> CollectorProcess {
        let mut args = vec!["serve"];
        if !extra.contains(&"--http") {
            args.extend(["--http", "127.0.0.1:0"]);
        }
        if !extra.contains(&"--native") && !extra.contains(&"--collector") {
            args.extend(["--native", "127.0.0.1:0"]);
        }
        args.extend(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_collector"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the collector starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the collector prints its addresses");
        let optional = |key: &str| -> Option<SocketAddr> {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(key))
                .and_then(|a| a.parse().ok())
        };
        let address = |key: &str| optional(key).unwrap_or_else(|| panic!("no {key} in {line:?}"));
        CollectorProcess {
            native: address("native="),
            http: address("http="),
            otlp_http: optional("otlp_http="),
            otlp_grpc: optional("otlp_grpc="),
            child,
        }
    }

    /// `GET path` on the HTTP API: the status and the JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .get(&format!("http://{}{path}", self.http))
            .call()
            .expect("the collector answers");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().expect("a body");
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// The spans of `trace_id` from the query API, once it holds at least
    /// `spans` of them (services report on their own schedule); fails after
    /// 30 seconds.
    pub fn trace_with(&self, trace_id: &str, spans: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(&format!("/api/traces/{trace_id}"));
            let got = body["spans"].as_array().cloned().unwrap_or_default();
            if status == 200 && got.len() >= spans {
                assert_eq!(body["trace_id"], trace_id, "{body}");
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "trace {trace_id} has {} of {spans} spans: {body:#}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `POST path` with a binary body: the status and the JSON body.
    pub fn post(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&format!("http://{}{path}", self.http))
            .content_type("application/x-protobuf")
            .send(&body[..])
            .expect("the collector answers");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().expect("a body");
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// The collector's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the collector's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("a VmRSS line")
    }

    /// Kills the process at once, as `kill -9` would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client that returns error statuses as answers.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// The status and the JSON body (or the text, when it is not JSON).
fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut response = response.expect("the collector answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("a body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Runs the instrumented test program against `collector`, with `args`.
pub fn run_traced_program(collector: &str, args: &[&str], flush_secs: u64) -> Output {
    Command::new(env!("CARGO_BIN_EXE_traced_program"))
        .args(args)
        .env("DAPPLE_ENDPOINT", collector)
        .env("DAPPLE_SERVICE", "traced-program")
        .env("FLUSH_SECS", flush_secs.to_string())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the traced program runs")
}

/// The trace id a run of the traced program printed.
pub fn printed_trace_id(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("trace ").map(str::to_owned))
        .expect("the program printed its trace id")
}

/// The names of a trace's spans from the query API, as an indented tree
/// (children by start time), like `SpanTree::render`.
pub fn render_trace(trace: &Value) -> String {
    let spans = trace["spans"].as_array().expect("spans");
    fn walk(spans: &[Value], parent: &Value, depth: usize, out: &mut String) {
        let mut children: Vec<&Value> =
            spans.iter().filter(|s| &s["parent_id"] == parent).collect();
        children.sort_by_key(|s| s["start_unix_nanos"].as_u64());
        for child in children {
            out.push_str(&format!(
                "{:indent$}{}\n",
                "",
                child["name"].as_str().unwrap_or("?"),
                indent = depth * 2
            ));
            walk(spans, &child["span_id"], depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(spans, &Value::Null, 0, &mut out);
    out
}

/// A demo service process, killed when dropped.
pub struct ServiceProcess {
    child: Child,
    /// Its base URL.
    pub url: String,
}

impl ServiceProcess {
    /// Starts `example_service role` as `name`, reporting natively to
    /// `collector`, and waits until it listens.
    pub fn start(collector: &CollectorProcess, role: &str, name: &str, extra: &[&str]) -> Self {
        Self::start_with_env(collector, role, name, extra, &[])
    }

    /// The same, with `env` set for the process too.
    pub fn start_with_env(
        collector: &CollectorProcess,
        role: &str,
        name: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_example_service"))
            .args([role, "--listen", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().copied())
            .env("DAPPLE_ENDPOINT", collector.native.to_string())
            .env("DAPPLE_SERVICE", name)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the service starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("the service prints its address");
        // Built first, so that a bad line still stops the process.
        let mut service = ServiceProcess {
            child,
            url: String::new(),
        };
        service.url = match line.trim().strip_prefix("listening ") {
            Some(url) => url.to_owned(),
            None => panic!("{name} printed {line:?}"),
        };
        service
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts `span` is `expected`, key by key so a failure names the field.
pub fn assert_same_span(span: &Value, expected: &Value) {
    let (span, expected) = (
        span.as_object().expect("a span"),
        expected.as_object().expect("a span"),
    );
    for key in expected.keys().chain(span.keys()) {
        assert_eq!(
            span.get(key),
            expected.get(key),
            "span {:?}, field {key:?}",
            expected["name"]
        );
    }
}

/// Says what a test checked, on one line straight to stderr (past the test
/// harness's capture, like the skip notices): `CHECKED test: what`.
pub fn checked(test: &str, what: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "CHECKED {test}: {what}");
}

/// GETs `url` (a traced service's page): the status and the trace id of
/// its `traceresponse` header.
pub fn view_traced(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(url).call().expect("the service answers");
    let trace = response
        .headers()
        .get("traceresponse")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').nth(1))
        .expect("a traceresponse header")
        .to_owned();
    (response.status().as_u16(), trace)
}
