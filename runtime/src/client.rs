//! A tower layer for HTTP clients (hyper, or any tower HTTP client): one
//! client span per request, whose own context goes out in the headers, so
//! the server's span becomes the client span's child.
//!
//! ```
//! use dapple::client::ClientLayer;
//! let layer = ClientLayer::new();
//! # let _ = layer;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project::pin_project;

use crate::context::ContextGuard;
use crate::propagation::Propagator;
use crate::span::{Span, SpanKind, Status};

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
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> ClientFuture<S::Future> {
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
        let entered = span.enter();
        let inner = self.inner.call(request);
        drop(entered);
        ClientFuture {
            inner,
            span: Some(span),
        }
    }
}

/// The response future of [`ClientService`].
#[pin_project]
#[derive(Debug)]
pub struct ClientFuture<F> {
    #[pin]
    inner: F,
    span: Option<Span>,
}

impl<F, R, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(span) = this.span.as_mut() else {
            return this.inner.poll(cx);
        };
        let guard = span
            .context()
            .map(|c| ContextGuard::install(Some(c), span as *mut Span));
        let poll = this.inner.poll(cx);
        drop(guard);
        if let Poll::Ready(result) = &poll
            && let Some(mut span) = this.span.take()
        {
            match result {
                Ok(response) => {
                    let code = response.status().as_u16();
                    span.set_attribute("http.response.status_code", code);
                    if code >= 400 {
                        span.set_attribute("error.type", code.to_string());
                        span.set_status(Status::Error(format!("HTTP {code}").into()));
                    }
                }
                Err(error) => {
                    span.set_attribute("error.type", "transport");
                    span.set_error(error.to_string());
                }
            }
        }
        poll
    }
}
