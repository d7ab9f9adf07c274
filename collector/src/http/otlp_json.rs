//! OTLP JSON requests, read with `opentelemetry-proto`'s serde mapping,
//! plus what that mapping misses: proto3 JSON writes a double that is not
//! finite as the string `"NaN"`, `"Infinity"` or `"-Infinity"`. Such a
//! request is read a second time through `serde_json::Value`, with those
//! doubles set aside and put back into the decoded request.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::Value as Json;

/// One step of a path into the JSON document.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// An OTLP JSON `ExportTraceServiceRequest`.
pub(super) fn request(bytes: &[u8]) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    let first = match serde_json::from_slice(bytes) {
        Ok(request) => return Ok(request),
        Err(e) => e,
    };
    let mentions_non_finite = [&b"\"NaN\""[..], b"\"Infinity\"", b"\"-Infinity\""]
        .iter()
        .any(|word| bytes.windows(word.len()).any(|w| w == *word));
    if !mentions_non_finite {
        return Err(first);
    }
    let mut document: Json = serde_json::from_slice(bytes)?;
    let mut found = Vec::new();
    set_aside(&mut document, &mut Vec::new(), &mut found);
    if found.is_empty() {
        return Err(first);
    }
    let mut request: ExportTraceServiceRequest = serde_json::from_value(document)?;
    for (path, value) in found {
        put_back(&mut request, &path, value);
    }
    Ok(request)
}

