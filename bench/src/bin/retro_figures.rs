//! Retroactive sampling against sending everything, to a real collector.
//!
//! `cargo run --release -p dapple-bench --bin retro_figures [traces]`
//! (default 100,000 traces of 10 spans; 1% of them fail in their last span).
//!
//! A collector runs in a child process (memory store). Each mode then runs
//! in a child process of its own, with the native exporter:
//!
//! - `everything`: head sampling at 1, every span sent;
//! - `retroactive`: every span recorded into a ring of 16 MiB and 30 s, a 1%
//!   baseline sent, and the failing traces kept by their error.
//!
//! For each mode it prints the application thread's CPU per span (thread
//! CPU time around the workload), the whole process's CPU per span (user +
//! system, application and reporter threads, until every span sent is
//! acknowledged), the bytes sent over loopback during the run (the
//! machine's, so run it on a quiet one), and for retroactive sampling the
//! most the ring held against its bound.
//! Then it asks the collector for every failing trace: stored whole, all 10
//! spans, or not.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dapple::export::{Reporter, ReporterConfig, RetroExporter, Retroactive, TcpExporter};
use dapple::{Span, traced};
use dapple_bench::collector_process::{self, Collector};
use dapple_demo::{Service, ServiceArgs};

/// Spans per trace: a root and nine children.
const SPANS_PER_TRACE: u64 = 10;

/// One trace in this many fails.
const FAIL_EVERY: u64 = 100;

/// The ring's bound in bytes.
const RING_BYTES: usize = 16 * 1024 * 1024;

