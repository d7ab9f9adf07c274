//! A Dapple collector in a child process: the benchmark binary started
//! again as `serve STORE LOCATION MAX_SPANS` ([`serve_args`]), and the
//! parent's handle on it ([`Collector`]): its addresses, its stored span
//! count, its CPU time.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dapple_collector::server::{self, ServerConfig};
use dapple_collector::store::{
    ClickHouseConfig, ClickHouseStore, Limits, MemoryStore, SqliteStore, Store,
};

use crate::cpu;

/// The first argument that starts a binary as the collector.
pub const SERVE: &str = "serve";

/// The collector process: serves `store` (`memory`, `clickhouse` or
/// `sqlite`) at `location` (SQLite's data directory, or ClickHouse's URL
/// and a database, space-separated; unused for memory), keeping at most
/// `max_spans`, on free loopback ports; prints `native http otlp_http
/// otlp_grpc` on its first line, answers each `count` line on stdin with
/// the spans stored, and exits when stdin closes.
pub fn serve(store: &str, location: &str, max_spans: usize) {
    let limits = Limits::spans(max_spans);
    let store: Arc<dyn Store> = match store {
        "memory" => Arc::new(MemoryStore::new(limits)),
        "clickhouse" => {
            let (url, database) = location.split_once(' ').expect("a URL and a database");
            let config = ClickHouseConfig {
                database: database.to_owned(),
                ..ClickHouseConfig::new(url)
            };
            Arc::new(ClickHouseStore::open(&config, limits).expect("a store"))
        }
        _ => Arc::new(SqliteStore::open(Path::new(location), limits).expect("a store")),
    };
    let counted = store.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
            println!("{}", counted.span_count().expect("the store counts"));
        }
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let config = ServerConfig {
        otlp_http: Some(any),
        otlp_grpc: Some(any),
        ..ServerConfig::new(any, any)
    };
    let served = runtime.block_on(server::run(config, store, |bound| {
        let otlp = |a: Option<SocketAddr>| a.expect("an OTLP address").to_string();
        println!(
            "{} {} {} {}",
            bound.native,
            bound.http,
            otlp(bound.otlp_http),
            otlp(bound.otlp_grpc)
        );
    }));
    served.expect("the collector serves");
}

/// [`serve`] with the arguments after [`SERVE`]: `STORE LOCATION
/// MAX_SPANS`, as [`Collector::start`] passes them.
pub fn serve_args(args: &[String]) {
    let [store, location, max_spans, ..] = args else {
        panic!("usage: {SERVE} STORE LOCATION MAX_SPANS");
    };
    serve(store, location, max_spans.parse().expect("a span bound"));
}

/// A collector in a child process (this binary, started with [`SERVE`]):
/// killed and reaped when dropped, unless [`Collector::stop`]ped first.
#[derive(Debug)]
pub struct Collector {
    child: Child,
    /// `None` once stopped.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Its native protocol's address.
    pub native: SocketAddr,
    /// Its HTTP API's.
    pub http: SocketAddr,
    /// Its OTLP/HTTP receiver's.
    pub otlp_http: SocketAddr,
    /// Its OTLP/gRPC receiver's.
    pub otlp_grpc: SocketAddr,
}

impl Collector {
    /// A fresh collector of `store` at `location` (a SQLite data
    /// directory, removed first, or ClickHouse's URL and a database; see
    /// [`serve`]), keeping at most `max_spans`.
    pub fn start(store: &str, location: &str, max_spans: u64) -> Collector {
        if store == "sqlite" {
            let _ = std::fs::remove_dir_all(location);
        }
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .arg(SERVE)
            .arg(store)
            .arg(location)
            .arg(max_spans.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the collector starts");
        let stdin = child.stdin.take().expect("a stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("a stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the collector binds");
        let mut addresses = line
            .split_whitespace()
            .map(|a| a.parse().expect("an address"));
        let mut next = || addresses.next().expect("four addresses");
        let (native, http, otlp_http, otlp_grpc) = (next(), next(), next(), next());
        Collector {
            child,
            stdin: Some(stdin),
            stdout,
            native,
            http,
            otlp_http,
            otlp_grpc,
        }
    }

    /// A fresh collector with a memory store of at most `max_spans`.
    pub fn memory(max_spans: u64) -> Collector {
        Collector::start("memory", "", max_spans)
    }

    /// Spans stored so far.
    pub fn span_count(&mut self) -> u64 {
        let stdin = self.stdin.as_mut().expect("a running collector");
        writeln!(stdin, "count").expect("the collector listens");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the collector answers");
        line.trim().parse().expect("a count")
    }

    /// The process's user + system CPU time so far.
    pub fn cpu(&self) -> Duration {
        Duration::from_nanos(cpu::pid_ns(self.child.id()))
    }

    /// Stops the collector gracefully: closes its stdin and waits for it
    /// to exit.
    pub fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        // Once reaped (after `stop`), `kill` does nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
