//! `GET /api/aggregates?window=&service=`: latency and errors per span
//! name over a time window (of one service's spans, when given);
//! `GET /api/aggregates/series?service=&name=&window=&buckets=|step=`:
//! one span name's latency over the window in buckets (oldest first), for
//! the dashboard's charts. `buckets=N` cuts the window into N equal buckets
//! (60 by default); `step=30s` into buckets of 30 s starting at round
//! times; `step=auto` picks a readable length for the part of the window
//! that holds spans (see [`Buckets::Auto`]).

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::params::Params;
use super::{ApiError, AppState};
use crate::query::aggregate::{self, Buckets, Operation, Point, SeriesRequest};

/// Buckets a series has at most.
const MAX_BUCKETS: u64 = 1000;

pub(super) async fn aggregates(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<AggregatesResponse>, ApiError> {
    let params = Params(pairs);
    params.only(&["window", "service"])?;
    let (label, window) = params.window()?;
    let service = params.get("service").map(str::to_owned);
    let filter = service.clone();
    let operations = state
        .with_store(move |store| aggregate::operations(store, window, filter.as_deref()))
        .await?;
    Ok(Json(AggregatesResponse {
        operations: operations.into_iter().map(OperationJson::from).collect(),
        service,
        window: label,
    }))
}

pub(super) async fn series(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<SeriesResponse>, ApiError> {
    let params = Params(pairs);
    params.only(&["service", "name", "window", "buckets", "step"])?;
    let (label, window) = params.window()?;
    let name = params
        .get("name")
        .ok_or_else(|| ApiError::bad_parameter("name", "name is required"))?
        .to_owned();
    let request = SeriesRequest {
        service: params.get("service").map(str::to_owned),
        name,
        window,
        buckets: buckets(&params, window)?,
    };
    let (service, name) = (request.service.clone(), request.name.clone());
    let series = state
        .with_store(move |store| aggregate::series(store, &request))
        .await?;
    Ok(Json(SeriesResponse {
        bucket_nanos: series.bucket_nanos,
        name,
        points: series.points.into_iter().map(PointJson::from).collect(),
        service,
        window: label,
    }))
}

/// `buckets=N`, `step=DURATION` or `step=auto` (one of them at most).
fn buckets(params: &Params, window: Duration) -> Result<Buckets, ApiError> {
    let count = params.number::<u64>("buckets")?;
    let Some(step) = params.get("step") else {
        let count = count.unwrap_or(60);
        if !(1..=MAX_BUCKETS).contains(&count) {
            return Err(ApiError::bad_parameter(
                "buckets",
                format!("buckets is from 1 to {MAX_BUCKETS}"),
            ));
        }
        return Ok(Buckets::Count(count));
    };
    if count.is_some() {
        return Err(ApiError::bad_parameter(
            "step",
            "give step (a bucket's length) or buckets (a count), not both",
        ));
    }
    if step == "auto" {
        return Ok(Buckets::Auto);
    }
    let length = params
        .duration("step")?
        .filter(|length| !length.is_zero())
        .ok_or_else(|| ApiError::bad_parameter("step", "step is auto or a length longer than 0"))?;
    if aggregate::aligned_buckets(window, length, MAX_BUCKETS).is_none() {
        return Err(ApiError::bad_parameter(
            "step",
            format!("buckets of {step} over the window would be more than {MAX_BUCKETS}"),
        ));
    }
    Ok(Buckets::Every(length))
}

// Fields in alphabetical order: the order the API has always written.

/// Every span name's figures.
#[derive(Debug, Serialize)]
pub(super) struct AggregatesResponse {
    operations: Vec<OperationJson>,
    /// The service asked for, echoed; absent when every service's spans count.
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    window: String,
}

#[derive(Debug, Serialize)]
struct OperationJson {
    count: u64,
    error_count: u64,
    error_rate: f64,
    max_nanos: u64,
    name: String,
    p50_nanos: u64,
    p90_nanos: u64,
    p99_nanos: u64,
    service: String,
}

impl From<Operation> for OperationJson {
    fn from(operation: Operation) -> OperationJson {
        let latency = operation.latency;
        OperationJson {
            count: latency.count,
            error_count: latency.error_count,
            error_rate: latency.error_rate(),
            max_nanos: latency.max_nanos,
            name: operation.name,
            p50_nanos: latency.p50_nanos,
            p90_nanos: latency.p90_nanos,
            p99_nanos: latency.p99_nanos,
            service: operation.service,
        }
    }
}

/// One span name's figures over time.
#[derive(Debug, Serialize)]
pub(super) struct SeriesResponse {
    bucket_nanos: u64,
    name: String,
    points: Vec<PointJson>,
    service: Option<String>,
    window: String,
}

#[derive(Debug, Serialize)]
struct PointJson {
    count: u64,
    error_count: u64,
    max_nanos: u64,
    p50_nanos: u64,
    p90_nanos: u64,
    p99_nanos: u64,
    start_unix_nanos: u64,
}

impl From<Point> for PointJson {
    fn from(point: Point) -> PointJson {
        let latency = point.latency;
        PointJson {
            count: latency.count,
            error_count: latency.error_count,
            max_nanos: latency.max_nanos,
            p50_nanos: latency.p50_nanos,
            p90_nanos: latency.p90_nanos,
            p99_nanos: latency.p99_nanos,
            start_unix_nanos: point.start_unix_nanos,
        }
    }
}
