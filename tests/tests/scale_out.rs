//! Several collectors over one ClickHouse (issue 15, point 4): one real
//! ClickHouse server and two collector processes on the same database.
//! The webapp demo's front service reports to one collector and its
//! back-end services to the other, and each collector's API returns every
//! trace whole. A collector killed with `kill -9` mid-stream loses nothing
//! it acknowledged: its client, behind a small TCP balancer, reconnects to
//! the other and goes on, and every span is then read back exactly once.
//!
//! Without the server each test prints a skip notice and passes, except
//! under `CI=true`.

#[path = "support/clickhouse.rs"]
mod clickhouse;
mod support;

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clickhouse::ClickHouse;
use dapple_demo::SPANS_PER_VIEW;
use serde_json::{Value, json};
use support::{
    CollectorProcess, ServiceProcess, checked, render_trace, run_traced_program, view_traced,
};

/// Two collectors on one ClickHouse database, stopped before the server.
struct Pair {
    a: CollectorProcess,
    b: CollectorProcess,
    server: ClickHouse,
}

impl Pair {
    /// A server and two collectors started at the same instant (both
    /// create the schema at start), or `None` without a server.
    fn start(test: &str) -> Option<Pair> {
        let server = ClickHouse::start(test)?;
        let start = || {
            let url = server.url.clone();
            std::thread::spawn(move || {
                CollectorProcess::start(&[
                    "--store",
                    "clickhouse",
                    "--clickhouse-url",
                    &url,
                    "--clickhouse-database",
                    "dapple",
                ])
            })
        };
        let (a, b) = (start(), start());
        let (a, b) = (a.join(), b.join());
        Some(Pair {
            a: a.expect("collector A starts"),
            b: b.expect("collector B starts"),
            server,
        })
    }
}

/// GETs the front page: the trace id of its `traceresponse` header.
fn view(front: &ServiceProcess) -> String {
    let (status, trace) = view_traced(&format!("{}/", front.url));
    assert_eq!(status, 200);
    trace
}

/// Spans per service of a trace's spans.
fn per_service(spans: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for span in spans {
        let service = span["service"].as_str().expect("a service").to_owned();
        *counts.entry(service).or_default() += 1;
    }
    counts
}

#[test]
fn under_retroactive_sampling_a_trigger_reaches_processes_of_the_other_collector() {
    let test = "under_retroactive_sampling_a_trigger_reaches_processes_of_the_other_collector";
    let Some(pair) = Pair::start(test) else {
        return;
    };
    // Every trace recorded, none sent unless kept. Service A alone reports
    // to collector A: it hears of the failure in B1 only through the
    // collectors' exchange in ClickHouse.
    let retroactive = [("DAPPLE_SAMPLING", "retroactive"), ("DAPPLE_BASELINE", "0")];
    let service_a = ServiceProcess::start_with_env(&pair.a, "a", "serviceA", &[], &retroactive);
    let service_b = ServiceProcess::start_with_env(&pair.b, "b", "serviceB", &[], &retroactive);
    let front = ServiceProcess::start_with_env(
        &pair.b,
        "front",
        "frontservice",
        &["--service-a", &service_a.url, "--service-b", &service_b.url],
        &retroactive,
    );
    let (status, trace) = view_traced(&format!("{}/?fail=1", front.url));
    assert_eq!(status, 502);
    let spans = pair.a.trace_with(&trace, SPANS_PER_VIEW);
    assert_eq!(
        per_service(&spans),
        BTreeMap::from([
            ("frontservice".to_owned(), 4),
            ("serviceA".to_owned(), 3),
            ("serviceB".to_owned(), 7),
        ]),
        "{}",
        render_trace(&json!({ "spans": spans }))
    );
}

