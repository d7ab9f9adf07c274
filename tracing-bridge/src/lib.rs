//! Spans from `tracing`-instrumented crates as Dapple spans, in one tree with
//! `#[traced]`.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry().with(dapple_tracing::layer());
//! tracing_core::dispatcher::set_global_default(subscriber.into()).ok();
//! ```
//!
//! Each `tracing` span becomes a Dapple span: its name; its target, module,
//! file and line as `code.*` attributes and its level as `level`; its fields
//! as typed attributes (integers, floats, booleans and strings as such, the
//! rest as their `Debug` text), fields recorded later included;
//! `follows_from` as links. The fields `otel.name`, `otel.kind`,
//! `otel.status_code` and `otel.status_message` set the span's name, kind
//! and status, as `tracing-opentelemetry` reads them.
//!
//! The two libraries share one current span: entering a `tracing` span makes
//! it Dapple's current span too, so a `#[traced]` function called inside is
//! its child, and a `tracing` span created inside a `#[traced]` function is
//! that function's child. A `tracing` span with no parent starts a Dapple
//! trace, sampled as Dapple samples; under an unsampled Dapple context a
//! bridged span records nothing.
//!
//! `tracing` events become events of the current span, named by their
//! message, with their level and fields as attributes; an ERROR event also
//! marks the span as failed, with the message (see
//! [`DappleLayer::with_error_events`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Mutex;

use std::collections::HashMap;

use dapple::{
    DetachedEntry, KeyValue, Span, SpanContext, SpanKind, StaticAttributes, Status, Value,
};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The layer, with every span's `code.*` attributes and ERROR events
/// marking their span as failed.
pub fn layer() -> DappleLayer {
    DappleLayer {
        code_attributes: true,
        error_events: true,
    }
}

/// A `tracing_subscriber` layer that records `tracing` spans as Dapple
/// spans. Made by [`layer`].
#[derive(Debug, Clone)]
pub struct DappleLayer {
    code_attributes: bool,
    error_events: bool,
}

impl DappleLayer {
    /// Whether spans carry `code.namespace`, `code.filepath`,
    /// `code.lineno`, `target` and `level` (on by default).
    pub fn with_code_attributes(mut self, on: bool) -> DappleLayer {
        self.code_attributes = on;
        self
    }

    /// Whether an ERROR-level event marks its span as failed, with the
    /// event's message (on by default; `#[instrument(err)]` reports errors
    /// this way).
    pub fn with_error_events(mut self, on: bool) -> DappleLayer {
        self.error_events = on;
        self
    }
}

/// The Dapple span of a `tracing` span, kept in its extensions. The mutex is
/// never locked: extensions must be `Sync`, and are reached through
/// `&mut` when the span is changed.
struct Bridged(Mutex<Span>);

impl Bridged {
    fn span(&mut self) -> &mut Span {
        self.0.get_mut().unwrap_or_else(|e| e.into_inner())
    }
}

thread_local! {
    /// The bridged spans entered on this thread, innermost last, with
    /// their entries on Dapple's stack.
    static ENTERED: RefCell<Vec<(Id, DetachedEntry)>> = const { RefCell::new(Vec::new()) };
}

