//! The `Span` handle: one timed operation being recorded.

use std::borrow::Cow;
use std::mem::ManuallyDrop;

use crate::args::{ArgKeys, ArgValue, Slots};
use crate::clock::{self, Ticks};
use std::marker::PhantomData;

use crate::context::{self, EntryRef, SpanContext, current_context};
use crate::id::{SpanId, TraceId};
use crate::local::buffer;
use crate::record::{Event, Link, SpanRecord};
use crate::sampling;
use crate::value::{KeyValue, Value};

/// The role of a span in a request, as in OpenTelemetry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum SpanKind {
    /// Work inside one process.
    #[default]
    Internal,
    /// The handling of a request from another process.
    Server,
    /// A request to another process.
    Client,
    /// A message sent for later processing.
    Producer,
    /// The processing of a received message.
    Consumer,
}

impl SpanKind {
    /// The lowercase name: `internal`, `server`, `client`, `producer`, `consumer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// Whether a span's operation succeeded.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum Status {
    /// Nothing was said.
    #[default]
    Unset,
    /// It succeeded.
    Ok,
    /// It failed, with this message.
    Error(Cow<'static, str>),
}

/// What a recording span holds until it ends.
#[derive(Clone, Debug)]
pub(crate) struct Recording {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) parent: Option<SpanId>,
    pub(crate) start: Ticks,
    /// The `#[traced]` function's arguments, in place.
    pub(crate) args: Slots,
    /// What fewer spans have, kept out of line so that records stay small.
    pub(crate) extras: Option<Box<Extras>>,
    /// Guards from [`Span::enter`] not dropped yet (leaked ones included).
    pub(crate) entered: u32,
    /// Set on the stand-in `with_current_span` lends, which never ends as a
    /// span of its own.
    pub(crate) stand_in: bool,
    /// Polls of an async span so far, and [`POLL_OPEN`] while the last one
    /// is still to be closed by the span's end.
    pub(crate) polls: u32,
    /// Clock ticks spent inside those polls; while [`POLL_OPEN`] is set,
    /// minus the open poll's start (the end adds the rest).
    pub(crate) busy: Ticks,
    /// The entry a `#[traced]` call pushed as it started the span
    /// ([`EntryRef::NONE`] otherwise): removed as the span ends, so that a
    /// call enters and leaves its span without a guard of its own. (An
    /// unsampled root keeps no recording: its span's end finds its entry
    /// by span id.)
    pub(crate) call_entry: EntryRef,
}

/// Marks a poll left open, to be closed by the span's end: `#[traced]` async
/// fns end their span right after its last poll, so that poll's end is the
/// span's end and needs no clock read of its own.
pub(crate) const POLL_OPEN: u32 = 1 << 31;

/// The rarer parts of a span: attributes other than arguments in place,
/// events, links, status. Boxes are recycled, so they cost no allocation
/// in steady state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extras {
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
    pub(crate) status: Status,
    /// Text arguments too long to keep in place, as ranges of `text`: the
    /// recycled box keeps both buffers, so they cost no allocation.
    pub(crate) long_args: Vec<LongArg>,
    pub(crate) text: String,
}

/// A text argument kept in `Extras::text`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LongArg {
    pub(crate) key: &'static str,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Extras {
    /// The long text arguments, in the order they were recorded.
    pub(crate) fn long_args(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.long_args.iter().map(|arg| {
            let text = self.text.get(arg.start as usize..arg.end as usize);
            (arg.key, text.unwrap_or_default())
        })
    }
}

impl Recording {
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(crate::local::extras::take)
    }

    pub(crate) fn status(&self) -> &Status {
        const UNSET: &Status = &Status::Unset;
        self.extras.as_ref().map_or(UNSET, |e| &e.status)
    }
}

/// What `with_current_span` set on a span, kept by the context stack until
/// the span's guard applies it.
#[derive(Debug, Default)]
pub(crate) struct Amendments {
    name: Option<Cow<'static, str>>,
    kind: Option<SpanKind>,
    extras: Option<Box<Extras>>,
}

