//! The HTTP query API (`http::router`) over a store holding three traces
//! across three services: a GET whose path and query string come from the
//! input. The first byte picks the endpoint, the rest follows it:
//!
//! - `0`: `/api/traces?` + rest
//! - `1`: `/api/traces/` + rest (a trace id, then maybe a query)
//! - `2`: `/api/services` + rest
//! - `3`: `/api/services/` + rest up to `?` + `/names` + the rest
//! - `4`: `/api/aggregates?` + rest
//! - `5`: `/api/aggregates/series?` + rest
//! - `6`: `/api/dependencies?` + rest
//! - `7`: rest as the whole path (the UI's pages, anything else)
//!
//! (the byte is taken modulo 8, so the digits `0` to `7` pick in order.)
//!
//! Checks: no panic, no unbounded work (every limit and window the API
//! takes is bounded); no 5xx answer: a bad request is the client's fault.

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use dapple_fuzz::{query_router, respond, sample_spans, store};
use libfuzzer_sys::fuzz_target;

/// The router, over spans that started moments before the first input.
fn router() -> axum::Router {
    static ROUTER: OnceLock<axum::Router> = OnceLock::new();
    ROUTER
        .get_or_init(|| {
            let store = store();
            store
                .insert(sample_spans(dapple::now_unix_nanos()))
                .unwrap();
            query_router(store)
        })
        .clone()
}

fuzz_target!(|input: &[u8]| {
    let Some((&choice, rest)) = input.split_first() else {
        return;
    };
    let mut uri: Vec<u8> = match choice % 8 {
        0 => b"/api/traces?".to_vec(),
        1 => b"/api/traces/".to_vec(),
        2 => b"/api/services".to_vec(),
        3 => {
            let end = rest.iter().position(|b| *b == b'?').unwrap_or(rest.len());
            let mut uri = b"/api/services/".to_vec();
            uri.extend_from_slice(&rest[..end]);
            uri.extend_from_slice(b"/names");
            uri.extend_from_slice(&rest[end..]);
            uri
        }
        4 => b"/api/aggregates?".to_vec(),
        5 => b"/api/aggregates/series?".to_vec(),
        6 => b"/api/dependencies?".to_vec(),
        _ => Vec::new(),
    };
    if choice % 8 != 3 {
        uri.extend_from_slice(rest);
    }
    // A URI that `http` refuses never reaches the router.
    let Ok(request) = Request::get(&uri[..]).body(Body::empty()) else {
        return;
    };
    let (status, answer) = respond(router(), request);
    assert!(
        !status.is_server_error(),
        "GET {} answered {status}: {}",
        String::from_utf8_lossy(&uri),
        String::from_utf8_lossy(&answer)
    );
});
