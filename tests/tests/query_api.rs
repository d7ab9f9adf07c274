//! The collector's query API on each store (memory, SQLite, ClickHouse):
//! search with every filter, each sort and cursor paging, one trace,
//! services and span names, aggregates and their series, dependencies,
//! HTTP ingest and clear 400s. The same spans sent to a collector on each
//! store must give the same JSON from every endpoint, and that JSON what
//! the spans say it must be.
//!
//! ClickHouse is a real server (`support/clickhouse.rs`) shared by this
//! file's tests while any of them runs, stopped when the last lets go, with
//! a database per collector. Without the server the ClickHouse parts print
//! a skip notice and the rest runs, except under `CI=true`, where a missing
//! server fails.

#[path = "support/clickhouse.rs"]
mod clickhouse;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use dapple_proto as proto;
use prost::Message;
use serde_json::{Value, json};
use support::{CollectorProcess, checked, run_traced_program};

/// Where a collector keeps its spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Memory,
    Sqlite,
    ClickHouse,
}

impl Backend {
    const ALL: [Backend; 3] = [Backend::Memory, Backend::Sqlite, Backend::ClickHouse];

    /// A collector on a new, empty store of this kind; `None` for ClickHouse
    /// when this machine has no server (after a skip notice naming `test`).
    fn start(self, test: &str) -> Option<Collector> {
        let mut data_dir = None;
        let mut server = None;
        let args: Vec<String> = match self {
            Backend::Memory => vec!["--store".into(), "memory".into()],
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("dapple-query-")
                    .tempdir()
                    .expect("a temporary directory");
                let path = dir.path().display().to_string();
                data_dir = Some(dir);
                vec!["--store".into(), "sqlite".into(), "--data-dir".into(), path]
            }
            Backend::ClickHouse => {
                let shared = shared_clickhouse(test)?;
                let database = format!(
                    "query_api_{}",
                    NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
                );
                let url = shared.url.clone();
                server = Some(shared);
                vec![
                    "--store".into(),
                    "clickhouse".into(),
                    "--clickhouse-url".into(),
                    url,
                    "--clickhouse-database".into(),
                    database,
                ]
            }
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Some(Collector {
            process: CollectorProcess::start(&args),
            backend: self,
            _data_dir: data_dir,
            _server: server,
        })
    }
}

/// A collector and what its store needs, let go after the process is gone
/// (fields drop in order).
struct Collector {
    process: CollectorProcess,
    backend: Backend,
    _data_dir: Option<tempfile::TempDir>,
    _server: Option<Arc<clickhouse::ClickHouse>>,
}

impl Deref for Collector {
    type Target = CollectorProcess;
    fn deref(&self) -> &CollectorProcess {
        &self.process
    }
}

static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

/// The ClickHouse server of this file's tests: started by the first test
/// that asks while no other holds it, stopped (and its directory removed)
/// when the last holder lets go, so no server outlives the tests. `None`
/// without a server (see `ClickHouse::start`).
fn shared_clickhouse(test: &str) -> Option<Arc<clickhouse::ClickHouse>> {
    static SHARED: Mutex<Weak<clickhouse::ClickHouse>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(server) = shared.upgrade() {
        return Some(server);
    }
    let server = Arc::new(clickhouse::ClickHouse::start(test)?);
    *shared = Arc::downgrade(&server);
    Some(server)
}

// The traced program's five traces, on each store.

fn with_five_traces(backend: Backend, test: &str) -> Option<Collector> {
    let collector = backend.start(test)?;
    let output = run_traced_program(&collector.native.to_string(), &["many", "5"], 10);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("undelivered 0"));
    Some(collector)
}

fn trace_ids(body: &Value) -> Vec<String> {
    body["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("not a trace list: {body}"))
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_owned())
        .collect()
}

