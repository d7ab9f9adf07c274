//! `tracing` spans and `#[traced]` spans in one tree: nesting both ways,
//! fields, `otel.*` fields, links, events and errors, async code on a
//! multi-thread runtime, and sampling.

use std::sync::OnceLock;

use dapple::{MemorySink, SpanContext, SpanId, SpanKind, Status, TraceId, Value, traced};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// The process's sink, and the bridge as the global subscriber.
fn sink() -> &'static MemorySink {
    static SINK: OnceLock<MemorySink> = OnceLock::new();
    SINK.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(dapple_tracing::layer());
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        MemorySink::install()
    })
}

#[traced(name = "both.outer")]
fn outer() {
    let span = tracing::info_span!("both.middle", step = 2);
    let _entered = span.enter();
    inner();
}

#[traced(name = "both.inner")]
fn inner() {
    tracing::info_span!("both.leaf").in_scope(|| {});
}

#[test]
fn tracing_and_traced_spans_nest_both_ways() {
    let sink = sink();
    outer();
    let tree = sink.tree_of("both.outer").expect("the tree");
    assert_eq!(
        tree.render(),
        "both.outer\n  both.middle\n    both.inner\n      both.leaf\n"
    );
    assert!(tree.iter().all(|s| s.trace_id() == tree.span.trace_id()));
}

#[test]
fn a_tracing_root_starts_a_dapple_trace() {
    let sink = sink();
    let root = tracing::info_span!("root.tracing");
    root.in_scope(inner_of_root);
    drop(root);
    let tree = sink.tree_of("root.tracing").expect("the tree");
    assert_eq!(tree.render(), "root.tracing\n  root.traced\n");
    assert_eq!(tree.span.parent_id(), None);
}

#[traced(name = "root.traced")]
fn inner_of_root() {}

#[test]
fn fields_become_typed_attributes_and_metadata_code_attributes() {
    let sink = sink();
    let span = tracing::info_span!(
        "fields.span",
        count = 3_i64,
        big = u64::MAX,
        ratio = 0.5,
        ok = true,
        user = "ada",
        order = ?(7, "boxed"),
        later = tracing::field::Empty,
    );
    span.record("later", 42_i64);
    drop(span);
    let record = &sink.named("fields.span")[0];
    assert_eq!(record.attribute("count"), Some(Value::I64(3)));
    assert_eq!(
        record.attribute("big"),
        Some(Value::from(u64::MAX.to_string()))
    );
    assert_eq!(record.attribute("ratio"), Some(Value::F64(0.5)));
    assert_eq!(record.attribute("ok"), Some(Value::Bool(true)));
    assert_eq!(record.attribute("user"), Some(Value::from("ada")));
    assert_eq!(
        record.attribute("order"),
        Some(Value::from("(7, \"boxed\")"))
    );
    assert_eq!(record.attribute("later"), Some(Value::I64(42)));
    assert_eq!(record.attribute("level"), Some(Value::from("INFO")));
    assert_eq!(record.attribute("target"), Some(Value::from("bridge")));
    assert_eq!(
        record.attribute("code.namespace"),
        Some(Value::from("bridge"))
    );
    assert!(matches!(
        record.attribute("code.filepath"),
        Some(Value::Str(file)) if file.ends_with("bridge.rs")
    ));
    assert!(matches!(record.attribute("code.lineno"), Some(Value::I64(line)) if line > 0));
}

#[test]
fn otel_fields_set_name_kind_and_status() {
    let sink = sink();
    tracing::info_span!(
        "otel.placeholder",
        otel.name = "GET /orders",
        otel.kind = "server",
        otel.status_code = "ERROR",
        otel.status_message = "no stock",
    )
    .in_scope(|| {});
    let record = &sink.named("GET /orders")[0];
    assert_eq!(record.kind(), SpanKind::Server);
    assert_eq!(record.status(), &Status::Error("no stock".into()));
    assert_eq!(record.attribute("otel.kind"), None, "read, not kept");
}

#[test]
fn follows_from_becomes_a_link() {
    let sink = sink();
    let cause = tracing::info_span!("link.cause");
    let effect = tracing::info_span!(parent: None, "link.effect");
    effect.follows_from(&cause);
    drop(effect);
    drop(cause);
    let cause = &sink.named("link.cause")[0];
    let effect = &sink.named("link.effect")[0];
    assert_eq!(effect.links().len(), 1);
    assert_eq!(effect.links()[0].span_id, cause.span_id());
    assert_ne!(effect.trace_id(), cause.trace_id());
}

