//! The tower server layer on a real axum server: one server span per
//! request, a child of the caller's span, named by the route template, with
//! the handler's spans and spawned tasks under it.

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Path};
use axum::http::StatusCode;
use axum::routing::get;
use dapple::server::TraceLayer;
use dapple::{SpanContext, SpanId, SpanKind, Status, TraceId, Value, traced};
use dapple_tests::collector;

#[traced(name = "server.load_user", args(id))]
async fn load_user(id: u32) -> String {
    tokio::task::yield_now().await;
    format!("user {id}")
}

#[traced(name = "server.audit")]
async fn audit() {}

/// A plain handler: `#[traced]` would rewrite `tokio::spawn`; here the
/// explicit helper carries the server span into the task.
async fn user(Path(id): Path<u32>) -> String {
    dapple::spawn(audit()).await.unwrap();
    load_user(id).await
}

async fn fail() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

/// Serves the app on a free loopback port; returns its address.
fn serve() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let app = Router::new()
                .route("/users/{id}", get(user))
                .route("/fail", get(fail))
                .route_layer(
                    TraceLayer::new()
                        .with_route(|request: &axum::extract::Request| {
                            request
                                .extensions()
                                .get::<MatchedPath>()
                                .map(MatchedPath::as_str)
                        })
                        .with_client_address(|request: &axum::extract::Request| {
                            request
                                .extensions()
                                .get::<ConnectInfo<std::net::SocketAddr>>()
                                .map(|info| info.0.ip().to_string())
                        }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
    });
    rx.recv().unwrap()
}

fn get_with(address: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(&format!("http://{address}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.call().unwrap().status().as_u16()
}

#[test]
fn a_request_with_a_traceparent_continues_the_callers_trace() {
    collector();
    let address = serve();
    let caller = SpanContext::new(TraceId::random(), SpanId::random(), true);
    let traceparent = dapple::propagation::format_traceparent(&caller);
    assert_eq!(
        get_with(
            address,
            "/users/7",
            &[
                ("traceparent", &traceparent),
                ("authorization", "secret"),
                (
                    "user-agent",
                    "dapple-test/1.0 (a user agent longer than 23 bytes)"
                )
            ]
        ),
        200
    );

    let spans = collector().trace(caller.trace_id());
    let server = spans
        .iter()
        .find(|s| s.name() == "GET /users/{id}")
        .unwrap();
    assert_eq!(server.parent_id(), Some(caller.span_id()));
    assert_eq!(server.kind(), SpanKind::Server);
    assert_eq!(
        server.attribute("http.route"),
        Some(Value::from("/users/{id}"))
    );
    assert_eq!(server.attribute("url.path"), Some(Value::from("/users/7")));
    assert_eq!(
        server.attribute("http.request.method"),
        Some(Value::from("GET"))
    );
    assert_eq!(
        server.attribute("user_agent.original"),
        Some(Value::from(
            "dapple-test/1.0 (a user agent longer than 23 bytes)"
        ))
    );
    assert_eq!(
        server.attribute("client.address"),
        Some(Value::from("127.0.0.1"))
    );
    assert_eq!(
        server.attribute("http.response.status_code"),
        Some(Value::I64(200))
    );
    assert!(
        server
            .attributes()
            .all(|kv| !kv.value.to_string().contains("secret"))
    );
    for child in ["server.load_user", "server.audit"] {
        let span = spans.iter().find(|s| s.name() == child).unwrap_or_else(|| {
            panic!(
                "no {child} in {:?}",
                spans
                    .iter()
                    .map(|s| (s.name().to_owned(), s.parent_id()))
                    .collect::<Vec<_>>()
            )
        });
        assert_eq!(span.parent_id(), Some(server.span_id()), "{child}");
    }
}

#[test]
fn malformed_headers_start_a_fresh_trace_and_still_get_200() {
    collector();
    let address = serve();
    for (name, value) in [
        ("traceparent", "00-zzzz-not-valid-01"),
        ("b3", "garbage"),
        ("span-id", "not/an/appdash/id"),
    ] {
        assert_eq!(
            get_with(address, "/users/9", &[(name, value)]),
            200,
            "{name}"
        );
    }
    let fresh: Vec<_> = collector()
        .named("GET /users/{id}")
        .into_iter()
        .filter(|s| {
            s.parent_id().is_none() && s.attribute("url.path") == Some(Value::from("/users/9"))
        })
        .collect();
    assert_eq!(fresh.len(), 3, "each request started its own trace");
}

#[test]
fn a_5xx_response_marks_the_server_span_as_failed() {
    collector();
    let address = serve();
    assert_eq!(get_with(address, "/fail", &[]), 500);
    let span = &collector().named("GET /fail")[0];
    assert_eq!(span.status(), &Status::Error("HTTP 500".into()));
    assert_eq!(
        span.attribute("http.response.status_code"),
        Some(Value::I64(500))
    );
}

#[traced(name = "client.caller")]
async fn call_user(address: std::net::SocketAddr) -> u16 {
    use tower::{Layer, ServiceExt};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<axum::body::Bytes>>();
    let client = dapple::client::ClientLayer::new().layer(client);
    let request = http::Request::get(format!("http://{address}/users/5"))
        .body(http_body_util::Empty::new())
        .unwrap();
    client.oneshot(request).await.unwrap().status().as_u16()
}

#[test]
fn a_client_span_goes_out_in_the_headers_so_the_server_span_is_its_child() {
    collector();
    let address = serve();
    let status = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(call_user(address));
    assert_eq!(status, 200);
    let caller = collector().tree_of("client.caller").unwrap();
    let client = caller.find("GET /users/5").expect("a client span");
    assert_eq!(client.kind(), SpanKind::Client);
    assert_eq!(client.parent_id(), Some(caller.span.span_id()));
    assert_eq!(
        client.attribute("http.response.status_code"),
        Some(Value::I64(200))
    );
    let server = caller
        .find("GET /users/{id}")
        .expect("the server span, in the same trace");
    assert_eq!(
        server.parent_id(),
        Some(client.span_id()),
        "child of the client span, not its parent"
    );
    assert_eq!(server.kind(), SpanKind::Server);
}