fn search_filters_and_pages(collector: &CollectorProcess) {
    let (status, all) = collector.get("/api/traces?service=traced-program");
    assert_eq!(status, 200, "{all}");
    let all_ids = trace_ids(&all);
    assert_eq!(all_ids.len(), 5);
    let first = &all["traces"][0];
    assert_eq!(first["root_name"], "program.main");
    assert_eq!(first["root_service"], "traced-program");
    assert_eq!(first["span_count"], 7);
    assert_eq!(first["error_count"], 1);
    let starts: Vec<u64> = all["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["start_unix_nanos"].as_u64().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Pages of two follow each other without overlap.
    let (_, page1) = collector.get("/api/traces?service=traced-program&limit=2");
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let (_, page2) = collector.get(&format!(
        "/api/traces?service=traced-program&limit=2&cursor={cursor}"
    ));
    let cursor = page2["next_cursor"].as_str().unwrap().to_owned();
    let (_, page3) = collector.get(&format!(
        "/api/traces?service=traced-program&limit=2&cursor={cursor}"
    ));
    assert!(page3["next_cursor"].is_null());
    let paged: Vec<String> = [page1, page2, page3].iter().flat_map(trace_ids).collect();
    assert_eq!(paged, all_ids);

    let count = |query: &str| trace_ids(&collector.get(&format!("/api/traces?{query}")).1).len();
    assert_eq!(count("name=program.compute&min_duration=0ns"), 5);
    assert_eq!(count("name=program.compute&min_duration=1h"), 0);
    assert_eq!(count("max_duration=1ns"), 0);
    assert_eq!(count("attr=items=3"), 5);
    assert_eq!(
        count("attr=items=3&attr=n=4"),
        5,
        "each attr on a span of its own"
    );
    assert_eq!(
        count("attr=items=3&attr=n=4&same_span=true"),
        0,
        "all attrs on one span"
    );
    assert_eq!(count("attr=items=4"), 0);
    assert_eq!(count("error=true&name=program.store"), 5);
    assert_eq!(
        count("error=true&name=program.load"),
        5,
        "the error is in store"
    );
    assert_eq!(count("error=true&name=program.load&same_span=true"), 0);
    assert_eq!(count("service=nobody"), 0);
    assert_eq!(count("start=9999999999999999999"), 0);
}

fn bad_parameters_are_named(collector: &CollectorProcess) {
    for (query, parameter) in [
        ("min_duration=fast", "min_duration"),
        ("max_duration=3", "max_duration"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("attr=novalue", "attr"),
        ("error=maybe", "error"),
        ("start=yesterday", "start"),
        ("cursor=xyz", "cursor"),
        ("sort=oldest", "sort"),
        ("serivce=x", "query"),
    ] {
        let (status, body) = collector.get(&format!("/api/traces?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    let (status, body) = collector.get("/api/aggregates?window=forever");
    assert_eq!(
        (status, &body["parameter"]),
        (400, &serde_json::json!("window"))
    );
}

fn services_and_aggregates(collector: &CollectorProcess) {
    let (_, services) = collector.get("/api/services");
    assert_eq!(services["services"], serde_json::json!(["traced-program"]));
    let (_, names) = collector.get("/api/services/traced-program/names");
    assert_eq!(
        names["names"],
        serde_json::json!([
            "program.compute",
            "program.load",
            "program.main",
            "program.read_item",
            "program.store"
        ])
    );
    assert_eq!(collector.get("/api/services/nobody/names").0, 404);

    let (status, aggregates) = collector.get("/api/aggregates?window=1h");
    assert_eq!(status, 200);
    let op = |name: &str| {
        aggregates["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(op("program.read_item")["count"], 15);
    assert_eq!(op("program.main")["count"], 5);
    assert_eq!(op("program.store")["error_count"], 5);
    assert_eq!(op("program.store")["error_rate"], 1.0);
    assert_eq!(op("program.main")["error_count"], 0);
    let main = op("program.main");
    let p = |k: &str| main[k].as_u64().unwrap();
    assert!(p("p50_nanos") <= p("p90_nanos") && p("p90_nanos") <= p("p99_nanos"));
    assert!(p("p99_nanos") <= p("max_nanos") && p("max_nanos") > 0);

    let (status, series) =
        collector.get("/api/aggregates/series?name=program.store&window=1h&buckets=60");
    assert_eq!(status, 200, "{series}");
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 60);
    let sum = |key: &str| points.iter().map(|p| p[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("count"), sum("error_count")), (5, 5));

    let (status, dependencies) = collector.get("/api/dependencies?window=1h");
    assert_eq!(status, 200);
    assert_eq!(dependencies["dependencies"], json!([]), "one service");
}

fn the_query_api_answers_over(backend: Backend, test: &str) {
    let Some(collector) = with_five_traces(backend, test) else {
        return;
    };
    search_filters_and_pages(&collector);
    bad_parameters_are_named(&collector);
    services_and_aggregates(&collector);
    checked(
        test,
        "5 traces of 7 spans: 11 searches, 3 pages, 11 bad parameters, services, names, \
         aggregates, a series, dependencies",
    );
}

#[test]
fn the_query_api_answers_over_the_memory_store() {
    the_query_api_answers_over(
        Backend::Memory,
        "the_query_api_answers_over_the_memory_store",
    );
}

#[test]
fn the_query_api_answers_over_the_sqlite_store() {
    the_query_api_answers_over(
        Backend::Sqlite,
        "the_query_api_answers_over_the_sqlite_store",
    );
}

#[test]
fn the_query_api_answers_over_the_clickhouse_store() {
    the_query_api_answers_over(
        Backend::ClickHouse,
        "the_query_api_answers_over_the_clickhouse_store",
    );
}

fn batch(service: &str, spans: Vec<proto::Span>) -> Vec<u8> {
    proto::Batch {
        sequence: 1,
        spans,
        dropped_spans: 0,
        resource: Some(proto::Resource {
            service_name: service.into(),
            ..Default::default()
        }),
    }
    .encode_to_vec()
}

fn http_ingest_feeds_the_dependency_graph(collector: &CollectorProcess) {
    let now = dapple::now_unix_nanos();
    let trace = vec![9u8; 16];
    let span = |id: u64, parent: u64, name: &str, error: bool| proto::Span {
        trace_id: trace.clone(),
        span_id: id,
        parent_span_id: parent,
        name: name.into(),
        start_unix_nanos: now - 5_000_000 + id,
        end_unix_nanos: now - 1_000_000,
        status: error.then(|| proto::Status {
            code: proto::StatusCode::Error as i32,
            message: "boom".into(),
        }),
        ..Default::default()
    };
    let (status, body) = collector.post(
        "/api/v1/spans",
        batch(
            "frontend",
            vec![
                span(1, 0, "GET /", false),
                span(2, 1, "call backend", false),
            ],
        ),
    );
    assert_eq!((status, &body["stored"]), (200, &serde_json::json!(2)));
    let (status, _) = collector.post(
        "/api/v1/spans",
        batch(
            "backend",
            vec![span(3, 2, "GET /api", true), span(4, 2, "GET /api", false)],
        ),
    );
    assert_eq!(status, 200);
    // The same batch again stores nothing new.
    let (_, again) = collector.post(
        "/api/v1/spans",
        batch("backend", vec![span(3, 2, "GET /api", true)]),
    );
    assert_eq!(again["stored"], 0);

    let (_, deps) = collector.get("/api/dependencies?window=1h");
    assert_eq!(
        deps["dependencies"],
        serde_json::json!([{ "caller": "frontend", "callee": "backend", "calls": 2, "error_count": 1 }])
    );
    let (status, body) = collector.post("/api/v1/spans", b"not protobuf at all".to_vec());
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("dapple.v1.Batch"));
}

#[test]
fn http_ingest_feeds_the_dependency_graph_on_every_store() {
    let test = "http_ingest_feeds_the_dependency_graph_on_every_store";
    let mut stores = Vec::new();
    for backend in Backend::ALL {
        let Some(collector) = backend.start(test) else {
            continue;
        };
        http_ingest_feeds_the_dependency_graph(&collector);
        stores.push(format!("{backend:?}"));
    }
    checked(
        test,
        format!(
            "{}: 4 spans over HTTP, a re-sent one stored 0 times, 1 edge, a bad body",
            stores.join(", ")
        ),
    );
}

// The same spans on every store: a web shop's checkouts over the last hour
// across three services, two traces from two hours ago, two that start at
// the same nanosecond, and one whose root never came.

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;

/// What one service sends, as one HTTP batch.
struct Sent {
    resource: proto::Resource,
    spans: Vec<proto::Span>,
    dropped_spans: u64,
}

impl Sent {
    fn encode(&self) -> Vec<u8> {
        proto::Batch {
            sequence: 1,
            spans: self.spans.clone(),
            dropped_spans: self.dropped_spans,
            resource: Some(self.resource.clone()),
        }
        .encode_to_vec()
    }
}

/// The spans every store gets, and what each endpoint must answer for them.
struct Shop {
    /// When the spans were made: they lie before it, at least 20 s.
    now: u64,
    /// Per service: frontend, backend, db.
    sent: Vec<Sent>,
}

/// Checkouts: one every five minutes over the last hour (each in the middle
/// of a five-minute bucket, so a series puts one in each).
const CHECKOUTS: u64 = 12;

fn trace_bytes(trace: u8) -> Vec<u8> {
    let mut id = vec![0x5a; 16];
    id[0] = trace;
    id[15] = trace;
    id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key_value(key: &str, value: proto::any_value::Value) -> proto::KeyValue {
    proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue { value: Some(value) }),
    }
}

fn text(value: &str) -> proto::any_value::Value {
    proto::any_value::Value::StringValue(value.into())
}

fn int(value: i64) -> proto::any_value::Value {
    proto::any_value::Value::IntValue(value)
}

fn status(code: proto::StatusCode, message: &str) -> Option<proto::Status> {
    Some(proto::Status {
        code: code as i32,
        message: message.into(),
    })
}

impl Shop {
    fn new() -> Shop {
        let now = dapple::now_unix_nanos();
        let (mut front, mut back, mut db) = (Vec::new(), Vec::new(), Vec::new());
        let span =
            |trace: u8, id: u64, parent: u64, name: &str, start: u64, end: u64| proto::Span {
                trace_id: trace_bytes(trace),
                span_id: id,
                parent_span_id: parent,
                name: name.into(),
                start_unix_nanos: start,
                end_unix_nanos: end,
                ..Default::default()
            };
        for i in 0..CHECKOUTS {
            let trace = 0x10 + i as u8;
            let start = now - 3_450 * SECOND + i * 300 * SECOND;
            // Every duration differs, and their order is not the start order.
            let took = ((i * 5) % 12 + 2) * 10 * MS;
            let failed = i % 3 == 0;
            let id = |n: u64| 100 * (i + 1) + n;
            let mut root = proto::Span {
                kind: proto::SpanKind::Server as i32,
                attributes: vec![
                    key_value("http.route", text("/checkout")),
                    key_value(
                        "http.response.status_code",
                        int(if failed { 500 } else { 200 }),
                    ),
                    key_value("user.vip", proto::any_value::Value::BoolValue(i % 2 == 0)),
                ],
                status: failed
                    .then(|| status(proto::StatusCode::Error, "upstream failed"))
                    .flatten(),
                ..span(trace, id(1), 0, "GET /checkout", start, start + took)
            };
            if i % 4 == 1 {
                root.links.push(proto::Link {
                    trace_id: trace_bytes(trace - 1),
                    span_id: 100 * i + 1,
                    trace_state: "shop=1".into(),
                    attributes: vec![key_value("link.reason", text("retry of"))],
                    flags: 1,
                    dropped_attributes_count: 0,
                });
            }
            front.push(root);
            front.push(proto::Span {
                kind: proto::SpanKind::Client as i32,
                attributes: vec![key_value("url.full", text("http://backend/order"))],
                ..span(
                    trace,
                    id(2),
                    id(1),
                    "POST backend/order",
                    start + MS,
                    start + took - MS,
                )
            });
            back.push(proto::Span {
                kind: proto::SpanKind::Server as i32,
                status: if failed {
                    status(proto::StatusCode::Error, &format!("out of stock: item {i}"))
                } else {
                    status(proto::StatusCode::Ok, "")
                },
                events: vec![proto::Event {
                    name: "retry".into(),
                    unix_nanos: start + 3 * MS,
                    attributes: vec![key_value("attempt", int(2))],
                    dropped_attributes_count: u32::from(i == 4),
                }],
                ..span(
                    trace,
                    id(3),
                    id(2),
                    "POST /order",
                    start + 2 * MS,
                    start + took - 2 * MS,
                )
            });
            back.push(proto::Span {
                kind: proto::SpanKind::Client as i32,
                attributes: vec![
                    key_value("db.statement", text("SELECT * FROM orders WHERE id = ?")),
                    key_value("rows", int(i as i64)),
                    key_value(
                        "ratio",
                        proto::any_value::Value::DoubleValue(i as f64 * 0.25),
                    ),
                    key_value(
                        "payload",
                        proto::any_value::Value::BytesValue(vec![i as u8, 0xff]),
                    ),
                    key_value(
                        "tables",
                        proto::any_value::Value::ArrayValue(proto::ArrayValue {
                            values: vec![proto::AnyValue {
                                value: Some(text("orders")),
                            }],
                        }),
                    ),
                ],
                trace_state: if i == 5 {
                    "vendor=x".into()
                } else {
                    String::new()
                },
                flags: if i == 5 { 0x301 } else { 1 },
                dropped_attributes_count: if i == 5 { 2 } else { 0 },
                ..span(
                    trace,
                    id(4),
                    id(3),
                    "db.query",
                    start + 3 * MS,
                    start + 5 * MS + i * MS,
                )
            });
            db.push(proto::Span {
                kind: proto::SpanKind::Server as i32,
                status: (i == 7)
                    .then(|| status(proto::StatusCode::Error, "deadlock"))
                    .flatten(),
                scope: Some(proto::Scope {
                    name: "dapple.sql".into(),
                    version: "0.3".into(),
                    attributes: vec![key_value("pool", text("main"))],
                    dropped_attributes_count: 1,
                }),
                dropped_events_count: u32::from(i == 7),
                dropped_links_count: u32::from(i == 8),
                ..span(
                    trace,
                    id(5),
                    id(4),
                    "SELECT orders",
                    start + 3 * MS + MS / 2,
                    start + 4 * MS + MS / 2 + i * MS,
                )
            });
        }
        // Two hours ago: outside an hour's aggregates, found by search; the
        // same duration, so they tie in a sort by duration.
        for k in 0..2u64 {
            let start = now - 7_200 * SECOND - k * 60 * SECOND;
            front.push(proto::Span {
                kind: proto::SpanKind::Server as i32,
                attributes: vec![key_value("http.route", text("/old"))],
                ..span(
                    0x80 + k as u8,
                    9_000 + k,
                    0,
                    "GET /old",
                    start,
                    start + 7 * MS,
                )
            });
        }
        // Two traces whose spans start at the same nanosecond: their order,
        // and a cursor between them, come from the trace ids.
        let tie = now - 20 * SECOND;
        front.push(proto::Span {
            kind: proto::SpanKind::Producer as i32,
            ..span(0xe1, 9_100, 0, "GET /tie", tie, tie + 5 * MS)
        });
        front.push(proto::Span {
            kind: proto::SpanKind::Consumer as i32,
            ..span(0xe2, 9_200, 0, "GET /tie", tie, tie + 9 * MS)
        });
        // A trace whose root never arrived.
        let orphan = now - 100 * SECOND;
        back.push(span(
            0x90,
            9_301,
            0xdead,
            "orphan.work",
            orphan,
            orphan + 4 * MS,
        ));
        back.push(span(
            0x90,
            9_302,
            9_301,
            "orphan.step",
            orphan + MS,
            orphan + 2 * MS,
        ));

        let resource = |service: &str, host: &str| proto::Resource {
            service_name: service.into(),
            host: host.into(),
            pid: 4242,
            version: "1.2.3".into(),
            attributes: vec![key_value("deployment.environment", text("test"))],
            dropped_attributes_count: 0,
        };
        Shop {
            now,
            sent: vec![
                Sent {
                    resource: resource("frontend", "web-1"),
                    spans: front,
                    dropped_spans: 3,
                },
                Sent {
                    resource: proto::Resource {
                        dropped_attributes_count: 2,
                        ..resource("backend", "app-1")
                    },
                    spans: back,
                    dropped_spans: 0,
                },
                Sent {
                    resource: proto::Resource {
                        pid: 0,
                        version: String::new(),
                        ..resource("db", "db-1")
                    },
                    spans: db,
                    dropped_spans: 0,
                },
            ],
        }
    }

    /// Sends every batch (the last service's first), then one again, which
    /// stores nothing.
    fn send_to(&self, collector: &Collector) {
        for sent in self.sent.iter().rev() {
            let (status, body) = collector.post("/api/v1/spans", sent.encode());
            let n = sent.spans.len();
            assert_eq!(
                (status, &body),
                (200, &json!({ "received": n, "stored": n })),
                "{:?}",
                collector.backend
            );
        }
        let (status, body) = collector.post("/api/v1/spans", self.sent[1].encode());
        assert_eq!(
            (status, &body["stored"]),
            (200, &json!(0)),
            "{:?}: a re-sent batch",
            collector.backend
        );
    }

    /// Every span with its service's resource.
    fn spans(&self) -> impl Iterator<Item = (&proto::Resource, &proto::Span)> {
        self.sent
            .iter()
            .flat_map(|s| s.spans.iter().map(move |span| (&s.resource, span)))
    }

    fn spans_of(&self, trace: &str) -> Vec<(&proto::Resource, &proto::Span)> {
        self.spans()
            .filter(|(_, s)| hex(&s.trace_id) == trace)
            .collect()
    }

    /// Every trace id, sorted.
    fn traces(&self) -> Vec<String> {
        let mut traces: Vec<String> = self.spans().map(|(_, s)| hex(&s.trace_id)).collect();
        traces.sort();
        traces.dedup();
        traces
    }

    /// The `(sort key, trace)` of the traces `search` finds, in the order of
    /// `sort`, as the collector keys its cursors.
    fn found(&self, search: &Search, sort: &str) -> Vec<(u64, String)> {
        let criteria = search.criteria();
        let mut newest: BTreeMap<String, u64> = BTreeMap::new();
        for (_, span) in self.spans().filter(|(r, s)| criteria[0].matches(r, s)) {
            let key = newest.entry(hex(&span.trace_id)).or_default();
            *key = (*key).max(span.start_unix_nanos);
        }
        // Every other filter has a span of its own in the trace.
        newest.retain(|trace, _| {
            criteria[1..].iter().all(|criterion| {
                self.spans_of(trace)
                    .iter()
                    .any(|(r, s)| criterion.matches(r, s))
            })
        });
        let mut keys: Vec<(u64, String)> = match sort {
            "newest" => newest.into_iter().map(|(t, k)| (k, t)).collect(),
            _ => newest
                .into_keys()
                .map(|t| (self.summary_figures(&t).1, t))
                .collect(),
        };
        keys.sort();
        if sort != "shortest" {
            keys.reverse();
        }
        keys
    }

    /// The trace's first start and its duration.
    fn summary_figures(&self, trace: &str) -> (u64, u64) {
        let spans = self.spans_of(trace);
        let start = spans.iter().map(|(_, s)| s.start_unix_nanos).min().unwrap();
        let end = spans.iter().map(|(_, s)| s.end_unix_nanos).max().unwrap();
        (start, end - start)
    }

    /// The line of a trace list for `trace`.
    fn summary(&self, trace: &str) -> Value {
        let spans = self.spans_of(trace);
        let root = spans
            .iter()
            .find(|(_, s)| s.parent_span_id == 0)
            .or_else(|| spans.iter().min_by_key(|(_, s)| s.start_unix_nanos))
            .unwrap();
        let mut services: Vec<&str> = spans.iter().map(|(r, _)| r.service_name.as_str()).collect();
        services.sort();
        services.dedup();
        let (start, duration) = self.summary_figures(trace);
        json!({
            "duration_nanos": duration,
            "error_count": spans.iter().filter(|(_, s)| is_error(s)).count(),
            "root_name": root.1.name,
            "root_service": root.0.service_name,
            "services": services,
            "span_count": spans.len(),
            "start_unix_nanos": start,
            "trace_id": trace,
        })
    }

    /// The pages of `limit` traces of a search in the order of `sort`.
    fn pages(&self, search: &Search, sort: &str, limit: usize) -> Vec<Value> {
        let found = self.found(search, sort);
        let chunks: Vec<&[(u64, String)]> = found.chunks(limit).collect();
        if chunks.is_empty() {
            return vec![json!({ "next_cursor": null, "traces": [] })];
        }
        chunks
            .iter()
            .enumerate()
            .map(|(n, chunk)| {
                let last = chunk.last().unwrap();
                let next = (n + 1 < chunks.len()).then(|| format!("{}-{}", last.0, last.1));
                json!({
                    "next_cursor": next,
                    "traces": chunk.iter().map(|(_, t)| self.summary(t)).collect::<Vec<_>>(),
                })
            })
            .collect()
    }

    /// One trace as `/api/traces/{id}` writes it.
    fn trace(&self, trace: &str) -> Value {
        let mut spans = self.spans_of(trace);
        spans.sort_by_key(|(_, s)| (s.start_unix_nanos, s.span_id));
        json!({
            "spans": spans.iter().map(|(r, s)| span_json(r, s)).collect::<Vec<_>>(),
            "trace_id": trace,
        })
    }

    fn services(&self) -> Value {
        let mut names: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (resource, span) in self.spans() {
            names
                .entry(&resource.service_name)
                .or_default()
                .push(&span.name);
        }
        json!({
            "dropped_spans": { "frontend": { "127.0.0.1": 3 } },
            "services": names.keys().collect::<Vec<_>>(),
        })
    }

    fn names(&self, service: &str) -> Value {
        let mut names: Vec<&str> = self
            .spans()
            .filter(|(r, _)| r.service_name == service)
            .map(|(_, s)| s.name.as_str())
            .collect();
        names.sort();
        names.dedup();
        json!({ "names": names, "service": service })
    }

    /// Spans that started in the last `window_secs` (as of `now`; every
    /// span lies at least two minutes from a window's edge).
    fn in_window(
        &self,
        window_secs: u64,
    ) -> impl Iterator<Item = (&proto::Resource, &proto::Span)> {
        let from = self.now - window_secs * SECOND;
        self.spans()
            .filter(move |(_, s)| s.start_unix_nanos >= from)
    }

    fn aggregates(&self, window: &str, window_secs: u64) -> Value {
        let mut groups: BTreeMap<(&str, &str), Vec<&proto::Span>> = BTreeMap::new();
        for (resource, span) in self.in_window(window_secs) {
            groups
                .entry((&resource.service_name, &span.name))
                .or_default()
                .push(span);
        }
        let mut operations: Vec<(usize, Value)> = groups
            .into_iter()
            .map(|((service, name), spans)| {
                let mut figures = latency(&spans);
                let count = spans.len();
                let errors = spans.iter().filter(|s| is_error(s)).count();
                figures.insert("error_rate".into(), json!(errors as f64 / count as f64));
                figures.insert("name".into(), json!(name));
                figures.insert("service".into(), json!(service));
                (count, Value::Object(figures))
            })
            .collect();
        // The most frequent first; ties stay by service, then name.
        operations.sort_by_key(|(count, _)| std::cmp::Reverse(*count));
        json!({
            "operations": operations.into_iter().map(|(_, o)| o).collect::<Vec<_>>(),
            "window": window,
        })
    }

    /// A series' answer, each point's start left out (it moves with the
    /// clock; `same_series` checks it apart).
    fn series(
        &self,
        service: Option<&str>,
        name: &str,
        window: &str,
        window_secs: u64,
        buckets: u64,
    ) -> Value {
        let window_ns = window_secs * SECOND;
        let bucket = window_ns.div_ceil(buckets);
        let from = self.now - window_ns;
        let mut slots: Vec<Vec<&proto::Span>> = vec![Vec::new(); buckets as usize];
        for (resource, span) in self.in_window(window_secs) {
            if span.name == name && service.is_none_or(|s| s == resource.service_name) {
                let index = ((span.start_unix_nanos - from) / bucket) as usize;
                slots[index.min(buckets as usize - 1)].push(span);
            }
        }
        json!({
            "bucket_nanos": bucket,
            "name": name,
            "points": slots.iter().map(|spans| Value::Object(latency(spans))).collect::<Vec<_>>(),
            "service": service,
            "window": window,
        })
    }

    fn dependencies(&self, window: &str, window_secs: u64) -> Value {
        let spans: Vec<_> = self.in_window(window_secs).collect();
        let service_of: HashMap<(&[u8], u64), &str> = spans
            .iter()
            .map(|(r, s)| ((&s.trace_id[..], s.span_id), r.service_name.as_str()))
            .collect();
        let mut edges: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
        for (resource, span) in &spans {
            let caller = service_of.get(&(&span.trace_id[..], span.parent_span_id));
            if let Some(caller) = caller.filter(|c| **c != resource.service_name) {
                let edge = edges.entry((caller, &resource.service_name)).or_default();
                edge.0 += 1;
                edge.1 += u64::from(is_error(span));
            }
        }
        json!({
            "dependencies": edges
                .into_iter()
                .map(|((caller, callee), (calls, errors))| json!({
                    "callee": callee, "caller": caller, "calls": calls, "error_count": errors,
                }))
                .collect::<Vec<_>>(),
            "window": window,
        })
    }
}

fn is_error(span: &proto::Span) -> bool {
    span.status
        .as_ref()
        .is_some_and(|s| s.code == proto::StatusCode::Error as i32)
}

/// Count, errors and nearest-rank percentiles, as the aggregates write them.
fn latency(spans: &[&proto::Span]) -> serde_json::Map<String, Value> {
    let mut durations: Vec<u64> = spans
        .iter()
        .map(|s| s.end_unix_nanos - s.start_unix_nanos)
        .collect();
    durations.sort_unstable();
    let percentile = |p: usize| {
        if durations.is_empty() {
            return 0;
        }
        let rank = (p * durations.len()).div_ceil(100);
        durations[rank.clamp(1, durations.len()) - 1]
    };
    let Value::Object(figures) = json!({
        "count": durations.len(),
        "error_count": spans.iter().filter(|s| is_error(s)).count(),
        "max_nanos": durations.last().copied().unwrap_or(0),
        "p50_nanos": percentile(50),
        "p90_nanos": percentile(90),
        "p99_nanos": percentile(99),
    }) else {
        unreachable!()
    };
    figures
}

fn value_json(value: &proto::AnyValue) -> Value {
    use proto::any_value::Value as V;
    match &value.value {
        None => Value::Null,
        Some(V::StringValue(s)) => json!(s),
        Some(V::IntValue(i)) => json!(i),
        Some(V::DoubleValue(f)) => json!(f),
        Some(V::BoolValue(b)) => json!(b),
        Some(V::BytesValue(b)) => json!(hex(b)),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(value_json).collect()),
        Some(V::KvlistValue(kv)) => attributes_json(&kv.values),
    }
}

fn attributes_json(attributes: &[proto::KeyValue]) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|kv| {
                let value = kv.value.as_ref().map_or(Value::Null, value_json);
                (kv.key.clone(), value)
            })
            .collect(),
    )
}

