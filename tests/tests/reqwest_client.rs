//! The reqwest middleware against a real traced axum server: each request
//! is a client span whose own id goes out in the headers, so the server's
//! span is its child; failures of either kind mark the client span.

use axum::Router;
use axum::extract::{MatchedPath, Path};
use axum::http::StatusCode;
use axum::routing::get;
use dapple::propagation::{Format, Propagator};
use dapple::reqwest::TracingMiddleware;
use dapple::server::TraceLayer;
use dapple::{FutureExt, Span, SpanKind, SpanRecord, SpanTree, Status, Value};
use dapple_tests::collector;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

async fn user(Path(id): Path<u32>) -> String {
    format!("user {id}")
}

async fn fail() -> StatusCode {
    StatusCode::SERVICE_UNAVAILABLE
}

/// Serves the traced app on a free loopback port; returns its address.
fn serve() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let app = Router::new()
                .route("/users/{id}", get(user))
                .route("/fail", get(fail))
                .route_layer(
                    TraceLayer::new().with_route(|request: &axum::extract::Request| {
                        request
                            .extensions()
                            .get::<MatchedPath>()
                            .map(MatchedPath::as_str)
                    }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn client(middleware: TracingMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

/// GETs `url` inside a root span named `root`; returns the root's tree with
/// the status code or the error's text.
fn get_traced(
    root: &'static str,
    middleware: TracingMiddleware,
    url: String,
) -> (SpanTree, Result<u16, String>) {
    collector();
    let client = client(middleware);
    let request = async move {
        match client.get(&url).send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(error.to_string()),
        }
    };
    let outcome = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(request.in_span(Span::root(root)));
    (collector().tree_of(root).unwrap(), outcome)
}

fn client_span(tree: &SpanTree) -> &SpanRecord {
    tree.iter()
        .find(|s| s.kind() == SpanKind::Client)
        .unwrap_or_else(|| panic!("no client span in\n{}", tree.render()))
}

#[test]
fn the_server_span_is_a_child_of_the_client_span_in_the_same_trace() {
    let address = serve();
    let (tree, status) = get_traced(
        "reqwest.ok",
        TracingMiddleware::new(),
        format!("http://{address}/users/7?page=2"),
    );
    assert_eq!(status, Ok(200));
    let client = client_span(&tree);
    assert_eq!(client.name(), "GET /users/7");
    assert_eq!(client.parent_id(), Some(tree.span.span_id()));
    assert_eq!(
        client.attribute("http.request.method"),
        Some(Value::from("GET"))
    );
    assert_eq!(
        client.attribute("url.full"),
        Some(Value::from(format!("http://{address}/users/7?page=2")))
    );
    assert_eq!(
        client.attribute("server.address"),
        Some(Value::from("127.0.0.1"))
    );
    assert_eq!(
        client.attribute("server.port"),
        Some(Value::I64(i64::from(address.port())))
    );
    assert_eq!(
        client.attribute("http.response.status_code"),
        Some(Value::I64(200))
    );
    assert_eq!(client.status(), &Status::Unset);

    let server = tree
        .find("GET /users/{id}")
        .expect("the server span, in the caller's trace");
    assert_eq!(server.kind(), SpanKind::Server);
    assert_eq!(server.trace_id(), client.trace_id());
    assert_eq!(
        server.parent_id(),
        Some(client.span_id()),
        "child of the client span, not of its parent"
    );
}

#[test]
fn other_header_formats_link_the_spans_too() {
    let address = serve();
    let b3 = Propagator {
        read: vec![Format::B3Single],
        write: vec![Format::B3Single],
    };
    let (tree, status) = get_traced(
        "reqwest.b3",
        TracingMiddleware::with_propagator(b3),
        format!("http://{address}/users/8"),
    );
    assert_eq!(status, Ok(200));
    let client = client_span(&tree);
    let server = tree.find("GET /users/{id}").expect("the server span");
    assert_eq!(server.parent_id(), Some(client.span_id()));
}

#[test]
fn an_error_status_marks_the_client_span_as_failed() {
    let address = serve();
    let (tree, status) = get_traced(
        "reqwest.503",
        TracingMiddleware::new(),
        format!("http://{address}/fail"),
    );
    assert_eq!(status, Ok(503));
    let client = client_span(&tree);
    assert_eq!(
        client.attribute("http.response.status_code"),
        Some(Value::I64(503))
    );
    assert_eq!(client.attribute("error.type"), Some(Value::from("503")));
    assert_eq!(client.status(), &Status::Error("HTTP 503".into()));
}

#[test]
fn credentials_in_the_url_are_not_recorded() {
    let address = serve();
    let (tree, status) = get_traced(
        "reqwest.userinfo",
        TracingMiddleware::new(),
        format!("http://ada:s3cret@{address}/users/9"),
    );
    assert_eq!(status, Ok(200));
    let client = client_span(&tree);
    assert_eq!(
        client.attribute("url.full"),
        Some(Value::from(format!("http://{address}/users/9")))
    );
    for span in tree.iter() {
        for kv in span.attributes() {
            assert!(!kv.value.to_string().contains("s3cret"), "{kv:?}");
        }
    }
}

#[test]
fn a_refused_connection_is_recorded_on_the_client_span() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (tree, outcome) = get_traced(
        "reqwest.refused",
        TracingMiddleware::new(),
        format!("http://127.0.0.1:{port}/users/1"),
    );
    assert!(outcome.is_err(), "{outcome:?}");
    let client = client_span(&tree);
    assert_eq!(client.attribute("error.type"), Some(Value::from("connect")));
    assert_eq!(client.attribute("http.response.status_code"), None);
    let Status::Error(message) = client.status() else {
        panic!("not an error: {:?}", client.status());
    };
    assert!(
        message.to_lowercase().contains("refused"),
        "the cause is in the message: {message}"
    );
}
