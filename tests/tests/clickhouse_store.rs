//! The ClickHouse store against a real ClickHouse server (Debian's
//! `clickhouse-server`, started per test on loopback): what the memory and
//! SQLite stores' tests check (a span stored once however often it comes,
//! a trace back whole with its resource, filters and order, services,
//! bounds), the same answers as the memory store for the same spans, and
//! what only a shared database has: copies written by two collectors at
//! once, a new store object on the same database, schema migration.
//!
//! Without the server each test prints a skip notice and passes, except
//! under `CI=true`.

#[path = "support/clickhouse.rs"]
mod clickhouse;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clickhouse::ClickHouse;
use dapple::{SpanId, TraceId};
use dapple_collector::span::{
    Attribute, Event, Rare, Resource, Scope, Span, SpanKind, StatusCode, Value,
};
use dapple_collector::store::{
    ClickHouseConfig, ClickHouseError, ClickHouseStore, Limits, MemoryStore, SpanFilter, Store,
    StoreError,
};
use dapple_testkit::clickhouse::{SHARD_DATABASES, SHARDED_CLUSTER};

const DAY: u64 = 86_400_000_000_000;

fn trace_id(trace: u8) -> TraceId {
    TraceId::from_bytes([trace; 16]).unwrap()
}

/// Span `id` of trace `trace` (16 times that byte), service `svc`, named
/// `s{id}`, starting at `start` and lasting 10 ns.
fn span(trace: u8, id: u64, start: u64) -> Span {
    Span {
        trace_id: trace_id(trace),
        span_id: SpanId::new(id).unwrap(),
        parent_id: None,
        resource: Arc::new(Resource::of_service("svc")),
        scope: None,
        name: format!("s{id}").into(),
        kind: SpanKind::Internal,
        status: StatusCode::Unset,
        start_unix_nanos: start,
        end_unix_nanos: start + 10,
        attributes: Vec::new(),
        flags: 0,
        rare: None,
    }
}

fn config(server: &ClickHouse, database: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        database: database.into(),
        ..ClickHouseConfig::new(&server.url)
    }
}

fn open(server: &ClickHouse, database: &str, limits: Limits) -> ClickHouseStore {
    ClickHouseStore::open(&config(server, database), limits).expect("the store opens")
}

fn all(limit: usize) -> SpanFilter {
    SpanFilter {
        limit,
        ..SpanFilter::default()
    }
}

/// The (trace byte, span id) of spans, in their order.
fn ids(spans: &[Span]) -> Vec<(u8, u64)> {
    spans
        .iter()
        .map(|s| (s.trace_id.to_bytes()[0], s.span_id.to_u64()))
        .collect()
}

#[test]
fn a_span_sent_twice_is_stored_once_and_counted_once() {
    let Some(server) = ClickHouse::start("a_span_sent_twice_is_stored_once_and_counted_once")
    else {
        return;
    };
    let store = open(&server, "dapple", Limits::spans(100));
    assert_eq!(store.insert(vec![span(7, 1, 1), span(7, 2, 2)]).unwrap(), 2);
    assert_eq!(store.insert(vec![span(7, 2, 2), span(7, 3, 3)]).unwrap(), 1);
    assert_eq!(
        store.insert(vec![span(7, 4, 4), span(7, 4, 4)]).unwrap(),
        1,
        "twice in one batch"
    );
    assert_eq!(store.trace(trace_id(7)).unwrap().len(), 4);
    assert_eq!(store.span_count().unwrap(), 4);
}

