//! What reporting costs a process with nothing to send: `dapple::init` to a
//! listening collector (the null sink), one trace sent, then the process
//! sits idle; prints the process's CPU per second of idling.
//!
//! `cargo run --release -p dapple-bench --bin idle [seconds]`

use std::time::{Duration, Instant};

use dapple_bench::cpu;
use dapple_bench::sink::SinkProcess;

#[dapple::traced(name = "idle.once")]
fn once() {}

fn main() {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--null-sink") {
        if let Err(e) = dapple_bench::null_sink::serve() {
            eprintln!("idle: null sink: {e}");
            std::process::exit(1);
        }
        return;
    }
    let seconds: u64 = arg.and_then(|a| a.parse().ok()).unwrap_or(5);
    let program = std::env::current_exe().expect("the benchmark's own path");
    let sink = SinkProcess::start(&program, &["--null-sink"]).expect("the null sink starts");
    let tracing = dapple::init(
        dapple::Config::default()
            .with_endpoint(sink.addrs().native.clone())
            .with_service("idle"),
    );
    once();
    assert_eq!(
        dapple::flush(Duration::from_secs(10)),
        0,
        "the trace arrived"
    );
    // Let the reporter settle into its sleep.
    std::thread::sleep(Duration::from_millis(200));
    let (cpu_start, wall_start) = (cpu::process_ns(), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu_ns = cpu::process_ns() - cpu_start;
    let wall = wall_start.elapsed().as_secs_f64();
    println!(
        "idle with dapple::init: {:.3} ms of CPU per second ({:.1} ms over {wall:.1} s)",
        cpu_ns as f64 / 1e6 / wall,
        cpu_ns as f64 / 1e6
    );
    drop(tracing);
}
