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
    /// A whole word, not a `bool`: with no padding after it, a context is
    /// copied (on every span's entry and exit) as four aligned words,
    /// where a `bool` and seven bytes of padding were copied as odd-sized
    /// pieces whose read back stalled on forwarding from the stores just
    /// made. Its unused values are the niche of `Option<SpanContext>`, so
    /// whether a context is there, and sampled, is one word read.
    sampled: Sampled,
}

// `Option` adds nothing: its `None` is kept in an unused value of a field.
const _: () =
    assert!(std::mem::size_of::<Option<SpanContext>>() == std::mem::size_of::<SpanContext>());

/// A context's sampling decision, the size of a word.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u64)]
enum Sampled {
    No = 0,
    Yes = 1,
}

impl SpanContext {
    /// A context with these ids and sampling decision.
    pub const fn new(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
        SpanContext {
            trace_id,
            span_id,
            sampled: if sampled { Sampled::Yes } else { Sampled::No },
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
        matches!(self.sampled, Sampled::Yes)
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
        ContextGuard::install(Some(self))
    }
}

/// One entered context. Small and `Copy`: pushing and popping it is the
/// sampled path's cost.
#[derive(Clone, Copy)]
struct Entry {
    context: Option<SpanContext>,
    /// Names the guard that pushed this entry; unique on its thread.
    token: u64,
    /// The kind of the recording span that owns this entry, `None` for a
    /// bare context (attached, carried into a task, or not recording).
    owner_kind: Option<SpanKind>,
    /// Whether `with_current_span` left changes for the owner, kept by
    /// token in `AMENDMENTS`.
    amended: bool,
    /// Whether a span entered it (not an attached or carried context).
    from_span: bool,
}

impl Entry {
    const EMPTY: Entry = Entry {
        context: None,
        token: u64::MAX,
        owner_kind: None,
        amended: false,
        from_span: false,
    };
}

/// Entries kept in place; deeper nesting goes on in `DEEP`.
const SHALLOW: usize = 32;

/// The stack of this thread. Plain cells and no destructor, so that the
/// hot path reaches it with one thread-local access and no borrow flag.
struct Stack {
    /// The top entry's context: what the hot path reads.
    current: Cell<Option<SpanContext>>,
    /// Entries below `SHALLOW`.
    shallow: [Cell<Entry>; SHALLOW],
    /// How many entries there are, deep ones included.
    len: Cell<usize>,
    next_token: Cell<u64>,
}

thread_local! {
    static STACK: Stack = const {
        Stack {
            current: Cell::new(None),
            shallow: [const { Cell::new(Entry::EMPTY) }; SHALLOW],
            len: Cell::new(0),
            next_token: Cell::new(0),
        }
    };
    /// Entries from `SHALLOW` up, for deep nesting.
    static DEEP: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    /// Changes made through `with_current_span`, by the token of the entry
    /// whose span they are for. Rarely more than one.
    static AMENDMENTS: RefCell<Vec<(u64, Amendments)>> = const { RefCell::new(Vec::new()) };
}

impl Stack {
    #[inline]
    fn top(&self) -> Option<Entry> {
        let len = self.len.get();
        match len {
            0 => None,
            _ if len <= SHALLOW => Some(self.shallow[len - 1].get()),
            _ => self.all().last().copied(),
        }
    }

    /// Every entry, bottom first (for the rare paths).
    #[cold]
    fn all(&self) -> Vec<Entry> {
        let len = self.len.get();
        let mut all: Vec<Entry> = self.shallow[..len.min(SHALLOW)]
            .iter()
            .map(Cell::get)
            .collect();
        if len > SHALLOW {
            let _ = DEEP.try_with(|deep| {
                if let Ok(deep) = deep.try_borrow() {
                    all.extend(deep.iter().copied());
                }
            });
        }
        all
    }

    /// Replaces every entry (for the rare paths).
    #[cold]
    fn set_all(&self, all: Vec<Entry>) {
        for (cell, entry) in self.shallow.iter().zip(&all) {
            cell.set(*entry);
        }
        let _ = DEEP.try_with(|deep| {
            if let Ok(mut deep) = deep.try_borrow_mut() {
                deep.clear();
                deep.extend(all.iter().skip(SHALLOW).copied());
            }
        });
        self.len.set(all.len());
        self.current.set(all.last().and_then(|e| e.context));
    }

