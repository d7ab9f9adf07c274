//! Ingest and search figures of the collector, client and collector on one
//! machine: a traced program records spans and `dapple::init`'s reporter
//! sends them over the native protocol to a collector running in this
//! process (real TCP, real store); then the query API is timed over HTTP.
//!
//! `cargo run --release -p dapple-bench --bin collector_figures [spans]`
//! (default 1,000,000 spans per store).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dapple::traced;
use dapple_collector::server::{self, ServerConfig};
use dapple_collector::store::{Limits, MemoryStore, SqliteStore, Store};

const LEAVES: u64 = 99;

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

/// Starts a collector with `store` on free loopback ports.
fn start_collector(store: Arc<dyn Store>) -> (SocketAddr, SocketAddr) {
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let config = ServerConfig {
            http: "127.0.0.1:0".parse().expect("an address"),
            native: "127.0.0.1:0".parse().expect("an address"),
            max_frame_bytes: dapple_proto::DEFAULT_MAX_FRAME_BYTES,
        };
        let _ = runtime.block_on(server::run(config, store, move |bound| {
            let _ = bound_tx.send((bound.native, bound.http));
        }));
    });
    bound_rx.recv().expect("the collector binds")
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

fn main() {
    let spans: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let roots = spans / (LEAVES + 1);
    let data_dir =
        std::env::temp_dir().join(format!("dapple-collector-figures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let stores: Vec<(&str, Arc<dyn Store>)> = vec![
        (
            "memory",
            Arc::new(MemoryStore::new(Limits::spans(10_000_000))),
        ),
        (
            "sqlite",
            Arc::new(
                SqliteStore::open(&data_dir, Limits::spans(10_000_000)).expect("a SQLite store"),
            ),
        ),
    ];
    println!(
        "{} spans per store ({roots} traces of {} spans)",
        roots * (LEAVES + 1),
        LEAVES + 1
    );
    for (name, store) in stores {
        let (native, http) = start_collector(store.clone());
        let guard = dapple::init(
            dapple::Config::default()
                .with_endpoint(native.to_string())
                .with_service("bench")
                .with_buffer_bytes(2 << 30),
        );
        let start = Instant::now();
        for n in 0..roots {
            request(n);
        }
        let undelivered = dapple::flush(Duration::from_secs(600));
        let elapsed = start.elapsed();
        drop(guard);
        let stored = store.span_count().expect("the store counts");
        assert_eq!(undelivered, 0, "every span delivered");
        assert_eq!(
            stored as u64,
            roots * (LEAVES + 1),
            "every span stored once"
        );
        println!(
            "{name:<7} ingest: {:>9.0} spans/s ({} spans in {:.2} s, recording, encoding, TCP and store together)",
            stored as f64 / elapsed.as_secs_f64(),
            stored,
            elapsed.as_secs_f64()
        );
        if name != "sqlite" {
            continue;
        }
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let base = format!("http://{http}");
        let found = get(
            &agent,
            &format!("{base}/api/traces?service=bench&limit=1000"),
        );
        let found: serde_json::Value = serde_json::from_str(&found).expect("JSON");
        let ids: Vec<String> = found["traces"]
            .as_array()
            .expect("a trace list")
            .iter()
            .filter_map(|t| t["trace_id"].as_str().map(str::to_owned))
            .collect();
        let (p50, p99) = percentiles(100, || {
            get(
                &agent,
                &format!("{base}/api/traces?service=bench&name=leaf&min_duration=50ns&limit=20"),
            );
        });
        println!(
            "sqlite  search service+name+min_duration, 20 traces: p50 {p50:.1} ms, p99 {p99:.1} ms"
        );
        let mut next = 0;
        let (p50, p99) = percentiles(100, || {
            next = (next + 1) % ids.len();
            get(&agent, &format!("{base}/api/traces/{}", ids[next]));
        });
        println!("sqlite  fetch one trace of 100 spans by id: p50 {p50:.1} ms, p99 {p99:.1} ms");
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}