#[test]
fn the_demo_services_report_to_two_collectors_and_each_returns_every_trace_whole() {
    let test = "the_demo_services_report_to_two_collectors_and_each_returns_every_trace_whole";
    let Some(pair) = Pair::start(test) else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    // The back ends report to B, the front to A.
    let service_a = ServiceProcess::start(b, "a", "serviceA", &[]);
    let service_b = ServiceProcess::start(b, "b", "serviceB", &[]);
    let ui = format!("http://{}", a.http);
    let front = ServiceProcess::start(
        a,
        "front",
        "frontservice",
        &[
            "--service-a",
            &service_a.url,
            "--service-b",
            &service_b.url,
            "--ui",
            &ui,
        ],
    );

    // Four: B1 fails every fifth call.
    const VIEWS: usize = 4;
    let traces: Vec<String> = (0..VIEWS).map(|_| view(&front)).collect();
    let expected: BTreeMap<String, usize> = [
        ("frontservice".to_owned(), 4),
        ("serviceA".to_owned(), 3),
        ("serviceB".to_owned(), 7),
    ]
    .into();
    for trace in &traces {
        let on_a = a.trace_with(trace, SPANS_PER_VIEW);
        let on_b = b.trace_with(trace, SPANS_PER_VIEW);
        assert_eq!(on_a.len(), SPANS_PER_VIEW, "trace {trace} on A: {on_a:#?}");
        assert_eq!(per_service(&on_a), expected, "trace {trace} on A");
        assert_eq!(on_a, on_b, "trace {trace}: A and B answer the same spans");
        let ids: HashSet<&str> = on_a.iter().filter_map(|s| s["span_id"].as_str()).collect();
        let roots = on_a.iter().filter(|s| s["parent_id"].is_null()).count();
        assert_eq!(roots, 1, "trace {trace}: one root");
        assert!(
            on_a.iter()
                .filter_map(|s| s["parent_id"].as_str())
                .all(|p| ids.contains(p)),
            "trace {trace}: every parent is in the trace"
        );
    }

    // The rest of the API agrees too.
    let (status, found) = a.get("/api/traces?service=serviceA&limit=100");
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        b.get("/api/traces?service=serviceA&limit=100"),
        (200, found.clone())
    );
    let mut listed: Vec<(&str, u64)> = found["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .map(|t| {
            (
                t["trace_id"].as_str().unwrap(),
                t["span_count"].as_u64().unwrap(),
            )
        })
        .collect();
    listed.sort();
    let mut wanted: Vec<(&str, u64)> = traces
        .iter()
        .map(|t| (t.as_str(), SPANS_PER_VIEW as u64))
        .collect();
    wanted.sort();
    assert_eq!(listed, wanted, "serviceA's traces, whole");

    for path in [
        "/api/dependencies?window=1h",
        "/api/aggregates?window=1h",
        "/api/services/serviceB/names",
    ] {
        let on_a = a.get(path);
        assert_eq!(on_a.0, 200, "{path}: {}", on_a.1);
        assert_eq!(on_a, b.get(path), "{path}: A and B answer the same");
    }
    let (_, dependencies) = a.get("/api/dependencies?window=1h");
    assert_eq!(
        dependencies["dependencies"],
        json!([
            { "callee": "serviceA", "caller": "frontservice", "calls": VIEWS, "error_count": 0 },
            { "callee": "serviceB", "caller": "frontservice", "calls": VIEWS, "error_count": 0 },
        ])
    );
    let (_, services) = a.get("/api/services");
    assert_eq!(
        services["services"],
        json!(["frontservice", "serviceA", "serviceB"])
    );
    assert_eq!(b.get("/api/services").1["services"], services["services"]);
    assert_eq!(
        pair.server
            .query("SELECT count() FROM (SELECT DISTINCT trace_id, span_id FROM dapple.spans)"),
        format!("{}\n", VIEWS * SPANS_PER_VIEW),
        "ClickHouse holds each span of the views"
    );

    checked(
        test,
        format!(
            "{VIEWS} page views, front -> collector A, serviceA/serviceB -> collector B: each \
             trace's 7 spans (3+1+3 per service) identical from A and B; search, dependencies \
             ({VIEWS} calls per edge), aggregates, names, services the same on both"
        ),
    );
}

/// The program's trace: the same as in `collector_e2e.rs`.
const TREE: &str = "program.main
  program.load
    program.read_item
    program.read_item
    program.read_item
  program.compute
  program.store
";

/// A load balancer in small: each connection to its port goes to the first
/// backend that accepts one, and is cut, both ways, when either end closes.
/// Records which backend each connection went to, and can hold back what
/// backends answer (acknowledgements lost on the way).
struct Balancer {
    address: SocketAddr,
    routed: Arc<Mutex<Vec<SocketAddr>>>,
    /// While set, bytes from backends are read and thrown away.
    hold_replies: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
}

impl Balancer {
    fn start(backends: Vec<SocketAddr>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = listener.local_addr().expect("its address");
        let routed = Arc::new(Mutex::new(Vec::new()));
        let hold_replies = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let accepting = {
            let (routed, hold, stop) = (routed.clone(), hold_replies.clone(), stop.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let chosen = backends.iter().find_map(|backend| {
                        TcpStream::connect_timeout(backend, Duration::from_secs(1))
                            .ok()
                            .map(|stream| (*backend, stream))
                    });
                    // No backend: the client's connection just closes.
                    let Some((backend, server)) = chosen else {
                        continue;
                    };
                    routed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(backend);
                    pipe(client, server, hold.clone());
                }
            })
        };
        Balancer {
            address,
            routed,
            hold_replies,
            stop,
            accepting: Some(accepting),
        }
    }

    /// How many connections went to `backend`.
    fn routed_to(&self, backend: SocketAddr) -> usize {
        let routed = self.routed.lock().unwrap_or_else(PoisonError::into_inner);
        routed.iter().filter(|b| **b == backend).count()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
    }
}