    /// Marks the entry with `token` as amended; false when it is gone.
    #[cold]
    fn mark_amended(&self, token: u64) -> bool {
        let mut all = self.all();
        let Some(entry) = all.iter_mut().rev().find(|e| e.token == token) else {
            return false;
        };
        entry.amended = true;
        self.set_all(all);
        true
    }
}

/// Takes the changes left on this thread for the entry with `token`.
#[cold]
#[inline(never)]
fn take_amendments(token: u64) -> Option<Amendments> {
    AMENDMENTS
        .try_with(|kept| {
            let mut kept = kept.try_borrow_mut().ok()?;
            let at = kept.iter().position(|(t, _)| *t == token)?;
            Some(kept.swap_remove(at).1)
        })
        .ok()
        .flatten()
}

/// The context of the current span on this thread, if any.
#[inline]
pub fn current_context() -> Option<SpanContext> {
    STACK.with(|stack| stack.current.get())
}

/// What a traced call finds current on its thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Current {
    Unsampled,
    Sampled,
    Nothing,
}

/// Whether there is a current context, and whether it is sampled: the one
/// read an unsampled call makes: the sampling decision's word, which is
/// also where `None` is kept.
#[inline(always)]
pub(crate) fn current_sampled() -> Current {
    STACK.with(|stack| {
        // SAFETY: the cell belongs to this thread, nothing else borrows it
        // while this shared read lasts, and no code runs during it.
        match unsafe { &*stack.current.as_ptr() } {
            Some(SpanContext {
                sampled: Sampled::No,
                ..
            }) => Current::Unsampled,
            Some(_) => Current::Sampled,
            None => Current::Nothing,
        }
    })
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
    let top = STACK.try_with(Stack::top).ok().flatten()?;
    let (context, kind) = (top.context?, top.owner_kind?);
    let earlier = if top.amended {
        take_amendments(top.token).unwrap_or_default()
    } else {
        Amendments::default()
    };

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
            let marked = STACK
                .try_with(|stack| stack.mark_amended(self.token))
                .unwrap_or(false);
            if marked {
                let _ = AMENDMENTS.try_with(|kept| {
                    if let Ok(mut kept) = kept.try_borrow_mut() {
                        kept.push((self.token, amendments));
                    }
                });
            }
        }
    }
    let mut give_back = GiveBack {
        token: top.token,
        kind,
        stand_in: Span::stand_in(context, kind, earlier),
    };
    Some(f(&mut give_back.stand_in))
}

/// Keeps a context current on this thread until dropped; made by
/// [`SpanContext::attach`]. Not `Send`: it must drop on the thread that
/// made it. Guards may drop in any order.
#[must_use = "the context is current only while the guard lives"]
#[derive(Debug)]
pub struct ContextGuard {
    entry: EntryRef,
    _not_send: PhantomData<*mut ()>,
}

impl ContextGuard {
    fn install(context: Option<SpanContext>) -> ContextGuard {
        ContextGuard {
            entry: EntryRef::push(context),
            _not_send: PhantomData,
        }
    }
}

impl Drop for ContextGuard {
    #[inline]
    fn drop(&mut self) {
        // An attached context has no span to give changes to.
        drop(self.entry.remove(false));
    }
}

/// Names one entry of this thread's stack. Plain data: whoever holds it
/// removes the entry, which keeps the drop glue of span guards empty.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryRef {
    token: u64,
    /// Where the entry was pushed: where it still is, unless guards were
    /// dropped out of order.
    index: usize,
}

impl EntryRef {
    /// Names no entry: removing it finds nothing.
    pub(crate) const NONE: EntryRef = EntryRef {
        token: u64::MAX,
        index: usize::MAX,
    };

    /// Whether this is [`EntryRef::NONE`].
    #[inline(always)]
    pub(crate) fn is_none(self) -> bool {
        self.index == usize::MAX
    }

    /// Pushes a bare context: attached, or carried into a task.
    #[inline]
    pub(crate) fn push(context: Option<SpanContext>) -> EntryRef {
        EntryRef::push_entry(context, None, false)
    }

    /// Pushes the context of a span being entered; `owner_kind` is its kind
    /// when it records.
    #[inline]
    pub(crate) fn push_for_span(context: SpanContext, owner_kind: Option<SpanKind>) -> EntryRef {
        EntryRef::push_entry(Some(context), owner_kind, true)
    }

