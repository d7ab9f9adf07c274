//! `GET /api/traces`: traces matching every filter, each filter perhaps in
//! a span of its own (or all in one span, with `same_span=true`), newest
//! first (or longest or shortest first), a page at a time.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::params::Params;
use super::{ApiError, AppState};
use crate::query::search::{self, Cursor, Sort, TraceSearch};
use crate::query::summary::TraceSummary;
use crate::store::SpanFilter;

pub(super) async fn search(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<SearchResponse>, ApiError> {
    let request = parse(&Params(pairs))?;
    let page = state
        .with_store(move |store| search::search(store, &request))
        .await?;
    Ok(Json(SearchResponse {
        next_cursor: page.next.map(|c| c.to_string()),
        traces: page.traces.into_iter().map(SummaryJson::from).collect(),
    }))
}

/// The search the query string asks for.
fn parse(params: &Params) -> Result<TraceSearch, ApiError> {
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
        "same_span",
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
    let attributes = params
        .all("attr")
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    ApiError::bad_parameter("attr", format!("{a:?}: expected key=value"))
                })
        })
        .collect::<Result<_, _>>()?;
    let after = params
        .get("cursor")
        .map(|c| {
            c.parse::<Cursor>()
                .map_err(|e| ApiError::bad_parameter("cursor", e.to_string()))
        })
        .transpose()?;
    let filter = SpanFilter {
        service: params.get("service").map(str::to_owned),
        name: params.get("name").map(str::to_owned),
        min_duration_ns: params.duration_ns("min_duration")?,
        max_duration_ns: params.duration_ns("max_duration")?,
        start_ns: params.number("start")?,
        end_ns: params.number("end")?,
        error_only: params.flag("error")?,
        limit: 0,
    };
    Ok(TraceSearch {
        filter,
        attributes,
        same_span: params.flag("same_span")?,
        sort,
        limit,
        after,
    })
}

// Fields in alphabetical order: the order the API has always written.

/// A page of traces.
#[derive(Debug, Serialize)]
pub(super) struct SearchResponse {
    next_cursor: Option<String>,
    traces: Vec<SummaryJson>,
}

/// One line of a trace list.
#[derive(Debug, Serialize)]
struct SummaryJson {
    duration_nanos: u64,
    error_count: usize,
    root_name: Option<String>,
    root_service: Option<String>,
    services: Vec<String>,
    span_count: usize,
    start_unix_nanos: u64,
    trace_id: String,
}

impl From<TraceSummary> for SummaryJson {
    fn from(summary: TraceSummary) -> SummaryJson {
        SummaryJson {
            duration_nanos: summary.duration_nanos,
            error_count: summary.error_count,
            root_name: summary.root_name,
            root_service: summary.root_service,
            services: summary.services,
            span_count: summary.span_count,
            start_unix_nanos: summary.start_unix_nanos,
            trace_id: summary.trace_id.to_string(),
        }
    }
}
