//! The UI behind the collector's guards: every page drawn under its
//! Content-Security-Policy (`default-src 'self'`: no inline script or style,
//! no style attribute), and a collector started with `--read-token-file`,
//! whose API the UI reaches once the user gives it a read token.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::browser::{Page, TempDir};
use crate::shop::driver;
use crate::support::{CollectorProcess, printed_trace_id, run_traced_program};
use crate::{in_browser, in_shop, listed, waterfall};

/// What the page's policy blocked so far (`app.js` records each violation).
async fn csp_violations(page: &Page) -> Value {
    page.js("return window.__cspViolations ?? 'app.js did not run'")
        .await
}

#[tokio::test]
async fn every_page_draws_under_the_content_security_policy() {
    in_shop(async |page, shop| {
        // Each page, what shows it drew, and an element whose place and
        // colour the script set (through the CSSOM, which the policy allows).
        let pages = [
            ("search", "/search".to_owned(), "#trace-list tbody tr", "#results .swatch"),
            ("trace", format!("/trace/{}", shop.checkouts[0]), "#waterfall .wf-row", "#waterfall .wf-bar"),
            ("dashboard", "/dashboard".to_owned(), "#latency-chart circle.point", "#operations .swatch"),
            ("graph", "/graph".to_owned(), "#service-graph g.node", "#service-graph g.node rect"),
        ];
        for (name, path, drawn, styled) in pages {
            page.goto(&path).await;
            page.element(drawn).await;
            if name == "trace" {
                page.click(".wf-row[data-name='db.query']").await;
                page.element("#detail-attributes").await;
            }
            let style = page
                .js(&format!("return document.querySelector({styled:?}).style.cssText"))
                .await;
            assert!(
                style.as_str().is_some_and(|s| !s.is_empty()),
                "{path}: {styled} has no style of its own: {style}"
            );
            assert_eq!(
                page.js("return document.getElementById('token-form') === null").await,
                json!(true),
                "{path}: no token asked for without --read-token-file"
            );
            assert_eq!(csp_violations(page).await, json!([]), "{path}");
            page.screenshot(&format!("csp-{name}")).await;
        }
        // And the policy is in force: what it forbids, the page records.
        page.js("document.getElementById('main').setAttribute('style', 'outline: 1px solid red'); return null;")
            .await;
        page.wait_for(
            "a style attribute refused (does the collector send Content-Security-Policy?)",
            "return window.__cspViolations.some(v => v.startsWith('style-src'))",
        )
        .await;
    })
    .await;
}

const READ_TOKEN: &str = "reader-4f1c2a9e7b3d";

/// `GET path` on the API with `token` as the bearer: the status.
fn api_status(collector: &CollectorProcess, path: &str, token: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(&format!("http://{}{path}", collector.http));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    request
        .call()
        .expect("the collector answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_read_token_is_asked_for_once_per_tab() {
    if driver().is_none() {
        return;
    }
    let files = TempDir::new("tokens");
    let token_file = files.path().join("read-tokens");
    std::fs::write(&token_file, format!("# who may read\n\n{READ_TOKEN}\n")).unwrap();
    let collector = CollectorProcess::start(&[
        "--store",
        "memory",
        "--read-token-file",
        token_file.to_str().expect("a UTF-8 path"),
    ]);
    let output = run_traced_program(&collector.native.to_string(), &[], 10);
    assert!(output.status.success(), "the traced program runs");
    let trace_id = printed_trace_id(&output);
    let trace = format!("/api/traces/{trace_id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while api_status(&collector, &trace, Some(READ_TOKEN)) != 200 {
        assert!(
            Instant::now() < deadline,
            "the trace never reached the collector"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        api_status(&collector, &trace, None),
        401,
        "the API wants the token"
    );

    in_browser(collector.http, async |page| {
        page.goto("/search").await;
        let form = page.element("#token-form").await.text().await.unwrap();
        assert!(form.contains("Read token needed") && !form.contains("refused"), "{form}");
        let shown = page
            .js("const input = document.getElementById('read-token');
                 return { type: input.type, label: input.closest('label').textContent.trim(),
                   pageHidden: document.getElementById('main').hidden };")
            .await;
        assert_eq!(
            shown,
            json!({"type": "password", "label": "Read token", "pageHidden": true}),
            "a password field stands in for the page"
        );
        page.screenshot("read-token-asked").await;

        page.fill("#read-token", "not-the-token").await;
        page.click("#token-submit").await;
        let message = page
            .wait_for(
                "the refusal",
                "const m = document.getElementById('token-message')?.textContent;
                 return m && m.includes('refused') && m;",
            )
            .await;
        assert!(message.as_str().unwrap().starts_with("Token refused"), "{message}");
        page.screenshot("read-token-refused").await;

        page.fill("#read-token", READ_TOKEN).await;
        page.click("#token-submit").await;
        assert_eq!(listed(page).await, vec![trace_id.clone()]);
        assert_eq!(
            page.js("return [document.getElementById('token-form'), document.getElementById('main').hidden]")
                .await,
            json!([null, false])
        );
        page.screenshot("read-token-accepted").await;

        // Another page in the same tab: the token goes along, unasked.
        page.goto(&format!("/trace/{trace_id}")).await;
        assert_eq!(waterfall(page).await[0].0, "program.main");
        assert_eq!(
            page.js("return document.getElementById('token-form')").await,
            Value::Null
        );
        assert_eq!(csp_violations(page).await, json!([]));
    })
    .await;
}
