//! The workloads with `tracing`'s `#[instrument]`, under the registry with
//! tracing-opentelemetry and the OpenTelemetry SDK's batch span processor at
//! its defaults (a queue of 2048 spans that drops past it, batches of 512),
//! exporting over OTLP/HTTP.

use std::hint::black_box;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::{Dispatch, instrument};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::Registry;

use crate::sink::SinkAddrs;
use crate::{LEAVES, LONG_ARG, SHORT_ARG};

#[instrument(name = "leaf", skip_all)]
fn leaf() {
    black_box(());
}

#[instrument(name = "root", skip_all)]
pub fn sync_root() {
    for _ in 0..LEAVES {
        leaf();
    }
}

#[instrument(name = "leaf", skip_all, fields(n = n, s = s))]
fn leaf_args(n: i64, s: &str) {
    black_box((n, s));
}

#[instrument(name = "root", skip_all)]
pub fn args_root() {
    for i in 0..LEAVES {
        leaf_args(i as i64, black_box(SHORT_ARG));
    }
}

#[instrument(name = "root", skip_all)]
pub fn long_args_root() {
    for i in 0..LEAVES {
        leaf_args(i as i64, black_box(LONG_ARG));
    }
}

#[instrument(name = "leaf", skip_all)]
async fn async_leaf() {
    black_box(());
}

#[instrument(name = "root", skip_all)]
pub async fn async_root() {
    for _ in 0..LEAVES {
        async_leaf().await;
    }
}

/// How `tracing` is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Every span recorded and exported (the SDK's default sampler,
    /// parent-based always-on).
    Sampled,
    /// Roots not sampled: `ParentBased(AlwaysOff)`.
    Unsampled,
    /// A `LevelFilter::OFF` layer: spans filtered out before OpenTelemetry
    /// sees them.
    LevelOff,
}

/// A subscriber with its provider, which flushes (none for the bridge,
/// whose spans go through `dapple::init`'s reporter).
#[derive(Clone, Debug)]
pub struct Subscriber {
    pub dispatch: Dispatch,
    provider: Option<SdkTracerProvider>,
}

impl Subscriber {
    /// The registry with tracing-opentelemetry, a tracer provider with the
    /// SDK's batch span processor at its defaults and the OTLP/HTTP
    /// exporter to `sink`.
    pub fn new(sink: &SinkAddrs, filter: Filter) -> Subscriber {
        let mut provider = SdkTracerProvider::builder()
            .with_batch_exporter(sink.otlp_exporter())
            .with_resource(
                Resource::builder()
                    .with_service_name("tracing-bench")
                    .build(),
            );
        if filter == Filter::Unsampled {
            provider = provider.with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
        }
        let provider = provider.build();
        let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("dapple-bench"));
        let dispatch = match filter {
            Filter::LevelOff => {
                Dispatch::new(Registry::default().with(otel).with(LevelFilter::OFF))
            }
            _ => Dispatch::new(Registry::default().with(otel)),
        };
        Subscriber {
            dispatch,
            provider: Some(provider),
        }
    }

    /// The registry with Dapple's bridge, `dapple_tracing::layer()`.
    pub fn bridged() -> Subscriber {
        Subscriber {
            dispatch: Dispatch::new(Registry::default().with(dapple_tracing::layer())),
            provider: None,
        }
    }

    /// Makes it the process's global default subscriber; once per process.
    pub fn set_global_default(&self) {
        tracing::dispatcher::set_global_default(self.dispatch.clone())
            .expect("no global subscriber yet");
    }

    /// Exports what the batch processor holds, and waits for it.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            let _ = provider.force_flush();
        }
    }
}
