//! The span context and the per-thread stack of entered contexts.
//!
//! The stack holds contexts and tokens, never pointers: a guard removes its
//! own entry by token wherever it sits, so guards dropped out of order leave
//! the right context current, and a leaked guard leaves only a stale entry.
//! Changes made to the current span through [`with_current_span`] are kept
//! in its entry (owned by the stack) until the span's own guard takes them.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

use crate::id::{SpanId, TraceId};
use crate::span::{Amendments, Span, SpanKind};

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
        ContextGuard::install(Some(self), None)
    }
}

/// One entered context.
struct Entry {
    context: Option<SpanContext>,
    /// Names the guard that pushed this entry; unique on its thread.
    token: u64,
    /// The kind of the recording span that owns this entry, `None` for a
    /// bare context (attached, carried into a task, or not recording).
    owner_kind: Option<SpanKind>,
    /// Changes made through `with_current_span`, for the owner to take.
    amendments: Amendments,
}

struct Stack {
    entries: RefCell<Vec<Entry>>,
    /// The top entry's context, kept beside the stack so that the hot path
    /// reads it without a borrow.
    current: Cell<Option<SpanContext>>,
    next_token: Cell<u64>,
}

thread_local! {
    static STACK: Stack = const {
        Stack {
            entries: RefCell::new(Vec::new()),
            current: Cell::new(None),
            next_token: Cell::new(0),
        }
    };
}

/// The context of the current span on this thread, if any.
#[inline]
pub fn current_context() -> Option<SpanContext> {
    STACK.try_with(|stack| stack.current.get()).ok().flatten()
}

/// Whether there is a current context, and whether it is sampled: the one
/// read an unsampled call makes.
#[inline(always)]
pub(crate) fn current_sampled() -> Option<bool> {
    STACK
        .try_with(|stack| stack.current.get().map(|c| c.sampled))
        .ok()
        .flatten()
}

/// Runs `f` on the current span when a span entered on this thread is
/// current and records; returns `None` (and does not run `f`) otherwise.
///
/// `f` gets a stand-in for the span with the same context: what it sets
/// (attributes, events, links, status, name, kind) is applied to the span
/// itself when the guard that entered it ends, which is before the span
/// ends. Reads through the stand-in see only what `f` set.
///
/// ```
/// #[dapple::traced]
/// fn checkout(cart: &[u32]) {
///     dapple::with_current_span(|span| span.set_attribute("cart.items", cart.len()));
/// }
/// checkout(&[1, 2]);
/// ```
pub fn with_current_span<R>(f: impl FnOnce(&mut Span) -> R) -> Option<R> {
    let (token, context, kind, amendments) = STACK
        .try_with(|stack| {
            let mut entries = stack.entries.borrow_mut();
            let top = entries.last_mut()?;
            let kind = top.owner_kind?;
            let context = top.context?;
            Some((
                top.token,
                context,
                kind,
                std::mem::take(&mut top.amendments),
            ))
        })
        .ok()
        .flatten()?;

    /// Gives what `f` set back to the entry, also when `f` panics.
    struct GiveBack {
        token: u64,
        kind: SpanKind,
        stand_in: Span,
    }
    impl Drop for GiveBack {
        fn drop(&mut self) {
            let Some(amendments) = self.stand_in.take_amendments(self.kind) else {
                // `f` swapped the stand-in for a span of its own, which ends
                // here as any span does.
                return;
            };
            let _ = STACK.try_with(|stack| {
                if let Ok(mut entries) = stack.entries.try_borrow_mut()
                    && let Some(entry) = entries.iter_mut().rev().find(|e| e.token == self.token)
                {
                    entry.amendments = amendments;
                }
            });
        }
    }
    let mut give_back = GiveBack {
        token,
        kind,
        stand_in: Span::stand_in(context, kind, amendments),
    };
    Some(f(&mut give_back.stand_in))
}

