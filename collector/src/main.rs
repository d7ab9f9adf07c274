//! `dapple-collector`: receives spans, stores them, answers queries.

#[global_allocator]
static ALLOCATOR: dapple_collector::Allocator = dapple_collector::Allocator;

fn main() -> std::process::ExitCode {
    dapple_collector::cli::main()
}