/// Copies bytes both ways until either side ends; then closes both. What
/// the server sends is thrown away while `hold_replies` is set.
fn pipe(client: TcpStream, server: TcpStream, hold_replies: Arc<AtomicBool>) {
    let copy = |mut from: TcpStream, mut to: TcpStream, hold: Option<Arc<AtomicBool>>| {
        std::thread::spawn(move || {
            let mut buffer = [0u8; 16 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buffer) {
                if hold.as_ref().is_some_and(|h| h.load(Ordering::SeqCst)) {
                    continue;
                }
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        });
    };
    let (Ok(client_too), Ok(server_too)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    copy(client, server, None);
    copy(server_too, client_too, Some(hold_replies));
}

/// Spans stored so far, as the aggregates count them.
fn stored_spans(collector: &CollectorProcess) -> u64 {
    let (status, aggregates) = collector.get("/api/aggregates?window=1h");
    assert_eq!(status, 200, "{aggregates}");
    aggregates["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|o| o["count"].as_u64().expect("a count"))
        .sum()
}

#[test]
fn a_collector_killed_mid_stream_loses_nothing_acknowledged_and_its_client_goes_on_through_the_other()
 {
    let test = "a_collector_killed_mid_stream_loses_nothing_acknowledged_and_its_client_goes_on_through_the_other";
    let Some(mut pair) = Pair::start(test) else {
        return;
    };
    let balancer = Balancer::start(vec![pair.a.native, pair.b.native]);
    const TRACES: usize = 150;
    let program = {
        let endpoint = balancer.address.to_string();
        std::thread::spawn(move || {
            run_traced_program(&endpoint, &["many", &TRACES.to_string()], 30)
        })
    };

    // Once A has stored a fifth of the stream, its acknowledgements stop
    // reaching the client; once it has stored more that the client never
    // heard of (which the client must send again), it dies.
    let stored_beyond = |floor: u64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stored = stored_spans(&pair.a);
            if stored > floor {
                return stored;
            }
            assert!(
                Instant::now() < deadline,
                "A stored no more than {floor} in 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let stored_before_hold = stored_beyond((TRACES * 7 / 5) as u64);
    balancer.hold_replies.store(true, Ordering::SeqCst);
    let unacknowledged = stored_beyond(stored_before_hold) - stored_before_hold;
    pair.a.kill();
    balancer.hold_replies.store(false, Ordering::SeqCst);
    assert!(
        !program.is_finished(),
        "the program was still sending when A died"
    );

    let output = program.join().expect("the program's thread");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("undelivered 0"),
        "every span acknowledged: {stdout}"
    );
    assert!(stdout.contains("dropped 0"), "{stdout}");
    let (to_a, to_b) = (
        balancer.routed_to(pair.a.native),
        balancer.routed_to(pair.b.native),
    );
    assert!(to_a >= 1 && to_b >= 1, "A got {to_a} connections, B {to_b}");

    let trace_ids: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("trace "))
        .collect();
    assert_eq!(trace_ids.len(), TRACES);
    let mut span_ids = HashSet::new();
    for trace_id in &trace_ids {
        let (status, trace) = pair.b.get(&format!("/api/traces/{trace_id}"));
        assert_eq!(status, 200, "trace {trace_id}");
        assert_eq!(render_trace(&trace), TREE, "trace {trace_id}");
        for span in trace["spans"].as_array().expect("spans") {
            let id = span["span_id"].as_str().expect("a span id").to_owned();
            assert!(span_ids.insert(id), "span {span} twice");
        }
    }
    assert_eq!(span_ids.len(), TRACES * 7, "every span stored exactly once");
    assert_eq!(stored_spans(&pair.b), (TRACES * 7) as u64);
    let (status, found) = pair.b.get("/api/traces?service=traced-program&limit=1000");
    assert_eq!(status, 200, "{found}");
    let listed = found["traces"].as_array().expect("traces");
    assert_eq!(listed.len(), TRACES);
    assert!(listed.iter().all(|t| t["span_count"] == 7), "{found}");

    checked(
        test,
        format!(
            "{TRACES} traces through a balancer; A stored {stored_before_hold} spans, then \
             {unacknowledged} more whose acks were held back, then was killed; {to_a} \
             connection(s) to A, {to_b} to B; undelivered 0; all {} spans read from B once \
             each, {TRACES} traces of 7 listed",
            TRACES * 7
        ),
    );
}
