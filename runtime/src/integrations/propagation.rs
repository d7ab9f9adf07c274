//! Carrying a span context across processes in HTTP headers: W3C Trace
//! Context (`traceparent`, `tracestate`), B3 single (`b3`) and multi
//! (`X-B3-*`) headers, and Appdash's `Span-ID` / `Parent-Span-ID`.
//!
//! Reading is lenient about which format arrives and strict about each
//! format's rules: a malformed header is ignored (the request starts a new
//! trace), never a panic.
//!
//! ```
//! use dapple::propagation::{self, Propagator};
//! use dapple::{SpanContext, SpanId, TraceId};
//!
//! let context = SpanContext::new(TraceId::random(), SpanId::random(), true);
//! let mut headers = http::HeaderMap::new();
//! Propagator::default().inject(&context, None, &mut headers);
//! let remote = propagation::extract(&headers).unwrap();
//! assert_eq!(remote.context, context);
//! ```

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::context::SpanContext;
use crate::id::{SpanId, TraceId};

// The header names read and written, made once: looked up by `&str`, a
// name is parsed again on every lookup.
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
static B3: HeaderName = HeaderName::from_static("b3");
static X_B3_TRACEID: HeaderName = HeaderName::from_static("x-b3-traceid");
static X_B3_SPANID: HeaderName = HeaderName::from_static("x-b3-spanid");
static X_B3_SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
static X_B3_FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");
static SPAN_ID: HeaderName = HeaderName::from_static("span-id");
static PARENT_SPAN_ID: HeaderName = HeaderName::from_static("parent-span-id");

/// A header format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// W3C Trace Context: `traceparent` and `tracestate`.
    W3c,
    /// B3 in one header: `b3: trace-span-sampled-parent`.
    B3Single,
    /// B3 in several headers: `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`...
    B3Multi,
    /// Appdash: `Span-ID: trace/span[/parent]` or `Parent-Span-ID`.
    Appdash,
}

/// A context received from another process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// The caller's span: make it the parent of the span handling the request.
    pub context: SpanContext,
    /// The W3C `tracestate` to pass on, already within the spec's limits.
    pub tracestate: Option<String>,
}

/// Which formats to read and to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Propagator {
    /// Read in this order; the first format present and valid wins.
    pub read: Vec<Format>,
    /// Written on every outgoing request.
    pub write: Vec<Format>,
}

impl Default for Propagator {
    /// Reads all formats (W3C first), writes W3C.
    fn default() -> Propagator {
        Propagator {
            read: vec![
                Format::W3c,
                Format::B3Single,
                Format::B3Multi,
                Format::Appdash,
            ],
            write: vec![Format::W3c],
        }
    }
}

/// Reads a context with the default propagator.
pub fn extract(headers: &HeaderMap) -> Option<Remote> {
    Propagator::default().extract(headers)
}

/// Writes a context with the default propagator.
pub fn inject(context: &SpanContext, headers: &mut HeaderMap) {
    Propagator::default().inject(context, None, headers);
}

impl Propagator {
    /// The context the headers carry, in the first readable format.
    pub fn extract(&self, headers: &HeaderMap) -> Option<Remote> {
        if !carries_context(headers) {
            return None;
        }
        self.read.iter().find_map(|format| match format {
            Format::W3c => {
                let context = parse_traceparent(single(headers, &TRACEPARENT)?)?;
                Some(Remote {
                    context,
                    tracestate: tracestate(headers),
                })
            }
            Format::B3Single => parse_b3(single(headers, &B3)?).map(remote),
            Format::B3Multi => b3_multi(headers).map(remote),
            Format::Appdash => single(headers, &SPAN_ID)
                .or_else(|| single(headers, &PARENT_SPAN_ID))
                .and_then(parse_appdash)
                .map(remote),
        })
    }

    /// Writes `context` (and `tracestate`, for W3C) in every write format.
    pub fn inject(&self, context: &SpanContext, tracestate: Option<&str>, headers: &mut HeaderMap) {
        let trace = context.trace_id();
        let span = context.span_id();
        let sampled = context.is_sampled();
        for format in &self.write {
            match format {
                Format::W3c => {
                    set(headers, &TRACEPARENT, format_traceparent(context));
                    if let Some(state) = tracestate.and_then(|s| limit_tracestate(&[s])) {
                        set(headers, &TRACESTATE, state);
                    }
                }
                Format::B3Single => {
                    set(
                        headers,
                        &B3,
                        format!("{trace}-{span}-{}", u8::from(sampled)),
                    );
                }
                Format::B3Multi => {
                    set(headers, &X_B3_TRACEID, trace.to_string());
                    set(headers, &X_B3_SPANID, span.to_string());
                    set(headers, &X_B3_SAMPLED, u8::from(sampled).to_string());
                }
                Format::Appdash => {
                    set(
                        headers,
                        &SPAN_ID,
                        format!("{:016x}/{span}", appdash_trace(trace)),
                    );
                }
            }
        }
    }
}