    #[inline]
    fn push_entry(
        context: Option<SpanContext>,
        owner_kind: Option<SpanKind>,
        from_span: bool,
    ) -> EntryRef {
        STACK
            .try_with(|stack| {
                let token = stack.next_token.get();
                stack.next_token.set(token.wrapping_add(1));
                let index = stack.len.get();
                let entry = Entry {
                    context,
                    token,
                    owner_kind,
                    amended: false,
                    from_span,
                };
                match stack.shallow.get(index) {
                    Some(cell) => cell.set(entry),
                    None => push_deep(entry),
                }
                stack.len.set(index + 1);
                stack.current.set(context);
                EntryRef { token, index }
            })
            // The thread is being torn down: nothing to push onto, and
            // removal finds nothing.
            .unwrap_or(EntryRef::NONE)
    }

    /// Whether the stack was empty when this entry was pushed: the thread
    /// was idle, and will be again when the entry goes.
    #[inline]
    pub(crate) fn was_idle(self) -> bool {
        self.index == 0
    }

    /// Removes the entry and returns what `with_current_span` left for its
    /// span. With `and_above`, entries pushed after it go too: at the end of
    /// a poll they belong to guards leaked or held across an `.await`.
    #[inline]
    pub(crate) fn remove(self, and_above: bool) -> Option<Amendments> {
        match self.pop_if_on_top() {
            Some(false) => None,
            Some(true) => take_amendments(self.token),
            None => self.remove_out_of_order(and_above),
        }
    }

    /// The in-order case: pops the entry if it is on top, where it was
    /// pushed, and says whether it was amended.
    #[inline]
    fn pop_if_on_top(self) -> Option<bool> {
        STACK
            .try_with(|stack| {
                let cell = stack.shallow.get(self.index)?;
                let entry = cell.get();
                if stack.len.get() != self.index + 1 || entry.token != self.token {
                    return None;
                }
                stack.len.set(self.index);
                let below = match self.index.checked_sub(1) {
                    Some(below) => stack.shallow[below].get().context,
                    None => None,
                };
                stack.current.set(below);
                Some(entry.amended)
            })
            .ok()
            .flatten()
    }

    /// The entry is not on top, or is a deep one: guards were dropped out
    /// of order, left entries above it, or nest deeper than `SHALLOW`.
    #[cold]
    #[inline(never)]
    fn remove_out_of_order(self, and_above: bool) -> Option<Amendments> {
        let removed = STACK
            .try_with(|stack| {
                let mut all = stack.all();
                // Already gone: by the end of a poll, or by its span's end
                // after the guard was leaked.
                let at = all.iter().rposition(|e| e.token == self.token)?;
                let removed: Vec<Entry> = if and_above {
                    all.drain(at..).collect()
                } else {
                    vec![all.remove(at)]
                };
                stack.set_all(all);
                Some(removed)
            })
            .ok()
            .flatten()?;
        let mut mine = None;
        for entry in removed.iter().filter(|e| e.amended) {
            let amendments = take_amendments(entry.token);
            if entry.token == self.token {
                mine = amendments;
            }
        }
        mine
    }
}

#[cold]
#[inline(never)]
fn push_deep(entry: Entry) {
    let _ = DEEP.try_with(|deep| {
        if let Ok(mut deep) = deep.try_borrow_mut() {
            deep.push(entry);
        }
    });
}

/// Removes the entries a span's leaked guards left on this thread's stack
/// (and an unsampled root's own `#[traced]` call entry), and returns what
/// `with_current_span` left in them (nothing for an
/// unsampled span, whose children would otherwise record nothing).
#[cold]
#[inline(never)]
pub(crate) fn remove_leaked(span_id: SpanId) -> Vec<Amendments> {
    let is_leaked = |e: &Entry| e.from_span && e.context.is_some_and(|c| c.span_id == span_id);
    let leaked = STACK
        .try_with(|stack| {
            let len = stack.len.get();
            let shallow = &stack.shallow[..len.min(SHALLOW)];
            if len <= SHALLOW {
                match shallow.iter().position(|cell| is_leaked(&cell.get())) {
                    None => return Vec::new(),
                    // Only the top entry is the span's: the entry of an
                    // unsampled root's own `#[traced]` call. Popped in place.
                    Some(top) if top + 1 == len => {
                        let entry = shallow[top].get();
                        stack.len.set(top);
                        let below = top.checked_sub(1).and_then(|b| shallow[b].get().context);
                        stack.current.set(below);
                        return if entry.amended {
                            vec![entry]
                        } else {
                            Vec::new()
                        };
                    }
                    Some(_) => {}
                }
            }
            let (leaked, kept): (Vec<Entry>, Vec<Entry>) =
                stack.all().into_iter().partition(is_leaked);
            stack.set_all(kept);
            leaked
        })
        .unwrap_or_default();
    leaked
        .iter()
        .filter(|e| e.amended)
        .filter_map(|e| take_amendments(e.token))
        .collect()
}
