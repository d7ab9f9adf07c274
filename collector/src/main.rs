//! `dapple-collector`: receives spans, stores them, answers queries.

dapple_collector::global_allocator!();

fn main() -> std::process::ExitCode {
    dapple_collector::cli::main()
}