fn remote(context: SpanContext) -> Remote {
    Remote {
        context,
        tracestate: None,
    }
}

/// The names whose presence may carry a context in some format.
static CONTEXT_NAMES: [&HeaderName; 5] =
    [&TRACEPARENT, &B3, &X_B3_TRACEID, &SPAN_ID, &PARENT_SPAN_ID];

/// Whether any header can carry a context. Most requests carry none, and one
/// pass over their few names costs less than a hashed lookup per format.
fn carries_context(headers: &HeaderMap) -> bool {
    headers.keys().any(|name| CONTEXT_NAMES.contains(&name))
}

fn set(headers: &mut HeaderMap, name: &HeaderName, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(name.clone(), value);
    }
}

/// The header's value when it appears once and is text.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok().map(str::trim)
}

fn lower_hex(text: &str, digits: usize) -> Option<u128> {
    crate::id::parse_hex(text, digits).ok()
}

/// Parses a `traceparent` value by the W3C rules: lowercase hex, version
/// `ff` invalid, all-zero ids invalid, version `00` exactly four fields,
/// later versions read by their first four; flag bits other than sampled
/// ignored.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let mut parts = value.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let version = lower_hex(version, 2)? as u8;
    if version == 0xff || (version == 0 && parts.next().is_some()) {
        return None;
    }
    let trace_id = TraceId::new(lower_hex(trace, 32)?)?;
    let span_id = SpanId::new(lower_hex(parent, 16)? as u64)?;
    let flags = lower_hex(flags, 2)? as u8;
    Some(SpanContext::new(trace_id, span_id, flags & 1 == 1))
}

/// The `traceparent` value of a context: version 00, only the sampled flag.
pub fn format_traceparent(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        u8::from(context.is_sampled())
    )
}

/// The `tracestate` headers combined, or `None` when any member is
/// malformed or there are more than 32: the spec says to discard it whole.
fn tracestate(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(&TRACESTATE)
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<_>>()?;
    limit_tracestate(&values)
}

fn valid_member(member: &str) -> bool {
    let Some((key, value)) = member.split_once('=') else {
        return false;
    };
    let key_ok = !key.is_empty()
        && key.len() <= 256
        && key
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@'));
    let value_ok = !value.is_empty()
        && value.len() <= 256
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && !value.ends_with(' ');
    key_ok && value_ok
}

/// Joins, checks and trims a `tracestate` to the spec's limits: at most 32
/// members, and members dropped from the end until it fits in 512 bytes.
fn limit_tracestate(values: &[&str]) -> Option<String> {
    let members: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    if members.is_empty() || members.len() > 32 || !members.iter().all(|m| valid_member(m)) {
        return None;
    }
    let mut kept = members.join(",");
    let mut count = members.len();
    while kept.len() > 512 && count > 1 {
        count -= 1;
        kept = members[..count].join(",");
    }
    (kept.len() <= 512).then_some(kept)
}

/// A B3 trace id: 16 or 32 lowercase hex digits.
fn b3_trace(text: &str) -> Option<TraceId> {
    let value = match text.len() {
        16 => lower_hex(text, 16)?,
        32 => lower_hex(text, 32)?,
        _ => return None,
    };
    TraceId::new(value)
}

fn b3_span(text: &str) -> Option<SpanId> {
    SpanId::new(lower_hex(text, 16)? as u64)
}

/// `b3: trace-span[-sampled[-parent]]`. A bare sampling decision (`0`, `1`,
/// `d`) carries no ids, so it starts a new trace.
pub fn parse_b3(value: &str) -> Option<SpanContext> {
    let parts: Vec<&str> = value.split('-').collect();
    if !(2..=4).contains(&parts.len()) {
        return None;
    }
    let trace = b3_trace(parts[0])?;
    let span = b3_span(parts[1])?;
    let sampled = match parts.get(2) {
        None => true,
        Some(&"1") | Some(&"d") => true,
        Some(&"0") => false,
        Some(_) => return None,
    };
    if let Some(parent) = parts.get(3) {
        b3_span(parent)?;
    }
    Some(SpanContext::new(trace, span, sampled))
}

fn b3_multi(headers: &HeaderMap) -> Option<SpanContext> {
    let trace = b3_trace(single(headers, &X_B3_TRACEID)?)?;
    let span = b3_span(single(headers, &X_B3_SPANID)?)?;
    let debug = single(headers, &X_B3_FLAGS) == Some("1");
    let sampled = match single(headers, &X_B3_SAMPLED) {
        None => true,
        Some("1") | Some("true") => true,
        Some("0") | Some("false") => debug,
        Some(_) => return None,
    };
    Some(SpanContext::new(trace, span, sampled))
}

