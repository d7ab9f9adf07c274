//! The webapp demo's front service as a process of its own:
//! `cargo run -p dapple-examples --bin frontservice`. Its page calls service
//! A and service B (run `serviceA` and `serviceB` beside it) and links to the
//! trace in the collector's UI.

fn main() -> std::process::ExitCode {
    dapple_demo::service_main(dapple_demo::Service::Front)
}