/// The text an `attr=key=value` filter compares with.
fn value_text(value: &proto::AnyValue) -> Option<String> {
    use proto::any_value::Value as V;
    match value.value.as_ref()? {
        V::StringValue(s) => Some(s.clone()),
        V::BytesValue(b) => Some(hex(b)),
        _ => Some(value_json(value).to_string()),
    }
}

/// A span as `/api/traces/{id}` writes it.
fn span_json(resource: &proto::Resource, span: &proto::Span) -> Value {
    let mut resource_attributes = vec![key_value("service.name", text(&resource.service_name))];
    if !resource.version.is_empty() {
        resource_attributes.push(key_value("service.version", text(&resource.version)));
    }
    resource_attributes.push(key_value("host.name", text(&resource.host)));
    if resource.pid != 0 {
        resource_attributes.push(key_value("process.pid", int(resource.pid.into())));
    }
    resource_attributes.extend(resource.attributes.iter().cloned());
    let (code, message) = match &span.status {
        None => (0, ""),
        Some(s) => (s.code, s.message.as_str()),
    };
    let kind = ["internal", "server", "client", "producer", "consumer"][span.kind as usize];
    let code = ["unset", "ok", "error"][code as usize];
    json!({
        "attributes": attributes_json(&span.attributes),
        "dropped": {
            "attributes": span.dropped_attributes_count,
            "events": span.dropped_events_count,
            "links": span.dropped_links_count,
        },
        "duration_nanos": span.end_unix_nanos - span.start_unix_nanos,
        "end_unix_nanos": span.end_unix_nanos,
        "events": span.events.iter().map(|e| json!({
            "attributes": attributes_json(&e.attributes),
            "dropped_attributes": e.dropped_attributes_count,
            "name": e.name,
            "unix_nanos": e.unix_nanos,
        })).collect::<Vec<_>>(),
        "flags": span.flags,
        "kind": kind,
        "links": span.links.iter().map(|l| json!({
            "attributes": attributes_json(&l.attributes),
            "dropped_attributes": l.dropped_attributes_count,
            "flags": l.flags,
            "span_id": format!("{:016x}", l.span_id),
            "trace_id": hex(&l.trace_id),
            "trace_state": l.trace_state,
        })).collect::<Vec<_>>(),
        "name": span.name,
        "parent_id": (span.parent_span_id != 0).then(|| format!("{:016x}", span.parent_span_id)),
        "resource": {
            "attributes": attributes_json(&resource_attributes),
            "dropped_attributes": resource.dropped_attributes_count,
        },
        "scope": span.scope.as_ref().map(|s| json!({
            "attributes": attributes_json(&s.attributes),
            "dropped_attributes": s.dropped_attributes_count,
            "name": s.name,
            "version": s.version,
        })),
        "service": resource.service_name,
        "span_id": format!("{:016x}", span.span_id),
        "start_unix_nanos": span.start_unix_nanos,
        "status": { "code": code, "message": message },
        "trace_state": span.trace_state,
    })
}

