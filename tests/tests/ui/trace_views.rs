//! The trace page's other views and tools, and the flame graph of a search:
//! a flame graph of one trace (a box per span under its parent, details on a
//! click, zoom, bounded on the wide trace), the aggregated flame graph of a
//! search's traces by path of span names, find in trace, and the busy and
//! idle time of async spans, in the waterfall and the details.

use std::collections::BTreeMap;

use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::browser::Page;
use crate::shop::{WIDE_SPANS, driver};
use crate::support::CollectorProcess;
use crate::{
    assert_no_csp_violations, fits_the_width, in_browser, in_shop, listed, names, waterfall,
};

/// A box of the trace's flame graph as drawn: its span, its parent's, its
/// name and row, its label, and where it is, in pixels.
#[derive(Debug)]
struct FlameBox {
    span: String,
    parent: String,
    name: String,
    row: u64,
    label: String,
    left: f64,
    right: f64,
    top: f64,
}

/// A [`FlameBox`] as the page gives it.
type Drawn = (String, String, String, u64, String, f64, f64, f64);

/// The boxes of the trace page's flame graph, once it is drawn.
async fn flame_boxes(page: &Page) -> Vec<FlameBox> {
    let boxes = page
        .wait_for(
            "the flame graph",
            "const boxes = document.querySelectorAll('#flame .fl-box:not(.merged)');
             if (!boxes.length) return null;
             return [...boxes].map(b => {
               const r = b.getBoundingClientRect();
               return [b.dataset.spanId, b.dataset.parentId, b.dataset.name, Number(b.dataset.row),
                 b.textContent, r.left, r.right, r.top];
             });",
        )
        .await;
    let boxes: Vec<Drawn> = serde_json::from_value(boxes).expect("boxes");
    boxes
        .into_iter()
        .map(
            |(span, parent, name, row, label, left, right, top)| FlameBox {
                span,
                parent,
                name,
                row,
                label,
                left,
                right,
                top,
            },
        )
        .collect()
}

/// `12.3 ms` as the UI writes a duration, in nanoseconds.
fn nanos(text: &str) -> f64 {
    let (number, unit) = text.trim().split_once(' ').expect("a number and a unit");
    let scale = match unit {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "min" => 60e9,
        "h" => 3600e9,
        other => panic!("unit {other:?} in {text:?}"),
    };
    number.parse::<f64>().expect("a number") * scale
}

/// The text of the element `css`, or null while there is none.
fn text_of(css: &str) -> String {
    format!("return document.querySelector({css:?})?.textContent ?? null")
}

