//! The collector's command line, built inside this package so that its tests
//! can start the real collector as a process of its own.

fn main() -> std::process::ExitCode {
    dapple_collector::cli::main()
}
