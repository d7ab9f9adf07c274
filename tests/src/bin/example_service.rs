//! The webapp demo's services, built inside this package so that the
//! end-to-end tests can run each as a process of its own:
//! `example_service front|a|b [--listen ADDR ...]`, the same code as the
//! `frontservice`, `serviceA` and `serviceB` examples.

use clap::Parser;
use dapple_demo::{Service, ServiceArgs, run_process};

#[derive(Parser)]
struct Cli {
    service: Service,
    #[command(flatten)]
    args: ServiceArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    run_process(cli.service, cli.args)
}
