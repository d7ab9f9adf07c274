//! Ingest and search figures of the collector, which runs in a child
//! process of its own (this binary, started with `serve`), so that its CPU
//! time can be read from `/proc/<pid>/stat` around each ingest window.
//!
//! For each store, three ingest runs, each into a fresh collector:
//! - `reporter`: a traced program in this process records spans and
//!   `dapple::init`'s reporter sends them over one connection: recording,
//!   encoding, TCP and store together, sharing the machine's cores;
//! - `1 conn` and `N conns`: batch frames of the same spans, encoded before
//!   the clock starts, are written over 1 and over N connections; each
//!   client checks that its acknowledgements come back in sequence order;
//! - `otlp/http` and `otlp/grpc, N conns` (memory store): the same spans as
//!   OTLP `ExportTraceServiceRequest`s of the same size, encoded before the
//!   clock starts, posted over N keep-alive connections (OTLP/HTTP,
//!   protobuf) or N gRPC channels, each request answered before the next.
//!
//! Each run reports spans stored per second (first byte to last ack) and
//! the collector process's CPU time per stored span. The memory store
//! grows from empty in these runs (so page faults are part of the cost);
//! a fourth run, `full`, keeps it at a bound of a fifth of the spans sent,
//! as a long-running collector is, evicting as much as it stores. Then the query API of
//! the SQLite collector is timed over HTTP.
//!
//! ClickHouse: a `clickhouse-server` started on loopback in a temporary
//! directory (skipped, with a line saying so, when there is none), each
//! run into a fresh database: pre-encoded frames over N connections into
//! one collector, and split between two collectors (two processes, one
//! database); then a larger run (10,000,000 spans by default) through the
//! two, after which the query API is timed as for SQLite (trace fetches
//! pick traces at random from the whole run) and the tables' compressed
//! and uncompressed bytes are read from `system.parts` and
//! `system.columns`. ClickHouse's own CPU time is given beside the
//! collectors': during the ingest window, and until its merges are done.
//!
//! `cargo run --release -p dapple-bench --bin collector_figures [spans] [connections] [clickhouse spans] [--only STORE]`
//! (default 1,000,000 spans per run, 4 connections, 10,000,000 spans for
//! the ClickHouse queries; `--only memory|sqlite|clickhouse` runs one
//! store).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dapple::traced;
use dapple_bench::collector_load::{LEAVES, batch_frame, mix, trace_id, trace_spans};
use dapple_bench::collector_process::{self, Collector};
use dapple_bench::cpu;
use dapple_proto::{self as proto, Frame, FrameReader, any_value, frame};
use dapple_testkit::clickhouse::{ClickHouse, Options, ServerBinary};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1 as otlp_common;
use opentelemetry_proto::tonic::resource::v1 as otlp_resource;
use opentelemetry_proto::tonic::trace::v1 as otlp;
use prost::Message;

// The collector child runs on the allocator `dapple-collector` runs on.
dapple_collector::global_allocator!();

/// Spans per batch frame written by the pre-encoded clients.
const SPANS_PER_FRAME: u64 = 1000;

#[traced(name = "request", args(n))]
fn request(n: u64) {
    for i in 0..LEAVES {
        leaf(i, "GET /users/{id}");
    }
}

#[traced(name = "leaf", args(i, route))]
fn leaf(i: u64, route: &str) {
    std::hint::black_box((i, route));
}

/// The user + system CPU time so far of process `pid`.
fn process_cpu(pid: u32) -> Duration {
    Duration::from_nanos(cpu::pid_ns(pid))
}

/// One ingest run's figures.
struct Ingest {
    spans: u64,
    elapsed: Duration,
    /// The collectors' CPU time.
    cpu: Duration,
    /// The database server's, when it is a process apart.
    database_cpu: Option<Duration>,
}

impl Ingest {
    fn print(&self, store: &str, how: &str) {
        let per_span = |cpu: Duration| cpu.as_nanos() as f64 / self.spans as f64;
        let database = match self.database_cpu {
            Some(cpu) => format!(", ClickHouse CPU {:>5.0} ns/span", per_span(cpu)),
            None => String::new(),
        };
        println!(
            "{store:<10} {how:<19} {:>9.0} spans/s, collector CPU {:>5.0} ns/span{database} ({} spans in {:.2} s, {:.2} CPU s)",
            self.spans as f64 / self.elapsed.as_secs_f64(),
            per_span(self.cpu),
            self.spans,
            self.elapsed.as_secs_f64(),
            (self.cpu + self.database_cpu.unwrap_or_default()).as_secs_f64(),
        );
    }
}

