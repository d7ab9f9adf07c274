//! End-to-end cost of tracing: an axum server whose handler awaits ten
//! nested `#[dapple::traced]` async fns, driven over 32 keep-alive
//! connections, with tracing built out, sampled at 0, on with a discarding
//! exporter, and on with the real collector in another process. Prints the
//! requests per second and the server's CPU time per request of each, as
//! medians over three rounds.
//!
//! ```sh
//! cargo run --release -p dapple-bench --bin e2e [seconds per mode and round, default 5]
//! ```
//!
//! The servers and the collector are this executable started again in
//! another role (see `e2e::ROLE`), so one build has every part.

#[path = "../e2e/mod.rs"]
mod e2e;

use std::process::ExitCode;
use std::time::Duration;

use e2e::driver::{self, Plan};
use e2e::load::Amount;

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(e2e::ROLE) {
        return e2e::play(&role);
    }
    let seconds = match std::env::args().nth(1).map(|s| s.parse::<f64>()) {
        None => 5.0,
        Some(Ok(s)) if s > 0.0 => s,
        Some(_) => {
            eprintln!("usage: e2e [seconds per mode and round, default 5]");
            return ExitCode::FAILURE;
        }
    };
    let plan = Plan {
        rounds: 3,
        window: Amount::For(Duration::from_secs_f64(seconds)),
        warmup: Amount::For(Duration::from_secs(1)),
        connections: 32,
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find this executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match driver::run(&exe, &plan, |line| println!("{line}")) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("e2e: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    print!("{}", driver::table(&report));
    let failed: u64 = report.modes.iter().map(|run| run.failed()).sum();
    // Spans dropped at the server's memory bound are counted and reported
    // above; spans gone without a count are a failure.
    if failed > 0 || report.lost_spans() > 0 {
        eprintln!(
            "e2e: {failed} requests failed, {} spans lost",
            report.lost_spans()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
