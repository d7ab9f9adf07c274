//! What the UI added to the query API, over the shop's real traces: search
//! ordered by duration, and the latency of one name over time.

use serde_json::Value;

use crate::shop::shop;

fn traces(body: &Value) -> Vec<(u64, String)> {
    body["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("not a trace list: {body}"))
        .iter()
        .map(|t| {
            let duration = t["duration_nanos"].as_u64().expect("a duration");
            (duration, t["trace_id"].as_str().expect("an id").to_owned())
        })
        .collect()
}

#[test]
fn search_orders_by_duration_and_pages_in_that_order() {
    let shop = shop();
    let get = |query: &str| {
        let (status, body) = shop.collector.get(&format!("/api/traces?{query}"));
        assert_eq!(status, 200, "{query}: {body}");
        body
    };
    for (sort, longest_first) in [("longest", true), ("shortest", false)] {
        let page1 = get(&format!("service=frontend&sort={sort}&limit=2"));
        let cursor = page1["next_cursor"].as_str().expect("a second page");
        let page2 = get(&format!(
            "service=frontend&sort={sort}&limit=2&cursor={cursor}"
        ));
        assert!(page2["next_cursor"].is_null());
        let mut listed = traces(&page1);
        listed.extend(traces(&page2));
        let ids: Vec<&String> = listed.iter().map(|(_, id)| id).collect();
        let mut expected: Vec<&String> = shop.checkouts.iter().collect();
        expected.sort();
        let mut got = ids.clone();
        got.sort();
        assert_eq!(got, expected, "{sort}: every checkout once");
        let mut ordered = listed.clone();
        ordered.sort();
        if longest_first {
            ordered.reverse();
        }
        assert_eq!(listed, ordered, "{sort}");
    }
    let all = traces(&get("sort=longest&limit=1000"));
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0] >= w[1]), "{all:?}");
    // Ordering does not change what matches.
    assert_eq!(
        traces(&get("sort=longest&attr=customer.tier=gold")).len(),
        1
    );
    assert_eq!(
        traces(&get("sort=shortest&service=backend&error=true")).len(),
        1
    );

    let (status, body) = shop.collector.get("/api/traces?sort=slowest");
    assert_eq!((status, &body["parameter"]), (400, &Value::from("sort")));
}

#[test]
fn the_latency_series_counts_one_names_calls_in_buckets() {
    let shop = shop();
    let (status, body) = shop
        .collector
        .get("/api/aggregates/series?service=backend&name=payment.authorize&window=1h&buckets=10");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "payment.authorize");
    let bucket = body["bucket_nanos"].as_u64().unwrap();
    assert_eq!(bucket, 360_000_000_000, "an hour in ten");
    let points = body["points"].as_array().unwrap();
    assert_eq!(points.len(), 10);
    let field = |p: &Value, k: &str| p[k].as_u64().unwrap();
    assert!(points.windows(2).all(|w| {
        field(&w[1], "start_unix_nanos") == field(&w[0], "start_unix_nanos") + bucket
    }));
    let calls: u64 = points.iter().map(|p| field(p, "count")).sum();
    let errors: u64 = points.iter().map(|p| field(p, "error_count")).sum();
    assert_eq!((calls, errors), (3, 1));
    for p in points.iter().filter(|p| field(p, "count") > 0) {
        assert!(field(p, "p50_nanos") <= field(p, "p90_nanos"));
        assert!(field(p, "p90_nanos") <= field(p, "p99_nanos"));
        assert!(field(p, "p99_nanos") <= field(p, "max_nanos") && field(p, "max_nanos") > 0);
    }
    // Without a service, the name across services; a name nobody has, zeros.
    let (_, any) = shop.collector.get("/api/aggregates/series?name=fsync");
    let calls: u64 = any["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| field(p, "count"))
        .sum();
    assert_eq!(calls, 2);
    let (_, none) = shop
        .collector
        .get("/api/aggregates/series?name=nothing&buckets=3");
    assert!(
        none["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| field(p, "count") == 0)
    );

    for (query, parameter) in [
        ("service=backend", "name"),
        ("name=fsync&buckets=0", "buckets"),
        ("name=fsync&buckets=1001", "buckets"),
        ("name=fsync&buckets=many", "buckets"),
        ("name=fsync&window=0s", "window"),
        ("name=fsync&window=soon", "window"),
        ("name=fsync&bucket=3", "query"),
    ] {
        let (status, body) = shop
            .collector
            .get(&format!("/api/aggregates/series?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
}
