//! A tower layer for HTTP servers (axum, hyper, tonic): one server span per
//! request, a child of the caller's span when the request carries one.
//!
//! The span is named `METHOD /route/template` when a route function is given
//! (with axum: `MatchedPath`), else `METHOD /path`, and carries
//! `http.request.method`, `http.route`, `url.path`, `user_agent.original`,
//! `client.address` (when a client-address function is given) and
//! `http.response.status_code`; a 5xx or an error marks it as failed. No
//! request header is recorded, so `Authorization` and `Cookie` never are.
//!
//! ```
//! use dapple::server::TraceLayer;
//! let layer = TraceLayer::new().with_route(|request: &http::Request<()>| {
//!     // With axum: request.extensions().get::<MatchedPath>().map(MatchedPath::as_str)
//!     request.uri().path().strip_prefix("/v1").map(|_| "/v1/{rest}")
//! });
//! # let _ = layer;
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};

pub use crate::http_future::ResponseFuture;
use crate::http_future::call_in_span;
use crate::propagation::Propagator;
use crate::span::{Span, SpanKind};
use crate::value::ToValue;

type RouteFn<B> = dyn for<'r> Fn(&'r Request<B>) -> Option<&'r str> + Send + Sync;
type AddressFn<B> = dyn Fn(&Request<B>) -> Option<String> + Send + Sync;

/// Wraps a service so that each request is handled inside a server span.
/// Cloning it (axum clones a layered service for every request) shares its
/// settings.
pub struct TraceLayer<B = ()> {
    settings: Arc<Settings<B>>,
}

/// What a [`TraceLayer`] was built with.
struct Settings<B> {
    propagator: Propagator,
    route: Option<Arc<RouteFn<B>>>,
    client_address: Option<Arc<AddressFn<B>>>,
}

impl<B> Clone for Settings<B> {
    fn clone(&self) -> Self {
        Settings {
            propagator: self.propagator.clone(),
            route: self.route.clone(),
            client_address: self.client_address.clone(),
        }
    }
}

impl<B> Clone for TraceLayer<B> {
    fn clone(&self) -> Self {
        TraceLayer {
            settings: self.settings.clone(),
        }
    }
}

impl<B> std::fmt::Debug for TraceLayer<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceLayer")
            .field("propagator", &self.settings.propagator)
            .finish_non_exhaustive()
    }
}

impl<B> Default for TraceLayer<B> {
    fn default() -> Self {
        TraceLayer {
            settings: Arc::new(Settings {
                propagator: Propagator::default(),
                route: None,
                client_address: None,
            }),
        }
    }
}

impl<B> TraceLayer<B> {
    /// Reads every header format, names spans by path.
    pub fn new() -> Self {
        TraceLayer::default()
    }

    /// Names spans by the route template `route` finds in a request (with
    /// axum, its `MatchedPath`); called only for requests whose span
    /// records.
    pub fn with_route(
        self,
        route: impl for<'r> Fn(&'r Request<B>) -> Option<&'r str> + Send + Sync + 'static,
    ) -> Self {
        self.with(|settings| settings.route = Some(Arc::new(route)))
    }

    /// Records as `client.address` what `address` returns for a request.
    /// With axum, serve with `into_make_service_with_connect_info` and read
    /// `ConnectInfo<SocketAddr>` from the request's extensions.
    pub fn with_client_address(
        self,
        address: impl Fn(&Request<B>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.with(|settings| settings.client_address = Some(Arc::new(address)))
    }

    /// Reads the formats of `propagator`.
    pub fn with_propagator(self, propagator: Propagator) -> Self {
        self.with(|settings| settings.propagator = propagator)
    }

    fn with(self, change: impl FnOnce(&mut Settings<B>)) -> Self {
        let mut settings = Arc::unwrap_or_clone(self.settings);
        change(&mut settings);
        TraceLayer {
            settings: Arc::new(settings),
        }
    }
}

impl<S, B> tower_layer::Layer<S> for TraceLayer<B> {
    type Service = TraceService<S, B>;

    fn layer(&self, inner: S) -> TraceService<S, B> {
        TraceService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`TraceLayer`] makes.
pub struct TraceService<S, B = ()> {
    inner: S,
    layer: TraceLayer<B>,
}

impl<S: Clone, B> Clone for TraceService<S, B> {
    fn clone(&self) -> Self {
        TraceService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, B> std::fmt::Debug for TraceService<S, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceService").finish_non_exhaustive()
    }
}

impl<S, B, R> tower_service::Service<Request<B>> for TraceService<S, B>
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

    fn call(&mut self, request: Request<B>) -> ResponseFuture<S::Future> {
        // Named once it is known to record: a request left unsampled costs
        // no route lookup and no name.
        let settings = &self.layer.settings;
        let mut span = match settings.propagator.extract(request.headers()) {
            Some(remote) => Span::child_of("", remote.context),
            None => Span::root(""),
        };
        if span.is_recording() {
            let route = settings.route.as_ref().and_then(|route| route(&request));
            let path = request.uri().path();
            let method = request.method().as_str();
            span.set_name(name(method, route.unwrap_or(path)));
            // Borrowed text goes into the span as it is (short text in
            // place, longer once), not through an owned copy. The span is
            // new and its keys distinct: each is appended, with no search
            // for one set before.
            span.set_kind(SpanKind::Server);
            span.push_attribute("http.request.method", method.to_value());
            span.push_attribute("url.path", path.to_value());
            if let Some(route) = route {
                span.push_attribute("http.route", route.to_value());
            }
            if let Some(agent) = request
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
            {
                span.push_attribute("user_agent.original", agent.to_value());
            }
            if let Some(address) = settings.client_address.as_ref()
                && let Some(address) = address(&request)
            {
                span.push_attribute("client.address", address.into());
            }
        }
        // A server's own failures are 5xx; 4xx are the client's.
        call_in_span(span, 500, || self.inner.call(request))
    }
}

/// A server span's name, `METHOD target`, built in one allocation of its
/// exact size.
fn name(method: &str, target: &str) -> String {
    let mut name = String::with_capacity(method.len() + 1 + target.len());
    name.push_str(method);
    name.push(' ');
    name.push_str(target);
    name
}