#[tokio::test]
async fn the_flame_graph_has_a_box_per_span_under_its_parent() {
    in_shop(async |page, shop| {
        page.goto(&format!("/trace/{}", shop.checkouts[0])).await;
        let rows = waterfall(page).await;
        page.click("#view-flame").await;
        let boxes = flame_boxes(page).await;
        assert!(page.location().await.ends_with("?view=flame"), "{}", page.location().await);
        assert_eq!(
            page.js("return document.getElementById('waterfall').hidden").await,
            json!(true),
            "one view at a time"
        );

        // A box per span, labelled with its name.
        let mut drawn: Vec<&str> = boxes.iter().map(|b| b.name.as_str()).collect();
        let mut spans = names(&rows);
        drawn.sort();
        spans.sort();
        assert_eq!(drawn, spans);
        for b in &boxes {
            assert_eq!(b.label, b.name);
        }

        // The root across the whole width on top; every other box below its
        // parent and within its parent's time.
        let root = boxes.iter().find(|b| b.parent.is_empty()).expect("a root box");
        assert_eq!((root.name.as_str(), root.row), ("GET /checkout", 0));
        for b in boxes.iter().filter(|b| !b.parent.is_empty()) {
            let parent = boxes
                .iter()
                .find(|p| p.span == b.parent)
                .unwrap_or_else(|| panic!("{}'s parent has no box", b.name));
            assert!(b.row > parent.row && b.top > parent.top, "{} is not below {}", b.name, parent.name);
            assert!(
                b.left >= parent.left - 1.0 && b.right <= parent.right + 1.0,
                "{} [{}, {}] is not within {} [{}, {}]",
                b.name,
                b.left,
                b.right,
                parent.name,
                parent.left,
                parent.right
            );
        }
        // Spans that ran one after the other sit at their depth in the tree;
        // the orphan, adopted by the root, ran while the backend was still
        // busy, so it goes lower, where it covers nothing.
        for (name, depth, orphan, _) in &rows {
            let b = boxes.iter().find(|b| &b.name == name).unwrap();
            if *orphan {
                assert!(b.row > 1, "{name} overlaps a sibling in row {}", b.row);
            } else {
                assert_eq!(b.row, *depth, "{name}");
            }
        }

        // Coloured by service, as the legend says.
        let colours = page
            .js("const legend = Object.fromEntries([...document.querySelectorAll('.summary .legend .service')]
                   .map(s => [s.textContent, getComputedStyle(s.querySelector('.swatch')).backgroundColor]));
                 return [...document.querySelectorAll('#flame .fl-box')]
                   .map(b => [b.dataset.name, getComputedStyle(b).backgroundColor === legend[b.dataset.service]]);")
            .await;
        for pair in colours.as_array().unwrap() {
            assert_eq!(pair[1], json!(true), "{} is not its service's colour", pair[0]);
        }

        // A click shows the span's details, as in the waterfall.
        page.click("#flame .fl-box[data-name='db.query']").await;
        page.wait_for(
            "db.query's details",
            "return document.querySelector('#detail-name')?.textContent === 'db.query'
               && document.querySelector('#flame .fl-box.selected')?.dataset.name === 'db.query'",
        )
        .await;
        let attributes = page.js(&text_of("#detail-attributes")).await;
        assert!(attributes.as_str().unwrap().contains("sqlite"), "{attributes}");
        page.screenshot("trace-flame-graph").await;

        // The view is in the URL: a reload shows the flame graph again.
        page.reload().await;
        assert_eq!(flame_boxes(page).await.len(), rows.len());
        page.click("#view-waterfall").await;
        assert_eq!(waterfall(page).await.len(), rows.len());
        assert_eq!(page.location().await, format!("/trace/{}", shop.checkouts[0]));

        // Error spans are marked.
        page.goto(&format!("/trace/{}?view=flame", shop.checkouts[1])).await;
        flame_boxes(page).await;
        let errors = page
            .js("return [...document.querySelectorAll('#flame .fl-box.error')].map(b => b.dataset.name).sort()")
            .await;
        assert_eq!(errors, json!(["POST /charge", "payment.authorize"]));
        assert_no_csp_violations(page).await;
    })
    .await;
}