#[test]
fn copies_written_by_two_collectors_at_once_show_once() {
    let Some(server) = ClickHouse::start("copies_written_by_two_collectors_at_once_show_once")
    else {
        return;
    };
    let store = open(&server, "dapple", Limits::spans(100));
    store
        .insert(vec![span(1, 1, 10), span(1, 2, 20), span(2, 1, 30)])
        .unwrap();
    // What two collectors storing the same batch at the same instant leave:
    // every row twice (the view copies them to the trace table too), not
    // merged yet.
    server.query("INSERT INTO dapple.spans SELECT * FROM dapple.spans");
    assert_eq!(server.query("SELECT count() FROM dapple.spans"), "6\n");
    assert_eq!(
        server.query("SELECT count() FROM dapple.spans_by_trace"),
        "6\n"
    );

    assert_eq!(ids(&store.trace(trace_id(1)).unwrap()).len(), 2);
    assert_eq!(store.span_count().unwrap(), 3);
    assert_eq!(
        ids(&store.spans(&all(10)).unwrap()),
        [(2, 1), (1, 2), (1, 1)]
    );
    assert_eq!(
        ids(&store.spans(&all(2)).unwrap()),
        [(2, 1), (1, 2)],
        "the limit counts spans, not copies"
    );
    assert_eq!(
        store.trace_keys(&all(10), None).unwrap(),
        [(30, trace_id(2)), (20, trace_id(1))]
    );
    assert_eq!(
        store.services().unwrap(),
        [("svc".into(), vec!["s1".into(), "s2".into()])]
    );
    // Merged: the copies are gone from the tables themselves.
    server.query("OPTIMIZE TABLE dapple.spans FINAL");
    server.query("OPTIMIZE TABLE dapple.spans_by_trace FINAL");
    assert_eq!(server.query("SELECT count() FROM dapple.spans"), "3\n");
    assert_eq!(
        server.query("SELECT count() FROM dapple.spans_by_trace"),
        "3\n"
    );
}

/// A span with a bit of everything the body carries.
fn rich_span(resource: &Arc<Resource>, id: u64) -> Span {
    Span {
        resource: resource.clone(),
        scope: Some(Arc::new(Scope {
            name: "io.opentelemetry.http".into(),
            version: "1.2".into(),
            attributes: Vec::new(),
            dropped_attributes: 1,
        })),
        parent_id: SpanId::new(id + 100),
        kind: SpanKind::Server,
        status: StatusCode::Error,
        attributes: vec![
            Attribute {
                key: "http.route".into(),
                value: Some(Value::String("/checkout".into())),
            },
            Attribute {
                key: "retries".into(),
                value: Some(Value::Int(-3)),
            },
            Attribute {
                key: "nothing".into(),
                value: None,
            },
        ],
        flags: 1,
        rare: Rare {
            status_message: "it's broken \\ badly".into(),
            events: vec![Event {
                name: "cache miss".into(),
                unix_nanos: 5,
                attributes: Vec::new(),
                dropped_attributes: 0,
            }],
            trace_state: "vendor=x".into(),
            ..Rare::default()
        }
        .boxed(),
        ..span(9, id, 1_000 + id)
    }
}

#[test]
fn a_trace_comes_back_whole_with_its_resource_after_a_restart() {
    let Some(server) =
        ClickHouse::start("a_trace_comes_back_whole_with_its_resource_after_a_restart")
    else {
        return;
    };
    let resource = Arc::new(Resource::new(
        vec![
            Attribute {
                key: "service.name".into(),
                value: Some(Value::String("checkout".into())),
            },
            Attribute {
                key: "host.cores".into(),
                value: Some(Value::Array(vec![Some(Value::Int(1)), None])),
            },
        ],
        2,
    ));
    let sent = vec![
        rich_span(&resource, 1),
        rich_span(&resource, 2),
        span(9, 3, 3),
    ];
    {
        let store = open(&server, "dapple", Limits::spans(100));
        store.insert(sent[..2].to_vec()).unwrap();
        store.insert(sent[2..].to_vec()).unwrap();
    }
    assert_eq!(
        server.query("SELECT count() FROM dapple.resources"),
        "2\n",
        "one row per distinct resource"
    );
    // A new store object (another collector, or this one restarted) on the
    // same database.
    let store = open(&server, "dapple", Limits::spans(100));
    let mut got = store.trace(trace_id(9)).unwrap();
    got.sort_by_key(|s| s.span_id);
    assert_eq!(got, sent);
    assert!(Arc::ptr_eq(&got[0].resource, &got[1].resource));
    assert_eq!(store.span_count().unwrap(), 3);
    // The attributes are kept apart too, for searches by key and value.
    let route = server.query(
        "SELECT count() FROM dapple.spans WHERE arrayExists((k, v) -> \
         k = 'http.route' AND v = '/checkout', attribute_keys, attribute_values)",
    );
    assert_eq!(route, "2\n");
    let retries = server.query(
        "SELECT attribute_values[indexOf(attribute_keys, 'retries')] FROM dapple.spans \
         WHERE span_id = 1",
    );
    assert_eq!(retries, "-3\n");
}