/// A stand-in's name until it is renamed. Compared by address, so no
/// name a caller passes can be taken for it.
static UNNAMED: &str = "";

/// A span being recorded. It ends when dropped or on [`Span::end`].
///
/// A span that is not sampled, or started while no sink is set, records
/// nothing and every method on it does nothing.
///
/// ```
/// use dapple::{Span, SpanKind};
/// let mut span = Span::new("load-config");
/// span.set_kind(SpanKind::Internal);
/// span.set_attribute("config.path", "/etc/app.toml");
/// span.add_event("parsed", []);
/// span.end();
/// ```
#[derive(Debug)]
pub struct Span {
    context: Option<SpanContext>,
    /// Taken out by `finish`, which `Drop` calls whenever the span has a
    /// context (every recording span has one); so the drop glue of a span
    /// that records nothing is one test.
    recording: ManuallyDrop<Option<Recording>>,
}

impl Span {
    /// A span that records nothing.
    #[inline]
    pub const fn none() -> Span {
        Span {
            context: None,
            recording: ManuallyDrop::new(None),
        }
    }

    /// The stand-in for a current span of this kind, holding what earlier
    /// calls set.
    pub(crate) fn stand_in(context: SpanContext, kind: SpanKind, earlier: Amendments) -> Span {
        Span {
            context: Some(context),
            recording: ManuallyDrop::new(Some(Recording {
                name: earlier.name.unwrap_or(Cow::Borrowed(UNNAMED)),
                kind: earlier.kind.unwrap_or(kind),
                parent: None,
                start: 0,
                args: Slots::default(),
                extras: earlier.extras,
                entered: 0,
                stand_in: true,
                polls: 0,
                busy: 0,
                call_entry: EntryRef::NONE,
            })),
        }
    }

    /// What was set on a stand-in, compared with the span of `kind` it
    /// stands in for; `None` when this is not a stand-in.
    pub(crate) fn take_amendments(&mut self, kind: SpanKind) -> Option<Amendments> {
        if !self.recording.as_ref().is_some_and(|rec| rec.stand_in) {
            return None;
        }
        let rec = self.recording.take()?;
        // Emptied, it is no span at all: its drop must not look like the
        // end of the span it stood in for.
        self.context = None;
        let renamed = !matches!(rec.name, Cow::Borrowed(name) if std::ptr::eq(name, UNNAMED));
        Some(Amendments {
            name: renamed.then_some(rec.name),
            kind: (rec.kind != kind).then_some(rec.kind),
            extras: rec.extras,
        })
    }

    /// Applies what `with_current_span` set while this span was current.
    #[cold]
    #[inline(never)]
    fn apply(&mut self, amendments: Amendments) {
        let Amendments { name, kind, extras } = amendments;
        if let Some(name) = name {
            self.set_name(name);
        }
        if let Some(kind) = kind {
            self.set_kind(kind);
        }
        let Some(mut extras) = extras else {
            return;
        };
        let Some(rec) = self.recording.as_mut() else {
            crate::local::extras::give_back(std::iter::once(extras));
            return;
        };
        if rec.extras.is_none() {
            for kv in &extras.attributes {
                rec.args.remove(&kv.key);
            }
            rec.extras = Some(extras);
            return;
        }
        for kv in extras.attributes.drain(..) {
            self.set_attribute(kv.key, kv.value);
        }
        if let Some(rec) = self.recording.as_mut() {
            let mine = rec.extras();
            mine.events.append(&mut extras.events);
            mine.links.append(&mut extras.links);
            let status = std::mem::take(&mut extras.status);
            if status != Status::Unset {
                mine.status = status;
            }
        }
        crate::local::extras::give_back(std::iter::once(extras));
    }

