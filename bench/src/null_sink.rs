//! A sink that receives spans as real exporters send them, counts them and
//! discards them: Dapple's native protocol over TCP, and OTLP/HTTP
//! (protobuf). It runs as its own process (`null_sink`, or `figures
//! --null-sink`), so that its decoding is not counted as the benchmarked
//! process's CPU.
//!
//! On start it prints two lines, `native <host:port>` and
//! `otlp <http://host:port>`, both on free loopback ports. `GET /count` on
//! the OTLP port answers `<native spans> <otlp spans>`; with
//! `?native=N&otlp=M&timeout_ms=T` it first waits until both counts reach
//! their targets or the timeout passes. It exits when its standard input
//! closes, so it never outlives the process that started it.

use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use dapple_proto::{Ack, Frame, FrameReader, frame, write_frame};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

/// What the sink has received.
#[derive(Debug, Default)]
struct Counts {
    native: AtomicU64,
    otlp: AtomicU64,
    arrived: tokio::sync::Notify,
}

impl Counts {
    fn add_native(&self, spans: u64) {
        self.native.fetch_add(spans, Ordering::SeqCst);
        self.arrived.notify_waiters();
    }

    fn add_otlp(&self, spans: u64) {
        self.otlp.fetch_add(spans, Ordering::SeqCst);
        self.arrived.notify_waiters();
    }

    fn get(&self) -> (u64, u64) {
        (
            self.native.load(Ordering::SeqCst),
            self.otlp.load(Ordering::SeqCst),
        )
    }
}

/// Runs the sink until standard input closes.
pub fn serve() -> std::io::Result<()> {
    let counts = Arc::new(Counts::default());

    let native = TcpListener::bind("127.0.0.1:0")?;
    let native_addr = native.local_addr()?;
    let accepting = counts.clone();
    std::thread::Builder::new()
        .name("native-accept".into())
        .spawn(move || accept_native(native, accepting))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let http = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let http_addr = http.local_addr()?;
    let app = Router::new()
        .route("/v1/traces", post(otlp_traces))
        .route("/count", get(count))
        .layer(DefaultBodyLimit::disable())
        .with_state(counts);
    runtime.spawn(async move { axum::serve(http, app).await });

    let mut out = std::io::stdout().lock();
    writeln!(out, "native {native_addr}")?;
    writeln!(out, "otlp http://{http_addr}")?;
    out.flush()?;
    drop(out);

    // Until the parent closes our standard input (or dies).
    for line in std::io::stdin().lock().lines() {
        line?;
    }
    Ok(())
}

fn accept_native(listener: TcpListener, counts: Arc<Counts>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // Out of descriptors or the like: back off instead of spinning.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let counts = counts.clone();
        let _ = std::thread::Builder::new()
            .name("native-conn".into())
            .spawn(move || {
                if let Err(e) = converse(stream, &counts) {
                    eprintln!("null_sink: native connection: {e}");
                }
            });
    }
}

/// Reads a Hello, then answers each Batch with an Ack of its sequence,
/// as the collector does, after counting its spans.
fn converse(stream: TcpStream, counts: &Counts) -> Result<(), Box<dyn std::error::Error>> {
    stream.set_nodelay(true)?;
    let mut replies = stream.try_clone()?;
    let mut frames = FrameReader::new(stream, dapple_proto::DEFAULT_MAX_FRAME_BYTES);
    match frames.read_frame()? {
        Some(Frame {
            kind: Some(frame::Kind::Hello(_)),
        }) => {}
        None => return Ok(()),
        Some(other) => return Err(format!("expected a hello, got {other:?}").into()),
    }
    while let Some(frame) = frames.read_frame()? {
        let Some(frame::Kind::Batch(batch)) = frame.kind else {
            return Err("expected a batch".into());
        };
        counts.add_native(batch.spans.len() as u64);
        let ack = Frame {
            kind: Some(frame::Kind::Ack(Ack {
                sequence: batch.sequence,
            })),
        };
        write_frame(&mut replies, &ack)?;
    }
    Ok(())
}

async fn otlp_traces(State(counts): State<Arc<Counts>>, body: Bytes) -> impl IntoResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new()).into_response();
    };
    let spans: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    counts.add_otlp(spans as u64);
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

/// Targets to wait for before answering `/count`.
#[derive(Debug, serde::Deserialize)]
struct Wait {
    #[serde(default)]
    native: u64,
    #[serde(default)]
    otlp: u64,
    #[serde(default)]
    timeout_ms: u64,
}

async fn count(State(counts): State<Arc<Counts>>, Query(wait): Query<Wait>) -> String {
    let reached = |(native, otlp): (u64, u64)| native >= wait.native && otlp >= wait.otlp;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait.timeout_ms);
    loop {
        let mut arrived = std::pin::pin!(counts.arrived.notified());
        // Registered before reading the counts: no arrival is missed.
        arrived.as_mut().enable();
        let now = counts.get();
        if reached(now) || tokio::time::Instant::now() >= deadline {
            return format!("{} {}\n", now.0, now.1);
        }
        let _ = tokio::time::timeout_at(deadline, arrived).await;
    }
}
