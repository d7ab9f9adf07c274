//! `GET /api/aggregates?window=`: latency and errors per span name over a
//! time window; `GET /api/aggregates/series?service=&name=&window=&buckets=`:
//! one span name's latency over the window in equal buckets (oldest first),
//! for the dashboard's chart.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::params::Params;
use super::{ApiError, AppState};
use crate::query::aggregate::{self, Operation, Point, SeriesRequest};

pub(super) async fn aggregates(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<AggregatesResponse>, ApiError> {
    let params = Params(pairs);
    params.only(&["window"])?;
    let (label, window) = params.window()?;
    let operations = state
        .with_store(move |store| aggregate::operations(store, window))
        .await?;
    Ok(Json(AggregatesResponse {
        operations: operations.into_iter().map(OperationJson::from).collect(),
        window: label,
    }))
}

pub(super) async fn series(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<SeriesResponse>, ApiError> {
    let params = Params(pairs);
    params.only(&["service", "name", "window", "buckets"])?;
    let (label, window) = params.window()?;
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
    let request = SeriesRequest {
        service: params.get("service").map(str::to_owned),
        name,
        window,
        buckets,
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

// Fields in alphabetical order: the order the API has always written.

/// Every span name's figures.
#[derive(Debug, Serialize)]
pub(super) struct AggregatesResponse {
    operations: Vec<OperationJson>,
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