/// Keeps a context current on this thread until dropped; made by
/// [`SpanContext::attach`]. Not `Send`: it must drop on the thread that
/// made it. Guards may drop in any order.
#[must_use = "the context is current only while the guard lives"]
#[derive(Debug)]
pub struct ContextGuard {
    token: u64,
    /// Where the entry was pushed: where it still is, unless guards were
    /// dropped out of order.
    index: usize,
    _not_send: PhantomData<*mut ()>,
}

impl ContextGuard {
    /// Whether the stack was empty when this guard was made: the thread was
    /// idle, and will be again when the guard ends.
    #[inline]
    pub(crate) fn was_idle(&self) -> bool {
        self.index == 0
    }

    /// Pushes `context`; `owner_kind` is the kind of the recording span that
    /// owns the entry, if one does.
    #[inline]
    pub(crate) fn install(
        context: Option<SpanContext>,
        owner_kind: Option<SpanKind>,
    ) -> ContextGuard {
        let (token, index) = STACK
            .try_with(|stack| {
                let token = stack.next_token.get();
                stack.next_token.set(token.wrapping_add(1));
                let mut entries = stack.entries.borrow_mut();
                entries.push(Entry {
                    context,
                    token,
                    owner_kind,
                    amendments: Amendments::default(),
                });
                stack.current.set(context);
                (token, entries.len() - 1)
            })
            // The thread is being torn down: nothing to install into, and
            // the drop finds nothing to remove.
            .unwrap_or((u64::MAX, usize::MAX));
        ContextGuard {
            token,
            index,
            _not_send: PhantomData,
        }
    }

    /// Removes this guard's entry and returns what `with_current_span` left
    /// in it. With `and_above`, entries pushed after it go too: at the end of
    /// a poll they belong to guards leaked or held across an `.await`.
    #[inline]
    pub(crate) fn remove(self, and_above: bool) -> Amendments {
        let this = std::mem::ManuallyDrop::new(self);
        this.remove_entry(and_above)
    }

    #[inline]
    fn remove_entry(&self, and_above: bool) -> Amendments {
        STACK
            .try_with(|stack| {
                let Ok(mut entries) = stack.entries.try_borrow_mut() else {
                    return Amendments::default();
                };
                let at = match entries.get(self.index) {
                    Some(entry) if entry.token == self.token => self.index,
                    _ => match entries.iter().rposition(|e| e.token == self.token) {
                        Some(at) => at,
                        // Already removed: by the end of a poll, or by its
                        // span's end after the guard was leaked.
                        None => return Amendments::default(),
                    },
                };
                let entry = if and_above {
                    entries.truncate(at + 1);
                    entries.pop()
                } else {
                    Some(entries.remove(at))
                };
                stack.current.set(entries.last().and_then(|e| e.context));
                entry.map(|e| e.amendments).unwrap_or_default()
            })
            .unwrap_or_default()
    }
}

impl Drop for ContextGuard {
    #[inline]
    fn drop(&mut self) {
        // An attached context has no span to give changes to.
        drop(self.remove_entry(false));
    }
}

/// Removes the entries a recording span's leaked guards left on this
/// thread's stack, and returns what `with_current_span` left in them.
#[cold]
pub(crate) fn remove_leaked(span_id: SpanId) -> Vec<Amendments> {
    STACK
        .try_with(|stack| {
            let Ok(mut entries) = stack.entries.try_borrow_mut() else {
                return Vec::new();
            };
            let mut amendments = Vec::new();
            entries.retain_mut(|entry| {
                let leaked = entry.owner_kind.is_some()
                    && entry.context.is_some_and(|c| c.span_id == span_id);
                if leaked {
                    amendments.push(std::mem::take(&mut entry.amendments));
                }
                !leaked
            });
            stack.current.set(entries.last().and_then(|e| e.context));
            amendments
        })
        .unwrap_or_default()
}
