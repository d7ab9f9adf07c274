//! `GET /api/traces`: traces with a span matching every filter, newest
//! first (or longest or shortest first), a page at a time.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use dapple::TraceId;
use serde_json::{Value, json};

use super::params::Params;
use super::{ApiError, AppState};
use crate::store::{SpanFilter, StoredSpan, is_error};

/// Spans read from the store for a search by attribute, at most: such a
/// search looks at the newest this many matching spans.
const SCAN_LIMIT: usize = 200_000;

/// Traces ordered by duration, at most: such a search orders the newest this
/// many matching traces.
const SORT_LIMIT: usize = 10_000;

/// The order of a trace list; the cursor's key is what it orders by.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sort {
    /// By the start of the newest matching span, newest first.
    Newest,
    /// By the trace's duration, longest first.
    Longest,
    /// By the trace's duration, shortest first.
    Shortest,
}

pub(super) async fn search(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = Params(pairs);
    params.only(&[
        "service",
        "name",
        "attr",
        "min_duration",
        "max_duration",
        "start",
        "end",
        "error",
        "limit",
        "cursor",
        "sort",
    ])?;
    let sort = match params.get("sort") {
        None | Some("newest") => Sort::Newest,
        Some("longest") => Sort::Longest,
        Some("shortest") => Sort::Shortest,
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "sort",
                format!("{other:?}: expected newest, longest or shortest"),
            ));
        }
    };
    let limit = params.number::<usize>("limit")?.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_parameter("limit", "limit is from 1 to 1000"));
    }
    let attrs: Vec<(String, String)> = params
        .all("attr")
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    ApiError::bad_parameter("attr", format!("{a:?}: expected key=value"))
                })
        })
        .collect::<Result<_, _>>()?;
    let cursor = params
        .get("cursor")
        .map(|c| {
            c.split_once('-')
                .and_then(|(key, id)| Some((key.parse::<u64>().ok()?, id.parse::<TraceId>().ok()?)))
                .ok_or_else(|| ApiError::bad_parameter("cursor", "not a cursor this API returned"))
        })
        .transpose()?;
    let filter = SpanFilter {
        service: params.get("service").map(str::to_owned),
        name: params.get("name").map(str::to_owned),
        min_duration_ns: params
            .duration("min_duration")?
            .map(|d| d.as_nanos() as u64),
        max_duration_ns: params
            .duration("max_duration")?
            .map(|d| d.as_nanos() as u64),
        start_ns: params.number("start")?,
        end_ns: params.number("end")?,
        error_only: params.flag("error")?,
        limit: SCAN_LIMIT,
    };

    let (page, more) = state
        .with_store(move |store| {
            let mut keys = if attrs.is_empty() {
                // The store groups and pages by itself.
                let (limit, before) = match sort {
                    Sort::Newest => (limit + 1, cursor),
                    Sort::Longest | Sort::Shortest => (SORT_LIMIT, None),
                };
                let filter = SpanFilter { limit, ..filter };
                store.trace_keys(&filter, before)?
            } else {
                // Attributes are inside the spans: filter the newest spans here.
                let spans = store.spans(&filter)?;
                let mut newest: HashMap<TraceId, u64> = HashMap::new();
                for span in spans.iter().filter(|s| has_attrs(s, &attrs)) {
                    if let Some(id) = span.trace_id() {
                        let key = newest.entry(id).or_default();
                        *key = (*key).max(span.span.start_unix_nanos);
                    }
                }
                let mut keys: Vec<(u64, TraceId)> =
                    newest.into_iter().map(|(id, k)| (k, id)).collect();
                if sort == Sort::Newest {
                    keys.retain(|entry| cursor.is_none_or(|c| *entry < c));
                }
                keys.sort_by(|a, b| b.cmp(a));
                keys
            };
            if sort == Sort::Newest {
                let more = keys.len() > limit;
                keys.truncate(limit);
                let mut page = Vec::new();
                for (key, id) in keys {
                    let trace = store.trace(id)?;
                    page.push((key, summary(id, &trace)));
                }
                return Ok((page, more));
            }
            // By duration: measure each trace, order, page, then read the page's
            // traces again (holding every trace at once could be too much).
            keys.truncate(SORT_LIMIT);
            let mut ordered: Vec<(u64, TraceId)> = Vec::with_capacity(keys.len());
            for (_, id) in keys {
                let trace = store.trace(id)?;
                if !trace.is_empty() {
                    ordered.push((duration(&trace), id));
                }
            }
            // Ties are broken by trace id, so the order is the same on every request.
            if sort == Sort::Longest {
                ordered.sort_unstable_by_key(|key| std::cmp::Reverse(*key));
                ordered.retain(|key| cursor.is_none_or(|c| *key < c));
            } else {
                ordered.sort_unstable();
                ordered.retain(|key| cursor.is_none_or(|c| *key > c));
            }
            let more = ordered.len() > limit;
            ordered.truncate(limit);
            let mut page = Vec::with_capacity(ordered.len());
            for (key, id) in ordered {
                let trace = store.trace(id)?;
                page.push((key, summary(id, &trace)));
            }
            Ok((page, more))
        })
        .await?;

    let next_cursor = more
        .then(|| {
            page.last()
                .map(|(key, s)| format!("{key}-{}", s["trace_id"].as_str().unwrap_or_default()))
        })
        .flatten();
    Ok(Json(json!({
        "traces": page.into_iter().map(|(_, s)| s).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

fn has_attrs(span: &StoredSpan, attrs: &[(String, String)]) -> bool {
    attrs.iter().all(|(key, value)| {
        span.span.attributes.iter().any(|kv| {
            kv.key == *key
                && super::traces::value_text(&kv.value).as_deref() == Some(value.as_str())
        })
    })
}

/// From the first start to the last end of a trace's spans.
fn duration(spans: &[StoredSpan]) -> u64 {
    let start = spans.iter().map(|s| s.span.start_unix_nanos).min();
    let end = spans.iter().map(|s| s.span.end_unix_nanos).max();
    end.unwrap_or(0).saturating_sub(start.unwrap_or(0))
}

/// One line of a trace list.
pub fn summary(id: TraceId, spans: &[StoredSpan]) -> Value {
    let root = spans
        .iter()
        .find(|s| s.span.parent_span_id == 0)
        .or_else(|| spans.iter().min_by_key(|s| s.span.start_unix_nanos));
    let start = spans
        .iter()
        .map(|s| s.span.start_unix_nanos)
        .min()
        .unwrap_or(0);
    let end = spans
        .iter()
        .map(|s| s.span.end_unix_nanos)
        .max()
        .unwrap_or(0);
    let mut services: Vec<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    json!({
        "trace_id": id.to_string(),
        "root_name": root.map(|r| r.span.name.as_str()),
        "root_service": root.map(|r| r.service.as_str()),
        "services": services,
        "span_count": spans.len(),
        "error_count": spans.iter().filter(|s| is_error(&s.span)).count(),
        "start_unix_nanos": start,
        "duration_nanos": end.saturating_sub(start),
    })
}