/// Spans of three services over five traces, with durations, errors and
/// starts that differ, to check every filter on.
fn varied_spans() -> Vec<Span> {
    let mut spans = Vec::new();
    for trace in 1..=5u8 {
        for id in 1..=4u64 {
            let start = u64::from(trace) * 1_000 + id * 10;
            let mut s = span(trace, id, start);
            s.resource = Arc::new(Resource::of_service(
                ["front", "back", "db"][(id % 3) as usize],
            ));
            s.name = format!("op{}", (u64::from(trace) + id) % 2).into();
            s.end_unix_nanos = start + u64::from(trace) * id;
            if (u64::from(trace) + id) % 5 == 0 {
                s.status = StatusCode::Error;
            }
            spans.push(s);
        }
    }
    spans
}

/// Filters of every kind the store translates, `varied_spans` in mind.
fn filters() -> Vec<SpanFilter> {
    vec![
        all(100),
        all(3),
        SpanFilter {
            service: Some("back".into()),
            ..all(100)
        },
        SpanFilter {
            service: Some("front".into()),
            name: Some("op1".into()),
            ..all(100)
        },
        SpanFilter {
            min_duration_ns: Some(6),
            max_duration_ns: Some(12),
            ..all(100)
        },
        SpanFilter {
            start_ns: Some(2_020),
            end_ns: Some(4_030),
            ..all(100)
        },
        SpanFilter {
            error_only: true,
            ..all(100)
        },
        SpanFilter {
            service: Some("nobody".into()),
            ..all(100)
        },
        SpanFilter {
            service: Some("it's \\ odd".into()),
            ..all(100)
        },
        all(0),
    ]
}

/// Panics unless `store` answers each of [`filters`] as `memory` does.
fn assert_same_searches(store: &ClickHouseStore, memory: &MemoryStore) {
    for filter in &filters() {
        assert_eq!(
            ids(&store.spans(filter).unwrap()),
            ids(&memory.spans(filter).unwrap()),
            "spans of {filter:?}"
        );
        assert_eq!(
            store.trace_keys(filter, None).unwrap(),
            memory.trace_keys(filter, None).unwrap(),
            "trace keys of {filter:?}"
        );
    }
}