#[traced(name = "events.traced")]
fn warns_inside_traced() {
    tracing::warn!(retries = 2, "slow disk");
}

#[tracing::instrument(name = "events.instrumented", err)]
fn fails(n: u32) -> Result<(), String> {
    Err(format!("{n} is odd"))
}

#[test]
fn events_go_to_the_innermost_span_and_errors_mark_it() {
    let sink = sink();
    tracing::info_span!("events.span").in_scope(|| {
        tracing::info!(user = "ada", "logged in");
        warns_inside_traced();
        let _ = fails(3);
    });
    let span = &sink.named("events.span")[0];
    assert_eq!(span.events().len(), 1);
    let event = &span.events()[0];
    assert_eq!(event.name, "logged in");
    assert_eq!(event.attribute("level"), Some(Value::from("INFO")));
    assert_eq!(event.attribute("user"), Some(Value::from("ada")));
    assert_eq!(span.status(), &Status::Unset);

    let traced = &sink.named("events.traced")[0];
    assert_eq!(traced.parent_id(), Some(span.span_id()));
    assert_eq!(traced.events()[0].name, "slow disk");
    assert_eq!(traced.events()[0].attribute("retries"), Some(Value::I64(2)));
    assert_eq!(traced.status(), &Status::Unset, "a warning is no error");

    let failed = &sink.named("events.instrumented")[0];
    assert_eq!(failed.parent_id(), Some(span.span_id()));
    assert_eq!(failed.attribute("n"), Some(Value::I64(3)));
    assert_eq!(failed.status(), &Status::Error("3 is odd".into()));
    assert_eq!(failed.events()[0].name, "error");
    assert_eq!(
        failed.events()[0].attribute("level"),
        Some(Value::from("ERROR"))
    );
}

#[tracing::instrument(name = "async.instrumented")]
async fn instrumented(n: u64) -> u64 {
    tokio::task::yield_now().await;
    traced_step(n).await
}

#[traced(name = "async.traced")]
async fn traced_step(n: u64) -> u64 {
    tokio::task::yield_now().await;
    let spawned = tokio::spawn(instrumented_leaf(n))
        .await
        .expect("the task runs");
    let blocking =
        tokio::task::spawn_blocking(|| tracing::info_span!("async.blocking").in_scope(|| 1))
            .await
            .expect("the closure runs");
    spawned + blocking
}

#[tracing::instrument(name = "async.leaf")]
async fn instrumented_leaf(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n * 2
}

#[test]
fn one_tree_across_awaits_and_spawns_on_a_multi_thread_runtime() {
    let sink = sink();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results: Vec<u64> = runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|n| {
                tokio::spawn(instrumented(n).instrument(tracing::info_span!("async.request", n)))
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    assert_eq!(results, (0..8).map(|n| n * 2 + 1).collect::<Vec<_>>());
    let requests = sink.named("async.request");
    assert_eq!(requests.len(), 8);
    for request in requests {
        let tree = dapple::SpanTree::build(sink.trace(request.trace_id())).expect("a tree");
        assert_eq!(
            tree.render(),
            "async.request\n  async.instrumented\n    async.traced\n      async.leaf\n      async.blocking\n",
        );
    }
}

#[test]
fn under_an_unsampled_context_bridged_spans_record_nothing() {
    let sink = sink();
    let trace = TraceId::from_bytes([0x5a; 16]).unwrap();
    let unsampled = SpanContext::new(trace, SpanId::new(9).unwrap(), false);
    {
        let _attached = unsampled.attach();
        tracing::info_span!("unsampled.tracing").in_scope(inner_unsampled);
    }
    assert!(sink.named("unsampled.tracing").is_empty());
    assert!(sink.named("unsampled.traced").is_empty());
    assert!(sink.trace(trace).is_empty());
}

#[traced(name = "unsampled.traced")]
fn inner_unsampled() {}

#[test]
fn a_field_named_like_a_metadata_attribute_wins() {
    let sink = sink();
    tracing::warn_span!("clash.span", level = "gold").in_scope(|| {});
    let record = &sink.named("clash.span")[0];
    let levels: Vec<_> = record.attributes().filter(|kv| kv.key == "level").collect();
    assert_eq!(levels.len(), 1, "one value per key");
    assert_eq!(record.attribute("level"), Some(Value::from("gold")));
    assert_eq!(record.attribute("target"), Some(Value::from("bridge")));
}
