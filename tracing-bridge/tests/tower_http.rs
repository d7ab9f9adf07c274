//! A real crate that emits `tracing` spans: tower-http's `TraceLayer` on an
//! axum router, inside Dapple's server span, around a `#[traced]` handler
//! that calls a library instrumented with `#[tracing::instrument]`. One
//! request is one tree.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use dapple::{MemorySink, Value, traced};
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

/// A library written with `tracing`, as many crates are.
mod inventory {
    #[tracing::instrument(name = "inventory.reserve", fields(warehouse = "north"))]
    pub fn reserve(order: u32) -> bool {
        tracing::debug!(order, "reserved");
        order.is_multiple_of(2)
    }
}

#[traced(name = "orders.show")]
async fn show(Path(id): Path<u32>) -> String {
    let reserved = inventory::reserve(id);
    format!("order {id}: reserved {reserved}")
}

#[tokio::test]
async fn tower_http_spans_sit_inside_the_dapple_server_span() {
    let subscriber = tracing_subscriber::registry().with(dapple_tracing::layer());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let sink = MemorySink::install();

    let app = Router::new()
        .route("/orders/{id}", get(show))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(dapple::server::TraceLayer::new());
    let request = http::Request::get("/orders/42")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), 200);
    // tower-http's span lives as long as the response body.
    drop(response);

    let server = &sink.named("GET /orders/42")[0];
    let tree = dapple::SpanTree::build(sink.trace(server.trace_id())).expect("one tree");
    assert_eq!(
        tree.render(),
        "GET /orders/42\n  request\n    orders.show\n      inventory.reserve\n"
    );
    let request_span = tree.find("request").expect("tower-http's span");
    assert_eq!(request_span.attribute("method"), Some(Value::from("GET")));
    assert_eq!(
        request_span.attribute("uri"),
        Some(Value::from("/orders/42"))
    );
    assert_eq!(
        request_span.attribute("code.namespace"),
        Some(Value::from("tower_http::trace::make_span"))
    );
    let reserve = tree.find("inventory.reserve").expect("the library's span");
    assert_eq!(reserve.attribute("order"), Some(Value::I64(42)));
    assert_eq!(reserve.attribute("warehouse"), Some(Value::from("north")));
    assert_eq!(reserve.events()[0].name, "reserved");
}