#[test]
fn searches_answer_as_the_memory_store_does() {
    let Some(server) = ClickHouse::start("searches_answer_as_the_memory_store_does") else {
        return;
    };
    let clickhouse = open(&server, "dapple", Limits::spans(1000));
    let memory = MemoryStore::new(Limits::spans(1000));
    let spans = varied_spans();
    // Two batches, the second repeating part of the first.
    clickhouse.insert(spans[..12].to_vec()).unwrap();
    memory.insert(spans[..12].to_vec()).unwrap();
    assert_eq!(clickhouse.insert(spans[8..].to_vec()).unwrap(), 8);
    memory.insert(spans[8..].to_vec()).unwrap();

    assert_same_searches(&clickhouse, &memory);
    // Page by page, two traces at a time.
    let mut before = None;
    let mut pages = Vec::new();
    loop {
        let page = clickhouse.trace_keys(&all(2), before).unwrap();
        assert_eq!(page, memory.trace_keys(&all(2), before).unwrap());
        let Some(last) = page.last() else { break };
        before = Some(*last);
        pages.push(page.iter().map(|k| k.1.to_bytes()[0]).collect::<Vec<_>>());
    }
    assert_eq!(pages, [vec![5, 4], vec![3, 2], vec![1]]);
    assert_eq!(clickhouse.services().unwrap(), memory.services().unwrap());
    assert_eq!(
        clickhouse.services().unwrap(),
        [
            ("back".into(), vec!["op0".into(), "op1".into()]),
            ("db".into(), vec!["op0".into(), "op1".into()]),
            ("front".into(), vec!["op0".into(), "op1".into()]),
        ]
    );
    assert_eq!(
        clickhouse.span_count().unwrap(),
        memory.span_count().unwrap()
    );
}

/// The sharded layout of docs/scaling.md, without replication: each
/// shard's tables as a store makes them on its database, and `Distributed`
/// tables over them in `database`, sharded by trace id.
fn make_sharded(server: &ClickHouse, database: &str) {
    for shard in SHARD_DATABASES {
        drop(open(server, shard, Limits::spans(usize::MAX)));
    }
    server.query(&format!("CREATE DATABASE {database}"));
    for (table, key) in [
        ("spans", "trace_id"),
        ("spans_by_trace", "trace_id"),
        ("resources", "id"),
        ("keeps", "trace_id"),
    ] {
        server.query(&format!(
            "CREATE TABLE {database}.{table} AS {}.{table} \
             ENGINE = Distributed({SHARDED_CLUSTER}, '', {table}, cityHash64({key}))",
            SHARD_DATABASES[0]
        ));
    }
}

#[test]
fn a_sharded_layout_made_by_the_operator_is_used_as_it_is() {
    let Some(server) = ClickHouse::start("a_sharded_layout_made_by_the_operator_is_used_as_it_is")
    else {
        return;
    };
    make_sharded(&server, "dapple");
    let sharded = open(&server, "dapple", Limits::spans(usize::MAX));
    let memory = MemoryStore::new(Limits::spans(1000));
    let spans = varied_spans();
    sharded.insert(spans[..12].to_vec()).unwrap();
    memory.insert(spans[..12].to_vec()).unwrap();
    assert_eq!(sharded.insert(spans[8..].to_vec()).unwrap(), 8);
    memory.insert(spans[8..].to_vec()).unwrap();

    // Acknowledged means on the shards (not queued to be sent), each trace
    // whole on one of them, in both tables; the store made no view of its
    // own over the Distributed tables, which would write every span twice.
    let on_shard = |table: &str, what: &str| -> Vec<u64> {
        SHARD_DATABASES
            .iter()
            .map(|shard| {
                let answer = server.query(&format!("SELECT {what} FROM {shard}.{table}"));
                answer.trim().parse().unwrap()
            })
            .collect()
    };
    let per_shard = on_shard("spans", "count()");
    assert_eq!(per_shard.iter().sum::<u64>(), spans.len() as u64);
    assert!(
        per_shard.iter().all(|&n| n > 0),
        "both shards hold spans: {per_shard:?}"
    );
    assert_eq!(on_shard("spans_by_trace", "count()"), per_shard);
    assert_eq!(
        on_shard("spans", "uniqExact(trace_id)").iter().sum::<u64>(),
        5,
        "no trace is split between shards"
    );
    assert_eq!(
        server.query("SELECT count() FROM system.tables WHERE database = 'dapple'"),
        "4\n"
    );

    assert_same_searches(&sharded, &memory);
    for trace in 1..=5 {
        assert_eq!(
            sharded.trace(trace_id(trace)).unwrap(),
            memory.trace(trace_id(trace)).unwrap(),
            "trace {trace}"
        );
    }
    assert_eq!(sharded.services().unwrap(), memory.services().unwrap());
    assert_eq!(sharded.span_count().unwrap(), spans.len());
    drop(sharded);

    // Bounds are ClickHouse's on a cluster: the collector refuses its own.
    let bounded = Limits {
        retention: Some(Duration::from_secs(86_400)),
        ..Limits::spans(usize::MAX)
    };
    let refused = |limits: Limits| match ClickHouseStore::open(&config(&server, "dapple"), limits) {
        Err(StoreError::ClickHouse(ClickHouseError::Config(why))) => why,
        other => panic!("{other:?}"),
    };
    assert!(refused(bounded).contains("--retention"));
    // A layout with a table missing is named, not half used.
    server.query("DROP TABLE dapple.resources");
    let why = refused(Limits::spans(usize::MAX));
    assert!(why.contains("`dapple`.resources must be one too"), "{why}");
}

