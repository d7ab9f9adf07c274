//! Errors as JSON responses: the client learns what it did wrong, or that
//! storage failed; the cause of a failure goes to the collector's log, not
//! to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A bad value for a parameter.
    #[error("{message}")]
    BadParameter {
        /// The parameter (`query` for the query string as a whole).
        parameter: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A request body that could not be used.
    #[error("{0}")]
    BadBody(String),
    /// Nothing there.
    #[error("{0}")]
    NotFound(String),
    /// No token, or not one the collector was given.
    #[error("{0}")]
    Unauthorized(String),
    /// Not served to this request, whoever sent it.
    #[error("{0}")]
    Forbidden(String),
    /// A body in a media type the endpoint does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A body larger, or holding more, than the collector takes at once.
    #[error("{0}")]
    TooLarge(String),
    /// The store failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
    /// The blocking task that ran the store panicked or was cancelled.
    #[error("storage failed")]
    Task(#[from] tokio::task::JoinError),
}

impl ApiError {
    /// A bad value for `parameter`.
    pub fn bad_parameter(parameter: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadParameter {
            parameter,
            message: message.into(),
        }
    }

    /// A request body that could not be used.
    pub fn bad_body(message: impl Into<String>) -> ApiError {
        ApiError::BadBody(message.into())
    }
}

/// The body of every error answer.
#[derive(Serialize)]
struct ErrorBody {
    error: String,
    parameter: Option<&'static str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, parameter) = match &self {
            ApiError::BadParameter { parameter, .. } => (StatusCode::BAD_REQUEST, Some(*parameter)),
            ApiError::BadBody(_) => (StatusCode::BAD_REQUEST, None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, None),
            ApiError::Unauthorized(_) => {
                let body = ErrorBody {
                    error: self.to_string(),
                    parameter: None,
                };
                return (
                    StatusCode::UNAUTHORIZED,
                    [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, None),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None),
            ApiError::Store(_) | ApiError::Task(_) => {
                crate::log::error(format_args!("{}", crate::log::Chain(&self)));
                (StatusCode::INTERNAL_SERVER_ERROR, None)
            }
        };
        let body = ErrorBody {
            error: self.to_string(),
            parameter,
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(error: ApiError) -> (StatusCode, String) {
        let response = error.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_bad_parameter_is_named() {
        assert_eq!(
            answer(ApiError::bad_parameter("limit", "limit is from 1 to 1000")).await,
            (
                StatusCode::BAD_REQUEST,
                r#"{"error":"limit is from 1 to 1000","parameter":"limit"}"#.to_owned()
            )
        );
    }

    #[tokio::test]
    async fn a_store_failure_tells_the_client_only_that_storage_failed() {
        let cause = rusqlite::Error::InvalidPath("/secret/dapple.sqlite".into());
        let (status, body) = answer(StoreError::from(cause).into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, r#"{"error":"storage failed","parameter":null}"#);
    }
}
