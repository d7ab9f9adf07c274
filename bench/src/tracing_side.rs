//! The workloads with `tracing`'s `#[instrument]`, under two subscribers:
//! the registry alone (with a layer that counts closed spans), and the
//! registry with tracing-opentelemetry and the OpenTelemetry SDK's batch
//! processor, exporting to an exporter that counts and drops.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing::{Dispatch, instrument};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::Registry;

use crate::LEAVES;

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
        leaf_args(i as i64, "GET /users");
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

/// Counts spans as they close.
struct CountClosed(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountClosed {
    fn on_close(&self, _: tracing::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts exported spans and drops them.
#[derive(Debug)]
struct CountExported(Arc<AtomicU64>);

impl SpanExporter for CountExported {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// A subscriber and the count of spans it delivered.
#[derive(Clone, Debug)]
pub struct Subscriber {
    pub dispatch: Dispatch,
    delivered: Arc<AtomicU64>,
    provider: Option<SdkTracerProvider>,
}

impl Subscriber {
    /// The registry with a layer that counts closed spans.
    pub fn registry() -> Subscriber {
        let delivered = Arc::new(AtomicU64::new(0));
        let subscriber = Registry::default().with(CountClosed(delivered.clone()));
        Subscriber {
            dispatch: Dispatch::new(subscriber),
            delivered,
            provider: None,
        }
    }

    /// The registry with tracing-opentelemetry and the SDK's batch
    /// processor. `sampled: false` samples no trace (parent-based, off).
    pub fn opentelemetry(sampled: bool) -> Subscriber {
        let delivered = Arc::new(AtomicU64::new(0));
        let config = BatchConfigBuilder::default()
            // Large enough that no span is dropped in a measured run.
            .with_max_queue_size(1 << 20)
            .with_max_export_batch_size(4096)
            .build();
        let processor = BatchSpanProcessor::builder(CountExported(delivered.clone()))
            .with_batch_config(config)
            .build();
        let sampler = if sampled {
            Sampler::AlwaysOn
        } else {
            Sampler::ParentBased(Box::new(Sampler::AlwaysOff))
        };
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampler)
            .build();
        let tracer = provider.tracer("dapple-bench");
        let subscriber =
            Registry::default().with(tracing_opentelemetry::layer().with_tracer(tracer));
        Subscriber {
            dispatch: Dispatch::new(subscriber),
            delivered,
            provider: Some(provider),
        }
    }

    /// Spans delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Exports what the batch processor holds.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            let _ = provider.force_flush();
        }
    }
}
