//! A tower layer for HTTP clients (hyper, or any tower HTTP client): one
//! client span per request, whose own context goes out in the headers, so
//! the server's span becomes the client span's child.
//!
//! ```
//! use dapple::client::ClientLayer;
//! let layer = ClientLayer::new();
//! # let _ = layer;
//! ```

use std::task::{Context, Poll};

use http::{Request, Response};

pub use crate::http_future::ResponseFuture;
use crate::http_future::call_in_span;
use crate::propagation::Propagator;
use crate::span::{Span, SpanKind};

/// Wraps a client so that each request is a client span.
#[derive(Clone, Debug, Default)]
pub struct ClientLayer {
    propagator: Propagator,
}

impl ClientLayer {
    /// Writes W3C headers.
    pub fn new() -> ClientLayer {
        ClientLayer::default()
    }

    /// Writes the formats of `propagator`.
    pub fn with_propagator(propagator: Propagator) -> ClientLayer {
        ClientLayer { propagator }
    }
}

impl<S> tower_layer::Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> ClientService<S> {
        ClientService {
            inner,
            propagator: self.propagator.clone(),
        }
    }
}

/// The service [`ClientLayer`] makes.
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    propagator: Propagator,
}

impl<S, B, R> tower_service::Service<Request<B>> for ClientService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<R>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> ResponseFuture<S::Future> {
        let mut span = Span::new(format!("{} {}", request.method(), request.uri().path()));
        if span.is_recording() {
            span.set_kind(SpanKind::Client);
            span.set_attribute("http.request.method", request.method().as_str().to_owned());
            span.set_attribute("url.full", request.uri().to_string());
            if let Some(host) = request.uri().host() {
                span.set_attribute("server.address", host.to_owned());
            }
        }
        // The headers carry the client span itself, not its parent.
        if let Some(context) = span.context() {
            self.propagator
                .inject(&context, None, request.headers_mut());
        }
        call_in_span(span, 400, || self.inner.call(request))
    }
}
