//! The OpenTelemetry Python SDK for the tests that drive it: whether
//! `python3` has it, a script of `tests/python/` run to its end, and one run
//! as a server. Include with `#[path = "support/python.rs"] mod python;`.
//!
//! Without the packages a test prints a skip notice and passes, except
//! under `CI=true`, where it fails (`.ci/run` installs them), as in
//! `otlp_python.rs`.

#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

/// The SDK and its OTLP/HTTP exporter, which brings `opentelemetry-proto`
/// and `protobuf`.
pub const SDK: &str = "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, \
                       opentelemetry.proto.collector.trace.v1.trace_service_pb2";
const PACKAGES: &str = "opentelemetry-sdk opentelemetry-exporter-otlp-proto-http \
                        opentelemetry-exporter-otlp-proto-grpc";

/// Whether `python3` can run `imports`. When it cannot: under `CI=true` a
/// failure, since `.ci/run` installs the packages; elsewhere a skip notice
/// naming `test` and `false`.
pub fn python_has(imports: &str, test: &str) -> bool {
    let present = Command::new("python3")
        .args(["-c", imports])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "CI=true but python3 lacks the OpenTelemetry SDK or its OTLP exporters: \
             `python3 -m pip install {PACKAGES}` (as .ci/run does)"
        );
    }
    // Straight to stderr, past the test harness's capture.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: python3 cannot `{imports}` (python3 -m pip install {PACKAGES}); \
         set CI=true to make this a failure"
    );
    false
}

/// The path of `tests/python/{name}`.
pub fn script(name: &str) -> String {
    format!("{}/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tests/python/{name}` with `args` to its end (killed after a
/// minute, should it hang); fails unless it succeeds. Its standard output.
pub fn run_script(name: &str, args: &[&str]) -> String {
    let output: Output = Command::new("timeout")
        .args(["--kill-after=5", "60", "python3", &script(name)])
        .args(args)
        .output()
        .expect("timeout and python3 run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(124), "{name} hung: {stderr}");
    assert!(output.status.success(), "{name} failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A script of `tests/python/` running as a server, killed when dropped.
#[derive(Debug)]
pub struct PythonServer {
    child: Child,
    /// Its standard output, kept open so that a later print does not fail.
    _stdout: BufReader<ChildStdout>,
    /// The first line it printed (without its line end).
    pub first_line: String,
}

impl PythonServer {
    /// Starts `tests/python/{name}` with `args` and waits for its first line.
    pub fn start(name: &str, args: &[&str]) -> PythonServer {
        let mut child = Command::new("python3")
            .arg(script(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("its stdout"));
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let mut server = PythonServer {
            child,
            _stdout: stdout,
            first_line: line.trim_end().to_owned(),
        };
        if !matches!(read, Ok(n) if n > 0) {
            let status = server.child.wait();
            panic!("{name} printed nothing and ended: {status:?} (its stderr is above)");
        }
        server
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
