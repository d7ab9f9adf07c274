//! Prints, for each library and workload, the application threads' CPU per
//! traced call, the whole process's CPU per span delivered as wire bytes to
//! a null sink process, allocations per call, spans dropped, and the ratios
//! to Dapple's.
//!
//! `cargo run --release -p dapple-bench --bin figures [roots]`
//!
//! The same binary is the null sink (`--null-sink`) and each library's
//! worker process (`--worker ...`): see `dapple_bench::figures`.

use dapple_bench::alloc::Counting;
use dapple_bench::{Figure, Workload, child_mode, figures};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(result) = child_mode(&args) {
        if let Err(e) = result {
            eprintln!("figures {}: {e}", args[0]);
            std::process::exit(1);
        }
        // Without waiting for the libraries' background threads.
        std::process::exit(0);
    }
    let roots: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let program = std::env::current_exe().expect("the path of this program");
    let figures = match figures(&program, roots) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("figures: {e}");
            std::process::exit(1);
        }
    };
    print_table(&figures);
    if figures
        .iter()
        .any(|f| f.setup.library() == dapple_bench::Library::Dapple && f.dropped() > 0)
    {
        eprintln!("dapple dropped spans");
        std::process::exit(1);
    }
}

fn print_table(figures: &[Figure]) {
    println!(
        "{:<13} {:<23} {:>11} {:>8} {:>12} {:>8} {:>11} {:>9} {:>8}",
        "workload",
        "library",
        "app ns/call",
        "x dapple",
        "cpu ns/span",
        "x dapple",
        "allocs/call",
        "delivered",
        "dropped"
    );
    for workload in Workload::ALL {
        let rows: Vec<&Figure> = figures.iter().filter(|f| f.workload == workload).collect();
        let Some(base) = rows.first() else { continue };
        for f in &rows {
            let cpu = f.process_ns_per_delivered();
            let cpu_ratio = match (cpu, base.process_ns_per_delivered()) {
                (Some(v), Some(b)) => format!("{:.2}", v / b),
                _ => "-".to_owned(),
            };
            println!(
                "{:<13} {:<23} {:>11.1} {:>8.2} {:>12} {:>8} {:>11.2} {:>9} {:>8}",
                workload.name(),
                f.setup.label(workload),
                f.app_ns_per_call(),
                f.app_ns_per_call() / base.app_ns_per_call(),
                cpu.map_or("-".to_owned(), |v| format!("{v:.1}")),
                cpu_ratio,
                f.allocations_per_call(),
                f.delivered,
                f.dropped()
            );
        }
    }
    println!(
        "\napp ns/call: CPU of the application threads per traced call. cpu ns/span: CPU of \
         the whole process (application and background threads) from the first call until \
         the null sink had received the last span, per span received. A library that \
         dropped spans did less work than asked, and its cpu ns/span still counts the work \
         it did for the spans it dropped."
    );
}
