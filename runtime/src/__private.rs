//! What `#[traced]` expands to. Not a public API: it may change in any release.

use std::borrow::Cow;
use std::fmt::{Debug, Display};

use crate::context::{Current, current_context};
use crate::future::{InSpan, Instrumented};
use crate::span::{Span, SpanKind};
use crate::value::{Text, ToValue, Value};

pub use crate::args::{ArgKeys, ArgValue};
pub use crate::sampling::threshold;
pub use crate::spawn::{bind, propagate};

/// Starts the span of a traced call.
///
/// `threshold` is the function's own sampling threshold for roots it starts,
/// `None` to use the global rate. The unsampled child, the common cheap case,
/// costs one thread-local read and a branch; the rest is out of line.
#[inline(always)]
pub fn start(name: &'static str, kind: SpanKind, root: bool, threshold: Option<u64>) -> Span {
    begin(name, kind, root, threshold, false)
}

/// Starts the span of a call to a traced sync fn, entered until it ends:
/// as [`start`], with entering in the same out-of-line step, and leaving in
/// the span's end.
#[inline(always)]
pub fn start_entered(
    name: &'static str,
    kind: SpanKind,
    root: bool,
    threshold: Option<u64>,
) -> Span {
    begin(name, kind, root, threshold, true)
}

/// [`start`] and [`start_entered`]: `enter` is a constant at each, so each
/// inlines only its own out-of-line calls.
#[inline(always)]
fn begin(
    name: &'static str,
    kind: SpanKind,
    root: bool,
    threshold: Option<u64>,
    enter: bool,
) -> Span {
    match crate::context::current_sampled() {
        Current::Unsampled if !root => Span::none(),
        Current::Sampled if !root && enter => start_child_entered(name, kind),
        Current::Sampled if !root => start_child(name, kind),
        // No sink installed (tracing linked, never started): one more load.
        _ if !crate::sink::is_enabled() => Span::none(),
        _ if enter => start_root_entered(name, kind, threshold),
        _ => start_root(name, kind, threshold),
    }
}

#[inline(never)]
fn start_root_entered(name: &'static str, kind: SpanKind, threshold: Option<u64>) -> Span {
    let mut span = start_root(name, kind, threshold);
    span.enter_for_call();
    span
}

#[inline(never)]
fn start_child(name: &'static str, kind: SpanKind) -> Span {
    child(name, kind, false)
}

#[inline(never)]
fn start_child_entered(name: &'static str, kind: SpanKind) -> Span {
    child(name, kind, true)
}

#[inline(always)]
fn child(name: &'static str, kind: SpanKind, enter: bool) -> Span {
    match current_context() {
        Some(parent) if crate::sink::is_enabled() => {
            Span::start_child(Cow::Borrowed(name), kind, parent, enter)
        }
        _ => Span::none(),
    }
}

#[inline(never)]
fn start_root(name: &'static str, kind: SpanKind, threshold: Option<u64>) -> Span {
    if !crate::sink::is_enabled() {
        return Span::none();
    }
    let threshold = threshold.unwrap_or_else(crate::sampling::global_threshold);
    let mut span = Span::start_root(Cow::Borrowed(name), kind, threshold);
    if let Some(parent) = current_context() {
        // `root` was asked for: the new trace links to the one it left.
        span.add_link(parent);
    }
    span
}

/// Records an argument or field of a traced call.
#[inline]
pub fn attribute(span: &mut Span, key: &'static str, value: impl Into<Value>) {
    span.push_attribute(key, value.into());
}

/// Records argument `index` of a traced function (named in `keys`).
#[inline(always)]
pub fn arg(span: &mut Span, keys: &'static ArgKeys, index: usize, value: ArgValue<'_>) {
    span.push_arg(keys, index, value);
}

/// Polls the body of a traced async fn with its span current.
#[inline]
pub fn in_span<F>(span: &mut Span, body: F) -> InSpan<F, &mut Span> {
    InSpan::tight(body, span)
}

/// Wraps a spawned future so it carries the current context.
#[inline]
pub fn spawned_future<F>(future: F) -> Instrumented<F> {
    crate::spawn::propagate(future)
}

/// A reference to a recorded argument, for choosing how to record it.
/// Called as `(&&Arg(&x)).__dapple_value()`: method lookup tries the typed
/// value first, then `Debug`, then reports that neither exists.
#[derive(Debug)]
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// Typed values first...
pub trait RecordTyped {
    /// The value to record.
    fn __dapple_value(&self) -> ArgValue<'_>;
}

impl<T: ToValue + ?Sized> RecordTyped for &Arg<'_, T> {
    #[inline]
    fn __dapple_value(&self) -> ArgValue<'_> {
        self.0.to_arg()
    }
}

