//! The workloads with fastrace's `#[trace]` (feature `enable`), reported
//! with `fastrace-opentelemetry` through the OTLP/HTTP exporter.

use std::borrow::Cow;
use std::hint::black_box;

use fastrace::collector::{Config, SpanContext};
use fastrace::prelude::*;
use fastrace_opentelemetry::OpenTelemetryReporter;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;

use crate::sink::SinkAddrs;
use crate::{LEAVES, LONG_ARG, SHORT_ARG};

/// Sets fastrace's reporter as its README shows, over OTLP/HTTP to the
/// sink, with fastrace's default collector config.
pub fn install(sink: &SinkAddrs) {
    let reporter = OpenTelemetryReporter::new(
        sink.otlp_exporter(),
        Cow::Owned(
            Resource::builder()
                .with_service_name("fastrace-bench")
                .build(),
        ),
        InstrumentationScope::builder("dapple-bench").build(),
    );
    fastrace::set_reporter(reporter, Config::default());
}

#[trace(name = "leaf")]
fn leaf() {
    black_box(());
}

pub fn sync_root() {
    let root = Span::root("root", SpanContext::random());
    let _guard = root.set_local_parent();
    for _ in 0..LEAVES {
        leaf();
    }
}

pub fn unsampled_root() {
    let root = Span::root("root", SpanContext::random().sampled(false));
    let _guard = root.set_local_parent();
    for _ in 0..LEAVES {
        leaf();
    }
}

#[trace(name = "leaf", properties = { "n": "{n}", "s": "{s}" })]
fn leaf_args(n: i64, s: &str) {
    black_box((n, s));
}

pub fn args_root() {
    let root = Span::root("root", SpanContext::random());
    let _guard = root.set_local_parent();
    for i in 0..LEAVES {
        leaf_args(i as i64, black_box(SHORT_ARG));
    }
}

pub fn long_args_root() {
    let root = Span::root("root", SpanContext::random());
    let _guard = root.set_local_parent();
    for i in 0..LEAVES {
        leaf_args(i as i64, black_box(LONG_ARG));
    }
}

#[trace(name = "leaf")]
async fn async_leaf() {
    black_box(());
}

pub async fn async_root() {
    let root = Span::root("root", SpanContext::random());
    async {
        for _ in 0..LEAVES {
            async_leaf().await;
        }
    }
    .in_span(root)
    .await
}

/// One root span alone. fastrace 0.7 never drops a span: a thread whose
/// queue to the collector is full keeps what does not fit in a queue of its
/// own, without bound, and moves it on only when it records again. A nudge
/// is that next recording, after a burst.
pub fn nudge() {
    let _root = Span::root("nudge", SpanContext::random());
}

/// Reports what the collector holds, on a thread of its own, and waits.
pub fn flush() {
    fastrace::flush();
}
