//! The spans the collector benchmarks send: traces shaped like a traced
//! program's (a root with one argument and [`LEAVES`] leaves with two), with
//! ids that differ from trace to trace.

use dapple_proto::{self as proto, any_value};

/// Leaves under each root.
pub const LEAVES: u64 = 99;

/// A 64-bit mix (splitmix64's finaliser): distinct inputs, distinct ids.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The id of trace number `trace`.
pub fn trace_id(trace: u64) -> [u8; 16] {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&mix(trace).to_le_bytes());
    id[8..].copy_from_slice(&mix(!trace).to_le_bytes());
    id
}

/// The spans of trace number `trace`, shaped like the traced program's: a
/// root with one argument and [`LEAVES`] leaves with two.
pub fn trace_spans(trace: u64, now: u64) -> Vec<proto::Span> {
    let trace_id = trace_id(trace).to_vec();
    let root_id = mix(trace << 8) | 1;
    let start = now + trace * 20_000;
    let attribute = |key: &str, value| proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue { value: Some(value) }),
    };
    let span = |span_id, parent_span_id, name: &str, start, end, attributes| proto::Span {
        trace_id: trace_id.clone(),
        span_id,
        parent_span_id,
        name: name.into(),
        kind: proto::SpanKind::Internal as i32,
        start_unix_nanos: start,
        end_unix_nanos: end,
        status: None,
        attributes,
        ..Default::default()
    };
    let mut spans = vec![span(
        root_id,
        0,
        "request",
        start,
        start + 10_000,
        vec![attribute("n", any_value::Value::IntValue(trace as i64))],
    )];
    spans.extend((0..LEAVES).map(|i| {
        let leaf_start = start + 100 + i * 100;
        span(
            mix((trace << 8) + i + 1) | 1,
            root_id,
            "leaf",
            leaf_start,
            leaf_start + 60,
            vec![
                attribute("i", any_value::Value::IntValue(i as i64)),
                attribute(
                    "route",
                    any_value::Value::StringValue("GET /users/{id}".into()),
                ),
            ],
        )
    }));
    spans
}

/// A batch frame numbered `sequence` carrying the spans of traces `traces`.
pub fn batch_frame(sequence: u64, traces: impl IntoIterator<Item = u64>, now: u64) -> proto::Frame {
    proto::Frame {
        kind: Some(proto::frame::Kind::Batch(proto::Batch {
            sequence,
            spans: traces
                .into_iter()
                .flat_map(|t| trace_spans(t, now))
                .collect(),
            dropped_spans: 0,
            resource: None,
        })),
    }
}