#[test]
fn recent_traces_are_found_in_the_last_hour_and_older_ones_beyond_it() {
    let Some(server) =
        ClickHouse::start("recent_traces_are_found_in_the_last_hour_and_older_ones_beyond_it")
    else {
        return;
    };
    let store = open(&server, "dapple", Limits::spans(1000));
    let now = dapple::now_unix_nanos();
    let hour = 3_600_000_000_000;
    // Trace 1 has a span two days ago and one a minute ago: its key is the
    // newer, whichever window finds it.
    store
        .insert(vec![
            span(1, 1, now - 2 * DAY),
            span(1, 2, now - hour / 60),
            span(2, 1, now - hour / 2),
            span(3, 1, now - 3 * hour),
            span(4, 1, now - 3 * DAY),
        ])
        .unwrap();
    assert_eq!(
        store.trace_keys(&all(2), None).unwrap(),
        [
            (now - hour / 60, trace_id(1)),
            (now - hour / 2, trace_id(2))
        ]
    );
    assert_eq!(
        store.trace_keys(&all(10), None).unwrap(),
        [
            (now - hour / 60, trace_id(1)),
            (now - hour / 2, trace_id(2)),
            (now - 3 * hour, trace_id(3)),
            (now - 3 * DAY, trace_id(4)),
        ]
    );
    let older = SpanFilter {
        name: Some("s1".into()),
        ..all(1)
    };
    assert_eq!(
        store
            .trace_keys(&older, Some((now - hour / 2, trace_id(2))))
            .unwrap(),
        [(now - 3 * hour, trace_id(3))]
    );
}

#[test]
fn days_past_the_retention_are_dropped_whole() {
    let Some(server) = ClickHouse::start("days_past_the_retention_are_dropped_whole") else {
        return;
    };
    let now = dapple::now_unix_nanos();
    let limits = Limits {
        retention: Some(Duration::from_secs(86_400)),
        ..Limits::spans(1000)
    };
    let store = open(&server, "dapple", limits);
    store
        .insert(vec![
            span(1, 1, now - 3 * DAY),
            span(2, 1, now - 2 * DAY),
            span(3, 1, now),
            // Dated far ahead: filed under the day after it arrived.
            span(4, 1, u64::MAX / 2),
        ])
        .unwrap();
    store.prune().unwrap();
    assert!(store.trace(trace_id(1)).unwrap().is_empty());
    assert!(store.trace(trace_id(2)).unwrap().is_empty());
    assert_eq!(store.trace(trace_id(3)).unwrap().len(), 1);
    assert_eq!(store.trace(trace_id(4)).unwrap().len(), 1);
    assert_eq!(store.span_count().unwrap(), 2);
    assert_eq!(
        server.query(
            "SELECT count() FROM system.parts WHERE database = 'dapple' AND active \
             AND table LIKE 'spans%' AND partition_id > toString(toYYYYMMDD(now() + 2 * 86400))"
        ),
        "0\n",
        "nothing filed beyond tomorrow"
    );
    // Another collector opening the database prunes as well.
    store.insert(vec![span(5, 1, now - 5 * DAY)]).unwrap();
    drop(store);
    let store = open(&server, "dapple", limits);
    assert!(store.trace(trace_id(5)).unwrap().is_empty());
}

