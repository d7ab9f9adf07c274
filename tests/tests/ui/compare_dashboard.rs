//! Comparing two traces (`/compare`, reached from the search list's ticks or
//! by its URL alone), the search form's "All filters on one span", and the
//! dashboard's service filter and calls-per-second chart, whose buckets
//! follow the window and the spans in it.

use dapple_proto as proto;
use prost::Message;
use serde_json::json;

use crate::browser::Page;
use crate::shop::driver;
use crate::support::CollectorProcess;
use crate::{assert_no_csp_violations, fits_the_width, in_browser, in_shop, listed};

/// A row of the compare table: `(service, name, presence, error_in, text)`,
/// presence `a`, `b` or `both`, error_in `A`, `B` or empty.
type Row = (String, String, String, String, String);

/// The compare table's rows, once the page shows them.
async fn compared(page: &Page) -> Vec<Row> {
    let rows = page
        .wait_for(
            "the compare table",
            "const rows = document.querySelectorAll('#compare-table tbody tr');
             return rows.length ? [...rows].map(r => [r.dataset.service, r.dataset.name,
               r.dataset.presence, r.dataset.errorIn, r.textContent]) : null;",
        )
        .await;
    serde_json::from_value(rows).expect("rows")
}

fn row<'a>(rows: &'a [Row], service: &str, name: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.0 == service && r.1 == name)
        .unwrap_or_else(|| panic!("no row for {service} {name} in {rows:#?}"))
}

async fn text(page: &Page, css: &str) -> String {
    page.element(css).await.text().await.expect("its text")
}