/// ...then the `Debug` form...
pub trait RecordDebug {
    /// The value to record.
    fn __dapple_value(&self) -> ArgValue<'_>;
}

impl<T: Debug + ?Sized> RecordDebug for &&Arg<'_, T> {
    fn __dapple_value(&self) -> ArgValue<'_> {
        ArgValue::Value(Value::Str(Text::from_smol(smol_str::format_smolstr!(
            "{:?}", self.0
        ))))
    }
}

/// ...and last a method whose bound fails, so the error names `ToValue`
/// with its own message.
pub trait Unrecordable {
    /// The argument's type.
    type Target: ?Sized;

    /// Only reached when `Target` has neither `ToValue` nor `Debug`, so the
    /// bound fails with `ToValue`'s message.
    fn __dapple_value(&self) -> ArgValue<'_>
    where
        Self::Target: ToValue;
}

impl<T: ?Sized> Unrecordable for Arg<'_, T> {
    type Target = T;

    fn __dapple_value(&self) -> ArgValue<'_>
    where
        T: ToValue,
    {
        self.0.to_arg()
    }
}

/// The `Display` form of a value (`%x` in `fields`).
pub fn display<T: Display + ?Sized>(value: &T) -> Value {
    Value::Str(Text::from_smol(smol_str::ToSmolStr::to_smolstr(value)))
}

/// The `Debug` form of a value (`?x` in `fields`).
pub fn debug<T: Debug + ?Sized>(value: &T) -> Value {
    Value::Str(Text::from_smol(smol_str::format_smolstr!("{value:?}")))
}

/// What `err` can record: a `Result` whose error has `Display`.
#[diagnostic::on_unimplemented(
    message = "`err` needs a function returning `Result<_, E>` with `E: Display`; this one returns `{Self}`",
    label = "`err` records the error's `Display` form",
    note = "remove `err`, or return a `Result` whose error type implements `std::fmt::Display`"
)]
pub trait RecordErr {
    /// Marks the span as failed when `self` is an error.
    fn record_err(&self, span: &mut Span);
}

impl<T, E: Display> RecordErr for Result<T, E> {
    #[inline]
    fn record_err(&self, span: &mut Span) {
        if let Err(error) = self
            && span.is_recording()
        {
            span.set_attribute("error.type", std::any::type_name::<E>());
            span.set_error(error.to_string());
        }
    }
}

/// Marks the span as an error when a traced fn with `err` returns `Err`.
#[inline]
pub fn record_err<R: RecordErr>(span: &mut Span, result: &R) {
    result.record_err(span);
}

/// An argument of a spawn method (`set.spawn(x)`, `handle.spawn_blocking(x)`,
/// `s.spawn(x)`...), for choosing by its type how to carry the current
/// context into it. Called as
/// `(&&Carry(&x)).__dapple_carry().carry(x)`: method lookup tries a future
/// first, then a closure taking no arguments, then passes the value through
/// unchanged, so a `spawn` method that takes neither still compiles.
#[derive(Debug)]
pub struct Carry<'a, T>(pub &'a T);

/// Futures first...
pub trait CarryFuture {
    /// How to carry the context.
    #[inline]
    fn __dapple_carry(&self) -> CarryAsFuture {
        CarryAsFuture
    }
}

impl<T: std::future::Future> CarryFuture for &Carry<'_, T> {}

/// ...then closures taking no arguments...
pub trait CarryClosure {
    /// How to carry the context.
    #[inline]
    fn __dapple_carry(&self) -> CarryAsClosure {
        CarryAsClosure
    }
}

impl<F, R> CarryClosure for &&Carry<'_, F> where F: FnOnce() -> R {}

/// ...and anything else as it is.
pub trait CarryValue {
    /// How to carry the context.
    #[inline]
    fn __dapple_carry(&self) -> CarryAsIs {
        CarryAsIs
    }
}

impl<T> CarryValue for Carry<'_, T> {}

/// The argument is a future: it is instrumented with the current context.
#[derive(Debug)]
pub struct CarryAsFuture;

impl CarryAsFuture {
    /// Wraps the future.
    #[inline]
    pub fn carry<F: std::future::Future>(self, future: F) -> Instrumented<F> {
        spawned_future(future)
    }
}

/// The argument is a closure taking no arguments: it is bound to the
/// current context.
#[derive(Debug)]
pub struct CarryAsClosure;

impl CarryAsClosure {
    /// Wraps the closure.
    #[inline]
    pub fn carry<F, R>(self, f: F) -> impl FnOnce() -> R
    where
        F: FnOnce() -> R,
    {
        bind(f)
    }
}

/// The argument is neither: it passes unchanged.
#[derive(Debug)]
pub struct CarryAsIs;

impl CarryAsIs {
    /// Returns the value as it is.
    #[inline(always)]
    pub fn carry<T>(self, value: T) -> T {
        value
    }
}