/// Replaces every `"doubleValue": "NaN"` (or infinity) with 0 and notes
/// where, with the double it stood for.
fn set_aside(node: &mut Json, path: &mut Vec<Step>, found: &mut Vec<(Vec<Step>, f64)>) {
    match node {
        Json::Object(map) => {
            for (key, value) in map.iter_mut() {
                let special = match (key.as_str(), &*value) {
                    ("doubleValue", Json::String(text)) => match text.as_str() {
                        "NaN" => Some(f64::NAN),
                        "Infinity" => Some(f64::INFINITY),
                        "-Infinity" => Some(f64::NEG_INFINITY),
                        _ => None,
                    },
                    _ => None,
                };
                path.push(Step::Key(key.clone()));
                match special {
                    Some(double) => {
                        found.push((path.clone(), double));
                        *value = Json::from(0.0);
                    }
                    None => set_aside(value, path, found),
                }
                path.pop();
            }
        }
        Json::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                path.push(Step::Index(index));
                set_aside(item, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

fn key<'a>(path: &'a [Step], name: &str) -> Option<&'a [Step]> {
    match path.split_first() {
        Some((Step::Key(k), rest)) if k == name => Some(rest),
        _ => None,
    }
}

fn index(path: &[Step]) -> Option<(usize, &[Step])> {
    match path.split_first() {
        Some((Step::Index(i), rest)) => Some((*i, rest)),
        _ => None,
    }
}

/// Sets the double at `path` (a path [`set_aside`] noted) in `request`.
fn put_back(request: &mut ExportTraceServiceRequest, path: &[Step], double: f64) {
    let Some((r, rest)) = key(path, "resourceSpans").and_then(index) else {
        return;
    };
    let Some(resource_spans) = request.resource_spans.get_mut(r) else {
        return;
    };
    if let Some(rest) = key(rest, "resource") {
        if let Some(resource) = &mut resource_spans.resource {
            in_attributes(&mut resource.attributes, rest, double);
        }
        return;
    }
    let Some((s, rest)) = key(rest, "scopeSpans").and_then(index) else {
        return;
    };
    let Some(scope_spans) = resource_spans.scope_spans.get_mut(s) else {
        return;
    };
    if let Some(rest) = key(rest, "scope") {
        if let Some(scope) = &mut scope_spans.scope {
            in_attributes(&mut scope.attributes, rest, double);
        }
        return;
    }
    let Some((n, rest)) = key(rest, "spans").and_then(index) else {
        return;
    };
    let Some(span) = scope_spans.spans.get_mut(n) else {
        return;
    };
    if let Some((e, rest)) = key(rest, "events").and_then(index) {
        if let Some(event) = span.events.get_mut(e) {
            in_attributes(&mut event.attributes, rest, double);
        }
    } else if let Some((l, rest)) = key(rest, "links").and_then(index) {
        if let Some(link) = span.links.get_mut(l) {
            in_attributes(&mut link.attributes, rest, double);
        }
    } else {
        in_attributes(&mut span.attributes, rest, double);
    }
}

/// `path` is `attributes/<i>/value/...`.
fn in_attributes(attributes: &mut [KeyValue], path: &[Step], double: f64) {
    let Some((i, rest)) = key(path, "attributes").and_then(index) else {
        return;
    };
    if let (Some(kv), Some(rest)) = (attributes.get_mut(i), key(rest, "value"))
        && let Some(value) = &mut kv.value
    {
        in_value(value, rest, double);
    }
}

/// `path` is `doubleValue`, or leads there through arrays and lists.
fn in_value(value: &mut AnyValue, path: &[Step], double: f64) {
    if key(path, "doubleValue").is_some_and(<[Step]>::is_empty) {
        value.value = Some(any_value::Value::DoubleValue(double));
        return;
    }
    match &mut value.value {
        Some(any_value::Value::ArrayValue(array)) => {
            if let Some((i, rest)) = key(path, "arrayValue")
                .and_then(|p| key(p, "values"))
                .and_then(index)
                && let Some(item) = array.values.get_mut(i)
            {
                in_value(item, rest, double);
            }
        }
        Some(any_value::Value::KvlistValue(list)) => {
            if let Some(rest) = key(path, "kvlistValue") {
                let rest: Vec<Step> = std::iter::once(Step::Key("attributes".into()))
                    .chain(key(rest, "values").unwrap_or(&[]).iter().cloned())
                    .collect();
                in_attributes(&mut list.values, &rest, double);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(request: &ExportTraceServiceRequest, attribute: usize) -> Option<any_value::Value> {
        request.resource_spans[0].scope_spans[0].spans[0].attributes[attribute]
            .value
            .clone()
            .and_then(|v| v.value)
    }

    #[test]
    fn doubles_that_are_not_finite_are_read_wherever_they_are() {
        let body = br#"{"resourceSpans": [{
          "resource": {"attributes": [{"key": "r", "value": {"doubleValue": "-Infinity"}}]},
          "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60d", "spanId": "eee19b7ec3c1b174",
            "name": "odd",
            "attributes": [
              {"key": "nan", "value": {"doubleValue": "NaN"}},
              {"key": "inf", "value": {"doubleValue": "Infinity"}},
              {"key": "list", "value": {"arrayValue": {"values": [
                {"doubleValue": 1.5},
                {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": "NaN"}}]}}
              ]}}}
            ],
            "events": [{"name": "e", "attributes": [{"key": "x", "value": {"doubleValue": "Infinity"}}]}]
          }]}]
        }]}"#;
        let request = request(body).unwrap();
        assert!(
            matches!(double(&request, 0), Some(any_value::Value::DoubleValue(f)) if f.is_nan())
        );
        assert_eq!(
            double(&request, 1),
            Some(any_value::Value::DoubleValue(f64::INFINITY))
        );
        let Some(any_value::Value::ArrayValue(list)) = double(&request, 2) else {
            panic!("an array");
        };
        assert_eq!(
            list.values[0].value,
            Some(any_value::Value::DoubleValue(1.5))
        );
        let Some(any_value::Value::KvlistValue(map)) = &list.values[1].value else {
            panic!("a map");
        };
        assert!(matches!(
            map.values[0].value.as_ref().and_then(|v| v.value.clone()),
            Some(any_value::Value::DoubleValue(f)) if f.is_nan()
        ));
        let resource = request.resource_spans[0].resource.as_ref().unwrap();
        assert_eq!(
            resource.attributes[0].value.clone().and_then(|v| v.value),
            Some(any_value::Value::DoubleValue(f64::NEG_INFINITY))
        );
        let event = &request.resource_spans[0].scope_spans[0].spans[0].events[0];
        assert_eq!(
            event.attributes[0].value.clone().and_then(|v| v.value),
            Some(any_value::Value::DoubleValue(f64::INFINITY))
        );
    }

    #[test]
    fn other_bad_json_is_still_an_error() {
        assert!(request(br#"{"resourceSpans": "NaN"}"#).is_err());
        assert!(request(b"{").is_err());
    }
}