    /// Starts a span: a child of the current span, or the root of a new trace
    /// when there is none.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Span {
        match current_context() {
            Some(parent) => Span::child_of(name, parent),
            None => Span::root(name),
        }
    }

    /// Starts the root span of a new trace, sampled at the global rate.
    pub fn root(name: impl Into<Cow<'static, str>>) -> Span {
        Span::start_root(
            name.into(),
            SpanKind::Internal,
            sampling::global_threshold(),
        )
    }

    /// Starts a child of `parent`, following its sampling decision.
    pub fn child_of(name: impl Into<Cow<'static, str>>, parent: SpanContext) -> Span {
        if !parent.is_sampled() || !crate::sink::is_enabled() {
            return Span::none();
        }
        Span::start_child(name.into(), SpanKind::Internal, parent, false)
    }

    /// Starts a child of `parent`; with `enter`, entered for the rest of
    /// the `#[traced]` call that starts it (the entry goes when the span
    /// ends), the entry pushed before the span is written in place.
    #[inline(always)]
    pub(crate) fn start_child(
        name: Cow<'static, str>,
        kind: SpanKind,
        parent: SpanContext,
        enter: bool,
    ) -> Span {
        let context = SpanContext::new(parent.trace_id(), SpanId::random(), true);
        let entry = if enter {
            EntryRef::push_for_span(context, Some(kind))
        } else {
            EntryRef::NONE
        };
        Span::recording(context, name, kind, Some(parent.span_id()), entry)
    }

    #[inline]
    pub(crate) fn start_root(name: Cow<'static, str>, kind: SpanKind, threshold: u64) -> Span {
        if !crate::sink::is_enabled() {
            return Span::none();
        }
        let trace_id = TraceId::random();
        let sampled = sampling::decide(trace_id, threshold);
        let context = SpanContext::new(trace_id, SpanId::random(), sampled);
        if !sampled {
            // Carries the decision to children without recording anything.
            return Span {
                context: Some(context),
                recording: ManuallyDrop::new(None),
            };
        }
        Span::recording(context, name, kind, None, EntryRef::NONE)
    }

    #[inline]
    fn recording(
        context: SpanContext,
        name: Cow<'static, str>,
        kind: SpanKind,
        parent: Option<SpanId>,
        call_entry: EntryRef,
    ) -> Span {
        Span {
            context: Some(context),
            recording: ManuallyDrop::new(Some(Recording {
                name,
                kind,
                parent,
                args: Slots::default(),
                extras: None,
                entered: 0,
                stand_in: false,
                polls: 0,
                busy: 0,
                start: clock::now(),
                call_entry,
            })),
        }
    }

    /// Makes this span current for the rest of the `#[traced]` call that
    /// started it: the entry goes when the span ends. Not counted in
    /// `entered`, since the span's end removes it.
    #[inline(always)]
    pub(crate) fn enter_for_call(&mut self) {
        if let Some(context) = self.context {
            let owner = self.recording.as_ref().map(|rec| rec.kind);
            let entry = EntryRef::push_for_span(context, owner);
            if let Some(rec) = self.recording.as_mut() {
                rec.call_entry = entry;
            }
        }
    }

    /// Whether this span records (it is sampled and a sink is set).
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    /// The span's context, to propagate or to link to. `None` for a span
    /// that neither records nor carries a sampling decision.
    #[inline]
    pub fn context(&self) -> Option<SpanContext> {
        self.context
    }

    /// Gives the span the attributes of its call site, by reference (see
    /// [`StaticAttributes`](crate::StaticAttributes)). A span that already
    /// recorded `#[traced]` arguments copies them into its attribute list
    /// instead. An attribute set later with the same key is written as well:
    /// callers keep the keys apart.
    pub fn set_static_attributes(&mut self, attributes: &'static crate::args::StaticAttributes) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        if rec.args.is_unused() {
            rec.args.set_static(attributes);
        } else {
            for kv in attributes.attributes() {
                rec.extras().attributes.push(kv.clone());
            }
        }
    }

    /// Sets an attribute, replacing an earlier value of the same key.
    pub fn set_attribute(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if let Some(rec) = self.recording.as_mut() {
            let key = key.into();
            let value = value.into();
            rec.args.remove(&key);
            let extras = rec.extras();
            extras.long_args.retain(|arg| arg.key != key);
            let attributes = &mut extras.attributes;
            match attributes.iter_mut().find(|kv| kv.key == key) {
                Some(kv) => kv.value = value,
                None => attributes.push(KeyValue { key, value }),
            }
        }
    }

    /// Appends an attribute whose key is known to be new (the macro checks
    /// its keys are distinct at compile time).
    #[inline]
    pub(crate) fn push_attribute(&mut self, key: &'static str, value: Value) {
        if let Some(rec) = self.recording.as_mut() {
            rec.extras().attributes.push(KeyValue {
                key: Cow::Borrowed(key),
                value,
            });
        }
    }

    /// Records argument `index` of a traced function, in place when it
    /// fits. Inlined into the traced function, where the value's type is
    /// known, so storing an integer or a short string is a few moves.
    #[inline(always)]
    pub(crate) fn push_arg(&mut self, keys: &'static ArgKeys, index: usize, value: ArgValue<'_>) {
        if let Some(rec) = self.recording.as_mut()
            && let Err(value) = rec.args.store(keys, index, value)
        {
            self.spill_arg(keys, index, value);
        }
    }

    /// An argument that does not fit in place joins the attribute list.
    #[cold]
    #[inline(never)]
    fn spill_arg(&mut self, keys: &'static ArgKeys, index: usize, value: ArgValue<'_>) {
        let Some(key) = keys.0.get(index) else {
            return;
        };
        match value {
            ArgValue::Str(text) if u32::try_from(text.len()).is_ok() => {
                if let Some(rec) = self.recording.as_mut() {
                    let extras = rec.extras();
                    let start = extras.text.len();
                    extras.text.push_str(text);
                    let (Ok(start), Ok(end)) =
                        (u32::try_from(start), u32::try_from(extras.text.len()))
                    else {
                        extras.text.truncate(start);
                        return;
                    };
                    extras.long_args.push(LongArg { key, start, end });
                }
            }
            value => self.push_attribute(key, value.into()),
        }
    }

    /// Adds an event that happened now, with its attributes.
    pub fn add_event(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) {
        if self.recording.is_some() {
            self.add_event_at(name, clock::now_unix_nanos(), attributes);
        }
    }

    /// Adds an event that happened at `unix_nanos`, with its attributes.
    pub fn add_event_at(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        unix_nanos: u64,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) {
        if let Some(rec) = self.recording.as_mut() {
            rec.extras().events.push(Event {
                name: name.into(),
                unix_nanos,
                attributes: attributes.into_iter().collect(),
            });
        }
    }

    /// Sets the status.
    pub fn set_status(&mut self, status: Status) {
        if let Some(rec) = self.recording.as_mut() {
            rec.extras().status = status;
        }
    }

    /// Marks the span as failed with `message`.
    pub fn set_error(&mut self, message: impl Into<Cow<'static, str>>) {
        self.set_status(Status::Error(message.into()));
    }

    /// Adds a follows-from link to another span.
    pub fn add_link(&mut self, context: SpanContext) {
        if let Some(rec) = self.recording.as_mut() {
            rec.extras().links.push(Link {
                trace_id: context.trace_id(),
                span_id: context.span_id(),
            });
        }
    }

    /// Sets the span's kind.
    pub fn set_kind(&mut self, kind: SpanKind) {
        if let Some(rec) = self.recording.as_mut() {
            rec.kind = kind;
        }
    }

    /// Renames the span.
    pub fn set_name(&mut self, name: impl Into<Cow<'static, str>>) {
        if let Some(rec) = self.recording.as_mut() {
            rec.name = name.into();
        }
    }

    /// Ends the span now.
    pub fn end(self) {}

    /// Makes this span current on this thread until the guard drops: spans
    /// started meanwhile become its children. Guards may be dropped in any
    /// order; a leaked guard leaves this span current on this thread until
    /// the span ends.
    ///
    /// Do not hold the guard across an `.await`: the span would be current
    /// for other tasks polled on the thread meanwhile. Use
    /// [`FutureExt::in_span`](crate::FutureExt::in_span) for async code; an
    /// instrumented future removes such a guard's entry when its poll ends.
    #[inline]
    pub fn enter(&mut self) -> Entered<'_> {
        let entry = self.context.map(|context| SpanEntry {
            entry: self.push_entry(context),
            span: self,
        });
        Entered {
            entry,
            _not_send: PhantomData,
        }
    }

    /// Enters a span that has a context. Out of line, like `pop_entry`, so
    /// that a traced function whose span has no context stays small enough
    /// to inline.
    #[inline(never)]
    fn push_entry(&mut self, context: SpanContext) -> EntryRef {
        let owner = match self.recording.as_mut() {
            Some(rec) => {
                rec.entered += 1;
                Some(rec.kind)
            }
            None => None,
        };
        EntryRef::push_for_span(context, owner)
    }

    /// Ends what `enter` began; applies what `with_current_span` set. Out
    /// of line, so that a guard's drop code is a test and a call, which the
    /// compiler inlines into every traced function.
    #[inline(never)]
    fn pop_entry(&mut self, entry: EntryRef) {
        if let Some(rec) = self.recording.as_mut() {
            rec.entered = rec.entered.saturating_sub(1);
        }
        if let Some(amendments) = entry.remove(false) {
            self.apply(amendments);
        }
    }

    /// Makes this span current on this thread until [`Span::exit_detached`]
    /// is called with the entry returned: for bridges from instrumentation
    /// whose enter and exit are separate calls (a `tracing` subscriber's
    /// `on_enter` and `on_exit`), where a borrowing guard cannot be kept.
    /// `None` for a span without a context.
    ///
    /// Entries may end in any order. An entry never ended stays until the
    /// span ends on this thread, as a leaked guard does.
    ///
    /// ```
    /// let mut span = dapple::Span::root("bridged");
    /// let entry = span.enter_detached();
    /// assert_eq!(dapple::current_context(), span.context());
    /// if let Some(entry) = entry {
    ///     span.exit_detached(entry);
    /// }
    /// assert_eq!(dapple::current_context(), None);
    /// ```
    pub fn enter_detached(&mut self) -> Option<DetachedEntry> {
        let context = self.context?;
        Some(DetachedEntry {
            entry: self.push_entry(context),
            _not_send: PhantomData,
        })
    }

    /// Ends an entry [`Span::enter_detached`] made on this thread; applies
    /// what `with_current_span` set meanwhile.
    pub fn exit_detached(&mut self, entry: DetachedEntry) {
        self.pop_entry(entry.entry);
    }

    /// Enters this span for one poll of a future; returns the guard to end
    /// with [`Span::exit_poll`].
    #[inline]
    pub(crate) fn enter_poll(&self) -> Option<EntryRef> {
        let context = self.context?;
        let owner = self.recording.as_ref().map(|rec| rec.kind);
        Some(EntryRef::push_for_span(context, owner))
    }

    /// Ends a poll's entry, and with it any guard leaked or held across an
    /// `.await` during the poll; applies what was set meanwhile.
    #[inline]
    pub(crate) fn exit_poll(&mut self, entry: EntryRef) {
        if let Some(amendments) = entry.remove(true) {
            self.apply(amendments);
        }
    }

    /// When a poll of a recording span starts; `None` for a span that
    /// records nothing. With `at_start`, the first poll is taken to start
    /// with the span, which began just before it (no clock read).
    #[inline]
    pub(crate) fn poll_started(&self, at_start: bool) -> Option<Ticks> {
        let rec = self.recording.as_ref()?;
        Some(if at_start && rec.polls == 0 {
            rec.start
        } else {
            clock::now()
        })
    }

    /// Adds a poll that started at `started` to the span's busy time. With
    /// `span_ends`, the span ends right after this poll, so the poll is
    /// closed by the span's end reading instead of one of its own.
    #[inline]
    pub(crate) fn poll_ended(&mut self, started: Ticks, span_ends: bool) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        if rec.polls & POLL_OPEN != 0 {
            // Polled again after a poll it was told ended the span: close
            // that one here.
            rec.busy = rec.busy.wrapping_add(started);
            rec.polls &= !POLL_OPEN;
        }
        let count = (rec.polls + 1).min(POLL_OPEN - 1);
        if span_ends {
            rec.busy = rec.busy.wrapping_sub(started);
            rec.polls = count | POLL_OPEN;
        } else {
            rec.busy = rec.busy.wrapping_add(clock::now().wrapping_sub(started));
            rec.polls = count;
        }
    }
}