/// The 64 bits of a trace id an Appdash header carries: its low half, or
/// its high half when the low half is zero (Appdash reads a zero trace id
/// as none, which would end the trace at the next service).
fn appdash_trace(trace: TraceId) -> u64 {
    let id = trace.to_u128();
    match id as u64 {
        0 => (id >> 64) as u64,
        low => low,
    }
}

/// Appdash's `trace/span[/parent]`, 16 lowercase hex digits each.
pub fn parse_appdash(value: &str) -> Option<SpanContext> {
    let parts: Vec<&str> = value.split('/').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let trace = TraceId::new(lower_hex(parts[0], 16)?)?;
    let span = b3_span(parts[1])?;
    if let Some(parent) = parts.get(2) {
        b3_span(parent)?;
    }
    Some(SpanContext::new(trace, span, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_w3c_example_parses_and_formats_back() {
        let value = format!("00-{TRACE}-{SPAN}-01");
        let context = parse_traceparent(&value).unwrap();
        assert_eq!(context.trace_id().to_string(), TRACE);
        assert_eq!(context.span_id().to_string(), SPAN);
        assert!(context.is_sampled());
        assert_eq!(format_traceparent(&context), value);
        assert!(
            !parse_traceparent(&format!("00-{TRACE}-{SPAN}-00"))
                .unwrap()
                .is_sampled()
        );
    }

    #[test]
    fn w3c_rules_refuse_what_the_spec_refuses() {
        for bad in [
            format!("ff-{TRACE}-{SPAN}-01"),                  // version ff
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()), // uppercase
            format!("00-{}-{SPAN}-01", "0".repeat(32)),       // zero trace id
            format!("00-{TRACE}-{}-01", "0".repeat(16)),      // zero parent id
            format!("00-{TRACE}-{SPAN}-01-extra"),            // version 00 has 4 fields
            format!("00-{}-{SPAN}-01", &TRACE[1..]),          // short trace id
            format!("00-{TRACE}-{}-01", &SPAN[1..]),          // short parent id
            format!("0-{TRACE}-{SPAN}-01"),                   // short version
            format!("00-{TRACE}-{SPAN}-1"),                   // short flags
            format!("00-{TRACE}-{SPAN}-0g"),                  // not hex
            format!("00_{TRACE}_{SPAN}_01"),                  // wrong separator
            String::new(),
        ] {
            assert_eq!(parse_traceparent(&bad), None, "{bad}");
        }
    }

    #[test]
    fn later_versions_and_unknown_flags_are_read_leniently() {
        let future = format!("cc-{TRACE}-{SPAN}-09-what-the-future-will-be-like");
        let context = parse_traceparent(&future).unwrap();
        assert!(context.is_sampled(), "bit 0 of 09 is set");
        assert_eq!(
            format_traceparent(&context),
            format!("00-{TRACE}-{SPAN}-01"),
            "unknown flag bits are not forwarded"
        );
    }

    #[test]
    fn tracestate_is_kept_within_its_limits() {
        let parent = format!("00-{TRACE}-{SPAN}-01");
        let ok = extract(&headers(&[
            ("traceparent", &parent),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("tracestate", "rojo=00f067aa0ba902b7"),
        ]))
        .unwrap();
        assert_eq!(
            ok.tracestate.as_deref(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        );
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        let too_many = extract(&headers(&[
            ("traceparent", &parent),
            ("tracestate", &many.join(",")),
        ]))
        .unwrap();
        assert_eq!(too_many.tracestate, None, "more than 32 members: discarded");
        let bad = extract(&headers(&[
            ("traceparent", &parent),
            ("tracestate", "Bad Key=1"),
        ]))
        .unwrap();
        assert_eq!(bad.tracestate, None);
        let long: Vec<String> = (0..32)
            .map(|i| format!("k{i:02}={}", "v".repeat(20)))
            .collect();
        let trimmed = limit_tracestate(&[&long.join(",")]).unwrap();
        assert!(trimmed.len() <= 512 && trimmed.starts_with("k00="));
    }

    #[test]
    fn b3_single_and_multi_are_read() {
        let single = extract(&headers(&[("b3", &format!("{TRACE}-{SPAN}-1-{SPAN}"))])).unwrap();
        assert_eq!(single.context.span_id().to_string(), SPAN);
        let short = parse_b3(&format!("{}-{SPAN}-0", &TRACE[16..])).unwrap();
        assert_eq!(
            short.trace_id().to_string(),
            format!("{}{}", "0".repeat(16), &TRACE[16..])
        );
        assert!(!short.is_sampled());
        for bad in ["0", "1", "d", "abc-def", &format!("{TRACE}-{SPAN}-2")] {
            assert_eq!(parse_b3(bad), None, "{bad}");
        }
        let multi = extract(&headers(&[
            ("x-b3-traceid", TRACE),
            ("x-b3-spanid", SPAN),
            ("x-b3-sampled", "0"),
        ]))
        .unwrap();
        assert!(!multi.context.is_sampled());
        let debug = b3_multi(&headers(&[
            ("x-b3-traceid", TRACE),
            ("x-b3-spanid", SPAN),
            ("x-b3-sampled", "0"),
            ("x-b3-flags", "1"),
        ]))
        .unwrap();
        assert!(debug.is_sampled(), "debug means sampled");
    }

    #[test]
    fn appdash_span_ids_are_read() {
        let context = extract(&headers(&[(
            "span-id",
            "0123456789abcdef/00f067aa0ba902b7/1111111111111111",
        )]))
        .unwrap()
        .context;
        assert_eq!(context.trace_id().to_u128(), 0x0123_4567_89ab_cdef);
        assert_eq!(context.span_id().to_string(), SPAN);
        let parent = extract(&headers(&[(
            "parent-span-id",
            "0123456789abcdef/00f067aa0ba902b7",
        )]))
        .unwrap();
        assert_eq!(parent.context.span_id().to_string(), SPAN);
        assert_eq!(parse_appdash("xyz/00f067aa0ba902b7"), None);
    }

    #[test]
    fn an_appdash_header_carries_a_trace_id_whose_low_half_is_zero() {
        // Found by fuzz/fuzz_targets/propagation.rs: the header written was
        // `0000000000000000/...`, which no reader takes for a trace.
        let high_only = TraceId::new(1 << 64).unwrap();
        let context = SpanContext::new(high_only, SpanId::new(7).unwrap(), true);
        let appdash = Propagator {
            read: vec![Format::Appdash],
            write: vec![Format::Appdash],
        };
        let mut map = HeaderMap::new();
        appdash.inject(&context, None, &mut map);
        assert_eq!(map["span-id"], "0000000000000001/0000000000000007");
        assert_eq!(
            appdash.extract(&map).unwrap().context.trace_id().to_u128(),
            1
        );
    }

    #[test]
    fn a_context_is_found_among_other_headers_and_none_without_one() {
        let traceparent = format!("00-{TRACE}-{SPAN}-01");
        let mut pairs = vec![
            ("host", "example.com"),
            ("user-agent", "test"),
            ("x-request-id", "abc"),
            ("accept", "*/*"),
        ];
        assert_eq!(extract(&headers(&pairs)), None);
        pairs.push(("traceparent", &traceparent));
        let remote = extract(&headers(&pairs)).unwrap();
        assert_eq!(remote.context.span_id().to_string(), SPAN);
    }

    #[test]
    fn malformed_headers_of_every_format_start_a_new_trace() {
        let garbage = headers(&[
            ("traceparent", "00-not-a-trace-01"),
            ("b3", "nope"),
            ("x-b3-traceid", "zz"),
            ("x-b3-spanid", SPAN),
            ("span-id", "1/2/3"),
        ]);
        assert_eq!(extract(&garbage), None);
        let mut twice = HeaderMap::new();
        let value = format!("00-{TRACE}-{SPAN}-01");
        twice.append("traceparent", HeaderValue::from_str(&value).unwrap());
        twice.append("traceparent", HeaderValue::from_str(&value).unwrap());
        assert_eq!(
            extract(&twice),
            None,
            "two traceparent headers are ambiguous"
        );
        let mut binary = HeaderMap::new();
        binary.insert("traceparent", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(extract(&binary), None);
    }

    #[test]
    fn every_format_round_trips() {
        let context = SpanContext::new(TraceId::random(), SpanId::random(), false);
        for format in [Format::W3c, Format::B3Single, Format::B3Multi] {
            let propagator = Propagator {
                read: vec![format],
                write: vec![format],
            };
            let mut map = HeaderMap::new();
            propagator.inject(&context, Some("a=b"), &mut map);
            assert_eq!(
                propagator.extract(&map).unwrap().context,
                context,
                "{format:?}"
            );
        }
        let appdash = Propagator {
            read: vec![Format::Appdash],
            write: vec![Format::Appdash],
        };
        let mut map = HeaderMap::new();
        appdash.inject(&context, None, &mut map);
        let back = appdash.extract(&map).unwrap().context;
        assert_eq!(back.span_id(), context.span_id());
        assert_eq!(
            back.trace_id().to_u128(),
            context.trace_id().to_u128() as u64 as u128
        );
    }
}
