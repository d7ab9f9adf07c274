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

async fn spans_in_window(
    state: &AppState,
    params: &Params,
) -> Result<(String, Vec<StoredSpan>), ApiError> {
    params.only(&["window"])?;
    let window = params
        .duration("window")?
        .unwrap_or(Duration::from_secs(3600));
    let label = params.get("window").unwrap_or("1h").to_owned();
    let filter = SpanFilter {
        start_ns: Some(dapple::now_unix_nanos().saturating_sub(window.as_nanos() as u64)),
        limit: SCAN_LIMIT,
        ..SpanFilter::default()
    };
    let store = state.store.clone();
    let spans = tokio::task::spawn_blocking(move || store.spans(&filter))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
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
    let store = state.store.clone();
    let services = tokio::task::spawn_blocking(move || store.services())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let names: Vec<&str> = services.iter().map(|(s, _)| s.as_str()).collect();
    Ok(Json(
        json!({ "services": names, "dropped_spans": state.dropped.snapshot() }),
    ))
}

pub(super) async fn span_names(
    State(state): State<AppState>,
    Path(service): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    let services = tokio::task::spawn_blocking(move || store.services())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match services.into_iter().find(|(s, _)| *s == service) {
        Some((service, names)) => Ok(Json(json!({ "service": service, "names": names }))),
        None => Err(ApiError::not_found(format!("no service {service:?}"))),
    }
}