impl Drop for Span {
    #[inline(always)]
    fn drop(&mut self) {
        // A span without a context (an unsampled child, tracing off) has
        // nothing to end: one test.
        if self.context.is_some() {
            self.finish();
        }
    }
}

impl Span {
    /// Ends a recording span: timestamps it and hands it to this thread's
    /// buffer.
    #[inline(never)]
    fn finish(&mut self) {
        if let Some(rec) = self.recording.as_mut()
            && !rec.call_entry.is_none()
        {
            let entry = std::mem::replace(&mut rec.call_entry, EntryRef::NONE);
            if let Some(amendments) = entry.remove(false) {
                self.apply(amendments);
            }
        }
        let Some(rec) = self.recording.as_ref() else {
            // An unsampled root: a guard of it may have been leaked.
            if let Some(context) = self.context {
                context::remove_leaked(context.span_id());
            }
            return;
        };
        if rec.stand_in {
            if let Some(rec) = self.recording.take()
                && let Some(extras) = rec.extras
            {
                crate::local::extras::give_back(std::iter::once(extras));
            }
            return;
        }
        if rec.entered > 0 {
            // A guard was leaked: its entry must not outlive the span.
            if let Some(context) = self.context {
                for amendments in context::remove_leaked(context.span_id()) {
                    self.apply(amendments);
                }
            }
        }
        let end = clock::now();
        if let (Some(rec), Some(context)) = (self.recording.as_mut(), self.context) {
            if std::thread::panicking() && !matches!(rec.status(), Status::Error(_)) {
                rec.extras().status = Status::Error(crate::panic::current_message().into());
            }
            // Read in place rather than moved out whole: the record takes
            // the name and extras, and what stays owns nothing.
            buffer::push(|| SpanRecord::new(context, rec, end));
            self.recording = ManuallyDrop::new(None);
        }
    }
}

/// The span is current on this thread while this guard lives.
#[must_use = "the span is current only while the guard lives"]
#[derive(Debug)]
pub struct Entered<'a> {
    /// `None` for a span without a context: then dropping the guard is one
    /// test, with no drop code of its own to call.
    entry: Option<SpanEntry<'a>>,
    /// The entry is on this thread's stack: the guard must drop here.
    _not_send: PhantomData<*mut ()>,
}

impl Entered<'_> {
    /// Whether entering changed the current context.
    pub fn is_active(&self) -> bool {
        self.entry.is_some()
    }
}

/// A span's entry on this thread's stack, made by
/// [`Span::enter_detached`] and ended by [`Span::exit_detached`]. It stays
/// on the thread that made it.
#[must_use = "the entry ends only through Span::exit_detached"]
#[derive(Debug)]
pub struct DetachedEntry {
    entry: EntryRef,
    _not_send: PhantomData<*mut ()>,
}

/// A span's entry on this thread's stack, removed when dropped.
#[derive(Debug)]
struct SpanEntry<'a> {
    entry: EntryRef,
    span: &'a mut Span,
}

impl Drop for SpanEntry<'_> {
    #[inline]
    fn drop(&mut self) {
        self.span.pop_entry(self.entry);
    }
}
