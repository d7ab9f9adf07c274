//! Aggregates over a time window: per span name latency and errors, and the
//! calls between services.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::params::Params;
use super::{ApiError, AppState};
use crate::store::{SpanFilter, StoredSpan, is_error};

/// Spans read for one aggregate, at most.
const SCAN_LIMIT: usize = 2_000_000;

/// The `window` parameter (default one hour): its text and its length.
fn window(params: &Params) -> Result<(String, Duration), ApiError> {
    let window = params
        .duration("window")?
        .unwrap_or(Duration::from_secs(3600));
    if window.is_zero() {
        return Err(ApiError::bad_parameter(
            "window",
            "the window must be longer than 0",
        ));
    }
    Ok((params.get("window").unwrap_or("1h").to_owned(), window))
}

async fn spans_in_window(
    state: &AppState,
    params: &Params,
) -> Result<(String, Vec<StoredSpan>), ApiError> {
    params.only(&["window"])?;
    let (label, window) = window(params)?;
    let filter = SpanFilter {
        start_ns: Some(dapple::now_unix_nanos().saturating_sub(window.as_nanos() as u64)),
        limit: SCAN_LIMIT,
        ..SpanFilter::default()
    };
    let spans = state.with_store(move |store| store.spans(&filter)).await?;
    Ok((label, spans))
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(super) async fn aggregates(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let (window, spans) = spans_in_window(&state, &Params(pairs)).await?;
    let mut groups: BTreeMap<(String, String), (Vec<u64>, u64)> = BTreeMap::new();
    for s in &spans {
        let group = groups
            .entry((s.service.clone(), s.span.name.clone()))
            .or_default();
        group.0.push(
            s.span
                .end_unix_nanos
                .saturating_sub(s.span.start_unix_nanos),
        );
        group.1 += u64::from(is_error(&s.span));
    }
    let mut operations: Vec<Value> = groups
        .into_iter()
        .map(|((service, name), (mut durations, errors))| {
            durations.sort_unstable();
            let count = durations.len() as u64;
            json!({
                "service": service,
                "name": name,
                "count": count,
                "error_count": errors,
                "error_rate": errors as f64 / count as f64,
                "p50_nanos": percentile(&durations, 50.0),
                "p90_nanos": percentile(&durations, 90.0),
                "p99_nanos": percentile(&durations, 99.0),
                "max_nanos": durations.last().copied().unwrap_or(0),
            })
        })
        .collect();
    operations.sort_by_key(|o| std::cmp::Reverse(o["count"].as_u64()));
    Ok(Json(json!({ "window": window, "operations": operations })))
}

/// `GET /api/aggregates/series?service=&name=&window=&buckets=`: the
/// latency of one span name over the window, in equal buckets (oldest
/// first), for the dashboard's chart.
pub(super) async fn series(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = Params(pairs);
    params.only(&["service", "name", "window", "buckets"])?;
    let (label, window) = window(&params)?;
    let name = params
        .get("name")
        .ok_or_else(|| ApiError::bad_parameter("name", "name is required"))?
        .to_owned();
    let buckets = params.number::<u64>("buckets")?.unwrap_or(60);
    if !(1..=1000).contains(&buckets) {
        return Err(ApiError::bad_parameter(
            "buckets",
            "buckets is from 1 to 1000",
        ));
    }
    let window_ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
    let end = dapple::now_unix_nanos();
    let start = end.saturating_sub(window_ns);
    // At least one nanosecond per bucket, so every span maps to a bucket.
    let bucket_ns = (end - start).div_ceil(buckets).max(1);
    let filter = SpanFilter {
        service: params.get("service").map(str::to_owned),
        name: Some(name.clone()),
        start_ns: Some(start),
        limit: SCAN_LIMIT,
        ..SpanFilter::default()
    };
    let spans = state.with_store(move |store| store.spans(&filter)).await?;
    let mut slots: Vec<(Vec<u64>, u64)> = vec![Default::default(); buckets as usize];
    for s in &spans {
        let index = (s.span.start_unix_nanos.saturating_sub(start) / bucket_ns) as usize;
        // A span that started after `end` (a clock ahead of ours) counts in the last bucket.
        let slot = &mut slots[index.min(buckets as usize - 1)];
        slot.0.push(
            s.span
                .end_unix_nanos
                .saturating_sub(s.span.start_unix_nanos),
        );
        slot.1 += u64::from(is_error(&s.span));
    }
    let points: Vec<Value> = slots
        .into_iter()
        .enumerate()
        .map(|(i, (mut durations, errors))| {
            durations.sort_unstable();
            json!({
                "start_unix_nanos": start + i as u64 * bucket_ns,
                "count": durations.len(),
                "error_count": errors,
                "p50_nanos": percentile(&durations, 50.0),
                "p90_nanos": percentile(&durations, 90.0),
                "p99_nanos": percentile(&durations, 99.0),
                "max_nanos": durations.last().copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(Json(json!({
        "window": label,
        "service": params.get("service"),
        "name": name,
        "bucket_nanos": bucket_ns,
        "points": points,
    })))
}

pub(super) async fn dependencies(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let (window, spans) = spans_in_window(&state, &Params(pairs)).await?;
    let service_of: HashMap<(&[u8], u64), &str> = spans
        .iter()
        .map(|s| {
            (
                (s.span.trace_id.as_slice(), s.span.span_id),
                s.service.as_str(),
            )
        })
        .collect();
    let mut edges: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for s in &spans {
        let parent = (s.span.trace_id.as_slice(), s.span.parent_span_id);
        if let Some(caller) = service_of.get(&parent).filter(|c| **c != s.service) {
            let edge = edges.entry((caller, s.service.as_str())).or_default();
            edge.0 += 1;
            edge.1 += u64::from(is_error(&s.span));
        }
    }
    let edges: Vec<Value> = edges
        .into_iter()
        .map(|((caller, callee), (calls, errors))| {
            json!({ "caller": caller, "callee": callee, "calls": calls, "error_count": errors })
        })
        .collect();
    Ok(Json(json!({ "window": window, "dependencies": edges })))
}

pub(super) async fn services(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let services = state.with_store(move |store| store.services()).await?;
    let names: Vec<&str> = services.iter().map(|(s, _)| s.as_str()).collect();
    Ok(Json(
        json!({ "services": names, "dropped_spans": state.dropped.snapshot() }),
    ))
}

pub(super) async fn span_names(
    State(state): State<AppState>,
    Path(service): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let services = state.with_store(move |store| store.services()).await?;
    match services.into_iter().find(|(s, _)| *s == service) {
        Some((service, names)) => Ok(Json(json!({ "service": service, "names": names }))),
        None => Err(ApiError::not_found(format!("no service {service:?}"))),
    }
}