/// Two spans in each of the days `days` ago, of traces `10 * days + 1` and
/// `+ 2`, with names of `name_bytes` bytes.
fn spans_of_days(days: &[u64], name_bytes: usize) -> Vec<Span> {
    let now = dapple::now_unix_nanos();
    days.iter()
        .flat_map(|&ago| {
            (1..=2).map(move |t| {
                let mut s = span(10 * ago as u8 + t, 1, now - ago * DAY);
                s.name = "x".repeat(name_bytes).into();
                s
            })
        })
        .collect()
}

#[test]
fn past_the_span_bound_the_oldest_days_go_but_never_the_newest() {
    let Some(server) =
        ClickHouse::start("past_the_span_bound_the_oldest_days_go_but_never_the_newest")
    else {
        return;
    };
    let store = open(&server, "dapple", Limits::spans(3));
    store.insert(spans_of_days(&[3, 2, 0], 1)).unwrap();
    store.prune().unwrap();
    assert_eq!(store.span_count().unwrap(), 2, "two days went");
    assert_eq!(store.trace(trace_id(1)).unwrap().len(), 1, "today's stay");
    assert!(store.trace(trace_id(31)).unwrap().is_empty());
    assert!(store.trace(trace_id(21)).unwrap().is_empty());
    let today: Vec<Span> = (3..=6)
        .map(|t| span(t, 1, dapple::now_unix_nanos()))
        .collect();
    store.insert(today).unwrap();
    store.prune().unwrap();
    assert_eq!(
        store.span_count().unwrap(),
        6,
        "the day being written stays"
    );
}

#[test]
fn past_the_byte_bound_the_oldest_days_go() {
    let Some(server) = ClickHouse::start("past_the_byte_bound_the_oldest_days_go") else {
        return;
    };
    let store = open(&server, "dapple", Limits::spans(1_000_000));
    store.insert(spans_of_days(&[4, 3, 2, 1, 0], 2000)).unwrap();
    let bytes: u64 = server
        .query("SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'dapple' AND active")
        .trim()
        .parse()
        .unwrap();
    drop(store);
    // Room for about two days of the five.
    let limits = Limits {
        max_bytes: Some(bytes * 2 / 5 + bytes / 10),
        ..Limits::spans(1_000_000)
    };
    let store = open(&server, "dapple", limits);
    assert_eq!(store.span_count().unwrap(), 4, "two days stay");
    assert_eq!(store.trace(trace_id(1)).unwrap().len(), 1);
    assert_eq!(store.trace(trace_id(11)).unwrap().len(), 1);
    assert!(store.trace(trace_id(21)).unwrap().is_empty());
}

#[test]
fn a_database_of_an_earlier_version_gains_the_missing_columns() {
    let Some(server) =
        ClickHouse::start("a_database_of_an_earlier_version_gains_the_missing_columns")
    else {
        return;
    };
    server.query("CREATE DATABASE old");
    server.query(
        "CREATE TABLE old.spans (trace_id FixedString(16), span_id UInt64, parent_id UInt64, \
         service String, name String, start_ns UInt64, duration_ns UInt64, error UInt8, \
         received_ns UInt64, resource_id FixedString(16), body String) \
         ENGINE = ReplacingMergeTree PARTITION BY toYYYYMMDD(toDateTime(intDiv(least(start_ns, \
         received_ns + 86400000000000), 1000000000)), 'UTC') \
         ORDER BY (service, name, start_ns, trace_id, span_id)",
    );
    let store = open(&server, "old", Limits::spans(100));
    assert_eq!(
        server.query(
            "SELECT name FROM system.columns WHERE database = 'old' AND table = 'spans' \
             AND name LIKE 'attribute%' ORDER BY name"
        ),
        "attribute_keys\nattribute_values\n"
    );
    let mut with_attribute = span(1, 1, 1);
    with_attribute.attributes.push(Attribute {
        key: "k".into(),
        value: Some(Value::Bool(true)),
    });
    store.insert(vec![with_attribute.clone()]).unwrap();
    assert_eq!(store.trace(trace_id(1)).unwrap(), [with_attribute]);
    // Opening again changes nothing.
    drop(store);
    let store = open(&server, "old", Limits::spans(100));
    assert_eq!(store.span_count().unwrap(), 1);
}

