//! A tower layer for HTTP clients (hyper, or any tower HTTP client): one
//! client span per request, whose own context goes out in the headers, so
//! the server's span becomes the client span's child.
//!
//! ```
//! use dapple::client::ClientLayer;
//! let layer = ClientLayer::new();
//! # let _ = layer;
//! ```

use std::borrow::Cow;
use std::task::{Context, Poll};

use http::{Request, Response};

use crate::events::{HttpClient, name_client_span};
pub use crate::http_future::ResponseFuture;
use crate::http_future::call_in_span;
use crate::propagation::Propagator;
use crate::span::Span;

/// Wraps a client so that each request is a client span.
#[derive(Clone, Debug, Default)]
pub struct ClientLayer {
    propagator: Propagator,
    peer_service: Option<Cow<'static, str>>,
}

impl ClientLayer {
    /// Writes W3C headers.
    pub fn new() -> ClientLayer {
        ClientLayer::default()
    }

    /// Writes the formats of `propagator`.
    pub fn with_propagator(propagator: Propagator) -> ClientLayer {
        ClientLayer {
            propagator,
            peer_service: None,
        }
    }

    /// Names the service this client calls: spans are named
    /// `METHOD service /path` and carry `peer.service`.
    ///
    /// ```
    /// use dapple::client::ClientLayer;
    /// let layer = ClientLayer::new().with_peer_service("billing");
    /// # let _ = layer;
    /// ```
    pub fn with_peer_service(mut self, service: impl Into<Cow<'static, str>>) -> ClientLayer {
        self.peer_service = Some(service.into());
        self
    }
}

impl<S> tower_layer::Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> ClientService<S> {
        ClientService {
            inner,
            propagator: self.propagator.clone(),
            peer_service: self.peer_service.clone(),
        }
    }
}

/// The service [`ClientLayer`] makes.
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    propagator: Propagator,
    peer_service: Option<Cow<'static, str>>,
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
        // Named only once it is known to record: unsampled requests format nothing.
        let mut span = Span::new("");
        if span.is_recording() {
            let (method, uri) = (request.method(), request.uri());
            let peer = self.peer_service.as_ref();
            name_client_span(&mut span, method.as_str(), peer, uri.path());
            span.record(describe(method, uri));
        }
        // The headers carry the client span itself, not its parent.
        if let Some(context) = span.context() {
            self.propagator
                .inject(&context, None, request.headers_mut());
        }
        call_in_span(span, 400, || self.inner.call(request))
    }
}

/// The client-span attributes of a request to `uri`.
fn describe(method: &http::Method, uri: &http::Uri) -> HttpClient {
    let mut event = HttpClient::new(method.as_str().to_owned(), uri.to_string());
    if let Some(host) = uri.host() {
        event = event.server_address(host.to_owned());
    }
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    if let Some(port) = uri.port_u16().or(default_port) {
        event = event.server_port(port);
    }
    event
}
