//! A shop of three instrumented services for the web UI's browser tests, each
//! service its own process: every page of the UI gets real data (nesting
//! across processes, errors, attributes, events, a span whose parent never
//! arrives).
//!
//! `ui_fixture frontend N` records N checkout traces and prints `trace ID`
//! for each. A checkout calls `ui_fixture backend TRACEPARENT I` (run with
//! `DAPPLE_SERVICE=backend`), which calls `ui_fixture ledger TRACEPARENT`
//! (`DAPPLE_SERVICE=ledger`): the caller's span context crosses each process
//! boundary as a W3C `traceparent` value, as it would in an HTTP header.
//! Checkout 1 is declined: its `payment.authorize` and `POST /charge` spans
//! fail.
//!
//! `ui_fixture wide N` records one trace of N spans (a root, batches of 100
//! items) and prints `trace ID`.
//!
//! Each process reports to `DAPPLE_ENDPOINT` and exits non-zero if a span
//! was not delivered.

use std::process::{Command, ExitCode};
use std::time::Duration;

use dapple::propagation::{format_traceparent, parse_traceparent};
use dapple::{KeyValue, Span, SpanContext, SpanId, SpanKind, traced};

const FLUSH: Duration = Duration::from_secs(10);

/// One checkout, the root of a trace: returns its trace id.
fn checkout(index: u32) -> String {
    let mut span = Span::root("GET /checkout");
    span.set_kind(SpanKind::Server);
    span.set_attribute("http.request.method", "GET");
    span.set_attribute("url.path", "/checkout");
    span.set_attribute("customer.tier", if index == 0 { "gold" } else { "silver" });
    span.set_attribute("order.index", i64::from(index));
    let trace_id = span
        .context()
        .expect("a collector is set, so the root records")
        .trace_id()
        .to_string();
    let _entered = span.enter();
    auth_check();
    load_cart(3);
    let status = call("backend", &[&index.to_string()]);
    dapple::with_current_span(|s| s.set_attribute("http.response.status_code", status));
    trace_id
}

#[traced(name = "auth.check")]
fn auth_check() {
    std::thread::sleep(Duration::from_millis(1));
}

#[traced(name = "cart.load", args(items))]
fn load_cart(items: i64) {
    query_cart(items);
}

#[traced(name = "db.query")]
fn query_cart(rows: i64) {
    dapple::with_current_span(|s| {
        s.set_attribute("db.system", "sqlite");
        s.set_attribute("db.query.text", "SELECT * FROM cart WHERE user_id = ?");
    });
    std::thread::sleep(Duration::from_millis(2));
    dapple::with_current_span(|s| s.add_event("rows fetched", [KeyValue::new("rows", rows)]));
}

/// Runs `service` as a child process under a client span, passing the span's
/// context; returns the HTTP-like status the child printed (500 when it failed).
fn call(service: &'static str, args: &[&str]) -> i64 {
    let mut span = Span::new(format!("call {service}"));
    span.set_kind(SpanKind::Client);
    span.set_attribute("peer.service", service);
    let Some(context) = span.context() else {
        return 500;
    };
    let _entered = span.enter();
    let output = Command::new(std::env::current_exe().expect("this program's path"))
        .arg(service)
        .arg(format_traceparent(&context))
        .args(args)
        .env("DAPPLE_SERVICE", service)
        .output();
    match output {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("status ")?.parse().ok())
            .unwrap_or(200),
        Ok(output) => {
            eprint!("{}", String::from_utf8_lossy(&output.stderr));
            500
        }
        Err(e) => {
            eprintln!("ui_fixture: cannot run {service}: {e}");
            500
        }
    }
}

/// The backend's handler: a child of the frontend's client span.
fn charge(parent: SpanContext, index: u32) -> i64 {
    let mut span = Span::child_of("POST /charge", parent);
    span.set_kind(SpanKind::Server);
    span.set_attribute("http.request.method", "POST");
    span.set_attribute("url.path", "/charge");
    let approved = {
        let _entered = span.enter();
        let approved = authorize(index);
        if approved {
            call("ledger", &[]);
        }
        late_callback(parent);
        approved
    };
    let status = if approved { 200 } else { 402 };
    span.set_attribute("http.response.status_code", status);
    if !approved {
        span.set_error("payment declined");
    }
    status
}

#[traced(name = "payment.authorize", args(index))]
fn authorize(index: u32) -> bool {
    std::thread::sleep(Duration::from_millis(2));
    let declined = index == 1;
    dapple::with_current_span(|s| {
        s.set_attribute("payment.provider", "acme-pay");
        if declined {
            s.add_event("retry", [KeyValue::new("attempt", 2_i64)]);
            s.set_error("card declined");
            // What retroactive sampling writes on the span that kept it.
            s.set_attribute(dapple::KEPT_BY, "error");
        }
    });
    !declined
}

/// A span whose parent never reaches the collector, as when the process that
/// started the parent crashed.
fn late_callback(parent: SpanContext) {
    let lost = SpanContext::new(parent.trace_id(), SpanId::random(), true);
    let mut span = Span::child_of("late.callback", lost);
    span.set_attribute("callback.kind", "webhook");
}

/// The ledger's handler: a child of the backend's client span.
fn ledger(parent: SpanContext) {
    let mut span = Span::child_of("ledger.write", parent);
    span.set_kind(SpanKind::Server);
    span.set_attribute("ledger.account", "acct-7");
    let _entered = span.enter();
    fsync();
}

#[traced(name = "fsync")]
fn fsync() {
    std::thread::sleep(Duration::from_millis(1));
}

/// One trace of `spans` spans: a root, then batches of up to 100 items.
fn wide(spans: usize) -> String {
    let mut root = Span::root("bulk.import");
    let trace_id = root
        .context()
        .expect("a collector is set, so the root records")
        .trace_id()
        .to_string();
    let _entered = root.enter();
    let mut left = spans.saturating_sub(1);
    let mut batch_index = 0_i64;
    while left > 0 {
        let mut batch = Span::new("bulk.batch");
        batch.set_attribute("batch.index", batch_index);
        let _in_batch = batch.enter();
        left -= 1;
        let items = left.min(100);
        for item in 0..items {
            let mut span = Span::new("bulk.item");
            span.set_attribute("item.index", item as i64);
        }
        left -= items;
        batch_index += 1;
    }
    trace_id
}

fn main() -> ExitCode {
    let config = match dapple::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ui_fixture: {e}");
            return ExitCode::from(2);
        }
    };
    let guard = dapple::init(config.with_flush_timeout(FLUSH));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let parent = || parse_traceparent(arg(1));
    match arg(0) {
        "frontend" => {
            for index in 0..arg(1).parse().unwrap_or(3) {
                println!("trace {}", checkout(index));
            }
        }
        "backend" => match parent() {
            Some(parent) => println!("status {}", charge(parent, arg(2).parse().unwrap_or(0))),
            None => {
                eprintln!("ui_fixture backend: {:?} is not a traceparent", arg(1));
                return ExitCode::from(2);
            }
        },
        "ledger" => match parent() {
            Some(parent) => ledger(parent),
            None => {
                eprintln!("ui_fixture ledger: {:?} is not a traceparent", arg(1));
                return ExitCode::from(2);
            }
        },
        "wide" => println!("trace {}", wide(arg(1).parse().unwrap_or(10_000))),
        other => {
            eprintln!("usage: ui_fixture frontend N | wide N (not {other:?})");
            return ExitCode::from(2);
        }
    }
    let undelivered = guard.flush(FLUSH);
    if undelivered > 0 {
        eprintln!("ui_fixture: {undelivered} spans undelivered");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