/// The Dapple context of a `tracing` span, if it was bridged.
fn context_of<S>(span: Option<tracing_subscriber::registry::SpanRef<'_, S>>) -> Option<SpanContext>
where
    S: for<'a> LookupSpan<'a>,
{
    let span = span?;
    let mut extensions = span.extensions_mut();
    extensions.get_mut::<Bridged>()?.span().context()
}

impl<S> Layer<S> for DappleLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(created) = ctx.span(id) else {
            return;
        };
        let parent = if let Some(parent) = attrs.parent() {
            context_of(ctx.span(parent))
        } else if attrs.is_contextual() {
            // Dapple's current span: the innermost of the entered `tracing`
            // spans (they are on Dapple's stack) and `#[traced]` calls.
            dapple::current_context()
        } else {
            None
        };
        let metadata = attrs.metadata();
        let mut span = match parent {
            Some(parent) => Span::child_of(metadata.name(), parent),
            None => Span::root(metadata.name()),
        };
        if span.is_recording() {
            if self.code_attributes {
                span.set_static_attributes(code_attributes(metadata));
            }
            let mut fields = Fields::new(&mut span);
            attrs.record(&mut Typed(|field: &Field, value| fields.set(field, value)));
            fields.finish();
        }
        created.extensions_mut().insert(Bridged(Mutex::new(span)));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(bridged) = extensions.get_mut::<Bridged>() {
            let span = bridged.span();
            if span.is_recording() {
                let mut fields = Fields::new(span);
                values.record(&mut Typed(|field: &Field, value| fields.set(field, value)));
                fields.finish();
            }
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(linked) = context_of(ctx.span(follows)) else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(bridged) = extensions.get_mut::<Bridged>() {
            bridged.span().add_link(linked);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let Some(bridged) = extensions.get_mut::<Bridged>() else {
            return;
        };
        if let Some(entry) = bridged.span().enter_detached() {
            let _ = ENTERED.try_with(|entered| entered.borrow_mut().push((id.clone(), entry)));
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let entry = ENTERED
            .try_with(|entered| {
                let mut entered = entered.borrow_mut();
                let at = entered.iter().rposition(|(entered, _)| entered == id)?;
                Some(entered.remove(at).1)
            })
            .ok()
            .flatten();
        let Some(entry) = entry else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(bridged) = extensions.get_mut::<Bridged>() {
            bridged.span().exit_detached(entry);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut fields = EventFields::default();
        let record = |span: &mut Span, fields: &mut EventFields| {
            if !span.is_recording() {
                return;
            }
            event.record(&mut Typed(|field: &Field, value| fields.set(field, value)));
            let message = fields.message.take();
            let error = fields.error.take();
            let failed = self.error_events && *metadata.level() == Level::ERROR;
            if failed {
                // `#[instrument(err)]` reports the error in an `error` field.
                let text = message.clone().or_else(|| error.clone());
                span.set_error(text.unwrap_or_else(|| metadata.name().to_owned()));
            }
            let name: Cow<'static, str> = match (message, error) {
                (Some(message), _) => message.into(),
                (None, Some(_)) => "error".into(),
                (None, None) => metadata.name().into(),
            };
            let mut attributes = std::mem::take(&mut fields.attributes);
            attributes.insert(0, KeyValue::new("level", metadata.level().as_str()));
            span.add_event(name, attributes);
        };
        if let Some(parent) = event.parent() {
            if let Some(span) = ctx.span(parent) {
                let mut extensions = span.extensions_mut();
                if let Some(bridged) = extensions.get_mut::<Bridged>() {
                    record(bridged.span(), &mut fields);
                }
            }
        } else if event.is_contextual() {
            // The innermost span of either library.
            dapple::with_current_span(|span| record(span, &mut fields));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // Entries this thread still holds (a guard was leaked) go with the
        // span: ending it removes them from Dapple's stack.
        let _ = ENTERED.try_with(|entered| {
            entered.borrow_mut().retain(|(entered, _)| *entered != id);
        });
        let Some(span) = ctx.span(&id) else {
            return;
        };
        // Dropping the Dapple span ends it.
        drop(span.extensions_mut().remove::<Bridged>());
    }
}

/// A call site's `target`, `level` and `code.*` attributes, made once per
/// call site and shared by reference by all its spans. Keys that the call
/// site also has as fields are left out: the field wins.
fn code_attributes(
    metadata: &'static tracing_core::Metadata<'static>,
) -> &'static StaticAttributes {
    thread_local! {
        static SEEN: RefCell<HashMap<usize, &'static StaticAttributes>> = RefCell::new(HashMap::new());
    }
    static SITES: Mutex<Option<HashMap<usize, &'static StaticAttributes>>> = Mutex::new(None);
    let site = std::ptr::from_ref(metadata) as usize;
    let local = SEEN
        .try_with(|seen| seen.borrow().get(&site).copied())
        .ok()
        .flatten();
    if let Some(found) = local {
        return found;
    }
    let mut sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
    let found = *sites
        .get_or_insert_with(HashMap::new)
        .entry(site)
        .or_insert_with(|| {
            let mut attributes = vec![
                KeyValue::new("target", metadata.target()),
                KeyValue::new("level", metadata.level().as_str()),
            ];
            if let Some(module) = metadata.module_path() {
                attributes.push(KeyValue::new("code.namespace", module));
            }
            if let Some(file) = metadata.file() {
                attributes.push(KeyValue::new("code.filepath", file));
            }
            if let Some(line) = metadata.line() {
                attributes.push(KeyValue::new("code.lineno", i64::from(line)));
            }
            attributes.retain(|kv| metadata.fields().field(&kv.key).is_none());
            // One per call site, for the program's life, as the metadata is.
            Box::leak(Box::new(StaticAttributes::new(Box::leak(
                attributes.into_boxed_slice(),
            ))))
        });
    drop(sites);
    let _ = SEEN.try_with(|seen| seen.borrow_mut().insert(site, found));
    found
}

/// Writes a span's fields as attributes, and reads the `otel.*` ones;
/// [`Fields::finish`] applies the status they name.
struct Fields<'a> {
    span: &'a mut Span,
    status_code: Option<String>,
    status_message: Option<String>,
}

impl<'a> Fields<'a> {
    fn new(span: &'a mut Span) -> Fields<'a> {
        Fields {
            span,
            status_code: None,
            status_message: None,
        }
    }

    fn set(&mut self, field: &Field, value: Value) {
        match field.name() {
            "otel.name" => self.span.set_name(text(value)),
            "otel.kind" => {
                let kind = match text(value).to_ascii_lowercase().as_str() {
                    "server" => SpanKind::Server,
                    "client" => SpanKind::Client,
                    "producer" => SpanKind::Producer,
                    "consumer" => SpanKind::Consumer,
                    _ => SpanKind::Internal,
                };
                self.span.set_kind(kind);
            }
            "otel.status_code" => self.status_code = Some(text(value)),
            "otel.status_message" | "otel.status_description" => {
                self.status_message = Some(text(value));
            }
            name => self.span.set_attribute(name, value),
        }
    }

    /// Sets the status the `otel.status_*` fields named, as
    /// `tracing-opentelemetry` reads them: a message alone means an error.
    fn finish(self) {
        let code = self.status_code.map(|c| c.to_ascii_uppercase());
        match (code.as_deref(), self.status_message) {
            (Some("ERROR"), message) | (None, message @ Some(_)) => {
                self.span.set_error(message.unwrap_or_default());
            }
            (Some("OK"), _) => self.span.set_status(Status::Ok),
            (Some(_), _) => self.span.set_status(Status::Unset),
            (None, None) => {}
        }
    }
}

/// A value as text (what `otel.*` fields hold).
fn text(value: Value) -> String {
    match value {
        Value::Str(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

/// An event's message, its `error` field, and its other fields as
/// attributes.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    error: Option<String>,
    attributes: Vec<KeyValue>,
}

impl EventFields {
    fn set(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => self.message = Some(text(value)),
            name => {
                if name == "error" {
                    self.error = Some(text(value.clone()));
                }
                self.attributes.push(KeyValue::new(name, value));
            }
        }
    }
}

/// Hands each field of a `tracing` value set to a function, typed:
/// integers, floats, booleans and strings as such, errors and anything else
/// as text.
struct Typed<F>(F);

impl<F: FnMut(&Field, Value)> Visit for Typed<F> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        (self.0)(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        (self.0)(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        (self.0)(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        (self.0)(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)(field, Value::from(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        (self.0)(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        (self.0)(field, Value::from(format!("{value:?}")));
    }
}
