//! A [reqwest-middleware](reqwest_middleware) middleware for `reqwest`
//! clients: one client span per request, whose own context goes out in the
//! headers, so the server's span becomes the client span's child.
//!
//! The span is named `METHOD /path` (`METHOD service /path` with
//! [`TracingMiddleware::with_peer_service`]), as the tower client layer names it,
//! and carries `http.request.method`,
//! `url.full` (without any `user:password@`), `server.address`,
//! `server.port` and `http.response.status_code`. A status of 400 or more
//! marks it as failed; so does a request that got no response (refused
//! connection, timeout...), with the error's message and an `error.type`
//! such as `connect` or `timeout`.
//!
//! ```no_run
//! use dapple::reqwest::TracingMiddleware;
//!
//! #[dapple::traced(name = "fetch_user")]
//! async fn fetch_user(client: &reqwest_middleware::ClientWithMiddleware) -> reqwest_middleware::Result<String> {
//!     // A client span, child of `fetch_user`; the server's span will be its child.
//!     let response = client.get("http://127.0.0.1:8080/users/7").send().await?;
//!     Ok(response.text().await?)
//! }
//!
//! # async fn run() -> reqwest_middleware::Result<()> {
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(TracingMiddleware::new())
//!     .build();
//! println!("{}", fetch_user(&client).await?);
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;

use ::reqwest::{Request, Response};
use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use crate::events::{HttpClient, name_client_span, record_status_code, record_transport_error};
use crate::future::InSpan;
use crate::propagation::Propagator;
use crate::span::Span;

/// Makes each request of a `reqwest_middleware::ClientWithMiddleware` a
/// client span and sends that span's context in the request's headers.
#[derive(Clone, Debug, Default)]
pub struct TracingMiddleware {
    propagator: Propagator,
    peer_service: Option<Cow<'static, str>>,
}

impl TracingMiddleware {
    /// Writes W3C headers.
    pub fn new() -> TracingMiddleware {
        TracingMiddleware::default()
    }

    /// Writes the formats of `propagator`.
    pub fn with_propagator(propagator: Propagator) -> TracingMiddleware {
        TracingMiddleware {
            propagator,
            peer_service: None,
        }
    }

    /// Names the service this client calls: spans are named
    /// `METHOD service /path` and carry `peer.service`.
    pub fn with_peer_service(mut self, service: impl Into<Cow<'static, str>>) -> TracingMiddleware {
        self.peer_service = Some(service.into());
        self
    }
}

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // Named only once it is known to record: unsampled requests format nothing.
        let mut span = Span::new("");
        if span.is_recording() {
            let url = request.url();
            let host = url.host_str().map(str::to_owned);
            let peer = self.peer_service.as_ref();
            name_client_span(&mut span, request.method().as_str(), peer, url.path());
            let mut event = HttpClient::new(request.method().as_str().to_owned(), url.to_string());
            if let Some(host) = host {
                event = event.server_address(host);
            }
            if let Some(port) = url.port_or_known_default() {
                event = event.server_port(port);
            }
            span.record(event);
        }
        // The headers carry the client span itself, not its parent.
        if let Some(context) = span.context() {
            self.propagator
                .inject(&context, None, request.headers_mut());
        }
        let result = InSpan::new(next.run(request, extensions), &mut span).await;
        if span.is_recording() {
            match &result {
                Ok(response) => record_status_code(&mut span, response.status().as_u16(), 400),
                Err(error) => record_transport_error(&mut span, error_type(error), message(error)),
            }
        }
        result
    }
}

/// A short, low-cardinality name for what went wrong.
fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Middleware(_) => "middleware",
        reqwest_middleware::Error::Reqwest(error) => {
            if error.is_timeout() {
                "timeout"
            } else if error.is_connect() {
                "connect"
            } else if error.is_redirect() {
                "redirect"
            } else if error.is_body() {
                "body"
            } else if error.is_decode() {
                "decode"
            } else if error.is_builder() {
                "builder"
            } else if error.is_request() {
                "request"
            } else {
                "_OTHER"
            }
        }
    }
}

/// The error and its causes, `: `-separated (reqwest's own message only
/// says that sending failed; the cause says why), with the URL's
/// `user:password@` left out.
fn message(error: &reqwest_middleware::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    if let Some(url) = error.url()
        && (!url.username().is_empty() || url.password().is_some())
    {
        let mut clean = url.clone();
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        text = text.replace(url.as_str(), clean.as_str());
    }
    text
}