#[tokio::test]
async fn comparing_a_declined_checkout_with_an_accepted_one_shows_what_differs() {
    in_shop(async |page, shop| {
        let (declined, accepted) = (&shop.checkouts[1], &shop.checkouts[0]);
        page.goto("/search?service=frontend").await;
        listed(page).await;
        assert_eq!(
            page.js("return document.querySelector('#compare-button').disabled")
                .await,
            json!(true),
            "nothing to compare yet"
        );
        let tick = |id: &str| format!("#trace-list tr[data-trace-id='{id}'] input.compare-pick");
        page.click(&tick(declined)).await;
        page.click(&tick(accepted)).await;
        assert_eq!(
            page.js(&format!(
                "return document.querySelector({:?}).disabled",
                tick(&shop.checkouts[2])
            ))
            .await,
            json!(true),
            "two at a time"
        );
        assert_eq!(
            page.location().await.split('?').next(),
            Some("/search"),
            "ticking a row does not open its trace"
        );
        page.screenshot("search-two-ticked").await;
        page.click("#compare-button").await;
        let rows = compared(page).await;
        assert_eq!(
            page.location().await,
            format!("/compare?a={declined}&b={accepted}")
        );

        // The ledger is called only when the payment goes through.
        for (service, name) in [
            ("backend", "call ledger"),
            ("ledger", "ledger.write"),
            ("ledger", "fsync"),
        ] {
            let r = row(&rows, service, name);
            assert_eq!(r.2, "b", "{r:?}");
            assert!(r.4.contains("only in B"), "{r:?}");
        }
        // The declined payment's errors are A's alone.
        for name in ["payment.authorize", "POST /charge"] {
            let r = row(&rows, "backend", name);
            assert_eq!((r.2.as_str(), r.3.as_str()), ("both", "A"), "{r:?}");
            assert!(r.4.contains("error only in A"), "{r:?}");
        }
        let only_one = rows.iter().filter(|r| r.2 != "both").count();
        let error_differences = rows.iter().filter(|r| !r.3.is_empty()).count();
        assert_eq!(
            (only_one, error_differences),
            (3, 2),
            "only the ledger's spans and the payment's errors differ: {rows:#?}"
        );
        // Spans in both show a change, as a time and a share of A's.
        let root = row(&rows, "frontend", "GET /checkout");
        assert_eq!(root.2, "both");
        let change = page
            .js("const r = document.querySelector(\"#compare-table tr[data-name='GET /checkout']\");
                 return [r.querySelector('.change').textContent, r.querySelector('.change-percent').textContent];")
            .await;
        let [time, percent] = [&change[0], &change[1]].map(|v| v.as_str().unwrap().to_owned());
        assert!(
            time == "0" || (time.starts_with(['+', '−']) && time.ends_with('s')),
            "{time}"
        );
        assert!(percent.ends_with('%'), "{percent}");
        let highlighted = page
            .js("return document.querySelectorAll('#compare-table tr.top-change').length")
            .await;
        assert_eq!(highlighted, json!(3), "the three largest changes stand out");

        // The summary: each side's totals, linked to its trace, and B against A.
        assert_eq!(text(page, "#side-a .span-count").await, "8");
        assert_eq!(text(page, "#side-b .span-count").await, "11");
        assert_eq!(text(page, "#side-a .error-count").await, "2");
        assert_eq!(text(page, "#side-b .error-count").await, "0");
        assert_eq!(text(page, "#summary-delta .span-change").await, "+3");
        let paths = text(page, "#summary-delta .path-change").await;
        assert_eq!(paths, "0 only in A, 3 only in B, 2 error differences");
        let duration = text(page, "#summary-delta .duration-change").await;
        assert!(
            duration.starts_with(['+', '−']) && duration.ends_with("%)"),
            "{duration}"
        );
        let links = page
            .js("return [...document.querySelectorAll('.compare-card a.trace-link')].map(a => a.getAttribute('href'))")
            .await;
        assert_eq!(
            links,
            json!([format!("/trace/{declined}"), format!("/trace/{accepted}")])
        );
        assert_no_csp_violations(page).await;
        page.screenshot("compare").await;

        // The largest change first, kept in the URL.
        page.click("#order-change").await;
        let changes = page
            .wait_for(
                "the rows by change",
                "if (document.querySelector('#order-change').getAttribute('aria-pressed') !== 'true') return null;
                 return [...document.querySelectorAll('#compare-table tbody tr')].map(r => Math.abs(Number(r.dataset.change)));",
            )
            .await;
        let changes: Vec<f64> = serde_json::from_value(changes).unwrap();
        assert!(
            changes.windows(2).all(|w| w[0] >= w[1]),
            "largest first: {changes:?}"
        );
        assert!(page.location().await.ends_with("&order=change"));

        page.click("#side-b a.trace-link").await;
        let shown = page
            .wait_for(
                "the trace page",
                "return document.querySelector('#trace-id')?.textContent",
            )
            .await;
        assert_eq!(shown, json!(accepted));
    })
    .await;
}

#[tokio::test]
async fn a_compare_url_works_alone_and_says_which_trace_is_missing() {
    in_shop(async |page, shop| {
        let (a, b) = (&shop.checkouts[0], &shop.checkouts[2]);
        page.goto(&format!("/compare?a={a}&b={b}")).await;
        let rows = compared(page).await;
        assert!(
            rows.iter().all(|r| r.2 == "both" && r.3.is_empty()),
            "two accepted checkouts have the same spans: {rows:#?}"
        );
        assert_eq!(
            text(page, "#summary-delta .path-change").await,
            "0 only in A, 0 only in B, 0 error differences"
        );

        // An id nobody stored, pasted as B: A is fine, B is named.
        let unknown = "0123456789abcdef0123456789abcdef";
        page.goto(&format!("/compare?a={a}&b={unknown}")).await;
        let message = text(page, "#compare-error .message.error[data-side='B']").await;
        assert!(
            message.starts_with("Trace B: not found") && message.contains(unknown),
            "{message}"
        );
        let sides = page
            .js("return [...document.querySelectorAll('#compare-error [data-side]')].map(e => e.dataset.side)")
            .await;
        assert_eq!(sides, json!(["B"]));
        page.screenshot("compare-missing-trace").await;

        // No ids: a form for them, which shows the comparison.
        page.goto("/compare").await;
        page.element("#compare-missing").await;
        page.fill("#compare-a", b).await;
        page.fill("#compare-b", a).await;
        page.click("#compare-submit").await;
        compared(page).await;
        assert_eq!(page.location().await, format!("/compare?a={b}&b={a}"));
        assert_no_csp_violations(page).await;

        page.resize(390, 844).await;
        page.reload().await;
        compared(page).await;
        fits_the_width(page, "the compare page on a phone").await;
        page.screenshot("phone-compare").await;
    })
    .await;
}

#[tokio::test]
async fn all_filters_on_one_span_is_a_checkbox_kept_in_the_url() {
    in_shop(async |page, shop| {
        let declined = &shop.checkouts[1];
        // By default the filters may hold on different spans: a frontend
        // span, and the backend's error.
        page.goto("/search?service=frontend&error=true").await;
        assert_eq!(listed(page).await, vec![declined.clone()]);
        assert_eq!(
            page.js("return document.querySelector('#same-span').checked")
                .await,
            json!(false)
        );

        // On one span: no frontend span failed.
        page.click("#same-span").await;
        page.click("#search-button").await;
        assert!(listed(page).await.is_empty());
        let location = page.location().await;
        assert!(location.contains("same_span=true"), "{location}");
        page.reload().await;
        assert!(listed(page).await.is_empty());
        assert_eq!(
            page.js("return document.querySelector('#same-span').checked")
                .await,
            json!(true),
            "the URL keeps the box ticked"
        );
        page.screenshot("search-same-span").await;

        page.click("#same-span").await;
        page.click("#search-button").await;
        assert_eq!(listed(page).await, vec![declined.clone()]);
        assert!(!page.location().await.contains("same_span"));
    })
    .await;
}

#[tokio::test]
async fn the_dashboards_service_filter_narrows_the_table_and_the_charts() {
    in_shop(async |page, _shop| {
        page.goto("/dashboard").await;
        let services = page
            .wait_for(
                "the operations table",
                "const rows = document.querySelectorAll('#operations tbody tr');
                 return rows.length ? [...new Set([...rows].map(r => r.dataset.service))].sort() : null;",
            )
            .await;
        assert_eq!(
            services,
            json!(["backend", "bulk", "frontend", "ledger", "traced-program"])
        );

        page.choose("#service-filter", "backend").await;
        let backend_rows = "const rows = [...document.querySelectorAll('#operations tbody tr')];
             if (!rows.length || rows.some(r => r.dataset.service !== 'backend')) return null;
             return rows.map(r => r.dataset.name).sort();";
        let names = page.wait_for("the backend's rows", backend_rows).await;
        assert_eq!(
            names,
            json!(["POST /charge", "call ledger", "late.callback", "payment.authorize"])
        );
        assert!(page.location().await.contains("service=backend"));

        // The charts follow a backend name; its errors show as such.
        page.click("#operations tr[data-name='payment.authorize'] .op-name button")
            .await;
        page.wait_for(
            "both charts of payment.authorize",
            "return document.querySelector('#chart-name')?.textContent === 'payment.authorize'
               && document.querySelectorAll('#latency-chart circle.point').length > 0
               && document.querySelectorAll('#rate-chart rect.rate-bar.error').length > 0
               && document.querySelectorAll('#latency-chart text.axis-label').length > 0
               && document.querySelectorAll('#rate-chart text.axis-label').length > 0",
        )
        .await;
        let [latency, rate] = [
            text(page, "#latency-bucket").await,
            text(page, "#rate-bucket").await,
        ];
        assert_eq!(latency, rate, "one set of buckets for both charts");
        assert!(rate.contains(" buckets of "), "{rate}");

        // The URL keeps the filter and the name.
        page.reload().await;
        let names = page.wait_for("the backend's rows again", backend_rows).await;
        assert_eq!(names.as_array().map(Vec::len), Some(4));
        assert_eq!(
            page.js("return document.querySelector('#service-filter').value")
                .await,
            json!("backend")
        );
        page.wait_for(
            "the chart of payment.authorize again",
            "return document.querySelector('#chart-name')?.textContent === 'payment.authorize'",
        )
        .await;
        assert_no_csp_violations(page).await;
        page.js("document.getElementById('rate-chart').scrollIntoView(); return null;")
            .await;
        page.screenshot("dashboard-service-filter").await;

        page.choose("#service-filter", "").await;
        page.wait_for(
            "every service's rows",
            "return document.querySelectorAll('#operations tbody tr').length === 19",
        )
        .await;
        let location = page.location().await;
        assert!(
            !location.contains("?service=") && !location.contains("&service="),
            "{location}"
        );
    })
    .await;
}

/// `GET /items` of service `api` every two minutes over the last five hours,
/// one in ten failing, sent over HTTP.
fn five_hours_of_calls(collector: &CollectorProcess) -> usize {
    const SECOND: u64 = 1_000_000_000;
    let now = dapple::now_unix_nanos();
    let spans: Vec<proto::Span> = (0..150u64)
        .map(|i| {
            let start = now - 5 * 3_600 * SECOND + 60 * SECOND + i * 120 * SECOND;
            let mut trace_id = vec![0x7c; 16];
            trace_id[..8].copy_from_slice(&(i + 1).to_be_bytes());
            proto::Span {
                trace_id,
                span_id: i + 1,
                name: "GET /items".into(),
                kind: proto::SpanKind::Server as i32,
                start_unix_nanos: start,
                end_unix_nanos: start + (5 + i % 7) * 1_000_000,
                status: (i % 10 == 0).then(|| proto::Status {
                    code: proto::StatusCode::Error as i32,
                    message: "no items".into(),
                }),
                ..Default::default()
            }
        })
        .collect();
    let count = spans.len();
    let batch = proto::Batch {
        sequence: 1,
        spans,
        dropped_spans: 0,
        resource: Some(proto::Resource {
            service_name: "api".into(),
            ..Default::default()
        }),
    };
    let (status, body) = collector.post("/api/v1/spans", batch.encode_to_vec());
    assert_eq!((status, &body["stored"]), (200, &json!(count)), "{body}");
    count
}

#[tokio::test]
async fn the_rate_charts_buckets_follow_the_window_and_the_spans_in_it() {
    if driver().is_none() {
        return;
    }
    let collector = CollectorProcess::start(&["--store", "memory"]);
    five_hours_of_calls(&collector);
    in_browser(collector.http, async |page| {
        let label = async |window: &str| -> (String, u64) {
            let shown = page
                .wait_for(
                    &format!("the rate chart over {window}"),
                    &format!(
                        "if (document.querySelector('#window')?.value !== {window:?}) return null;
                         const label = document.querySelector('#rate-bucket');
                         return label && [label.textContent,
                           document.querySelectorAll('#rate-chart rect.rate-bar:not(.error)').length];"
                    ),
                )
                .await;
            serde_json::from_value::<(String, u64)>(shown).expect("a label and a count")
        };
        page.goto("/dashboard?window=15m&service=api").await;
        // Spans fill the window: 15 minutes in 10 s buckets, one call every 12.
        let (text, bars) = label("15m").await;
        assert!(text.ends_with(" buckets of 10 s"), "{text}");
        assert!((7..=8).contains(&bars), "{bars} bars in {text}");
        page.screenshot("dashboard-rate-15m").await;

        page.choose("#window", "1h").await;
        let (text, _) = label("1h").await;
        assert!(text.ends_with(" buckets of 30 s"), "{text}");

        // Five hours of spans in six: five-minute buckets from the oldest.
        page.choose("#window", "6h").await;
        let (text, bars) = label("6h").await;
        assert!(text.ends_with(" buckets of 5 min"), "{text}");
        let buckets: u64 = text.split(' ').next().unwrap().parse().unwrap();
        assert!((60..=61).contains(&buckets), "{text}");
        assert!(bars >= 59, "{bars} bars in {text}");

        // The same spans in a week: the same buckets, not 84 of two hours
        // with all the calls in the last few.
        page.choose("#window", "7d").await;
        let (text, _) = label("7d").await;
        assert!(text.ends_with(" buckets of 5 min"), "{text}");
        let errors = page
            .js("return document.querySelectorAll('#rate-chart rect.rate-bar.error').length")
            .await;
        assert_eq!(errors, json!(15), "one call in ten failed, each alone in its bucket");
        assert_no_csp_violations(page).await;
        page.screenshot("dashboard-rate-7d").await;
        assert_eq!(
            page.location().await,
            "/dashboard?window=7d&service=api&name=GET+%2Fitems"
        );
    })
    .await;
}
