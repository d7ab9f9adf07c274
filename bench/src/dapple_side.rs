//! The workloads with Dapple's `#[traced]`.

use std::hint::black_box;

use dapple::traced;

use crate::sink::SinkAddrs;
use crate::{LEAVES, LONG_ARG, SHORT_ARG};

/// Starts reporting with `dapple::init` at its defaults (the native TCP
/// exporter, its default memory bound) to the sink's native port.
pub fn install(sink: &SinkAddrs) -> dapple::Guard {
    dapple::init(
        dapple::Config::default()
            .with_endpoint(sink.native.clone())
            .with_service("dapple-bench"),
    )
}

/// Starts reporting with `dapple::init` at its defaults but for its
/// OTLP/HTTP exporter, to the sink's OTLP port.
pub fn install_otlp(sink: &SinkAddrs) -> dapple::Guard {
    dapple::init(
        dapple::Config::default()
            .with_otlp_endpoint(format!("{}/v1/traces", sink.otlp))
            .with_service("dapple-bench"),
    )
}

#[traced(name = "leaf")]
fn leaf() {
    black_box(());
}

#[traced(name = "root")]
pub fn sync_root() {
    for _ in 0..LEAVES {
        leaf();
    }
}

#[traced(name = "leaf", args(n, s))]
fn leaf_args(n: i64, s: &str) {
    black_box((n, s));
}

/// Each leaf records an integer and [`SHORT_ARG`].
#[traced(name = "root")]
pub fn args_root() {
    for i in 0..LEAVES {
        leaf_args(i as i64, black_box(SHORT_ARG));
    }
}

/// Each leaf records an integer and [`LONG_ARG`].
#[traced(name = "root")]
pub fn long_args_root() {
    for i in 0..LEAVES {
        leaf_args(i as i64, black_box(LONG_ARG));
    }
}

#[traced(name = "leaf")]
async fn async_leaf() {
    black_box(());
}

#[traced(name = "root")]
pub async fn async_root() {
    for _ in 0..LEAVES {
        async_leaf().await;
    }
}
