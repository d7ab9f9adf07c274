//! The webapp demo's service A as a process of its own:
//! `cargo run -p dapple-examples --bin serviceA`.

#![allow(non_snake_case)] // the binary is named after Appdash's demo

fn main() -> std::process::ExitCode {
    dapple_demo::service_main(dapple_demo::Service::A)
}
