//! A null sink for Dapple's native protocol and OTLP/HTTP: counts spans and
//! discards them. Prints `native <host:port>` and `otlp <url>`; `GET
//! /count` on the OTLP port answers `<native spans> <otlp spans>`. Exits
//! when its standard input closes. See `dapple_bench::null_sink`.
//!
//! `cargo run --release -p dapple-bench --bin null_sink`

fn main() {
    if let Err(e) = dapple_bench::null_sink::serve() {
        eprintln!("null_sink: {e}");
        std::process::exit(1);
    }
}