/// A trace search's filters.
#[derive(Clone, Debug, Default)]
struct Search {
    service: Option<&'static str>,
    name: Option<&'static str>,
    attributes: Vec<(&'static str, String)>,
    min_duration_ms: Option<u64>,
    max_duration_ms: Option<u64>,
    start: Option<u64>,
    end: Option<u64>,
    error: bool,
    /// One span must match every filter (`same_span=true`); otherwise each
    /// of these may be matched by a span of its own: the service, name and
    /// durations together, errors only, each attribute.
    same_span: bool,
}

impl Search {
    /// The query string, every value percent-encoded.
    fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(service) = self.service {
            pairs.push(("service", service.into()));
        }
        if let Some(name) = self.name {
            pairs.push(("name", name.into()));
        }
        for (key, value) in &self.attributes {
            pairs.push(("attr", format!("{key}={value}")));
        }
        if let Some(ms) = self.min_duration_ms {
            pairs.push(("min_duration", format!("{ms}ms")));
        }
        if let Some(ms) = self.max_duration_ms {
            pairs.push(("max_duration", format!("{ms}ms")));
        }
        if let Some(start) = self.start {
            pairs.push(("start", start.to_string()));
        }
        if let Some(end) = self.end {
            pairs.push(("end", end.to_string()));
        }
        if self.error {
            pairs.push(("error", "true".into()));
        }
        if self.same_span {
            pairs.push(("same_span", "true".into()));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The search's filters, each to be matched by a span of its own, in
    /// the collector's order (the first keys the trace); one when
    /// `same_span`.
    fn criteria(&self) -> Vec<Search> {
        let window = Search {
            start: self.start,
            end: self.end,
            same_span: true,
            ..Search::default()
        };
        if self.same_span {
            return vec![self.clone()];
        }
        let mut criteria = Vec::new();
        if self.service.is_some()
            || self.name.is_some()
            || self.min_duration_ms.is_some()
            || self.max_duration_ms.is_some()
        {
            criteria.push(Search {
                service: self.service,
                name: self.name,
                min_duration_ms: self.min_duration_ms,
                max_duration_ms: self.max_duration_ms,
                ..window.clone()
            });
        }
        if self.error {
            criteria.push(Search {
                error: true,
                ..window.clone()
            });
        }
        for attribute in &self.attributes {
            criteria.push(Search {
                attributes: vec![attribute.clone()],
                ..window.clone()
            });
        }
        if criteria.is_empty() {
            criteria.push(window);
        }
        criteria
    }

    /// Whether one span matches every filter.
    fn matches(&self, resource: &proto::Resource, span: &proto::Span) -> bool {
        let duration = span.end_unix_nanos - span.start_unix_nanos;
        self.service.is_none_or(|s| s == resource.service_name)
            && self.name.is_none_or(|n| n == span.name)
            && self.min_duration_ms.is_none_or(|d| duration >= d * MS)
            && self.max_duration_ms.is_none_or(|d| duration <= d * MS)
            && self.start.is_none_or(|t| span.start_unix_nanos >= t)
            && self.end.is_none_or(|t| span.start_unix_nanos < t)
            && (!self.error || is_error(span))
            && self.attributes.iter().all(|(key, value)| {
                span.attributes.iter().any(|a| {
                    a.key == *key && a.value.as_ref().and_then(value_text).as_ref() == Some(value)
                })
            })
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET path` on every collector: the first one's answer, once every other
/// gave the same.
fn same_answer(collectors: &[Collector], path: &str) -> (u16, Value) {
    let answers: Vec<(u16, Value)> = collectors.iter().map(|c| c.get(path)).collect();
    for (collector, answer) in collectors.iter().zip(&answers).skip(1) {
        assert!(
            *answer == answers[0],
            "GET {path}: {:?} answers\n{:#}\nbut {:?} answers\n{:#}",
            collector.backend,
            answer.1,
            collectors[0].backend,
            answers[0].1,
        );
    }
    answers.into_iter().next().expect("a collector")
}

/// Every page of a search on every collector, following its cursors: the
/// first one's pages, once every other gave the same.
fn same_pages(collectors: &[Collector], query: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut path = format!("/api/traces?{query}");
    loop {
        let (status, page) = same_answer(collectors, &path);
        assert_eq!(status, 200, "{path}: {page}");
        let next = page["next_cursor"].as_str().map(str::to_owned);
        pages.push(page);
        match next {
            Some(cursor) => path = format!("/api/traces?{query}&cursor={}", encode(&cursor)),
            None => return pages,
        }
        assert!(pages.len() < 100, "{query}: the cursors go round");
    }
}

/// A series on every collector: the first one's answer without its points'
/// starts, once every other gave the same; each start checked against the
/// window and the bucket.
fn same_series(collectors: &[Collector], path: &str, shop: &Shop, window_secs: u64) -> Value {
    let answers: Vec<Value> = collectors
        .iter()
        .map(|c| {
            let (status, mut body) = c.get(path);
            assert_eq!(status, 200, "{:?} {path}: {body}", c.backend);
            let bucket = body["bucket_nanos"].as_u64().expect("bucket_nanos");
            let points = body["points"].as_array_mut().expect("points");
            let first = points[0]["start_unix_nanos"].as_u64().expect("a start");
            let from = shop.now - window_secs * SECOND;
            assert!(
                (from..from + 60 * SECOND).contains(&first),
                "{:?} {path}: the first bucket starts at {first}, the window at {from}",
                c.backend
            );
            for (i, point) in points.iter_mut().enumerate() {
                let point = point.as_object_mut().expect("a point");
                let start = point.remove("start_unix_nanos").and_then(|s| s.as_u64());
                assert_eq!(
                    start,
                    Some(first + i as u64 * bucket),
                    "{:?} {path}",
                    c.backend
                );
            }
            body
        })
        .collect();
    for (collector, answer) in collectors.iter().zip(&answers).skip(1) {
        assert!(
            *answer == answers[0],
            "GET {path}: {:?} answers\n{answer:#}\nbut {:?} answers\n{:#}",
            collector.backend,
            collectors[0].backend,
            answers[0],
        );
    }
    answers.into_iter().next().expect("a collector")
}

#[test]
fn every_endpoint_answers_the_same_json_on_every_store() {
    let test = "every_endpoint_answers_the_same_json_on_every_store";
    let shop = Shop::new();
    let collectors: Vec<Collector> = Backend::ALL.iter().filter_map(|b| b.start(test)).collect();
    for collector in &collectors {
        shop.send_to(collector);
    }
    let mut compared = 0;

    // Searches, each filter alone and together, each sort, in one page and
    // in pages.
    let attr = |key: &'static str, value: &str| (key, value.to_owned());
    let searches = [
        Search::default(),
        Search {
            service: Some("backend"),
            ..Search::default()
        },
        Search {
            service: Some("db"),
            error: true,
            ..Search::default()
        },
        Search {
            name: Some("db.query"),
            ..Search::default()
        },
        Search {
            service: Some("frontend"),
            name: Some("GET /checkout"),
            ..Search::default()
        },
        Search {
            name: Some("GET /tie"),
            ..Search::default()
        },
        Search {
            min_duration_ms: Some(60),
            ..Search::default()
        },
        Search {
            max_duration_ms: Some(2),
            ..Search::default()
        },
        Search {
            min_duration_ms: Some(10),
            max_duration_ms: Some(50),
            service: Some("backend"),
            ..Search::default()
        },
        Search {
            start: Some(shop.now - 1_800 * SECOND),
            end: Some(shop.now - 600 * SECOND),
            ..Search::default()
        },
        Search {
            name: Some("GET /old"),
            end: Some(shop.now - 3_600 * SECOND),
            ..Search::default()
        },
        Search {
            error: true,
            ..Search::default()
        },
        Search {
            attributes: vec![attr("rows", "3")],
            ..Search::default()
        },
        Search {
            attributes: vec![attr("ratio", "0.75")],
            ..Search::default()
        },
        Search {
            attributes: vec![attr("ratio", "1.0")],
            ..Search::default()
        },
        Search {
            attributes: vec![attr("user.vip", "true")],
            ..Search::default()
        },
        Search {
            attributes: vec![attr("payload", "03ff")],
            ..Search::default()
        },
        Search {
            attributes: vec![attr("db.statement", "SELECT * FROM orders WHERE id = ?")],
            ..Search::default()
        },
        Search {
            attributes: vec![attr("tables", r#"["orders"]"#)],
            ..Search::default()
        },
        Search {
            attributes: vec![attr("http.route", "/checkout"), attr("user.vip", "false")],
            ..Search::default()
        },
        Search {
            attributes: vec![attr("rows", "3"), attr("user.vip", "true")],
            ..Search::default()
        },
        Search {
            attributes: vec![attr("http.response.status_code", "500")],
            service: Some("frontend"),
            min_duration_ms: Some(50),
            ..Search::default()
        },
        Search {
            attributes: vec![attr("deployment.environment", "test")],
            ..Search::default()
        },
        Search {
            service: Some("nobody"),
            ..Search::default()
        },
    ];
    // The searches whose filters may match different spans, once more with
    // one span matching them all.
    let one_span: Vec<Search> = searches
        .iter()
        .filter(|s| s.criteria().len() > 1)
        .map(|s| Search {
            same_span: true,
            ..s.clone()
        })
        .collect();
    let searches = [&searches[..], &one_span[..]].concat();
    let mut found_any = 0;
    for (n, search) in searches.iter().enumerate() {
        // Pages of one for all traces, the tie and a search by attribute.
        let limits: &[usize] = if [0, 5, 15].contains(&n) {
            &[1, 4]
        } else {
            &[4]
        };
        for sort in ["newest", "longest", "shortest"] {
            let query = format!("{}&sort={sort}", search.query());
            let (status, page) =
                same_answer(&collectors, &format!("/api/traces?{query}&limit=1000"));
            compared += 1;
            assert_eq!(status, 200, "{query}: {page}");
            assert_eq!(page, shop.pages(search, sort, 1000)[0], "{query}");
            if !search.same_span {
                found_any += usize::from(!shop.found(search, sort).is_empty());
            }
            for &limit in limits {
                let pages = same_pages(&collectors, &format!("{query}&limit={limit}"));
                compared += pages.len();
                assert_eq!(
                    pages,
                    shop.pages(search, sort, limit),
                    "{query}&limit={limit}"
                );
            }
        }
    }
    assert_eq!(
        found_any,
        3 * (searches.len() - one_span.len() - 3),
        "every search finds something but the three that must not"
    );
    // The default order is the newest first, 20 at most.
    let (status, page) = same_answer(&collectors, "/api/traces");
    assert_eq!(
        (status, &page),
        (200, &shop.pages(&Search::default(), "newest", 20)[0])
    );

    // Every trace whole; an unknown one and a bad id.
    for trace in shop.traces() {
        let (status, body) = same_answer(&collectors, &format!("/api/traces/{trace}"));
        compared += 1;
        assert_eq!((status, &body), (200, &shop.trace(&trace)), "trace {trace}");
    }
    let (status, _) = same_answer(&collectors, "/api/traces/4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(status, 404);
    let (status, _) = same_answer(&collectors, "/api/traces/not-hex");
    assert_eq!(status, 400);

    // Services and their span names.
    let (status, services) = same_answer(&collectors, "/api/services");
    assert_eq!((status, &services), (200, &shop.services()));
    for service in ["frontend", "backend", "db"] {
        let (status, names) = same_answer(&collectors, &format!("/api/services/{service}/names"));
        assert_eq!((status, &names), (200, &shop.names(service)));
    }
    let (status, _) = same_answer(&collectors, "/api/services/nobody/names");
    assert_eq!(status, 404);

    // Aggregates and dependencies over windows that hold the last minute,
    // the last hour, and the old traces too.
    for (window, secs) in [("10m", 600), ("1h", 3_600), ("3h", 10_800)] {
        let (status, aggregates) =
            same_answer(&collectors, &format!("/api/aggregates?window={window}"));
        assert_eq!(
            (status, &aggregates),
            (200, &shop.aggregates(window, secs)),
            "{window}"
        );
        let (status, dependencies) =
            same_answer(&collectors, &format!("/api/dependencies?window={window}"));
        assert_eq!(
            (status, &dependencies),
            (200, &shop.dependencies(window, secs)),
            "{window}"
        );
        compared += 2;
    }
    let (status, _) = same_answer(&collectors, "/api/aggregates");
    assert_eq!(status, 200, "the window is an hour by default");

    // Series: one checkout per bucket, another service's name, all in one
    // bucket, a name nobody sent.
    for (service, name, window, secs, buckets) in [
        (None, "GET /checkout", "1h", 3_600, 12),
        (Some("frontend"), "GET /checkout", "1h", 3_600, 12),
        (Some("backend"), "POST /order", "1h", 3_600, 4),
        (None, "db.query", "1h", 3_600, 1),
        (None, "GET /tie", "10m", 600, 5),
        (Some("db"), "GET /checkout", "1h", 3_600, 3),
        (None, "nothing", "1h", 3_600, 3),
    ] {
        let mut path = format!(
            "/api/aggregates/series?name={}&window={window}&buckets={buckets}",
            encode(name)
        );
        if let Some(service) = service {
            path.push_str(&format!("&service={service}"));
        }
        let series = same_series(&collectors, &path, &shop, secs);
        compared += 1;
        assert_eq!(
            series,
            shop.series(service, name, window, secs, buckets),
            "{path}"
        );
    }
    let checkouts = same_series(
        &collectors,
        "/api/aggregates/series?name=GET%20%2Fcheckout&window=1h&buckets=12",
        &shop,
        3_600,
    );
    assert!(
        checkouts["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["count"] == 1),
        "one checkout per bucket: {checkouts}"
    );

    compared += narrowed_aggregates_and_aligned_series(&collectors, &shop);

    let stores: Vec<String> = collectors
        .iter()
        .map(|c| format!("{:?}", c.backend))
        .collect();
    checked(
        test,
        format!(
            "{}: {} spans in {} traces; {} answers compared across stores and with the \
             expected JSON ({} searches x 3 sorts, one page and pages of 1 and 4; every \
             trace; services, names; aggregates and dependencies over 3 windows; 7 series; \
             aggregates of each service; 6 series in round or automatic buckets)",
            stores.join(", "),
            shop.spans().count(),
            shop.traces().len(),
            compared,
            searches.len(),
        ),
    );
}

/// A series asked for with `step=`, the length of its buckets, and where its
/// first bucket must start: at the earliest, at the latest (asked after the
/// answer, since it may follow the clock).
struct Stepped<'a> {
    service: Option<&'a str>,
    name: &'a str,
    window: &'a str,
    step: &'a str,
    step_secs: u64,
    first_within: Box<dyn Fn() -> (u64, u64) + 'a>,
}

/// Aggregates of one service (`service=`), and series whose buckets are
/// round lengths (`step=5m`) or chosen for the window and the spans in it
/// (`step=auto`), on every collector; gives how many answers it compared.
fn narrowed_aggregates_and_aligned_series(collectors: &[Collector], shop: &Shop) -> usize {
    let mut compared = 0;
    for (window, secs) in [("1h", 3_600), ("3h", 10_800)] {
        for service in ["frontend", "backend", "db", "nobody"] {
            let (status, aggregates) = same_answer(
                collectors,
                &format!("/api/aggregates?window={window}&service={service}"),
            );
            let mut expected = shop.aggregates(window, secs);
            expected["operations"]
                .as_array_mut()
                .unwrap()
                .retain(|o| o["service"] == service);
            expected["service"] = json!(service);
            assert_eq!(
                (status, &aggregates),
                (200, &expected),
                "{service} {window}"
            );
            compared += 1;
        }
    }

    let earliest = |name: &str| {
        shop.spans()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.start_unix_nanos)
            .min()
            .unwrap()
    };
    let a_minute_ago = || dapple::now_unix_nanos() - 60 * SECOND;
    let checkouts = earliest("GET /checkout");
    let orders = earliest("POST /order");
    let old = earliest("GET /old");
    let cases = [
        // Spans over most of the hour: 30 s buckets from the oldest.
        Stepped {
            service: None,
            name: "GET /checkout",
            window: "1h",
            step: "auto",
            step_secs: 30,
            first_within: Box::new(move || (checkouts - 30 * SECOND + 1, checkouts)),
        },
        Stepped {
            service: Some("backend"),
            name: "POST /order",
            window: "1h",
            step: "auto",
            step_secs: 30,
            first_within: Box::new(move || (orders - 30 * SECOND + 1, orders)),
        },
        // Spans of the last minute only, in a window of ten: the last
        // minute in one-second buckets.
        Stepped {
            service: None,
            name: "GET /tie",
            window: "10m",
            step: "auto",
            step_secs: 1,
            first_within: Box::new(move || (shop.now - 61 * SECOND, a_minute_ago())),
        },
        // Spans two hours old in a window of three: from them, by two minutes.
        Stepped {
            service: None,
            name: "GET /old",
            window: "3h",
            step: "auto",
            step_secs: 120,
            first_within: Box::new(move || (old - 120 * SECOND + 1, old)),
        },
        // No span: the whole window.
        Stepped {
            service: None,
            name: "nothing",
            window: "1h",
            step: "auto",
            step_secs: 30,
            first_within: Box::new(move || {
                (shop.now - 3_630 * SECOND, a_minute_ago() - 3_540 * SECOND)
            }),
        },
        // A length asked for: the whole window, from a round time.
        Stepped {
            service: Some("frontend"),
            name: "GET /checkout",
            window: "1h",
            step: "5m",
            step_secs: 300,
            first_within: Box::new(move || {
                (shop.now - 3_900 * SECOND, a_minute_ago() - 3_540 * SECOND)
            }),
        },
    ];
    for Stepped {
        service,
        name,
        window,
        step: step_param,
        step_secs,
        first_within,
    } in cases
    {
        let mut path = format!(
            "/api/aggregates/series?name={}&window={window}&step={step_param}",
            encode(name)
        );
        if let Some(service) = service {
            path.push_str(&format!("&service={service}"));
        }
        let window_secs = match window {
            "10m" => 600,
            "1h" => 3_600,
            _ => 10_800,
        };
        let step = step_secs * SECOND;
        for collector in collectors {
            let asked = dapple::now_unix_nanos();
            let (status, mut body) = collector.get(&path);
            let (first_at_least, first_at_most) = first_within();
            let what = format!("{:?} {path}", collector.backend);
            assert_eq!(status, 200, "{what}: {body}");
            assert_eq!(body["bucket_nanos"], step, "{what}: {body}");
            let points = body["points"].as_array_mut().expect("points");
            let first = points[0]["start_unix_nanos"].as_u64().unwrap();
            assert_eq!(first % step, 0, "{what}: buckets start at round times");
            assert!(
                (first_at_least..=first_at_most).contains(&first),
                "{what}: the first bucket starts at {first}, not in \
                 {first_at_least}..={first_at_most}"
            );
            let last = first + (points.len() as u64 - 1) * step;
            assert!(
                last <= dapple::now_unix_nanos() && last + step > asked,
                "{what}: the last bucket holds now"
            );
            let mut slots: Vec<Vec<&proto::Span>> = vec![Vec::new(); points.len()];
            for (resource, span) in shop.in_window(window_secs) {
                if span.name == name && service.is_none_or(|s| s == resource.service_name) {
                    slots[((span.start_unix_nanos - first) / step) as usize].push(span);
                }
            }
            for (i, point) in points.iter_mut().enumerate() {
                let point = point.as_object_mut().expect("a point");
                let start = point.remove("start_unix_nanos").and_then(|s| s.as_u64());
                assert_eq!(start, Some(first + i as u64 * step), "{what}");
                assert_eq!(*point, latency(&slots[i]), "{what}: bucket {i}");
            }
            assert_eq!(
                (&body["name"], &body["service"], &body["window"]),
                (&json!(name), &json!(service), &json!(window)),
                "{what}"
            );
            compared += 1;
        }
    }

    for (query, parameter) in [
        ("name=x&step=0s", "step"),
        ("name=x&step=soon", "step"),
        ("name=x&step=1ms&window=1h", "step"),
        ("name=x&step=auto&buckets=5", "step"),
        ("name=x&buckets=0", "buckets"),
    ] {
        let (status, body) = same_answer(collectors, &format!("/api/aggregates/series?{query}"));
        assert_eq!(
            (status, &body["parameter"]),
            (400, &json!(parameter)),
            "{query}: {body}"
        );
    }
    let (status, body) = same_answer(collectors, "/api/aggregates?window=1h&services=db");
    assert_eq!(
        (status, &body["parameter"]),
        (400, &json!("query")),
        "{body}"
    );
    compared
}
