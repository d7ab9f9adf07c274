//! The collector's query API over real traces: search with every filter and
//! paging, services, aggregates, dependencies, HTTP ingest, and clear 400s.

mod support;

use dapple_proto as proto;
use prost::Message;
use support::{CollectorProcess, run_traced_program};

fn with_five_traces(store: &[&str]) -> CollectorProcess {
    let collector = CollectorProcess::start(store);
    let output = run_traced_program(&collector.native.to_string(), &["many", "5"], 10);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("undelivered 0"));
    collector
}

fn trace_ids(body: &serde_json::Value) -> Vec<String> {
    body["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("not a trace list: {body}"))
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_owned())
        .collect()
}

fn search_filters_and_pages(collector: &CollectorProcess) {
    let (status, all) = collector.get("/api/traces?service=traced-program");
    assert_eq!(status, 200, "{all}");
    let all_ids = trace_ids(&all);
    assert_eq!(all_ids.len(), 5);
    let first = &all["traces"][0];
    assert_eq!(first["root_name"], "program.main");
    assert_eq!(first["root_service"], "traced-program");
    assert_eq!(first["span_count"], 7);
    assert_eq!(first["error_count"], 1);
    let starts: Vec<u64> = all["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["start_unix_nanos"].as_u64().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Pages of two follow each other without overlap.
    let (_, page1) = collector.get("/api/traces?service=traced-program&limit=2");
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let (_, page2) = collector.get(&format!(
        "/api/traces?service=traced-program&limit=2&cursor={cursor}"
    ));
    let cursor = page2["next_cursor"].as_str().unwrap().to_owned();
    let (_, page3) = collector.get(&format!(
        "/api/traces?service=traced-program&limit=2&cursor={cursor}"
    ));
    assert!(page3["next_cursor"].is_null());
    let paged: Vec<String> = [page1, page2, page3].iter().flat_map(trace_ids).collect();
    assert_eq!(paged, all_ids);

    let count = |query: &str| trace_ids(&collector.get(&format!("/api/traces?{query}")).1).len();
    assert_eq!(count("name=program.compute&min_duration=0ns"), 5);
    assert_eq!(count("name=program.compute&min_duration=1h"), 0);
    assert_eq!(count("max_duration=1ns"), 0);
    assert_eq!(count("attr=items=3"), 5);
    assert_eq!(count("attr=items=3&attr=n=4"), 0, "all attrs on one span");
    assert_eq!(count("attr=items=4"), 0);
    assert_eq!(count("error=true&name=program.store"), 5);
    assert_eq!(count("error=true&name=program.load"), 0);
    assert_eq!(count("service=nobody"), 0);
    assert_eq!(count("start=9999999999999999999"), 0);
}

fn bad_parameters_are_named(collector: &CollectorProcess) {
    for (query, parameter) in [
        ("min_duration=fast", "min_duration"),
        ("max_duration=3", "max_duration"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("attr=novalue", "attr"),
        ("error=maybe", "error"),
        ("start=yesterday", "start"),
        ("cursor=xyz", "cursor"),
        ("serivce=x", "query"),
    ] {
        let (status, body) = collector.get(&format!("/api/traces?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    let (status, body) = collector.get("/api/aggregates?window=forever");
    assert_eq!(
        (status, &body["parameter"]),
        (400, &serde_json::json!("window"))
    );
}

fn services_and_aggregates(collector: &CollectorProcess) {
    let (_, services) = collector.get("/api/services");
    assert_eq!(services["services"], serde_json::json!(["traced-program"]));
    let (_, names) = collector.get("/api/services/traced-program/names");
    assert_eq!(
        names["names"],
        serde_json::json!([
            "program.compute",
            "program.load",
            "program.main",
            "program.read_item",
            "program.store"
        ])
    );
    assert_eq!(collector.get("/api/services/nobody/names").0, 404);

    let (status, aggregates) = collector.get("/api/aggregates?window=1h");
    assert_eq!(status, 200);
    let op = |name: &str| {
        aggregates["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(op("program.read_item")["count"], 15);
    assert_eq!(op("program.main")["count"], 5);
    assert_eq!(op("program.store")["error_count"], 5);
    assert_eq!(op("program.store")["error_rate"], 1.0);
    assert_eq!(op("program.main")["error_count"], 0);
    let main = op("program.main");
    let p = |k: &str| main[k].as_u64().unwrap();
    assert!(p("p50_nanos") <= p("p90_nanos") && p("p90_nanos") <= p("p99_nanos"));
    assert!(p("p99_nanos") <= p("max_nanos") && p("max_nanos") > 0);
}

#[test]
fn the_query_api_answers_over_the_memory_store() {
    let collector = with_five_traces(&[]);
    search_filters_and_pages(&collector);
    bad_parameters_are_named(&collector);
    services_and_aggregates(&collector);
}

#[test]
fn the_query_api_answers_over_the_sqlite_store() {
    let dir = std::env::temp_dir().join(format!("dapple-query-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let collector = with_five_traces(&["--store", "sqlite", "--data-dir", dir.to_str().unwrap()]);
    search_filters_and_pages(&collector);
    bad_parameters_are_named(&collector);
    services_and_aggregates(&collector);
    drop(collector);
    let _ = std::fs::remove_dir_all(&dir);
}

fn batch(service: &str, spans: Vec<proto::Span>) -> Vec<u8> {
    proto::Batch {
        sequence: 1,
        spans,
        dropped_spans: 0,
        resource: Some(proto::Resource {
            service_name: service.into(),
            ..Default::default()
        }),
    }
    .encode_to_vec()
}

#[test]
fn http_ingest_feeds_the_dependency_graph() {
    let collector = CollectorProcess::start(&[]);
    let now = dapple::now_unix_nanos();
    let trace = vec![9u8; 16];
    let span = |id: u64, parent: u64, name: &str, error: bool| proto::Span {
        trace_id: trace.clone(),
        span_id: id,
        parent_span_id: parent,
        name: name.into(),
        start_unix_nanos: now - 5_000_000 + id,
        end_unix_nanos: now - 1_000_000,
        status: error.then(|| proto::Status {
            code: proto::StatusCode::Error as i32,
            message: "boom".into(),
        }),
        ..Default::default()
    };
    let (status, body) = collector.post(
        "/api/v1/spans",
        batch(
            "frontend",
            vec![
                span(1, 0, "GET /", false),
                span(2, 1, "call backend", false),
            ],
        ),
    );
    assert_eq!((status, &body["stored"]), (200, &serde_json::json!(2)));
    let (status, _) = collector.post(
        "/api/v1/spans",
        batch(
            "backend",
            vec![span(3, 2, "GET /api", true), span(4, 2, "GET /api", false)],
        ),
    );
    assert_eq!(status, 200);
    // The same batch again stores nothing new.
    let (_, again) = collector.post(
        "/api/v1/spans",
        batch("backend", vec![span(3, 2, "GET /api", true)]),
    );
    assert_eq!(again["stored"], 0);

    let (_, deps) = collector.get("/api/dependencies?window=1h");
    assert_eq!(
        deps["dependencies"],
        serde_json::json!([{ "caller": "frontend", "callee": "backend", "calls": 2, "error_count": 1 }])
    );
    let (status, body) = collector.post("/api/v1/spans", b"not protobuf at all".to_vec());
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("dapple.v1.Batch"));
}
