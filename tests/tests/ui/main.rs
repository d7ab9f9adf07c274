//! The collector's web UI in a real browser: a real collector filled by real
//! instrumented programs (see `shop.rs`), headless Chromium driven through
//! chromedriver, and assertions on what a user sees. Each test saves a
//! screenshot under `target/ui-screenshots/`.
//!
//! Without Chromium the tests print a skip notice and pass, except under
//! `CI=true`, where they fail (`.ci/run` installs Chromium).

#[path = "../support/mod.rs"]
mod support;

mod api;
mod browser;
mod compare_dashboard;
mod guarded;
mod shop;
mod trace_views;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::{Value, json};

use browser::Page;
use shop::{Shop, WIDE_SPANS, driver, shop};
use support::CollectorProcess;

/// Runs `check` in a fresh browser session on the collector's UI at `http`;
/// the session ends whether the check passes or not.
async fn in_browser(http: SocketAddr, check: impl AsyncFnOnce(&Page)) {
    let Some(driver) = driver() else { return };
    let page = Page::open(&driver, http).await;
    let outcome = AssertUnwindSafe(check(&page)).catch_unwind().await;
    page.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `check` on the shared shop, unless this machine has no Chromium.
async fn in_shop(check: impl AsyncFnOnce(&Page, &Shop)) {
    if driver().is_none() {
        return;
    }
    let shop = shop();
    in_browser(shop.collector.http, async |page| check(page, &shop).await).await;
}

/// The trace ids listed on a search page, once its results are in.
async fn listed(page: &Page) -> Vec<String> {
    let ids = page
        .wait_for(
            "search results",
            "if (!document.querySelector('#trace-list, #no-results')) return null;
             return [...document.querySelectorAll('#trace-list tbody tr')].map(r => r.dataset.traceId);",
        )
        .await;
    serde_json::from_value(ids).expect("a list of ids")
}

/// The waterfall's rows, in display order: `(name, depth, orphan, error)`.
async fn waterfall(page: &Page) -> Vec<(String, u64, bool, bool)> {
    let rows = page
        .wait_for(
            "the waterfall",
            "const rows = document.querySelectorAll('#waterfall .wf-row');
             if (!rows.length) return null;
             return [...rows].map(r => [r.dataset.name, Number(r.dataset.depth),
               r.classList.contains('orphan'), r.classList.contains('error')]);",
        )
        .await;
    serde_json::from_value(rows).expect("rows")
}

/// Fails if the page's Content-Security-Policy blocked anything.
async fn assert_no_csp_violations(page: &Page) {
    let violations = page.js("return window.__cspViolations").await;
    assert_eq!(violations, json!([]), "{}", page.location().await);
}

/// Fails when the page scrolls sideways at the window's width.
async fn fits_the_width(page: &Page, what: &str) {
    let overflow = page
        .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    let culprits = page
        .js("const w = document.documentElement.clientWidth;
             return [...document.querySelectorAll('body *')]
               .filter(e => e.getBoundingClientRect().right > w + 0.5)
               .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id);")
        .await;
    assert_eq!(overflow, json!(0), "{what} scrolls sideways: {culprits}");
}

fn names(rows: &[(String, u64, bool, bool)]) -> Vec<&str> {
    rows.iter().map(|r| r.0.as_str()).collect()
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

#[tokio::test]
async fn search_narrows_by_service_attribute_and_errors() {
    in_shop(async |page, shop| {
        page.goto("/search").await;
        let mut everything = set(&shop.checkouts);
        everything.extend([shop.wide.clone(), shop.program.clone()]);
        assert_eq!(set(&listed(page).await), everything);

        page.choose("#service", "frontend").await;
        page.click("#search-button").await;
        assert_eq!(set(&listed(page).await), set(&shop.checkouts));
        let names: Value = page
            .wait_for(
                "the frontend's span names",
                "const names = [...document.querySelectorAll('#name option')].map(o => o.value);
                 return names.includes('cart.load') ? names : null;",
            )
            .await;
        assert!(
            !names.as_array().unwrap().contains(&json!("program.main")),
            "{names}"
        );

        page.fill("#attrs", "customer.tier=gold").await;
        page.click("#search-button").await;
        assert_eq!(listed(page).await, vec![shop.checkouts[0].clone()]);

        // Every filter applies to one span: the errors are the backend's.
        page.fill("#attrs", "").await;
        page.choose("#service", "backend").await;
        page.click("#error-only").await;
        page.click("#search-button").await;
        assert_eq!(
            listed(page).await,
            vec![shop.checkouts[1].clone()],
            "{}",
            page.location().await
        );

        page.fill("#min-duration", "1h").await;
        page.click("#search-button").await;
        assert!(listed(page).await.is_empty());
        page.element("#no-results").await;

        // The URL holds the search: a reload (or a shared link) shows it again.
        page.fill("#min-duration", "").await;
        page.click("#search-button").await;
        assert_eq!(listed(page).await, vec![shop.checkouts[1].clone()]);
        let location = page.location().await;
        assert!(
            location.contains("service=backend") && location.contains("error=true"),
            "{location}"
        );
        page.reload().await;
        assert_eq!(listed(page).await, vec![shop.checkouts[1].clone()]);
        let checked = page
            .js("return document.querySelector('#error-only').checked")
            .await;
        assert_eq!(checked, json!(true));
        page.screenshot("search").await;

        // A custom time range: around now it finds the checkouts, a day ago nothing.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let hour = 3_600_000;
        page.goto(&format!(
            "/search?service=frontend&lookback=custom&start={}&end={}",
            now - hour,
            now + hour
        ))
        .await;
        assert_eq!(set(&listed(page).await), set(&shop.checkouts));
        let custom_shown = page
            .js("return !document.querySelector('.custom-range').hidden")
            .await;
        assert_eq!(custom_shown, json!(true));
        page.goto(&format!(
            "/search?service=frontend&lookback=custom&start={}&end={}",
            now - 25 * hour,
            now - 24 * hour
        ))
        .await;
        assert!(listed(page).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_trace_list_sorts_by_duration_and_pages() {
    in_shop(async |page, shop| {
        page.goto("/search?service=frontend&limit=2").await;
        let first = listed(page).await;
        assert_eq!(first.len(), 2);
        page.click("#next-page").await;
        let second = listed(page).await;
        assert_eq!(second.len(), 1);
        let mut all = first.clone();
        all.extend(second);
        assert_eq!(set(&all), set(&shop.checkouts), "two pages, no overlap");
        page.click("#previous-page").await;
        assert_eq!(listed(page).await, first);

        // Longest first, then shortest first, as the collector measured them.
        let (_, body) = shop.collector.get("/api/traces?service=frontend");
        let mut by_duration: Vec<(u64, String)> = body["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["duration_nanos"].as_u64().unwrap(),
                    t["trace_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        by_duration.sort();
        let shortest: Vec<String> = by_duration.iter().map(|(_, id)| id.clone()).collect();
        let longest: Vec<String> = shortest.iter().rev().cloned().collect();
        page.click("#sort-duration").await;
        assert_eq!(listed(page).await, longest[..2]);
        assert!(page.location().await.contains("sort=longest"));
        page.click("#next-page").await;
        assert_eq!(listed(page).await, longest[2..]);
        page.click("#first-page").await;
        page.click("#sort-duration").await;
        assert_eq!(listed(page).await, shortest[..2]);
        page.reload().await;
        assert_eq!(listed(page).await, shortest[..2], "stable across a reload");
        page.screenshot("search-sorted-by-duration").await;
    })
    .await;
}

#[tokio::test]
async fn a_scatter_dot_and_a_list_row_open_their_trace() {
    in_shop(async |page, shop| {
        page.goto("/search?service=frontend").await;
        listed(page).await;
        let dot = format!("#scatter circle[data-trace-id='{}']", shop.checkouts[1]);
        page.click(&dot).await;
        let shown = page
            .wait_for(
                "the trace page",
                "return document.querySelector('#trace-id')?.textContent",
            )
            .await;
        assert_eq!(shown, json!(shop.checkouts[1]));
        assert_eq!(
            page.location().await,
            format!("/trace/{}", shop.checkouts[1])
        );

        page.goto("/search?service=frontend").await;
        listed(page).await;
        page.click(&format!(
            "#trace-list tr[data-trace-id='{}'] .root-name",
            shop.checkouts[2]
        ))
        .await;
        let shown = page
            .wait_for(
                "the trace page",
                "return document.querySelector('#trace-id')?.textContent",
            )
            .await;
        assert_eq!(shown, json!(shop.checkouts[2]));
        page.screenshot("trace-opened-from-list").await;
    })
    .await;
}

#[tokio::test]
async fn the_waterfall_nests_spans_and_shows_a_spans_details() {
    in_shop(async |page, shop| {
        page.goto(&format!("/trace/{}", shop.checkouts[0])).await;
        let rows = waterfall(page).await;
        let shape: Vec<(&str, u64, bool)> = rows.iter().map(|r| (r.0.as_str(), r.1, r.2)).collect();
        assert_eq!(
            shape,
            [
                ("GET /checkout", 0, false),
                ("auth.check", 1, false),
                ("cart.load", 1, false),
                ("db.query", 2, false),
                ("call backend", 1, false),
                ("POST /charge", 2, false),
                ("payment.authorize", 3, false),
                ("call ledger", 3, false),
                ("ledger.write", 4, false),
                ("fsync", 5, false),
                ("late.callback", 1, true),
            ],
            "one row per span, nested across three processes; the orphan under the root"
        );
        assert_eq!(page.js("return document.querySelector('#span-count').textContent").await, json!("11"));

        // The trace waited on everything but the callback, which ran while
        // the backend was still busy.
        let critical = page
            .js("return [...document.querySelectorAll('#waterfall .wf-row.critical')].map(r => r.dataset.name)")
            .await;
        let expected: Vec<&str> = shape.iter().map(|r| r.0).filter(|n| *n != "late.callback").collect();
        assert_eq!(critical, json!(expected));

        page.click(".wf-row[data-name='db.query']").await;
        let attributes = page
            .wait_for(
                "the span's attributes",
                "const rows = document.querySelectorAll('#detail-attributes tr');
                 return rows.length ? Object.fromEntries([...rows].map(r => [r.cells[0].textContent, r.cells[1].textContent])) : null;",
            )
            .await;
        assert_eq!(attributes["db.system"], "sqlite");
        assert_eq!(attributes["db.query.text"], "SELECT * FROM cart WHERE user_id = ?");
        let events = page
            .js("return [...document.querySelectorAll('#detail-events tbody tr')].map(r => [...r.cells].map(c => c.textContent))")
            .await;
        let event = &events[0];
        assert_eq!(event[1], "rows fetched");
        assert!(event[0].as_str().unwrap().starts_with('+'), "time from the trace start: {event}");
        assert_eq!(event[2], "rows = 3");
        assert_eq!(page.js("return document.querySelector('#detail-status').textContent").await, json!("unset"));

        page.click(".wf-row[data-name='late.callback']").await;
        let parent = page
            .wait_for(
                "the orphan's details",
                "return document.querySelector('#detail-name')?.textContent === 'late.callback'
                   && document.querySelector('.facts').textContent",
            )
            .await;
        assert!(parent.as_str().unwrap().contains("never arrived"), "{parent}");
        page.screenshot("trace-span-details").await;
    })
    .await;
}

#[tokio::test]
async fn collapsing_a_span_hides_its_descendants() {
    in_shop(async |page, shop| {
        page.goto(&format!("/trace/{}", shop.checkouts[0])).await;
        assert_eq!(waterfall(page).await.len(), 11);
        page.click(".wf-row[data-name='call backend'] .wf-toggle")
            .await;
        let rows = waterfall(page).await;
        assert_eq!(
            names(&rows),
            [
                "GET /checkout",
                "auth.check",
                "cart.load",
                "db.query",
                "call backend",
                "late.callback"
            ]
        );
        assert_eq!(
            page.js("return document.querySelector('#row-count').textContent")
                .await,
            json!("6 rows shown, 5 hidden")
        );
        page.screenshot("trace-collapsed").await;
        page.click(".wf-row[data-name='call backend'] .wf-toggle")
            .await;
        assert_eq!(waterfall(page).await.len(), 11);
        page.click(".wf-row[data-name='GET /checkout'] .wf-toggle")
            .await;
        assert_eq!(names(&waterfall(page).await), ["GET /checkout"]);
    })
    .await;
}

#[tokio::test]
async fn a_trace_of_ten_thousand_spans_renders_only_the_rows_in_view() {
    in_shop(async |page, shop| {
        page.goto(&format!("/trace/{}", shop.wide)).await;
        let rows = waterfall(page).await;
        assert_eq!(
            page.js("return document.querySelector('#span-count').textContent").await,
            json!(WIDE_SPANS.to_string())
        );
        assert!(rows.len() < 200, "{} rows in the page: not virtualised", rows.len());
        assert_eq!(&rows[0].0, "bulk.import");

        // Scrolled to the end, the last span's row is drawn.
        let last_top = format!("{}px", (WIDE_SPANS - 1) * 24);
        page.js("const s = document.getElementById('waterfall-scroll'); s.scrollTop = s.scrollHeight; return null;")
            .await;
        page.wait_for(
            "the last row after scrolling",
            &format!("return [...document.querySelectorAll('#waterfall .wf-row')].some(r => r.style.top === '{last_top}')"),
        )
        .await;
        page.screenshot("trace-10000-spans").await;

        page.click("#collapse-all").await;
        page.js("document.getElementById('waterfall-scroll').scrollTop = 0; return null;").await;
        assert_eq!(
            page.js("return document.querySelector('#row-count').textContent").await,
            json!("100 rows shown, 9900 hidden"),
            "the root and its 99 batches"
        );
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_shows_calls_and_errors_per_span_name() {
    in_shop(async |page, shop| {
        page.goto("/dashboard").await;
        let rows = page
            .wait_for(
                "the operations table",
                "const rows = document.querySelectorAll('#operations tbody tr');
                 return rows.length ? [...rows].map(r => [r.dataset.service, r.dataset.name,
                   r.querySelector('.calls').textContent, r.querySelector('.error-rate').textContent]) : null;",
            )
            .await;
        let rows: Vec<(String, String, String, String)> = serde_json::from_value(rows).unwrap();
        let row = |service: &str, name: &str| {
            rows.iter()
                .find(|r| r.0 == service && r.1 == name)
                .map(|r| (r.2.as_str(), r.3.as_str()))
                .unwrap_or_else(|| panic!("no row for {service} {name} in {rows:?}"))
        };
        assert_eq!(row("frontend", "GET /checkout"), ("3", "0%"));
        assert_eq!(row("backend", "payment.authorize"), ("3", "33.3%"));
        assert_eq!(row("backend", "POST /charge"), ("3", "33.3%"));
        assert_eq!(row("ledger", "fsync"), ("2", "0%"));
        assert_eq!(row("bulk", "bulk.item"), ("9900", "0%"));
        assert_eq!(row("traced-program", "program.read_item"), ("3", "0%"));
        assert_eq!(rows.len(), 5 + 4 + 2 + 3 + 5, "every name of every service once");

        page.click("#operations tr[data-name='payment.authorize'] .op-name button").await;
        page.wait_for(
            "the latency chart of payment.authorize",
            "return document.querySelector('#chart-name')?.textContent === 'payment.authorize'
               && document.querySelectorAll('#latency-chart circle.point').length > 0",
        )
        .await;
        assert!(page.location().await.contains("name=payment.authorize"));
        page.js("document.getElementById('latency-chart').scrollIntoView(); return null;")
            .await;
        page.screenshot("dashboard").await;

        page.click("#operations tr[data-name='payment.authorize'] a.slowest").await;
        let slowest = listed(page).await;
        assert!(!slowest.is_empty());
        assert!(set(&slowest).is_subset(&set(&shop.checkouts)), "{slowest:?}");
    })
    .await;
}

#[tokio::test]
async fn the_service_graph_shows_who_calls_whom() {
    in_shop(async |page, _shop| {
        page.goto("/graph").await;
        let edges = page
            .wait_for(
                "the graph's edges",
                "const edges = document.querySelectorAll('#service-graph g.edge');
                 return edges.length ? [...edges].map(e => [e.dataset.caller, e.dataset.callee,
                   Number(e.dataset.calls), Number(e.dataset.errors), e.querySelector('text').textContent]) : null;",
            )
            .await;
        assert_eq!(
            edges,
            json!([
                ["backend", "ledger", 2, 0, "2 calls"],
                ["frontend", "backend", 3, 1, "3 calls · 33.3% errors"],
            ])
        );
        let nodes = page
            .js("return [...document.querySelectorAll('#service-graph g.node')].map(n => n.dataset.service)")
            .await;
        assert_eq!(nodes, json!(["backend", "bulk", "frontend", "ledger", "traced-program"]));
        page.screenshot("service-graph").await;
    })
    .await;
}

#[tokio::test]
async fn a_trace_kept_by_retroactive_sampling_says_which_span_kept_it() {
    in_shop(async |page, shop| {
        page.goto(&format!("/trace/{}", shop.checkouts[1])).await;
        waterfall(page).await;
        assert_eq!(
            page.js("return document.querySelector('#kept-by')?.textContent")
                .await,
            json!("Kept error in payment.authorize (backend)")
        );
        page.screenshot("trace-kept-by").await;
        // A trace nothing kept says nothing about it.
        page.goto(&format!("/trace/{}", shop.checkouts[0])).await;
        waterfall(page).await;
        assert_eq!(
            page.js("return document.querySelector('#kept-by') === null")
                .await,
            json!(true)
        );
    })
    .await;
}

#[tokio::test]
async fn an_exported_trace_imports_back_the_same() {
    in_shop(async |page, shop| {
        let id = &shop.checkouts[1];
        page.goto(&format!("/trace/{id}")).await;
        let original = waterfall(page).await;
        assert_eq!(
            original.iter().filter(|r| r.3).count(),
            2,
            "the declined checkout's errors"
        );

        page.click("#export-json").await;
        let file = page.downloads.path().join(format!("trace-{id}.json"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let exported = loop {
            // Chromium writes a `.crdownload` file and renames it when done.
            if let Ok(text) = std::fs::read_to_string(&file) {
                break text;
            }
            assert!(
                Instant::now() < deadline,
                "no download at {}",
                file.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let exported: Value = serde_json::from_str(&exported).expect("the export is JSON");
        assert_eq!(exported["trace_id"], json!(id));
        assert_eq!(
            exported["spans"].as_array().map(Vec::len),
            Some(original.len())
        );

        page.goto("/search").await;
        page.element("#import-file")
            .await
            .send_keys(file.to_str().expect("a UTF-8 path"))
            .await
            .expect("the file is chosen");
        page.element("#import-banner").await;
        assert_eq!(page.location().await, format!("/trace/{id}?source=import"));
        assert_eq!(
            waterfall(page).await,
            original,
            "the same rows, nesting, orphans and errors"
        );
        page.screenshot("trace-imported").await;
    })
    .await;
}

#[tokio::test]
async fn an_empty_or_unreachable_collector_says_so() {
    if driver().is_none() {
        return;
    }
    let mut collector = CollectorProcess::start(&["--store", "memory"]);
    in_browser(collector.http, async |page| {
        for path in ["/search", "/dashboard", "/graph"] {
            page.goto(path).await;
            let text = page.element("#no-traces").await.text().await.unwrap();
            assert!(
                text.contains("No traces yet") && text.contains("DAPPLE_ENDPOINT"),
                "{path}: {text}"
            );
        }
        page.screenshot("empty").await;
        page.goto("/trace/0123456789abcdef0123456789abcdef").await;
        let text = page.element(".message.error").await.text().await.unwrap();
        assert!(text.starts_with("Not found"), "{text}");
        page.goto("/trace/not-a-trace-id").await;
        let text = page.element(".message.error").await.text().await.unwrap();
        assert!(
            text.contains("trace_id") || text.contains("not-a-trace-id"),
            "{text}"
        );

        page.goto("/search").await;
        page.element("#no-traces").await;
        collector.kill();
        page.click("#search-button").await;
        let text = page.element(".message.error").await.text().await.unwrap();
        assert!(text.starts_with("Collector unreachable"), "{text}");
        page.screenshot("collector-unreachable").await;
    })
    .await;
}

#[tokio::test]
async fn every_page_fits_a_phone_screen() {
    in_shop(async |page, shop| {
        page.resize(390, 844).await;
        let pages = [
            ("search", "/search".to_owned(), "#trace-list"),
            (
                "trace",
                format!("/trace/{}", shop.checkouts[0]),
                "#waterfall .wf-row",
            ),
            ("dashboard", "/dashboard".to_owned(), "#operations"),
            ("graph", "/graph".to_owned(), "#service-graph"),
        ];
        for (name, path, ready) in pages {
            page.goto(&path).await;
            page.element(ready).await;
            fits_the_width(page, &format!("{path} on a phone")).await;
            page.screenshot(&format!("phone-{name}")).await;
        }
    })
    .await;
}

#[tokio::test]
async fn an_import_shows_odd_trees_and_refuses_what_is_not_a_trace() {
    in_shop(async |page, _shop| {
        let files = browser::TempDir::new("imports");
        let not_a_trace = files.path().join("notes.json");
        std::fs::write(&not_a_trace, r#"{"hello": "world"}"#).unwrap();
        // No root, a span whose parent is missing, and two spans that name
        // each other as parent.
        let span = |id: &str, parent: Option<&str>, start: u64| {
            json!({
                "span_id": id, "parent_id": parent, "name": format!("span-{id}"),
                "service": "odd", "kind": "internal",
                "start_unix_nanos": 1_700_000_000_000_000_000_u64 + start,
                "end_unix_nanos": 1_700_000_000_000_000_000_u64 + start + 1000,
                "duration_nanos": 1000, "status": {"code": "unset", "message": ""},
                "attributes": {}, "events": [], "links": [],
            })
        };
        let odd = json!({
            "trace_id": "00000000000000000000000000000abc",
            "spans": [
                span("0000000000000001", Some("00000000000000ff"), 0),
                span("0000000000000002", Some("0000000000000001"), 10),
                span("0000000000000003", Some("0000000000000004"), 20),
                span("0000000000000004", Some("0000000000000003"), 30),
            ],
        });
        let odd_file = files.path().join("odd.json");
        std::fs::write(&odd_file, odd.to_string()).unwrap();

        page.goto("/search").await;
        let choose = async |path: &std::path::Path| {
            page.element("#import-file")
                .await
                .send_keys(path.to_str().expect("a UTF-8 path"))
                .await
                .expect("the file is chosen");
        };
        choose(&not_a_trace).await;
        let text = page.element(".message.error").await.text().await.unwrap();
        assert!(
            text.contains("notes.json") && text.contains("not a Dapple trace"),
            "{text}"
        );

        choose(&odd_file).await;
        page.element("#import-banner").await;
        let rows = waterfall(page).await;
        let shape: Vec<(&str, u64, bool)> = rows.iter().map(|r| (r.0.as_str(), r.1, r.2)).collect();
        assert_eq!(
            shape,
            [
                ("span-0000000000000001", 0, true),
                ("span-0000000000000002", 1, false),
                ("span-0000000000000003", 0, true),
                ("span-0000000000000004", 0, true),
            ],
            "with no root, the orphans and the cycle's spans are at the top; the rest nests"
        );
        page.screenshot("trace-imported-odd").await;
    })
    .await;
}

#[tokio::test]
async fn otlp_arrays_maps_and_the_process_show_as_such() {
    if driver().is_none() {
        return;
    }
    let collector = CollectorProcess::start(&["--otlp-http", "127.0.0.1:0"]);
    let otlp = collector.otlp_http.expect("the OTLP/HTTP address");
    let request = json!({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "py-inventory"}},
            {"key": "host.arch", "value": {"stringValue": "arm64"}}
        ]},
        "scopeSpans": [{
            "scope": {"name": "opentelemetry.instrumentation.flask", "version": "0.50b0"},
            "spans": [{
                "traceId": "7b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "name": "GET /stock", "kind": 2,
                "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000002000000",
                "attributes": [
                    {"key": "sizes", "value": {"arrayValue": {"values": [
                        {"intValue": "1"}, {}, {"stringValue": "XL"}]}}},
                    {"key": "filters", "value": {"kvlistValue": {"values": [
                        {"key": "in_stock", "value": {"boolValue": true}}]}}}
                ]
            }]
        }]
    }]});
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    agent
        .post(&format!("http://{otlp}/v1/traces"))
        .content_type("application/json")
        .send(request.to_string().as_bytes())
        .expect("the collector takes the request");
    in_browser(collector.http, async |page| {
        page.goto("/trace/7b8efff798038103d269b633813fc60c").await;
        assert_eq!(names(&waterfall(page).await), ["GET /stock"]);
        page.click(".wf-row[data-name='GET /stock']").await;
        let shown = page
            .wait_for(
                "the span's array and map",
                "const list = document.querySelector('#detail-attributes ol.value-array');
                 const map = document.querySelector('#detail-attributes table.value-map');
                 if (!list || !map) return null;
                 return {
                   list: [...list.children].map(li => li.textContent),
                   map: [...map.querySelectorAll('tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent]),
                   process: document.querySelector('#detail-resource').textContent,
                   scope: document.querySelector('#detail-scope').textContent,
                 };",
            )
            .await;
        assert_eq!(shown["list"], json!(["1", "", "XL"]), "the empty value stays in its place");
        assert_eq!(shown["map"], json!([["in_stock", "true"]]));
        let process = shown["process"].as_str().unwrap();
        assert!(process.contains("py-inventory") && process.contains("arm64"), "{process}");
        assert_eq!(shown["scope"], "opentelemetry.instrumentation.flask 0.50b0");
        page.screenshot("otlp-values").await;
    })
    .await;
}
