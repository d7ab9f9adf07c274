//! The span context and the thread-local slot that holds the current one.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;

use crate::id::{SpanId, TraceId};
use crate::span::Span;

/// What identifies a span across threads and processes: its trace, its id and
/// whether its trace is sampled. Small and `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
}

impl SpanContext {
    /// A context with these ids and sampling decision.
    pub const fn new(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
        SpanContext {
            trace_id,
            span_id,
            sampled,
        }
    }

    /// The trace this span belongs to.
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span's own id.
    pub const fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// Whether spans of this trace are recorded. Children follow this decision.
    pub const fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// Makes this context current on this thread until the guard drops, so
    /// that spans started meanwhile become its children (for a context
    /// received from another process, say).
    ///
    /// ```
    /// use dapple::{SpanContext, SpanId, TraceId};
    /// let remote = SpanContext::new(TraceId::random(), SpanId::random(), true);
    /// let _guard = remote.attach();
    /// assert_eq!(dapple::current_context(), Some(remote));
    /// ```
    pub fn attach(self) -> ContextGuard {
        ContextGuard::install(Some(self), ptr::null_mut())
    }
}

/// The current context and, when this thread owns it, the span behind it.
struct Slot {
    context: Cell<Option<SpanContext>>,
    span: Cell<*mut Span>,
}

thread_local! {
    static CURRENT: Slot = const {
        Slot { context: Cell::new(None), span: Cell::new(ptr::null_mut()) }
    };
}

/// The context of the current span on this thread, if any.
#[inline]
pub fn current_context() -> Option<SpanContext> {
    CURRENT.with(|slot| slot.context.get())
}

/// Whether there is a current context, and whether it is sampled, without
/// copying the context out: the one read an unsampled call makes.
#[inline(always)]
pub(crate) fn current_sampled() -> Option<bool> {
    CURRENT.with(|slot| {
        // SAFETY: the cell belongs to this thread and nothing else borrows
        // it while this shared read lasts.
        unsafe { (*slot.context.as_ptr()).as_ref().map(|c| c.sampled) }
    })
}

/// Runs `f` on the current span when this thread owns it and it records;
/// returns `None` (and does not run `f`) otherwise.
///
/// ```
/// #[dapple::traced]
/// fn checkout(cart: &[u32]) {
///     dapple::with_current_span(|span| span.set_attribute("cart.items", cart.len()));
/// }
/// checkout(&[1, 2]);
/// ```
pub fn with_current_span<R>(f: impl FnOnce(&mut Span) -> R) -> Option<R> {
    /// Puts the span pointer back even if `f` panics.
    struct Restore(*mut Span);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|slot| slot.span.set(self.0));
        }
    }
    let span = CURRENT
        .try_with(|slot| slot.span.replace(ptr::null_mut()))
        .ok()?;
    if span.is_null() {
        return None;
    }
    let _restore = Restore(span);
    // SAFETY: the pointer was stored by `Span::enter` or `InSpan::poll`, whose
    // guards hold the span's unique borrow and clear the slot before it ends.
    // It was taken out of the slot above, so no second `&mut` can be made
    // from it while `f` runs.
    let span = unsafe { &mut *span };
    if span.is_recording() {
        Some(f(span))
    } else {
        None
    }
}

/// Restores the previous current context when dropped. Not `Send`: it must
/// drop on the thread that made it.
#[must_use = "the context is current only while the guard lives"]
#[derive(Debug)]
pub struct ContextGuard {
    previous: Option<SpanContext>,
    previous_span: *mut Span,
    _not_send: PhantomData<*mut ()>,
}

impl ContextGuard {
    #[inline]
    pub(crate) fn previous(&self) -> Option<SpanContext> {
        self.previous
    }

    #[inline]
    pub(crate) fn install(context: Option<SpanContext>, span: *mut Span) -> ContextGuard {
        CURRENT.with(|slot| ContextGuard {
            previous: slot.context.replace(context),
            previous_span: slot.span.replace(span),
            _not_send: PhantomData,
        })
    }
}

impl Drop for ContextGuard {
    #[inline]
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|slot| {
            slot.context.set(self.previous);
            slot.span.set(self.previous_span);
        });
    }
}
