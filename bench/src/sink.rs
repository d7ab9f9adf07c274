//! The null sink as a child process, and how the benchmark talks to it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// A running null sink process ([`crate::null_sink`]); killed on drop,
/// panics included.
#[derive(Debug)]
pub struct SinkProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    addrs: SinkAddrs,
}

/// Where a null sink listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkAddrs {
    /// Dapple's native protocol, `host:port`.
    pub native: String,
    /// OTLP/HTTP, `http://host:port` (traces at `/v1/traces`).
    pub otlp: String,
}

impl SinkProcess {
    /// Starts `program` with `args` (a binary that runs
    /// [`crate::null_sink::serve`]) and reads the addresses it prints.
    pub fn start(program: &Path, args: &[&str]) -> std::io::Result<SinkProcess> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut sink = SinkProcess {
            child,
            stdin,
            addrs: SinkAddrs {
                native: String::new(),
                otlp: String::new(),
            },
        };
        let stdout = sink.child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        for _ in 0..2 {
            let line = lines.next().transpose()?.unwrap_or_default();
            match line.split_once(' ') {
                Some(("native", addr)) => sink.addrs.native = addr.to_owned(),
                Some(("otlp", url)) => sink.addrs.otlp = url.to_owned(),
                _ => {
                    return Err(std::io::Error::other(format!(
                        "the null sink printed {line:?}, not its addresses"
                    )));
                }
            }
        }
        Ok(sink)
    }

    /// Where it listens.
    pub fn addrs(&self) -> &SinkAddrs {
        &self.addrs
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spans the sink has counted: `(native, otlp)`.
pub type Counts = (u64, u64);

impl SinkAddrs {
    /// The counts, once they reach `(native, otlp)` or `timeout` passed.
    pub fn wait_for(&self, target: Counts, timeout: Duration) -> std::io::Result<Counts> {
        let url = format!(
            "{}/count?native={}&otlp={}&timeout_ms={}",
            self.otlp,
            target.0,
            target.1,
            timeout.as_millis()
        );
        let body = ureq::get(&url)
            .call()
            .map_err(std::io::Error::other)?
            .body_mut()
            .read_to_string()
            .map_err(std::io::Error::other)?;
        let mut numbers = body.split_whitespace().map(str::parse::<u64>);
        match (numbers.next(), numbers.next()) {
            (Some(Ok(native)), Some(Ok(otlp))) => Ok((native, otlp)),
            _ => Err(std::io::Error::other(format!(
                "the null sink answered {body:?}"
            ))),
        }
    }

    /// The counts now.
    pub fn counts(&self) -> std::io::Result<Counts> {
        self.wait_for((0, 0), Duration::ZERO)
    }
}

impl SinkAddrs {
    /// An OTLP/HTTP (protobuf) span exporter to this sink at its defaults:
    /// `opentelemetry-otlp`'s own blocking reqwest client.
    pub fn otlp_exporter(&self) -> opentelemetry_otlp::SpanExporter {
        use opentelemetry_otlp::{Protocol, WithExportConfig};
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", self.otlp))
            .build()
            .expect("an OTLP/HTTP exporter")
    }
}
