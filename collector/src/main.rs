//! `dapple-collector`: receives spans, stores them, answers queries.

fn main() -> std::process::ExitCode {
    dapple_collector::cli::main()
}
