//! Prints, for each library and workload, the application thread's CPU per
//! traced call, the whole process's CPU per delivered span, and their ratio
//! to Dapple's.
//!
//! `cargo run --release -p dapple-bench --bin figures [roots]`

use dapple_bench::{Figure, Library, Runner, Workload, measure};

fn main() {
    let roots: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let runners: Vec<Runner> = Library::ALL.into_iter().map(Runner::new).collect();
    println!(
        "{:<14} {:<19} {:>12} {:>9} {:>15} {:>9} {:>8}",
        "workload", "library", "app ns/call", "x dapple", "cpu ns/deliv.", "x dapple", "dropped"
    );
    let mut failed = false;
    for workload in Workload::ALL {
        let figures: Vec<Figure> = runners
            .iter()
            .filter_map(|r| measure(r, workload, roots))
            .collect();
        let base = &figures[0];
        for f in &figures {
            let cpu = f
                .process_ns_per_delivered
                .map_or("-".to_owned(), |v| format!("{v:.1}"));
            let cpu_ratio = match (f.process_ns_per_delivered, base.process_ns_per_delivered) {
                (Some(v), Some(b)) => format!("{:.2}", v / b),
                _ => "-".to_owned(),
            };
            println!(
                "{:<14} {:<19} {:>12.1} {:>9.2} {:>15} {:>9} {:>8}",
                workload.name(),
                f.library.name(),
                f.app_ns_per_call,
                f.app_ns_per_call / base.app_ns_per_call,
                cpu,
                cpu_ratio,
                f.dropped
            );
            failed |= f.library == Library::Dapple && f.dropped > 0;
        }
    }
    println!(
        "\nA library that dropped spans did less work than asked: its cpu ns per \
         delivered span counts the work it did for the spans it dropped too."
    );
    if failed {
        eprintln!("dapple dropped spans");
        std::process::exit(1);
    }
}