#[tokio::test]
async fn the_flame_graph_of_ten_thousand_spans_merges_narrow_boxes_and_zooms() {
    in_shop(async |page, shop| {
        page.goto(&format!("/trace/{}?view=flame", shop.wide)).await;
        let boxes = flame_boxes(page).await;
        let merged = page
            .js("return [...document.querySelectorAll('#flame .fl-box.merged')].map(b => Number(b.dataset.merged))")
            .await;
        let merged: Vec<usize> = serde_json::from_value(merged).unwrap();
        let total = page.js("return document.querySelectorAll('#flame .fl-box').length").await;
        assert!(total.as_u64().unwrap() < 1000, "{total} boxes in the page: not bounded");
        assert!(!merged.is_empty(), "the items, each under a pixel, are merged");
        assert!(
            boxes.len() + merged.iter().sum::<usize>() <= WIDE_SPANS,
            "a span is drawn once at most"
        );
        assert_eq!(boxes.iter().filter(|b| b.name == "bulk.import").count(), 1);
        let batches = boxes.iter().filter(|b| b.name == "bulk.batch").count();
        assert!(batches > 50, "{batches} of 99 batches drawn apart");
        page.screenshot("trace-flame-10000-spans").await;

        // A double click zooms to a batch: it takes the whole width, and its
        // items show one by one.
        let count = "return document.querySelectorAll('#flame .fl-box').length";
        let before = page.js(count).await;
        let batch = page
            .js("const batch = document.querySelector(\"#flame .fl-box[data-name='bulk.batch']\");
                 batch.dispatchEvent(new MouseEvent('dblclick', { bubbles: true }));
                 return batch.dataset.spanId;")
            .await;
        let items = page
            .wait_for(
                "the batch's items after zooming",
                &format!(
                    "const canvas = document.querySelector('#flame .fl-canvas').getBoundingClientRect();
                     const batch = document.querySelector('#flame .fl-box[data-span-id={batch}]');
                     const items = document.querySelectorAll('#flame .fl-box[data-parent-id={batch}]').length;
                     return batch && Math.abs(batch.getBoundingClientRect().width - canvas.width) < 1
                       && items >= 10 && items;"
                ),
            )
            .await;
        assert!(items.as_u64().unwrap() <= 100, "{items} items in one batch");
        page.screenshot("trace-flame-zoomed").await;
        page.click("#flame-reset").await;
        page.wait_for(
            "the whole trace again",
            &format!(
                "return document.querySelectorAll('#flame .fl-box').length === {before}
                   && document.getElementById('flame-reset').hidden"
            ),
        )
        .await;
        assert_no_csp_violations(page).await;
    })
    .await;
}

/// What a checkout's paths add up to over the shop's three checkouts:
/// `(spans, errors)` per path. The declined one calls no ledger; the
/// orphan counts under the root, where the waterfall shows it.
fn checkout_paths() -> BTreeMap<String, (u64, u64)> {
    let root = "frontend: GET /checkout";
    let backend = format!("{root} > frontend: call backend > backend: POST /charge");
    let ledger = format!("{backend} > backend: call ledger > ledger: ledger.write");
    [
        (root.to_owned(), (3, 0)),
        (format!("{root} > frontend: auth.check"), (3, 0)),
        (format!("{root} > frontend: cart.load"), (3, 0)),
        (
            format!("{root} > frontend: cart.load > frontend: db.query"),
            (3, 0),
        ),
        (format!("{root} > frontend: call backend"), (3, 0)),
        (backend.clone(), (3, 1)),
        (format!("{backend} > backend: payment.authorize"), (3, 1)),
        (format!("{backend} > backend: call ledger"), (2, 0)),
        (ledger.clone(), (2, 0)),
        (format!("{ledger} > ledger: fsync"), (2, 0)),
        (format!("{root} > backend: late.callback"), (3, 0)),
    ]
    .into_iter()
    .collect()
}

#[tokio::test]
async fn the_flame_graph_of_a_search_sums_each_path_over_its_traces() {
    in_shop(async |page, shop| {
        page.goto("/search?service=frontend").await;
        assert_eq!(listed(page).await.len(), shop.checkouts.len());
        page.click("#flame-link").await;
        let boxes = page
            .wait_for(
                "the aggregated flame graph",
                "const boxes = document.querySelectorAll('#agg-flame .fl-box:not(.merged)');
                 if (!boxes.length) return null;
                 return [...boxes].map(b => [b.dataset.path, Number(b.dataset.count), Number(b.dataset.errors)]);",
            )
            .await;
        let location = page.location().await;
        assert!(location.starts_with("/flame?service=frontend"), "{location}");
        let boxes: Vec<(String, u64, u64)> = serde_json::from_value(boxes).unwrap();
        let drawn: BTreeMap<String, (u64, u64)> =
            boxes.into_iter().map(|(path, count, errors)| (path, (count, errors))).collect();
        assert_eq!(drawn, checkout_paths(), "a box per path, counted over the three checkouts");
        assert_eq!(page.js(&text_of("#flame-trace-count")).await, json!("3"));

        // The table lists the same paths, with the same counts.
        let table = page
            .js("return [...document.querySelectorAll('#flame-paths tbody tr')]
                   .map(r => [r.dataset.path, Number(r.cells[1].textContent), Number(r.cells[5].textContent)]);")
            .await;
        let table: Vec<(String, u64, u64)> = serde_json::from_value(table).unwrap();
        let rows: BTreeMap<String, (u64, u64)> =
            table.into_iter().map(|(path, count, errors)| (path, (count, errors))).collect();
        assert_eq!(rows, checkout_paths());

        // The root path spans the whole width; a box's tooltip and details
        // give its count, total, mean and errors.
        let widths = page
            .js("const canvas = document.querySelector('#agg-flame .fl-canvas').getBoundingClientRect();
                 const root = document.querySelector(\"#agg-flame .fl-box[data-path='frontend: GET /checkout']\").getBoundingClientRect();
                 return [canvas.width, root.width];")
            .await;
        let (canvas, root) = (widths[0].as_f64().unwrap(), widths[1].as_f64().unwrap());
        assert!((canvas - root).abs() < 1.0, "root {root} px of {canvas} px");
        let charge = "frontend: GET /checkout > frontend: call backend > backend: POST /charge";
        let selector = format!("#agg-flame .fl-box[data-path='{charge}']");
        let title = page
            .js(&format!("return document.querySelector({selector:?}).title"))
            .await;
        assert!(title.as_str().unwrap().contains("3 spans in 3 traces"), "{title}");
        page.click(&selector).await;
        page.wait_for(
            "the path's details",
            "return document.querySelector('#flame-detail-name')?.textContent === 'POST /charge'",
        )
        .await;
        let detail = async |id: &str| page.js(&text_of(id)).await;
        assert_eq!(detail("#flame-detail-count").await, json!("3"));
        assert_eq!(detail("#flame-detail-traces").await, json!("3"));
        assert_eq!(detail("#flame-detail-errors").await, json!("1"));
        let total = nanos(detail("#flame-detail-total").await.as_str().unwrap());
        let mean = nanos(detail("#flame-detail-mean").await.as_str().unwrap());
        assert!(
            (mean * 3.0 - total).abs() <= total * 0.02,
            "mean {mean} ns is not a third of {total} ns"
        );
        let longest = page
            .js("return document.querySelector('#flame-detail-longest').getAttribute('href')")
            .await;
        let longest = longest.as_str().unwrap().trim_start_matches("/trace/");
        assert!(shop.checkouts.iter().any(|c| c == longest), "{longest}");
        page.screenshot("search-flame-graph").await;

        // Back to the same search.
        page.click(".page-head a").await;
        assert_eq!(listed(page).await.len(), shop.checkouts.len());
        assert!(page.location().await.starts_with("/search?service=frontend"));
        assert_no_csp_violations(page).await;
    })
    .await;
}

/// The names of the waterfall's rows marked as matches, and of the current one.
async fn matches(page: &Page) -> (Vec<String>, Option<String>) {
    let marked = page
        .js("return [[...document.querySelectorAll('#waterfall .wf-row.match')].map(r => r.dataset.name),
                     document.querySelector('#waterfall .wf-row.current-match')?.dataset.name ?? null]")
        .await;
    serde_json::from_value(marked).unwrap()
}

/// Waits until find says `count`.
async fn found(page: &Page, count: &str) {
    page.wait_for(
        &format!("find saying {count:?}"),
        &format!("return document.getElementById('find-count').textContent === {count:?}"),
    )
    .await;
}

#[tokio::test]
async fn find_in_trace_counts_highlights_and_steps_through_matches() {
    in_shop(async |page, shop| {
        let enter = char::from(Key::Enter).to_string();
        let shift_enter = format!("{}{}", char::from(Key::Shift), char::from(Key::Enter));
        page.goto(&format!("/trace/{}", shop.checkouts[0])).await;
        waterfall(page).await;

        // A name, a service and an attribute's value, in any case.
        page.fill("#find-input", "LEDGER").await;
        found(page, "3 of 11 spans match").await;
        let (marked, current) = matches(page).await;
        assert_eq!(marked, ["call ledger", "ledger.write", "fsync"]);
        assert_eq!(current, None, "none is current before Enter");
        assert!(page.location().await.ends_with("?find=LEDGER"));

        let input = page.element("#find-input").await;
        input.send_keys(&enter).await.unwrap();
        let current = async || {
            page.wait_for(
                "the current match's details",
                "const row = document.querySelector('#waterfall .wf-row.current-match');
                 return row && row.dataset.name === document.querySelector('#detail-name')?.textContent
                   && [row.dataset.name, document.getElementById('find-position').textContent];",
            )
            .await
        };
        assert_eq!(current().await, json!(["call ledger", "1 / 3"]));
        input.send_keys(&enter).await.unwrap();
        assert_eq!(current().await, json!(["ledger.write", "2 / 3"]));
        input.send_keys(&shift_enter).await.unwrap();
        assert_eq!(current().await, json!(["call ledger", "1 / 3"]));
        page.click("#find-previous").await;
        assert_eq!(current().await, json!(["fsync", "3 / 3"]), "from the first back to the last");
        page.click("#find-next").await;
        assert_eq!(current().await, json!(["call ledger", "1 / 3"]));
        page.screenshot("trace-find").await;

        page.fill("#find-input", "gold").await;
        found(page, "1 of 11 spans match").await;
        assert_eq!(matches(page).await.0, ["GET /checkout"], "customer.tier = gold");
        page.fill("#find-input", "DB.System").await;
        found(page, "1 of 11 spans match").await;
        assert_eq!(matches(page).await.0, ["db.query"], "an attribute's key");
        page.fill("#find-input", "no such thing").await;
        found(page, "0 of 11 spans match").await;

        // A match under a collapsed span is counted, said to be hidden, and
        // shown by Next.
        page.fill("#find-input", "").await;
        page.click(".wf-row[data-name='call backend'] .wf-toggle").await;
        page.fill("#find-input", "fsync").await;
        found(page, "1 of 11 spans match").await;
        assert_eq!(page.js(&text_of("#find-hidden")).await, json!("1 in collapsed spans"));
        assert_eq!(matches(page).await, (vec![], None), "no row of it is drawn");
        page.click("#find-next").await;
        assert_eq!(current().await, json!(["fsync", "1 / 1"]));
        assert_eq!(page.js(&text_of("#find-hidden")).await, json!(""));
        assert_eq!(waterfall(page).await.len(), 11, "its ancestors expanded");

        // The flame graph dims what does not match.
        page.click("#view-flame").await;
        let lit = page
            .wait_for(
                "the flame graph's matches",
                "const lit = [...document.querySelectorAll('#flame .fl-box.match')].map(b => b.dataset.name);
                 return lit.length && document.querySelector('#flame').classList.contains('finding') && lit;",
            )
            .await;
        assert_eq!(lit, json!(["fsync"]));
        assert_no_csp_violations(page).await;
    })
    .await;
}

#[tokio::test]
async fn find_in_a_trace_of_ten_thousand_spans_scrolls_to_each_match() {
    in_shop(async |page, shop| {
        // From a shared link: the find is in the URL.
        page.goto(&format!("/trace/{}?find=bulk.batch", shop.wide)).await;
        waterfall(page).await;
        found(page, &format!("99 of {WIDE_SPANS} spans match")).await;
        page.click("#find-previous").await;
        let shown = page
            .wait_for(
                "the last batch's row, scrolled into view",
                "const row = document.querySelector('#waterfall .wf-row.current-match');
                 if (!row) return null;
                 const r = row.getBoundingClientRect();
                 const view = document.getElementById('waterfall-scroll').getBoundingClientRect();
                 return r.top >= view.top && r.bottom <= view.bottom
                   && [row.dataset.name, document.getElementById('find-position').textContent];",
            )
            .await;
        assert_eq!(shown, json!(["bulk.batch", "99 / 99"]));
        let index = page
            .wait_for(
                "the last batch's details",
                "const rows = [...document.querySelectorAll('#detail-attributes tr')];
                 return rows.length && rows.find(r => r.cells[0].textContent === 'batch.index')?.cells[1].textContent;",
            )
            .await;
        assert_eq!(index, json!("98"));
        let drawn = page.js("return document.querySelectorAll('#waterfall .wf-row').length").await;
        assert!(drawn.as_u64().unwrap() < 200, "{drawn} rows: still virtualised");
        page.screenshot("trace-find-10000-spans").await;
        assert_no_csp_violations(page).await;
    })
    .await;
}

/// Unix nanoseconds the OTLP spans below start after.
const T0: u64 = 1_700_000_000_000_000_000;

/// An OTLP/JSON span of `orders`, `from` and `to` milliseconds after [`T0`].
fn otlp_span(id: &str, parent: &str, name: &str, from: f64, to: f64, attributes: Value) -> Value {
    let at = |ms: f64| (T0 + (ms * 1e6) as u64).to_string();
    let mut span = json!({
        "traceId": "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e", "spanId": id,
        "name": name, "kind": 1, "startTimeUnixNano": at(from), "endTimeUnixNano": at(to),
        "attributes": attributes,
    });
    if !parent.is_empty() {
        span["parentSpanId"] = json!(parent);
    }
    span
}

/// An OTLP integer attribute, as OTLP/JSON writes an int64: in a string.
fn int(key: &str, value: u64) -> Value {
    json!({"key": key, "value": {"intValue": value.to_string()}})
}

#[tokio::test]
async fn busy_and_idle_time_of_async_spans_show_in_the_bar_and_the_details() {
    if driver().is_none() {
        return;
    }
    // As tracing-opentelemetry exports an instrumented future: `busy_ns`
    // and `idle_ns` (and here Dapple's `polls`) on the span.
    let collector = CollectorProcess::start(&["--otlp-http", "127.0.0.1:0"]);
    let otlp = collector.otlp_http.expect("the OTLP/HTTP address");
    let request = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]},
        "scopeSpans": [{
            "scope": {"name": "tracing-opentelemetry"},
            "spans": [
                otlp_span("00000000000000a1", "", "GET /orders", 0.0, 10.0, json!([])),
                otlp_span("00000000000000a2", "00000000000000a1", "load orders", 1.0, 9.0,
                    json!([int("busy_ns", 2_000_000), int("idle_ns", 6_000_000), int("polls", 5)])),
                otlp_span("00000000000000a3", "00000000000000a1", "render", 9.0, 9.5,
                    json!([int("busy_ns", 300_000)])),
            ],
        }],
    }]});
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    agent
        .post(&format!("http://{otlp}/v1/traces"))
        .content_type("application/json")
        .send(request.to_string().as_bytes())
        .expect("the collector takes the request");
    collector.trace_with("5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e", 3);

    in_browser(collector.http, async |page| {
        page.goto("/trace/5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e").await;
        assert_eq!(names(&waterfall(page).await), ["GET /orders", "load orders", "render"]);

        // The busy share is drawn in the bar of each async span only.
        let bars = page
            .js("return [...document.querySelectorAll('#waterfall .wf-row')].map(r => {
                   const bar = r.querySelector('.wf-bar'), busy = bar.querySelector('.wf-busy');
                   return [r.dataset.name, bar.classList.contains('has-busy'),
                     busy ? busy.getBoundingClientRect().width / bar.getBoundingClientRect().width : null, bar.title];
                 });")
            .await;
        let bars: Vec<(String, bool, Option<f64>, String)> = serde_json::from_value(bars).unwrap();
        assert_eq!((bars[0].1, bars[0].2), (false, None), "a span without busy_ns is drawn as before");
        let share = |i: usize, expected: f64| {
            let got = bars[i].2.expect("a busy segment");
            assert!((got - expected).abs() < 0.03, "{}: busy share {got}, not {expected}", bars[i].0);
        };
        share(1, 0.25);
        share(2, 0.6);
        assert!(bars[1].3.contains("not recorded"), "the tooltip says only totals are known: {}", bars[1].3);
        let key = page.js(&text_of("#busy-key")).await;
        assert!(key.as_str().unwrap().contains("busy"), "{key}");

        // The details say busy, idle and polls as durations and a count.
        page.click(".wf-row[data-name='load orders']").await;
        page.element("#detail-busy").await;
        let times = page
            .js("return ['#detail-busy', '#detail-idle', '#detail-polls']
                   .map(id => document.querySelector(id)?.textContent ?? null)")
            .await;
        assert_eq!(times, json!(["2.00 ms", "6.00 ms", "5"]));
        page.screenshot("trace-busy-idle").await;

        // Without idle_ns the idle time is what the duration leaves; without
        // polls there is no count.
        page.click(".wf-row[data-name='render']").await;
        page.wait_for("render's details", "return document.querySelector('#detail-name')?.textContent === 'render'")
            .await;
        let times = page
            .js("return ['#detail-busy', '#detail-idle', '#detail-polls']
                   .map(id => document.querySelector(id)?.textContent ?? null)")
            .await;
        assert_eq!(times, json!(["300 µs", "200 µs", null]));
        page.click(".wf-row[data-name='GET /orders']").await;
        page.wait_for("the root's details", "return document.querySelector('#detail-name')?.textContent === 'GET /orders'")
            .await;
        assert_eq!(page.js("return document.querySelector('#detail-busy')").await, Value::Null);

        // The flame graph draws the same share.
        page.click("#view-flame").await;
        page.element("#flame .fl-box.has-busy[data-name='load orders'] .fl-busy").await;
        assert_no_csp_violations(page).await;
    })
    .await;
}