/// Spans recorded by the traced program and sent by `dapple::init`'s
/// reporter over one connection.
fn through_the_reporter(collector: &mut Collector, roots: u64) -> Ingest {
    let guard = dapple::init(
        dapple::Config::default()
            .with_endpoint(collector.native.to_string())
            .with_service("bench")
            .with_buffer_bytes(2 << 30),
    );
    let cpu = collector.cpu();
    let start = Instant::now();
    for n in 0..roots {
        request(n);
    }
    let undelivered = dapple::flush(Duration::from_secs(600));
    let elapsed = start.elapsed();
    let cpu = collector.cpu() - cpu;
    drop(guard);
    assert_eq!(undelivered, 0, "every span delivered");
    Ingest {
        spans: roots * (LEAVES + 1),
        elapsed,
        cpu,
        database_cpu: None,
    }
}

/// The hello and the batch frames of connection `connection` of
/// `connections`, carrying its share of `roots` traces.
fn encoded_frames(connection: u64, connections: u64, roots: u64, now: u64) -> (Vec<u8>, u64) {
    let mut wire = Vec::new();
    proto::encode_frame(
        &Frame {
            kind: Some(frame::Kind::Hello(proto::Hello {
                protocol_version: proto::PROTOCOL_VERSION,
                resource: Some(proto::Resource {
                    service_name: "bench".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
        },
        &mut wire,
    );
    let traces: Vec<u64> = (0..roots)
        .filter(|t| t % connections == connection)
        .collect();
    let per_frame = (SPANS_PER_FRAME / (LEAVES + 1)).max(1) as usize;
    let mut sequence = 0;
    for chunk in traces.chunks(per_frame) {
        sequence += 1;
        proto::encode_frame(
            &batch_frame(sequence, chunk.iter().copied(), now),
            &mut wire,
        );
    }
    (wire, sequence)
}

/// Pre-encoded batches written over `connections` connections at once,
/// each connection's acks read back and checked to come in order.
fn pre_encoded(collector: &Collector, roots: u64, connections: u64) -> Ingest {
    pre_encoded_split(&[collector], None, roots, connections)
}

/// [`pre_encoded`] with the connections taking turns among `collectors`,
/// and the CPU time of the `database` process counted apart.
fn pre_encoded_split(
    collectors: &[&Collector],
    database: Option<u32>,
    roots: u64,
    connections: u64,
) -> Ingest {
    let now = dapple::now_unix_nanos();
    let wires: Vec<(Vec<u8>, u64)> = (0..connections)
        .map(|c| encoded_frames(c, connections, roots, now))
        .collect();
    let barrier = Arc::new(Barrier::new(connections as usize + 1));
    let clients: Vec<_> = wires
        .into_iter()
        .enumerate()
        .map(|(c, (wire, frames))| {
            let barrier = barrier.clone();
            let native = collectors[c % collectors.len()].native;
            std::thread::spawn(move || {
                let stream = TcpStream::connect(native).expect("the collector accepts");
                stream.set_nodelay(true).expect("nodelay");
                let mut writer = stream.try_clone().expect("a second handle");
                barrier.wait();
                let sent = std::thread::spawn(move || writer.write_all(&wire));
                let mut acks = FrameReader::new(stream, proto::DEFAULT_MAX_FRAME_BYTES);
                for expected in 1..=frames {
                    match acks.read_frame().expect("a frame").map(|f| f.kind) {
                        Some(Some(frame::Kind::Ack(ack))) => {
                            assert_eq!(ack.sequence, expected, "acks in sequence order")
                        }
                        other => panic!("expected ack {expected}, got {other:?}"),
                    }
                }
                sent.join()
                    .expect("the writer")
                    .expect("the frames are sent");
                let mut rest = Vec::new();
                let _ = acks.get_mut().shutdown(std::net::Shutdown::Write);
                let _ = acks.get_mut().read_to_end(&mut rest);
            })
        })
        .collect();
    timed(
        collectors,
        database,
        &barrier,
        clients,
        roots * (LEAVES + 1),
    )
}

/// A native wire span as OTLP.
fn to_otlp(span: proto::Span) -> otlp::Span {
    let id = |id: u64| id.to_be_bytes().to_vec();
    otlp::Span {
        trace_id: span.trace_id,
        span_id: id(span.span_id),
        parent_span_id: if span.parent_span_id == 0 {
            Vec::new()
        } else {
            id(span.parent_span_id)
        },
        name: span.name,
        kind: otlp::span::SpanKind::Internal as i32,
        start_time_unix_nano: span.start_unix_nanos,
        end_time_unix_nano: span.end_unix_nanos,
        attributes: span
            .attributes
            .into_iter()
            .map(|kv| otlp_common::KeyValue {
                key: kv.key,
                value: kv
                    .value
                    .and_then(|v| v.value)
                    .map(|v| otlp_common::AnyValue {
                        value: Some(match v {
                            any_value::Value::IntValue(i) => {
                                otlp_common::any_value::Value::IntValue(i)
                            }
                            any_value::Value::StringValue(s) => {
                                otlp_common::any_value::Value::StringValue(s)
                            }
                            other => unreachable!("the bench's spans hold no {other:?}"),
                        }),
                    }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// The OTLP requests of connection `connection` of `connections`, each of
/// [`SPANS_PER_FRAME`] spans, carrying its share of `roots` traces.
fn otlp_requests(
    connection: u64,
    connections: u64,
    roots: u64,
    now: u64,
) -> Vec<ExportTraceServiceRequest> {
    let traces: Vec<u64> = (0..roots)
        .filter(|t| t % connections == connection)
        .collect();
    let per_request = (SPANS_PER_FRAME / (LEAVES + 1)).max(1) as usize;
    traces
        .chunks(per_request)
        .map(|chunk| ExportTraceServiceRequest {
            resource_spans: vec![otlp::ResourceSpans {
                resource: Some(otlp_resource::Resource {
                    attributes: vec![otlp_common::KeyValue {
                        key: "service.name".into(),
                        value: Some(otlp_common::AnyValue {
                            value: Some(otlp_common::any_value::Value::StringValue("bench".into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![otlp::ScopeSpans {
                    spans: chunk
                        .iter()
                        .flat_map(|&t| trace_spans(t, now))
                        .map(to_otlp)
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
        .collect()
}

/// Which OTLP transport a run uses.
#[derive(Clone, Copy, PartialEq)]
enum Otlp {
    Http,
    Grpc,
}

/// Pre-encoded OTLP requests sent over `connections` connections at once,
/// each waiting for its answer before the next.
fn otlp_ingest(collector: &Collector, roots: u64, connections: u64, transport: Otlp) -> Ingest {
    let now = dapple::now_unix_nanos();
    let shares: Vec<Vec<ExportTraceServiceRequest>> = (0..connections)
        .map(|c| otlp_requests(c, connections, roots, now))
        .collect();
    let barrier = Arc::new(Barrier::new(connections as usize + 1));
    let clients: Vec<_> = shares
        .into_iter()
        .map(|requests| {
            let barrier = barrier.clone();
            let (http, grpc) = (collector.otlp_http, collector.otlp_grpc);
            std::thread::spawn(move || match transport {
                Otlp::Http => {
                    let bodies: Vec<Vec<u8>> =
                        requests.iter().map(Message::encode_to_vec).collect();
                    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                    let url = format!("http://{http}/v1/traces");
                    barrier.wait();
                    for body in bodies {
                        let response = agent
                            .post(&url)
                            .header("Content-Type", "application/x-protobuf")
                            .send(&body[..])
                            .expect("the collector answers");
                        assert_eq!(response.status().as_u16(), 200);
                    }
                }
                Otlp::Grpc => {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime");
                    runtime.block_on(async move {
                        let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
                            .await
                            .expect("the collector accepts");
                        barrier.wait();
                        for request in requests {
                            let answer =
                                client.export(request).await.expect("the export is stored");
                            assert!(answer.into_inner().partial_success.is_none());
                        }
                    });
                }
            })
        })
        .collect();
    timed(&[collector], None, &barrier, clients, roots * (LEAVES + 1))
}

/// Releases the `clients` waiting at `barrier` and times them until all
/// are done: wall time, the collectors' CPU and the `database` process's
/// for `spans` stored spans.
fn timed(
    collectors: &[&Collector],
    database: Option<u32>,
    barrier: &Barrier,
    clients: Vec<std::thread::JoinHandle<()>>,
    spans: u64,
) -> Ingest {
    let collectors_cpu = || collectors.iter().map(|c| c.cpu()).sum::<Duration>();
    let cpu = collectors_cpu();
    let database_cpu = database.map(process_cpu);
    let start = Instant::now();
    barrier.wait();
    for client in clients {
        client.join().expect("a client");
    }
    Ingest {
        spans,
        elapsed: start.elapsed(),
        cpu: collectors_cpu() - cpu,
        database_cpu: database
            .zip(database_cpu)
            .map(|(pid, cpu)| process_cpu(pid) - cpu),
    }
}

/// p50 and p99 of `runs` timings of `f`, in milliseconds.
fn percentiles(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |p: f64| times[((p * runs as f64).ceil() as usize).clamp(1, runs) - 1];
    (at(0.50).as_secs_f64() * 1e3, at(0.99).as_secs_f64() * 1e3)
}

fn get(agent: &ureq::Agent, url: &str) -> String {
    let mut response = agent.get(url).call().expect("the collector answers");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    response.body_mut().read_to_string().expect("a body")
}

/// Times the query API of a collector of `store`: a search, then fetches
/// of `ids` in turn (when none are given, the 1,000 newest traces').
fn search(http: SocketAddr, store: &str, ids: Option<Vec<String>>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let base = format!("http://{http}");
    let ids = ids.unwrap_or_else(|| {
        let found = get(
            &agent,
            &format!("{base}/api/traces?service=bench&limit=1000"),
        );
        let found: serde_json::Value = serde_json::from_str(&found).expect("JSON");
        found["traces"]
            .as_array()
            .expect("a trace list")
            .iter()
            .filter_map(|t| t["trace_id"].as_str().map(str::to_owned))
            .collect()
    });
    let (p50, p99) = percentiles(100, || {
        let found = get(
            &agent,
            &format!("{base}/api/traces?service=bench&name=leaf&min_duration=50ns&limit=20"),
        );
        assert_eq!(found.matches("\"trace_id\"").count(), 20, "20 traces found");
    });
    println!(
        "{store:<10} search service+name+min_duration, 20 traces: p50 {p50:.1} ms, p99 {p99:.1} ms"
    );
    let mut next = 0;
    let (p50, p99) = percentiles(100, || {
        next = (next + 1) % ids.len();
        let trace = get(&agent, &format!("{base}/api/traces/{}", ids[next]));
        assert!(trace.len() > 1000, "the trace is found");
    });
    println!("{store:<10} fetch one trace of 100 spans by id: p50 {p50:.1} ms, p99 {p99:.1} ms");
}

/// How spans reach the collector in a run.
#[derive(Clone, Copy, PartialEq)]
enum Run {
    /// `dapple::init`'s reporter, one connection.
    Reporter,
    /// Pre-encoded native frames over this many connections.
    Native(u64),
    /// Pre-encoded OTLP requests over this many connections.
    Otlp(Otlp, u64),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(collector_process::SERVE) {
        collector_process::serve_args(&args[2..]);
        return;
    }
    let mut only: Option<String> = None;
    let mut numbers = Vec::new();
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--only" => only = rest.next().cloned(),
            number => match number.parse::<u64>() {
                Ok(number) => numbers.push(number),
                Err(_) => {
                    eprintln!(
                        "usage: collector_figures [spans] [connections] [clickhouse spans] [clickhouse connections] [--only STORE]"
                    );
                    std::process::exit(2);
                }
            },
        }
    }
    let spans = numbers.first().copied().unwrap_or(1_000_000);
    let connections = numbers.get(1).copied().unwrap_or(4).max(1);
    let clickhouse_spans = numbers.get(2).copied().unwrap_or(10_000_000);
    let clickhouse_connections = numbers.get(3).copied().unwrap_or(16).max(2);
    let runs_store = |store: &str| only.as_deref().is_none_or(|o| o == store);
    let roots = spans / (LEAVES + 1);
    let data_dir: PathBuf =
        std::env::temp_dir().join(format!("dapple-collector-figures-{}", std::process::id()));
    let data_dir = data_dir.to_str().expect("a UTF-8 temporary directory");
    println!(
        "{} spans per run ({roots} traces of {} spans; pre-encoded frames of {SPANS_PER_FRAME} spans)",
        roots * (LEAVES + 1),
        LEAVES + 1
    );
    let stored = roots * (LEAVES + 1);
    for store in ["memory", "sqlite"] {
        if !runs_store(store) {
            continue;
        }
        let mut runs: Vec<(String, Run, u64)> = vec![
            ("reporter, 1 conn".into(), Run::Reporter, stored),
            ("1 conn".into(), Run::Native(1), stored),
            (
                format!("{connections} conns"),
                Run::Native(connections),
                stored,
            ),
        ];
        if store == "memory" {
            // A long-running collector sits at its bound: each batch
            // evicts as much as it adds, and memory is reused, not grown.
            runs.push((
                format!("{connections} conns, full"),
                Run::Native(connections),
                stored / 5,
            ));
            runs.push((
                format!("otlp/http, {connections} conns"),
                Run::Otlp(Otlp::Http, connections),
                stored,
            ));
            runs.push((
                format!("otlp/grpc, {connections} conns"),
                Run::Otlp(Otlp::Grpc, connections),
                stored,
            ));
        }
        for (how, run, max_spans) in runs {
            let mut collector = Collector::start(store, data_dir, max_spans);
            let ingest = match run {
                Run::Reporter => through_the_reporter(&mut collector, roots),
                Run::Native(n) => pre_encoded(&collector, roots, n),
                Run::Otlp(transport, n) => otlp_ingest(&collector, roots, n, transport),
            };
            let kept = collector.span_count();
            if max_spans == stored {
                assert_eq!(kept, ingest.spans, "every span stored once");
            } else {
                // Whole traces are evicted.
                assert!(
                    kept <= max_spans && kept + LEAVES + 1 > max_spans,
                    "{kept} kept"
                );
            }
            ingest.print(store, &how);
            if store == "sqlite" && run == Run::Reporter {
                search(collector.http, store, None);
            }
            collector.stop();
        }
    }
    let _ = std::fs::remove_dir_all(data_dir);
    if runs_store("clickhouse") {
        clickhouse_figures(
            roots,
            clickhouse_connections,
            clickhouse_spans / (LEAVES + 1),
        );
    }
}

/// The ClickHouse runs: `roots` traces into one collector and into two
/// over `connections` connections, then `big_roots` traces into two, the
/// query API over them, and what they take on disk.
fn clickhouse_figures(roots: u64, connections: u64, big_roots: u64) {
    const STORE: &str = "clickhouse";
    let Some(binary) = ServerBinary::find() else {
        println!(
            "{STORE:<10} skipped: clickhouse-server not found (apt-get install clickhouse-server, \
             or DAPPLE_CLICKHOUSE=/path/to/clickhouse)"
        );
        return;
    };
    let options = Options {
        max_memory_usage: 8_000_000_000,
        log_queries: true,
    };
    let server = ClickHouse::start(&binary, options).expect("clickhouse-server starts");
    println!(
        "{STORE:<10} {} {}, on loopback; each run into a fresh database",
        binary.program().display(),
        server.query("SELECT version()").trim()
    );
    let runs = [
        (1, roots, format!("1 coll, {connections} conns")),
        (2, roots, format!("2 colls, {connections} conns")),
        (2, big_roots, format!("2 colls, {connections} conns")),
    ];
    let last = runs.len() - 1;
    for (run, (collectors, roots, how)) in runs.into_iter().enumerate() {
        // A database of its own: dropping the last one now would make
        // ClickHouse delete thousands of files during this run.
        let database = format!("dapple_{run}");
        std::thread::sleep(Duration::from_millis(1100));
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let started: Vec<Collector> = (0..collectors)
            .map(|_| Collector::start(STORE, &format!("{} {database}", server.url), u64::MAX))
            .collect();
        let refs: Vec<&Collector> = started.iter().collect();
        let ingest = pre_encoded_split(&refs, Some(server.pid()), roots, connections);
        let before_merges = process_cpu(server.pid());
        ingest.print(STORE, &how);
        server.settle(Duration::from_secs(300));
        let merges = process_cpu(server.pid()) - before_merges;
        for (kind, count, seconds, written, read) in server.statements_since(since) {
            println!(
                "{STORE:<10} {:<19} {count:>6} {kind:<6} statements, {seconds:>6.2} s in ClickHouse, {written:>9} rows written, {read:>10} read",
                "",
            );
        }
        let mut first = started.into_iter();
        let mut counter = first.next().expect("a collector");
        assert_eq!(counter.span_count(), ingest.spans, "every span stored once");
        println!(
            "{STORE:<10} {:<19} ClickHouse CPU after the last ack, merging: {:.0} ns/span ({:.2} CPU s)",
            "",
            merges.as_nanos() as f64 / ingest.spans as f64,
            merges.as_secs_f64()
        );
        if run == last {
            // Traces from all over the run, not only the newest.
            let ids = (0..100)
                .map(|i| {
                    let trace = mix(i) % roots;
                    dapple::TraceId::from_bytes(trace_id(trace))
                        .expect("a nonzero id")
                        .to_string()
                })
                .collect();
            search(counter.http, STORE, Some(ids));
            read_time_copies(&server, &database, roots);
            print_sizes(&server, &database);
        }
        counter.stop();
        first.for_each(Collector::stop);
    }
}

/// What keeping one row per span at read time costs a trace fetch: the
/// store's statement with `LIMIT 1 BY span_id`, without it, and with
/// `FINAL` instead; and what the lookup table ordered by trace id saves:
/// the same statement on `spans`, whose primary index cannot narrow a
/// trace id (18.16 has no data skipping indexes to try instead). Straight to
/// ClickHouse, 100 traces each.
fn read_time_copies(server: &ClickHouse, database: &str, roots: u64) {
    let variants = [
        (
            "LIMIT 1 BY span_id",
            "spans_by_trace",
            "",
            " LIMIT 1 BY span_id",
        ),
        ("every row", "spans_by_trace", "", ""),
        ("FINAL", "spans_by_trace", " FINAL", ""),
        ("spans, no lookup", "spans", "", " LIMIT 1 BY span_id"),
    ];
    for (label, table, final_, limit_by) in variants {
        let (p50, p99) = percentiles(100, {
            let mut i = 0;
            move || {
                i += 1;
                let literal: String = trace_id(mix(i + 1000) % roots)
                    .iter()
                    .map(|b| format!("\\x{b:02X}"))
                    .collect();
                server.query(&format!(
                    "SELECT service, resource_id, body FROM {database}.{table}{final_}
                     WHERE trace_id = '{literal}'{limit_by} FORMAT RowBinary"
                ));
            }
        });
        println!(
            "clickhouse trace rows straight from ClickHouse, {label:<18}: p50 {p50:.1} ms, p99 {p99:.1} ms"
        );
    }
}

/// Rows, compressed and uncompressed bytes of the store's tables and their
/// columns, as `system.parts` and `system.columns` give them.
fn print_sizes(server: &ClickHouse, database: &str) {
    let parts = server.query(&format!(
        "SELECT table, sum(rows), count(), sum(data_compressed_bytes),
                sum(data_uncompressed_bytes), sum(bytes_on_disk)
         FROM system.parts WHERE database = '{database}' AND active
         GROUP BY table ORDER BY table FORMAT TSV"
    ));
    println!("clickhouse sizes (system.parts, active parts):");
    println!(
        "  {:<16} {:>10} {:>6} {:>14} {:>14} {:>14} {:>7} {:>10}",
        "table", "rows", "parts", "compressed", "uncompressed", "on disk", "ratio", "disk B/row"
    );
    for line in parts.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let number = |i: usize| f[i].parse::<f64>().unwrap_or(0.0);
        println!(
            "  {:<16} {:>10} {:>6} {:>14} {:>14} {:>14} {:>7.2} {:>10.1}",
            f[0],
            f[1],
            f[2],
            f[3],
            f[4],
            f[5],
            number(4) / number(3).max(1.0),
            number(5) / number(1).max(1.0)
        );
    }
    let columns = server.query(&format!(
        "SELECT table, name, data_compressed_bytes, data_uncompressed_bytes
         FROM system.columns WHERE database = '{database}'
           AND table IN ('spans', 'spans_by_trace')
         ORDER BY table, data_compressed_bytes DESC FORMAT TSV"
    ));
    println!("clickhouse columns (system.columns):");
    println!(
        "  {:<16} {:<18} {:>14} {:>14} {:>7}",
        "table", "column", "compressed", "uncompressed", "ratio"
    );
    for line in columns.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let number = |i: usize| f[i].parse::<f64>().unwrap_or(0.0);
        println!(
            "  {:<16} {:<18} {:>14} {:>14} {:>7.2}",
            f[0],
            f[1],
            f[2],
            f[3],
            number(3) / number(2).max(1.0)
        );
    }
}