#[test]
fn a_user_with_a_password_connects_and_a_wrong_one_is_told_why() {
    let Some(server) =
        ClickHouse::start("a_user_with_a_password_connects_and_a_wrong_one_is_told_why")
    else {
        return;
    };
    let as_user = |password: &str| ClickHouseConfig {
        user: Some(clickhouse::USER.into()),
        password: Some(password.into()),
        ..config(&server, "dapple")
    };
    let store = ClickHouseStore::open(&as_user(clickhouse::PASSWORD), Limits::spans(10)).unwrap();
    store.insert(vec![span(1, 1, 1)]).unwrap();
    assert_eq!(store.span_count().unwrap(), 1);
    let refused = ClickHouseStore::open(&as_user("wrong"), Limits::spans(10)).unwrap_err();
    let StoreError::ClickHouse(ClickHouseError::Refused { message, .. }) = &refused else {
        panic!("not refused by ClickHouse: {refused:?}");
    };
    assert!(message.contains("password"), "{message}");
}

#[test]
fn without_a_server_the_store_says_where_it_looked() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = ClickHouseConfig::new(format!("http://127.0.0.1:{port}"));
    let error = ClickHouseStore::open(&config, Limits::spans(10)).unwrap_err();
    let StoreError::ClickHouse(ClickHouseError::Unreachable { url, .. }) = &error else {
        panic!("not unreachable: {error:?}");
    };
    assert_eq!(*url, config.url);
    for database in ["", "a-b", "x`y", "1st"] {
        let config = ClickHouseConfig {
            database: database.into(),
            ..ClickHouseConfig::new("http://127.0.0.1:1")
        };
        assert!(
            matches!(
                ClickHouseStore::open(&config, Limits::spans(10)),
                Err(StoreError::ClickHouse(ClickHouseError::Config(_)))
            ),
            "{database:?}"
        );
    }
}

#[test]
fn concurrent_inserts_are_written_together_and_all_acknowledged() {
    let Some(server) =
        ClickHouse::start("concurrent_inserts_are_written_together_and_all_acknowledged")
    else {
        return;
    };
    let store = Arc::new(open(&server, "dapple", Limits::spans(1_000_000)));
    let threads: Vec<_> = (0..8u8)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut added = 0;
                for batch in 0..25u64 {
                    let spans = (1..=20)
                        .map(|id| span(thread + 1, batch * 100 + id, batch * 100 + id))
                        .collect();
                    added += store.insert(spans).unwrap();
                }
                added
            })
        })
        .collect();
    let added: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(added, 8 * 25 * 20);
    assert_eq!(store.span_count().unwrap(), 8 * 25 * 20);
    let inserts: u64 = server
        .query(
            "SELECT count() FROM system.parts WHERE database = 'dapple' AND table = 'spans' \
             AND level = 0",
        )
        .trim()
        .parse()
        .unwrap();
    eprintln!("200 batches from 8 threads went in {inserts} inserts (unmerged parts left)");
}

