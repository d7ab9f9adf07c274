//! What the server and client layers share: calling the inner service
//! inside the request's span, and a response future that keeps the span
//! current while polled and ends it with the response's status.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project::pin_project;

use crate::events::{record_status_code, record_transport_error};
use crate::future::InSpan;
use crate::span::Span;

/// Calls `call` with `span` current (the handler's synchronous start runs
/// inside it), and wraps the future it returns.
pub(crate) fn call_in_span<F>(
    mut span: Span,
    error_from: u16,
    call: impl FnOnce() -> F,
) -> ResponseFuture<F> {
    let entered = span.enter();
    let inner = call();
    drop(entered);
    ResponseFuture {
        inner: InSpan::new(inner, span),
        error_from,
    }
}

/// A response future polled with its request's span current. The span ends
/// when the response is ready, with `http.response.status_code`; a status of
/// `error_from` or more, or an error, marks it as failed.
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F> {
    #[pin]
    inner: InSpan<F, Span>,
    error_from: u16,
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let poll = this.inner.as_mut().poll(cx);
        if let Poll::Ready(result) = &poll {
            // Ends the span now, before the response goes on.
            let mut span = std::mem::replace(this.inner.span_pin_mut(), Span::none());
            match result {
                Ok(response) => {
                    record_status_code(&mut span, response.status().as_u16(), *this.error_from);
                }
                // The service failed before any status: a transport error.
                Err(error) => record_transport_error(&mut span, "transport", error.to_string()),
            }
        }
        poll
    }
}