#[traced(name = "child", args(i), err)]
fn child(i: u64, fail: bool) -> Result<u64, String> {
    if fail {
        Err(format!("step {i} failed"))
    } else {
        Ok(std::hint::black_box(i))
    }
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// The process's user + system CPU time so far.
fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid, and getrusage only fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid rusage for the call to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Bytes sent over loopback so far, by every process of the machine: the
/// runs are alone on it but for the collector's acks.
fn loopback_bytes() -> u64 {
    std::fs::read_to_string("/sys/class/net/lo/statistics/tx_bytes")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// One mode's run in this process: records `traces` traces, sends them to
/// the collector at `native`, prints its figures and the failing traces.
fn run(mode: &str, native: &str, traces: u64) {
    let resource = dapple_proto::Resource {
        service_name: format!("retro-figures-{mode}"),
        ..Default::default()
    };
    let exporter = TcpExporter::new(native, resource, 16 << 20, 64 << 20);
    dapple::set_sample_rate(1.0);
    let (reporter, figures) = match mode {
        "retroactive" => {
            let settings = Retroactive::default()
                .with_baseline(0.01)
                .with_ring_bytes(RING_BYTES);
            let retro = RetroExporter::new(exporter, &settings);
            let figures = retro.figures();
            (
                Reporter::install(retro, ReporterConfig::default()),
                Some(figures),
            )
        }
        _ => (Reporter::install(exporter, ReporterConfig::default()), None),
    };
    let cpu = process_cpu();
    let app = thread_cpu();
    let mut failing = Vec::new();
    let mut most_in_ring = 0;
    for t in 0..traces {
        let fail = t % FAIL_EVERY == FAIL_EVERY - 1;
        let mut root = Span::root("request");
        if fail {
            failing.push(root.context().expect("recorded").trace_id());
        }
        {
            let _entered = root.enter();
            for i in 0..SPANS_PER_TRACE - 1 {
                let _ = child(i, fail && i == SPANS_PER_TRACE - 2);
            }
        }
        drop(root);
        if let Some(figures) = &figures
            && t % 1000 == 0
        {
            most_in_ring = most_in_ring.max(figures.ring_bytes());
        }
    }
    let app = thread_cpu() - app;
    let undelivered = reporter.flush(Duration::from_secs(60));
    let cpu = process_cpu() - cpu;
    let spans = traces * SPANS_PER_TRACE;
    let per_span = |d: Duration| d.as_nanos() as f64 / spans as f64;
    let mut line = format!(
        "{mode:<12} app thread {:>5.0} ns/span, process {:>5.0} ns/span, undelivered {undelivered}",
        per_span(app),
        per_span(cpu),
    );
    if let Some(figures) = &figures {
        line.push_str(&format!(
            "; ring at most {:.1} MiB of {:.0} MiB, {} spans let go unsent, {} traces kept",
            most_in_ring.max(figures.ring_bytes()) as f64 / 1048576.0,
            RING_BYTES as f64 / 1048576.0,
            figures.evicted_spans(),
            figures.kept_traces()
        ));
    }
    println!("{line}");
    for trace in failing {
        println!("failing {trace}");
    }
    drop(reporter);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(collector_process::SERVE) => return collector_process::serve_args(&args[2..]),
        Some("run") => return run(&args[2], &args[3], args[4].parse().expect("traces")),
        Some("service") => return service(&args[2..]),
        _ => {}
    }
    let traces: u64 = args
        .get(1)
        .map_or(100_000, |a| a.parse().expect("a number of traces"));
    let requests: u64 = args
        .get(2)
        .map_or(10_000, |a| a.parse().expect("a number of requests"));
    one_process(traces);
    three_processes(requests);
}

/// One of the demo's services, reporting as the environment says, until
/// stdin closes: `service ROLE [A's URL B's URL]`.
fn service(args: &[String]) {
    let service = match args[0].as_str() {
        "front" => Service::Front,
        "a" => Service::A,
        _ => Service::B,
    };
    let any = "127.0.0.1:0".parse().expect("an address");
    let args = ServiceArgs {
        listen: Some(any),
        service_a: args.get(1).cloned().unwrap_or_default(),
        service_b: args.get(2).cloned().unwrap_or_default(),
        b1_listen: any,
        users_db: None,
        ui: String::new(),
        stop_on_stdin_eof: true,
    };
    let ok = dapple_demo::run_process(service, args) == std::process::ExitCode::SUCCESS;
    std::process::exit(if ok { 0 } else { 1 });
}

/// Spans the collector stores in memory at most.
const COLLECTOR_SPANS: u64 = 50_000_000;

/// The number of spans of `trace` the collector serving HTTP at `http`
/// stored.
fn trace_spans(http: SocketAddr, agent: &ureq::Agent, trace: &str) -> u64 {
    let body = agent
        .get(&format!("http://{http}/api/traces/{trace}"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    value["spans"].as_array().map_or(0, Vec::len) as u64
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Both modes, each run in a process of its own, against one collector.
fn one_process(traces: u64) {
    let this = std::env::current_exe().expect("this binary");
    let collector = Collector::memory(COLLECTOR_SPANS);
    let (native, http) = (collector.native.to_string(), collector.http);
    println!(
        "{traces} traces of {SPANS_PER_TRACE} spans, one in {FAIL_EVERY} failing in its last span"
    );
    let agent = agent();
    // Each mode twice, alternating, so that neither always runs first.
    for mode in ["everything", "retroactive", "everything", "retroactive"] {
        let sent = loopback_bytes();
        let output = Command::new(&this)
            .args(["run", mode, &native, &traces.to_string()])
            .output()
            .expect("the mode runs");
        let sent = loopback_bytes() - sent;
        let text = String::from_utf8_lossy(&output.stdout);
        let mut failing = 0;
        let mut whole = 0;
        let started = Instant::now();
        for line in text.lines() {
            let Some(trace) = line.strip_prefix("failing ") else {
                println!("{line}");
                continue;
            };
            failing += 1;
            if trace_spans(http, &agent, trace) == SPANS_PER_TRACE {
                whole += 1;
            }
        }
        println!(
            "{mode:<12} over loopback {:.1} MB ({:.1} B/span); failing traces stored whole: {whole} of {failing} ({:.1}%), checked in {:.1} s",
            sent as f64 / 1e6,
            sent as f64 / (traces * SPANS_PER_TRACE) as f64,
            100.0 * whole as f64 / failing.max(1) as f64,
            started.elapsed().as_secs_f64()
        );
    }
}

/// Spans of one demo page view.
const DEMO_SPANS: u64 = dapple_demo::SPANS_PER_VIEW as u64;

/// The webapp demo's three processes (front, A, B with B1) at 1,000
/// requests per second, one in five failing in B1, the deepest service:
/// once sending every request, once retroactive with a 1% baseline, each
/// against a collector of its own.
fn three_processes(requests: u64) {
    const RATE: u64 = 1000;
    println!(
        "\nthe webapp demo in three processes: {requests} requests at {RATE}/s, one in five failing in B1"
    );
    let modes: [(&str, &[(&str, &str)]); 2] = [
        ("everything", &[("DAPPLE_SAMPLING", "head")]),
        (
            "retroactive",
            &[
                ("DAPPLE_SAMPLING", "retroactive"),
                ("DAPPLE_BASELINE", "0.01"),
            ],
        ),
    ];
    for (mode, env) in modes {
        let mut collector = Collector::memory(COLLECTOR_SPANS);
        let start = |role: &str, urls: &[&str]| {
            let mut child = Command::new(std::env::current_exe().expect("this binary"))
                .args(["service", role])
                .args(urls)
                .envs(env.iter().copied())
                .env("DAPPLE_ENDPOINT", collector.native.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("the service starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("its stdout"))
                .read_line(&mut line)
                .expect("where it listens");
            let url = line
                .trim()
                .strip_prefix("listening ")
                .expect("the URL it listens on")
                .to_owned();
            (child, url)
        };
        let (a, a_url) = start("a", &[]);
        let (b, b_url) = start("b", &[]);
        let (front, front_url) = start("front", &[&a_url, &b_url]);
        let sent = loopback_bytes();
        let began = Instant::now();
        let outcomes = drive(&front_url, requests, RATE);
        let elapsed = began.elapsed();
        // Closing their standard input stops the services, which flush.
        for mut child in [front, a, b] {
            drop(child.stdin.take());
            let _ = child.wait();
        }
        let sent = loopback_bytes() - sent;
        let agent = agent();
        let failing: Vec<&String> = outcomes
            .iter()
            .filter(|(status, _)| *status == 502)
            .map(|(_, trace)| trace)
            .collect();
        let whole = failing
            .iter()
            .filter(|t| trace_spans(collector.http, &agent, t) == DEMO_SPANS)
            .count();
        let unanswered = outcomes.iter().filter(|(status, _)| *status == 0).count();
        println!(
            "{mode:<12} {:.0} requests/s ({unanswered} unanswered); {} spans stored; over loopback {:.1} MB \
             (the services' own HTTP too); failing requests stored whole: {whole} of {} ({:.1}%)",
            outcomes.len() as f64 / elapsed.as_secs_f64(),
            collector.span_count(),
            sent as f64 / 1e6,
            failing.len(),
            100.0 * whole as f64 / failing.len().max(1) as f64,
        );
    }
}

/// Requests `front` `requests` times at `rate` per second (B1 fails one
/// call in five by itself), from enough threads to keep the pace: each
/// outcome's status (0 for none) and trace id.
fn drive(front: &str, requests: u64, rate: u64) -> Vec<(u16, String)> {
    const THREADS: u64 = 400;
    let began = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let next = next.clone();
            let front = front.to_owned();
            std::thread::spawn(move || {
                let agent = agent();
                let mut outcomes = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests {
                        return outcomes;
                    }
                    let due = began + Duration::from_micros(i * 1_000_000 / rate);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    let outcome = match agent.get(&format!("{front}/")).call() {
                        Ok(response) => {
                            let trace = response
                                .headers()
                                .get("traceresponse")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.split('-').nth(1))
                                .unwrap_or_default()
                                .to_owned();
                            (response.status().as_u16(), trace)
                        }
                        Err(_) => (0, String::new()),
                    };
                    outcomes.push(outcome);
                }
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("a driver thread"))
        .collect()
}
