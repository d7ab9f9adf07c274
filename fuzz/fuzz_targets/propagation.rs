//! Reading a span context from HTTP headers (`dapple::propagation`): W3C
//! `traceparent` and `tracestate`, B3 single (`b3`) and multi (`X-B3-*`),
//! and Appdash's `Span-ID` / `Parent-Span-ID`. The input is lines of
//! `name:value`, each appended to a `HeaderMap` (names and values the
//! `http` crate refuses are left out; names may repeat).
//!
//! Checks: no panic, no unbounded work; the default propagator reads what
//! the first format that reads anything reads; whatever is read, written
//! back in any format, reads back as the same context (Appdash keeps 64
//! bits of the trace id and no sampling decision) and the same tracestate.

#![no_main]

use dapple::SpanContext;
use dapple::propagation::{self, Format, Propagator, Remote};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

const FORMATS: [Format; 4] = [
    Format::W3c,
    Format::B3Single,
    Format::B3Multi,
    Format::Appdash,
];

fn only(format: Format) -> Propagator {
    Propagator {
        read: vec![format],
        write: vec![format],
    }
}

/// Writes `remote` in `format` and reads it back in that format.
fn round_trip(remote: &Remote, format: Format) {
    let propagator = only(format);
    let mut headers = HeaderMap::new();
    propagator.inject(&remote.context, remote.tracestate.as_deref(), &mut headers);
    let back = propagator.extract(&headers).unwrap_or_else(|| {
        panic!("{remote:?} written as {format:?} is not read back: {headers:?}")
    });
    let context = remote.context;
    match format {
        Format::W3c => {
            assert_eq!(back.context, context, "{headers:?}");
            assert_eq!(back.tracestate, remote.tracestate, "{headers:?}");
        }
        Format::B3Single | Format::B3Multi => {
            assert_eq!(back.context, context, "{headers:?}");
            assert_eq!(back.tracestate, None);
        }
        Format::Appdash => {
            // 64 bits of the trace id: its low half (its high half when
            // the low half is zero); always sampled.
            let id = context.trace_id().to_u128();
            let half = match id as u64 {
                0 => id >> 64,
                low => u128::from(low),
            };
            assert_eq!(back.context.trace_id().to_u128(), half, "{headers:?}");
            assert_eq!(back.context.span_id(), context.span_id());
            assert!(back.context.is_sampled());
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in input.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(&line[colon + 1..]),
        ) else {
            continue;
        };
        headers.append(name, value);
    }

    let read: Vec<Option<Remote>> = FORMATS
        .iter()
        .map(|format| only(*format).extract(&headers))
        .collect();
    let default = propagation::extract(&headers);
    assert_eq!(default, read.iter().flatten().next().cloned());

    for remote in read.iter().flatten() {
        for format in FORMATS {
            round_trip(remote, format);
        }
    }
    if let Some(remote) = default {
        let mut headers = HeaderMap::new();
        propagation::inject(&remote.context, &mut headers);
        let back: Option<SpanContext> = propagation::extract(&headers).map(|r| r.context);
        assert_eq!(back, Some(remote.context));
    }

    // The parsers on their own, on every value given.
    for value in headers.values().filter_map(|v| v.to_str().ok()) {
        if let Some(context) = propagation::parse_traceparent(value) {
            let text = propagation::format_traceparent(&context);
            assert_eq!(propagation::parse_traceparent(&text), Some(context));
        }
        propagation::parse_b3(value);
        propagation::parse_appdash(value);
    }
});
