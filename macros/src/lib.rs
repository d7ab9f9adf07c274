//! The `#[traced]` attribute of [Dapple](https://docs.rs/dapple). Use it
//! through `dapple::traced`; this crate has nothing else.
//!
//! The phases, one file each: `attr` parses the options, `ast` models the
//! function, `valid` checks the two together and reports every problem,
//! `expand` writes the instrumented function, and `propagate` rewrites spawn
//! calls in its body.

mod ast;
mod attr;
mod expand;
mod propagate;
mod valid;

use proc_macro::TokenStream;

/// Turns every call of the function into a span.
///
/// Use it as `dapple::traced`. The span starts when the function is called
/// (for an `async fn`, when its future is first polled) and ends when it
/// returns (when the future completes or is dropped). Its parent is the span
/// current at the call; without one, it starts a new trace.
///
/// ```
/// use dapple::{MemorySink, traced};
///
/// #[traced]
/// fn checkout(user: u64) -> u32 {
///     price() * 2
/// }
///
/// #[traced(name = "price")]
/// fn price() -> u32 {
///     5
/// }
///
/// let spans = MemorySink::install();
/// assert_eq!(checkout(7), 10);
/// let checkout = spans.spans().into_iter().find(|s| s.name().ends_with("::checkout")).unwrap();
/// let price = spans.named("price").remove(0);
/// assert_eq!(price.parent_id(), Some(checkout.span_id()));
/// ```
///
/// # Shapes
///
/// Plain and `async` functions, methods taking `self`, `&self` or `&mut self`,
/// generic functions, functions returning `impl Trait`, `unsafe fn`, `async
/// fn` in traits (on the impl's method, which has a body) and the methods
/// `#[async_trait]` writes (put `#[traced]` below `#[async_trait]`, on the
/// impl's method). A `const fn` is refused: a span needs a clock at run time.
///
/// ```
/// use dapple::{MemorySink, traced};
///
/// struct Store;
///
/// impl Store {
///     #[traced(name = "store.get", args(key))]
///     fn get(&self, key: u32) -> Option<String> {
///         Some(key.to_string())
///     }
///
///     #[traced(name = "store.load")]
///     async fn load(&mut self, key: u32) -> Option<String> {
///         tokio::task::yield_now().await;
///         self.get(key)
///     }
/// }
///
/// trait Source {
///     async fn fetch(&self) -> u32;
/// }
///
/// impl Source for Store {
///     #[traced(name = "source.fetch")]
///     async fn fetch(&self) -> u32 {
///         1
///     }
/// }
///
/// #[async_trait::async_trait]
/// trait Remote {
///     async fn call(&self) -> u32;
/// }
///
/// #[async_trait::async_trait]
/// impl Remote for Store {
///     #[traced(name = "remote.call")]
///     async fn call(&self) -> u32 {
///         2
///     }
/// }
///
/// #[traced(name = "evens")]
/// fn evens<T: Copy + Into<u64>>(items: &[T]) -> impl Iterator<Item = u64> + '_ {
///     items.iter().map(|&i| i.into()).filter(|i| i % 2 == 0)
/// }
///
/// #[traced(name = "main")]
/// async fn run() {
///     let mut store = Store;
///     assert_eq!(store.load(3).await.as_deref(), Some("3"));
///     assert_eq!(store.fetch().await + store.call().await, 3);
///     assert_eq!(evens(&[1u8, 2, 4]).count(), 2);
/// }
///
/// let spans = MemorySink::install();
/// tokio::runtime::Runtime::new().unwrap().block_on(run());
/// assert_eq!(
///     spans.tree_of("main").unwrap().render(),
///     "main\n  store.load\n    store.get\n  source.fetch\n  remote.call\n  evens\n"
/// );
/// ```
///
/// # Options
///
/// Options go in the parentheses, separated by commas, in any order. A
/// mistake is a compile error that names the option and points at it; every
/// mistake is reported, not only the first.
///
/// ## `name = "..."` and `kind = ...`
///
/// `name` is the span's name; by default `module::path::function`. `kind`
/// is one of `internal` (the default), `server`, `client`, `producer`,
/// `consumer`.
///
/// ```
/// use dapple::{MemorySink, SpanKind, traced};
///
/// #[traced(name = "GET /cart", kind = server)]
/// fn cart() {}
///
/// let spans = MemorySink::install();
/// cart();
/// assert_eq!(spans.named("GET /cart")[0].kind(), SpanKind::Server);
/// ```
///
/// ## `args(a, b)`, `args(all)`, `skip(...)`
///
/// Arguments are not recorded unless asked for, so that secrets stay out of
/// traces and unrecorded calls format nothing. `args(a, b)` records the
/// named parameters; `args(all)` records every parameter but `self`, and
/// `skip(...)` (only with `args(all)`) leaves some out. A value is recorded
/// typed (integers, floats, booleans, strings, bytes) when it can be, else
/// in its `Debug` form; a type with neither is a compile error pointing at
/// its name. Arguments are recorded only when the span is sampled.
///
/// ```
/// use dapple::{MemorySink, traced};
///
/// #[traced(name = "login", args(all), skip(password))]
/// fn login(user: &str, password: &str, attempt: u8) -> bool {
///     !user.is_empty() && !password.is_empty() && attempt < 3
/// }
///
/// #[traced(name = "lookup", args(id))]
/// fn lookup(id: u64, cache: &[u64]) -> bool {
///     cache.contains(&id)
/// }
///
/// let spans = MemorySink::install();
/// login("ada", "hunter2", 1);
/// lookup(9, &[9]);
/// let login = spans.named("login").remove(0);
/// assert_eq!(login.attribute("user").as_ref().and_then(|v| v.as_str()), Some("ada"));
/// assert_eq!(login.attribute("attempt").and_then(|v| v.as_i64()), Some(1));
/// assert!(login.attribute("password").is_none());
/// let lookup = spans.named("lookup").remove(0);
/// assert_eq!(lookup.attribute("id").and_then(|v| v.as_i64()), Some(9));
/// assert!(lookup.attribute("cache").is_none());
/// ```
///
/// ## `fields(key = expr, %display, ?debug)`
///
/// Attributes computed from the arguments, evaluated only when the span is
/// sampled. `key = expr` records the value typed when it can be, else with
/// `Debug`; `key = %expr` or `%name` records `Display`; `key = ?expr` or
/// `?name` records `Debug`; a bare `name` records that parameter. Keys may
/// be dotted (`http.method = "GET"`); each key is recorded once.
///
/// ```
/// use dapple::{MemorySink, traced};
///
/// #[derive(Debug)]
/// struct Order { id: u32, lines: Vec<u32> }
///
/// #[traced(name = "place", fields(order.id = order.id, lines = order.lines.len() as i64, ?order, %region))]
/// fn place(order: &Order, region: &str) {}
///
/// let spans = MemorySink::install();
/// place(&Order { id: 4, lines: vec![1, 2] }, "eu");
/// let span = spans.named("place").remove(0);
/// assert_eq!(span.attribute("order.id").and_then(|v| v.as_i64()), Some(4));
/// assert_eq!(span.attribute("lines").and_then(|v| v.as_i64()), Some(2));
/// assert_eq!(span.attribute("region").as_ref().and_then(|v| v.as_str()), Some("eu"));
/// assert_eq!(
///     span.attribute("order").as_ref().and_then(|v| v.as_str()),
///     Some("Order { id: 4, lines: [1, 2] }")
/// );
/// ```
///
/// ## `err` and `ret`
///
/// `err` (on a function returning `Result<_, E>` with `E: Display`) marks
/// the span as failed when it returns `Err`, with the error's `Display` form
/// as the status message and its type in `error.type`. `ret` records the
/// return value as the attribute `return` (typed, else `Debug`). Both need
/// a function that returns a value.
///
/// ```
/// use dapple::{MemorySink, Status, traced};
///
/// #[traced(name = "parse", err, ret)]
/// fn parse(text: &str) -> Result<u16, std::num::ParseIntError> {
///     text.parse()
/// }
///
/// let spans = MemorySink::install();
/// assert!(parse("x").is_err());
/// assert!(parse("8").is_ok());
/// let [failed, ok] = <[_; 2]>::try_from(spans.named("parse")).unwrap();
/// assert_eq!(failed.status(), &Status::Error("invalid digit found in string".into()));
/// assert_eq!(ok.attribute("return").as_ref().and_then(|v| v.as_str()), Some("Ok(8)"));
/// ```
///
/// ## `sample = probability` and `root`
///
/// `sample = 0.1` records about one in ten of the traces this function
/// starts (a literal from `0.0` to `1.0`, or `0` or `1`); as a child it
/// follows its parent's decision, so traces are never cut in half. `root`
/// always starts a new trace, even inside another span, and links it to the
/// span it left.
///
/// ```
/// use dapple::{MemorySink, traced};
///
/// #[traced(name = "health", sample = 0)]
/// fn health() {}
///
/// #[traced(name = "request")]
/// fn request() {
///     flush();
/// }
///
/// #[traced(name = "flush", root)]
/// fn flush() {}
///
/// let spans = MemorySink::install();
/// health();
/// request();
/// assert!(spans.named("health").is_empty());
/// let request = spans.named("request").remove(0);
/// let flush = spans.named("flush").remove(0);
/// assert_eq!(flush.parent_id(), None);
/// assert_ne!(flush.trace_id(), request.trace_id());
/// assert_eq!(flush.links().len(), 1);
/// ```
///
/// ## `no_propagate`
///
/// Leaves the spawn calls in the body as written (see below): the new tasks
/// and threads start traces of their own.
///
/// ```
/// use dapple::traced;
///
/// #[traced(name = "detached", no_propagate)]
/// fn detached() -> Option<dapple::SpanContext> {
///     std::thread::spawn(dapple::current_context).join().unwrap()
/// }
///
/// let _spans = dapple::MemorySink::install();
/// assert_eq!(detached(), None);
/// ```
///
/// ## `crate = path`
///
/// For crates that re-export dapple and whose users do not depend on it
/// themselves: the generated code names dapple through `path` instead of
/// `::dapple`, the spawn rewrites included.
///
/// ```
/// mod telemetry {
///     pub use dapple;
/// }
///
/// #[telemetry::dapple::traced(crate = telemetry::dapple, name = "job")]
/// fn job() -> u32 {
///     std::thread::spawn(|| 1).join().unwrap()
/// }
///
/// let spans = dapple::MemorySink::install();
/// assert_eq!(job(), 1);
/// assert_eq!(spans.named("job").len(), 1);
/// ```
///
/// # Spawns carry the span
///
/// Inside the body, these calls are rewritten so that the new task or
/// thread runs with the function's span current, and its spans are children
/// of it:
///
/// - by path: `tokio::spawn`, `tokio::task::spawn`, `tokio::task::spawn_local`,
///   `tokio::task::spawn_blocking`, `std::thread::spawn`, and
///   `std::thread::Builder::new()...spawn(f)` or `Builder::spawn(builder, f)`,
///   written in full or through an imported `task` or `thread` module;
/// - by method: `x.spawn(arg)`, `x.spawn_blocking(arg)`, `x.spawn_local(arg)`
///   and `x.spawn_on(arg, ..)`, `x.spawn_blocking_on(arg, ..)`,
///   `x.spawn_local_on(arg, ..)`: tokio's `JoinSet`, `Handle`, `Runtime`,
///   `LocalSet` and `task::Builder`, `std::thread::scope`'s `s.spawn(|| ..)`, a
///   `thread::Builder` in a variable. The macro cannot see the receiver's
///   type, so the compiler chooses by the argument's type: a future is
///   instrumented, a closure taking no arguments is bound to the span, and
///   anything else is passed unchanged — `Command::spawn()`, a `spawn(n)`
///   taking a number, a pool's `spawn(|scope| ..)` compile as written;
/// - inside macro arguments: a macro whose tokens parse as comma-separated
///   expressions (`vec!`, `assert!`, `assert_eq!`, `format!`, `println!`,
///   `tokio::join!`, `tokio::try_join!`...), as `vec![x; n]`, or as `select!`
///   branches (`pat = future [, if cond] => handler`) has the spawns in them
///   rewritten, also in macros nested in those arguments. Any other macro
///   keeps its tokens exactly as written.
///
/// ```
/// use dapple::{MemorySink, traced};
///
/// #[traced(name = "child")]
/// fn child() {}
///
/// #[traced(name = "fan_out")]
/// async fn fan_out() {
///     let mut set = tokio::task::JoinSet::new();
///     set.spawn(async { child() });
///     set.spawn_blocking(child);
///     set.join_all().await;
///     std::thread::scope(|s| {
///         s.spawn(|| child());
///     });
///     let (a, b) = tokio::join!(tokio::spawn(async { child() }), tokio::task::spawn_blocking(child));
///     a.unwrap();
///     b.unwrap();
/// }
///
/// let spans = MemorySink::install();
/// tokio::runtime::Runtime::new().unwrap().block_on(fan_out());
/// assert_eq!(spans.tree_of("fan_out").unwrap().render(), format!("fan_out\n{}", "  child\n".repeat(5)));
/// ```
///
/// Limits, all at compile time:
///
/// - A method spawn whose argument's type comes from the method's signature
///   is left as written, since a wrapper would hide that signature from type
///   inference: a closure with untyped parameters (also inside `Box::new(..)`),
///   `.into()`, `Default::default()`, literals, references and other
///   expressions that are not a path, call, method call, field, block, async
///   block or closure. Such a spawn does not carry the span; wrap it by hand
///   (`dapple::bind`, `FutureExt::in_current_span`).
/// - A `spawn` method of your own that takes a concrete type which a future
///   or a closure converts to — `Pin<Box<dyn Future>>`, `Box<dyn FnOnce()>`
///   or a `fn()` pointer — and is called with a future or closure, gets the
///   wrapped value (`dapple::Instrumented<..>` or a closure type) and fails to
///   type-check. Box or coerce the argument before the call, or put
///   `no_propagate` on the function.
/// - Spawns the macro cannot see are not rewritten: in other functions, in
///   items nested in the body, behind macros that do not parse as
///   expressions, under another name (`use tokio::spawn as go;`), or through a
///   bare `spawn(..)` whose path does not say what it spawns. Use
///   `dapple::spawn`, `dapple::spawn_blocking`, `dapple::bind` or
///   `FutureExt::in_current_span` there.
///
/// # Turning it off
///
/// Without dapple's `enabled` feature (on by default; libraries depend on
/// dapple with `default-features = false`), `#[traced]` checks its options
/// and returns the function unchanged.
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::traced(args.into(), item.into(), cfg!(feature = "enabled")).into()
}
