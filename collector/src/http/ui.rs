//! The web UI: plain HTML, CSS and JavaScript embedded in the binary, so the
//! collector serves it with no build step, no CDN and no network.
//!
//! Every page path answers with the same `index.html`; the script reads the
//! path and the query string (which hold the whole state of a page, so a URL
//! can be shared) and draws the page from the JSON API.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An embedded file: its name under `/ui/`, its media type and its bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $media_type:literal) => {
        Asset {
            name: $name,
            media_type: $media_type,
            body: include_str!(concat!("../../ui/", $name)),
        }
    };
}

const INDEX: &str = include_str!("../../ui/index.html");

const ASSETS: &[Asset] = &[
    asset!("common.css", "text/css; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("util.js", "text/javascript; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("search.js", "text/javascript; charset=utf-8"),
    asset!("trace.js", "text/javascript; charset=utf-8"),
    asset!("dashboard.js", "text/javascript; charset=utf-8"),
    asset!("graph.js", "text/javascript; charset=utf-8"),
    asset!("flame.js", "text/javascript; charset=utf-8"),
    asset!("compare.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The UI's pages, each answered with `index.html`.
pub(super) const PAGES: &[&str] = &[
    "/",
    "/search",
    "/trace/{trace_id}",
    "/dashboard",
    "/graph",
    "/flame",
    "/compare",
];

/// Headers on every page and asset: scripts, styles and images only from
/// the collector itself, nothing inline, no framing by other sites, and no
/// guessing of media types.
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// `index.html`, for every page path.
pub(super) async fn index() -> Response {
    (
        SECURITY_HEADERS,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /ui/{name}`: one embedded asset, or 404.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => (
            SECURITY_HEADERS,
            [
                (header::CONTENT_TYPE, asset.media_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> (StatusCode, String, String) {
        let status = response.status();
        let media_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        (
            status,
            media_type,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    #[tokio::test]
    async fn every_asset_is_served_with_its_media_type() {
        for a in ASSETS {
            let (status, media_type, text) = body(asset(Path(a.name.to_owned())).await).await;
            assert_eq!(
                (status, media_type.as_str()),
                (StatusCode::OK, a.media_type),
                "{}",
                a.name
            );
            assert!(!text.trim().is_empty(), "{} is empty", a.name);
        }
        let (status, media_type, text) = body(index().await).await;
        assert_eq!(status, StatusCode::OK);
        assert!(media_type.starts_with("text/html"));
        assert!(text.contains("/ui/app.js"));
    }

    #[tokio::test]
    async fn an_unknown_asset_is_a_404() {
        for name in ["nope.js", "../Cargo.toml", "", "index.html"] {
            let (status, _, _) = body(asset(Path(name.to_owned())).await).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{name:?}");
        }
    }

    /// A file the page loads but the binary does not embed would break the
    /// UI only at run time: every reference must name an embedded asset.
    #[test]
    fn every_file_the_page_references_is_embedded() {
        let embedded: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        let mut referenced = Vec::new();
        for text in std::iter::once(INDEX).chain(ASSETS.iter().map(|a| a.body)) {
            for marker in ["/ui/", "from './"] {
                for (at, _) in text.match_indices(marker) {
                    let rest = &text[at + marker.len()..];
                    let end = rest
                        .find(|c: char| {
                            !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
                        })
                        .unwrap_or(rest.len());
                    referenced.push(rest[..end].to_owned());
                }
            }
        }
        assert!(referenced.len() >= ASSETS.len(), "{referenced:?}");
        for name in referenced {
            assert!(
                embedded.contains(&name.as_str()),
                "{name} is referenced but not embedded"
            );
        }
    }
}
