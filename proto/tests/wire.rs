//! The encoding stays byte for byte what earlier releases wrote: collectors
//! keep encoded `Span` messages in their stores, and clients and collectors
//! of different releases talk to each other. The expected bytes were written
//! by the hand-written prost types that these generated ones replaced.

use dapple_proto::{
    Ack, AnyValue, Batch, Error, Event, Frame, Hello, KeyValue, Link, Resource, Span, SpanKind,
    Status, StatusCode, any_value, encode_frame, frame,
};
use prost::Message;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn full_span() -> Span {
    Span {
        trace_id: (1..=16).collect(),
        span_id: 0x0102_0304_0506_0708,
        parent_span_id: 0x1112_1314_1516_1718,
        name: "checkout".into(),
        kind: SpanKind::Server as i32,
        start_unix_nanos: 1_700_000_000_000_000_000,
        end_unix_nanos: 1_700_000_000_000_123_456,
        status: Some(Status {
            code: StatusCode::Error as i32,
            message: "boom".into(),
        }),
        attributes: vec![
            kv("s", any_value::Value::StringValue("text".into())),
            kv("i", any_value::Value::IntValue(-42)),
            kv("f", any_value::Value::DoubleValue(1.5)),
            kv("b", any_value::Value::BoolValue(true)),
            kv("y", any_value::Value::BytesValue(vec![0, 255])),
        ],
        events: vec![Event {
            name: "retry".into(),
            unix_nanos: 1_700_000_000_000_100_000,
            attributes: vec![kv("n", any_value::Value::IntValue(2))],
            ..Default::default()
        }],
        links: vec![Link {
            trace_id: vec![9; 16],
            span_id: 77,
            ..Default::default()
        }],
        // Fields added later stay out of the encoding at their defaults.
        ..Default::default()
    }
}

const SPAN: &str = "0a100102030405060708090a0b0c0d0e0f10110807060504030201191817161514131211\
2208636865636b6f757428013100002a36fe9c97173940e22b36fe9c9717420808021204626f6f6d4a0b0a0173\
12060a04746578744a100a0169120b10d6ffffffffffffffff014a0e0a0166120919000000000000f83f4a070a\
0162120220014a090a017912042a0200ff52190a05726574727911a0862b36fe9c97171a070a016e120210025a\
1b0a1009090909090909090909090909090909114d00000000000000";

#[test]
fn a_stored_span_encodes_as_before_and_decodes_back() {
    let span = full_span();
    assert_eq!(hex(&span.encode_to_vec()), SPAN);
    let bytes: Vec<u8> = (0..SPAN.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&SPAN[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(Span::decode(bytes.as_slice()).unwrap(), span);
}

#[test]
fn every_frame_kind_encodes_as_before() {
    let resource = Resource {
        service_name: "svc".into(),
        host: "h".into(),
        pid: 1234,
        version: "1.2".into(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    };
    let cases = [
        (
            frame::Kind::Hello(Hello {
                protocol_version: 1,
                resource: Some(resource),
                token: String::new(),
            }),
            "160a14080112100a0373766312016818d2092203312e32".to_owned(),
        ),
        (
            frame::Kind::Batch(Batch {
                sequence: 300,
                spans: vec![full_span()],
                dropped_spans: 5,
                resource: Some(Resource {
                    service_name: "svc".into(),
                    ..Resource::default()
                }),
            }),
            format!("d90112d60108ac0212c701{SPAN}180522050a03737663"),
        ),
        (
            frame::Kind::Ack(Ack { sequence: 300 }),
            "051a0308ac02".to_owned(),
        ),
        (
            frame::Kind::Error(Error {
                message: "no".into(),
            }),
            "0622040a026e6f".to_owned(),
        ),
    ];
    for (kind, expected) in cases {
        let mut wire = Vec::new();
        encode_frame(&Frame { kind: Some(kind) }, &mut wire);
        assert_eq!(hex(&wire), expected);
    }
}