#[tokio::test]
async fn a_traced_async_fn_shows_its_busy_time() {
    in_shop(async |page, shop| {
        let (_, trace) = shop.collector.get(&format!("/api/traces/{}", shop.program));
        let store = trace["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "program.store"))
            .expect("the traced program's async span")
            .clone();
        let polls = store["attributes"]["polls"]
            .as_u64()
            .expect("an async span's poll count, among its attributes");
        page.goto(&format!("/trace/{}", shop.program)).await;
        waterfall(page).await;
        page.element(".wf-row[data-name='program.store'] .wf-bar.has-busy .wf-busy")
            .await;
        page.click(".wf-row[data-name='program.store']").await;
        page.element("#detail-busy").await;
        assert_eq!(
            page.js(&text_of("#detail-polls")).await,
            json!(polls.to_string())
        );
        let idle = nanos(page.js(&text_of("#detail-idle")).await.as_str().unwrap());
        assert!(
            idle >= 0.9e6,
            "program.store sleeps 1 ms between polls: idle {idle} ns"
        );
        page.screenshot("trace-async-fn-busy").await;
    })
    .await;
}

#[tokio::test]
async fn the_flame_graphs_and_find_fit_a_phone_screen() {
    in_shop(async |page, shop| {
        page.resize(390, 844).await;
        let pages = [
            (
                "trace-flame",
                format!("/trace/{}?view=flame", shop.checkouts[0]),
                "#flame .fl-box",
            ),
            (
                "trace-find",
                format!("/trace/{}?find=ledger", shop.checkouts[0]),
                "#waterfall .wf-row.match",
            ),
            (
                "search-flame",
                "/flame?service=frontend".to_owned(),
                "#agg-flame .fl-box",
            ),
        ];
        for (name, path, ready) in pages {
            page.goto(&path).await;
            page.element(ready).await;
            fits_the_width(page, &format!("{path} on a phone")).await;
            page.screenshot(&format!("phone-{name}")).await;
        }
        assert_no_csp_violations(page).await;
    })
    .await;
}
