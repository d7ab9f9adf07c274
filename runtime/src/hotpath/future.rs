//! Futures that carry a span context: installed on every poll, restored after,
//! so the context follows a task across `.await` and worker threads on any
//! executor.

use std::borrow::BorrowMut;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

use crate::clock::Ticks;
use crate::context::{EntryRef, SpanContext, current_context};
use crate::local::buffer;
use crate::span::Span;

/// A future polled with a span context current. Made by
/// [`FutureExt::in_current_span`] and by the spawn calls that `#[traced]`
/// rewrites.
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F> {
    #[pin]
    inner: F,
    context: Option<SpanContext>,
}

impl<F> Instrumented<F> {
    /// Wraps `inner` so that `context` is current whenever it is polled.
    pub fn new(inner: F, context: Option<SpanContext>) -> Instrumented<F> {
        Instrumented { inner, context }
    }

    /// The context installed while polling.
    pub fn context(&self) -> Option<SpanContext> {
        self.context
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _poll = PollScope(EntryRef::push(*this.context));
        this.inner.poll(cx)
    }
}

/// Ends an `Instrumented` poll's entry, also when the poll panics, and hands
/// on the spans the poll finished when the thread goes back to idle.
struct PollScope(EntryRef);

impl Drop for PollScope {
    #[inline]
    fn drop(&mut self) {
        drop(self.0.remove(true));
        if self.0.was_idle() {
            buffer::flush();
        }
    }
}

/// A future polled with a span current; the span can be owned (it ends when
/// the future is dropped) or borrowed (as `#[traced]` async fns do).
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct InSpan<F, S> {
    #[pin]
    inner: F,
    span: S,
    /// The span starts right before the first poll and ends right after the
    /// last, as `#[traced]` async fns do: those polls' outer ends are the
    /// span's own start and end readings.
    tight: bool,
}

impl<F, S: BorrowMut<Span>> InSpan<F, S> {
    /// Wraps `inner` so that `span` is current whenever it is polled.
    pub fn new(inner: F, span: S) -> InSpan<F, S> {
        InSpan {
            inner,
            span,
            tight: false,
        }
    }

    /// As [`new`](Self::new), for a span started right before the first
    /// poll and ended right after the last.
    pub(crate) fn tight(inner: F, span: S) -> InSpan<F, S> {
        InSpan {
            inner,
            span,
            tight: true,
        }
    }

    /// The span.
    pub fn span_mut(&mut self) -> &mut Span {
        self.span.borrow_mut()
    }

    /// The span, from a pinned future.
    pub fn span_pin_mut(self: Pin<&mut Self>) -> &mut Span {
        self.project().span.borrow_mut()
    }
}

impl<F: Future, S: BorrowMut<Span>> Future for InSpan<F, S> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let span: &mut Span = (*this.span).borrow_mut();
        let Some(entry) = span.enter_poll() else {
            // Unsampled child or tracing off: the parent's context stays.
            return this.inner.poll(cx);
        };
        /// Ends the poll's entry and adds the poll to the span's busy time,
        /// also when the poll panics.
        struct Exit<'a> {
            span: &'a mut Span,
            entry: EntryRef,
            started: Option<Ticks>,
            tight: bool,
            ready: bool,
        }
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                if let Some(started) = self.started {
                    self.span.poll_ended(started, self.tight && self.ready);
                }
                self.span.exit_poll(self.entry);
                // Back to the executor: hand on what this poll finished, a
                // panicking poll's spans included. A finished future's spans
                // go with its own span's end.
                if self.entry.was_idle() && (!self.ready || std::thread::panicking()) {
                    buffer::flush();
                }
            }
        }
        let started = span.poll_started(*this.tight);
        let mut exit = Exit {
            span,
            entry,
            started,
            tight: *this.tight,
            ready: false,
        };
        let poll = this.inner.poll(cx);
        exit.ready = poll.is_ready();
        poll
    }
}

/// Attaches span contexts to futures.
pub trait FutureExt: Future + Sized {
    /// Carries the current span context into this future: spans it starts
    /// become children of the span current now, whichever thread polls it.
    ///
    /// ```
    /// use dapple::FutureExt;
    /// let work = async { 1 + 1 }.in_current_span();
    /// assert_eq!(futures::executor::block_on(work), 2);
    /// ```
    fn in_current_span(self) -> Instrumented<Self> {
        Instrumented::new(self, current_context())
    }

    /// Makes `span` current while this future runs; the span ends when the
    /// future is dropped.
    fn in_span(self, span: Span) -> InSpan<Self, Span> {
        InSpan::new(self, span)
    }
}

impl<F: Future> FutureExt for F {}