/// Figures for the note, not a test of them: insert rate, and how long a
/// trace takes to fetch from `DAPPLE_CLICKHOUSE_SPANS` spans (100 000 by
/// default) in traces of 10.
#[test]
fn timings_of_inserts_and_trace_fetches() {
    let Some(server) = ClickHouse::start("timings_of_inserts_and_trace_fetches") else {
        return;
    };
    eprintln!(
        "clickhouse-server answered /ping {:?} after it was started",
        server.started_in
    );
    let total: u64 = std::env::var("DAPPLE_CLICKHOUSE_SPANS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let store = open(&server, "dapple", Limits::spans(usize::MAX));
    let resource = Arc::new(Resource::of_service("svc"));
    let now = dapple::now_unix_nanos();
    let trace = |n: u64| TraceId::new(u128::from(n) * 0x9e37_79b9_7f4a_7c15 + 1).unwrap();
    let begun = Instant::now();
    let batch = 10_000;
    for first in (0..total).step_by(batch) {
        let spans = (first..(first + batch as u64).min(total))
            .map(|n| Span {
                trace_id: trace(n / 10),
                span_id: SpanId::new(n % 10 + 1).unwrap(),
                resource: resource.clone(),
                name: format!("op{}", n % 20).into(),
                attributes: vec![Attribute {
                    key: "http.route".into(),
                    value: Some(Value::String(format!("/route/{}", n % 50).into())),
                }],
                ..span(1, 1, now - (total - n) * 1_000_000)
            })
            .collect();
        store.insert(spans).unwrap();
    }
    let elapsed = begun.elapsed();
    eprintln!(
        "inserted {total} spans in batches of {batch} in {elapsed:?}: {:.0} spans/s",
        total as f64 / elapsed.as_secs_f64()
    );
    let mut fetches = Vec::new();
    for n in 0..200u64 {
        let id = trace((n * 7919) % (total / 10));
        let begun = Instant::now();
        let spans = store.trace(id).unwrap();
        fetches.push(begun.elapsed());
        assert_eq!(spans.len(), 10);
    }
    let percentiles = |mut times: Vec<Duration>| {
        times.sort();
        format!(
            "p50 {:?}, p99 {:?}",
            times[times.len() / 2],
            times[times.len() * 99 / 100]
        )
    };
    eprintln!(
        "trace fetch of 10 spans among {total}: {}",
        percentiles(fetches)
    );
    // The same statement on the table ordered for searches, which has the
    // trace id only fifth in its key: what the lookup table saves.
    for table in ["spans_by_trace", "spans"] {
        let mut times = Vec::new();
        for n in 0..50u64 {
            let id = trace((n * 7919) % (total / 10));
            let literal: String = id
                .to_bytes()
                .iter()
                .map(|b| format!("\\x{b:02X}"))
                .collect();
            let begun = Instant::now();
            server.query(&format!(
                "SELECT service, resource_id, body FROM dapple.{table} \
                 WHERE trace_id = '{literal}' LIMIT 1 BY span_id FORMAT RowBinary"
            ));
            times.push(begun.elapsed());
        }
        eprintln!("the trace's rows from {table}: {}", percentiles(times));
    }
    let begun = Instant::now();
    let count = store.span_count().unwrap();
    eprintln!("span_count {count} in {:?}", begun.elapsed());
    let begun = Instant::now();
    let keys = store.trace_keys(&all(20), None).unwrap();
    eprintln!("newest 20 traces in {:?}", begun.elapsed());
    assert_eq!(keys.len(), 20);
    let filter = SpanFilter {
        name: Some("op3".into()),
        ..all(20)
    };
    let begun = Instant::now();
    store.trace_keys(&filter, None).unwrap();
    eprintln!("newest 20 traces by name in {:?}", begun.elapsed());
    let begun = Instant::now();
    let spans = store.spans(&all(1000)).unwrap();
    eprintln!("newest 1000 spans in {:?}", begun.elapsed());
    assert_eq!(spans.len(), 1000);
    eprintln!(
        "on disk: {} bytes in both span tables",
        server
            .query(
                "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'dapple' AND active"
            )
            .trim()
    );
}
