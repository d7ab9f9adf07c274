//! What stands before the handlers: bearer tokens, the client's identity,
//! the Host check that keeps DNS-rebinding pages out of a collector on
//! loopback, and the media type ingest requires (so that a page on another
//! origin cannot post spans with a "simple" cross-origin request).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::access::{Identity, Tokens};

/// Refuses a request without one of `tokens` as its bearer token (none
/// asked for when `tokens` is `None`).
pub async fn require_read_token(
    State(tokens): State<Option<Arc<Tokens>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(tokens) = tokens
        && tokens.identify_bearer(bearer(&request)).is_none()
    {
        return refused(&request).into_response();
    }
    next.run(request).await
}

/// Refuses a request without one of `tokens` (when asked for), and tells
/// the handler who sent it: an [`Identity`] extension.
pub async fn identify_writer(
    State(tokens): State<Option<Arc<Tokens>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let identity = match &tokens {
        Some(tokens) => match tokens.identify_bearer(bearer(&request)) {
            Some(label) => Identity::token(label),
            None => return refused(&request).into_response(),
        },
        None => peer_identity(&request),
    };
    request.extensions_mut().insert(identity);
    next.run(request).await
}

/// As [`identify_writer`], answering a refusal as gRPC does
/// (`UNAUTHENTICATED`).
pub async fn identify_grpc_writer(
    State(tokens): State<Option<Arc<Tokens>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let identity = match &tokens {
        Some(tokens) => match tokens.identify_bearer(bearer(&request)) {
            Some(label) => Identity::token(label),
            None => {
                warn_refused(&request);
                return tonic::Status::unauthenticated(
                    "this collector needs an ingest token: authorization: Bearer <token>",
                )
                .into_http();
            }
        },
        None => peer_identity(&request),
    };
    request.extensions_mut().insert(identity);
    next.run(request).await
}

fn bearer(request: &Request) -> Option<&[u8]> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
}

static REFUSED: crate::log::Throttled =
    crate::log::Throttled::new(std::time::Duration::from_secs(1));

fn warn_refused(request: &Request) {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "a client".to_owned(), |c| c.0.to_string());
    REFUSED.warn(format_args!(
        "refused {peer}: {} {} without a valid token",
        request.method(),
        request.uri().path()
    ));
}

fn refused(request: &Request) -> ApiError {
    warn_refused(request);
    let what = if request.headers().contains_key(header::AUTHORIZATION) {
        "the token was refused"
    } else {
        "this collector needs a token: Authorization: Bearer <token>"
    };
    ApiError::Unauthorized(what.to_owned())
}

/// The client's address as its identity; `unknown` when the request came
/// from no connection (handlers driven directly, in tests).
fn peer_identity(request: &Request) -> Identity {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(
            || Identity("unknown".into()),
            |c| Identity::address(c.0.ip()),
        )
}

/// Refuses requests whose Host is not a loopback name: for a collector
/// listening on loopback, a page whose domain was rebound to 127.0.0.1
/// sends its own domain as Host.
pub async fn loopback_host_only(request: Request, next: Next) -> Response {
    let host = request
        .uri()
        .authority()
        .map(|a| a.host().to_owned())
        .or_else(|| {
            let value = request.headers().get(header::HOST)?.to_str().ok()?;
            let authority: axum::http::uri::Authority = value.parse().ok()?;
            Some(authority.host().to_owned())
        });
    match host {
        Some(host) if !is_loopback_name(&host) => ApiError::Forbidden(format!(
            "this collector listens on loopback and answers only requests for localhost, \
             not for {host:?}"
        ))
        .into_response(),
        _ => next.run(request).await,
    }
}

/// `localhost`, a name under it, or a loopback address.
fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a body whose Content-Type is not one of `accepted`: the media
/// types a page can send across origins without asking (`text/plain`, form
/// encodings) never reach the handler.
pub fn require_media_type(
    headers: &axum::http::HeaderMap,
    accepted: &[&str],
) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match given {
        Some(given) if accepted.contains(&given.as_str()) => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "the body must be one of: {}",
            accepted.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_are_told_from_others() {
        for host in [
            "localhost",
            "LOCALHOST.",
            "ui.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
        ] {
            assert!(is_loopback_name(host), "{host}");
        }
        for host in [
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1",
            "[::2]",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_name(host), "{host}");
        }
    }
}
