//! Span trees of synchronous traced code: nesting, options, errors, panics.

use dapple::{SpanKind, Status, Value, traced};
use dapple_tests::collector;

#[traced(name = "nested.root")]
fn nested_root() {
    nested_a();
    nested_b();
}

#[traced(name = "nested.a")]
fn nested_a() {
    nested_leaf();
}

#[traced(name = "nested.b")]
fn nested_b() {}

#[traced(name = "nested.leaf")]
fn nested_leaf() {}

#[test]
fn nested_sync_calls_form_one_tree() {
    collector();
    nested_root();
    let tree = collector().tree_of("nested.root").unwrap();
    assert_eq!(
        tree.render(),
        "nested.root\n  nested.a\n    nested.leaf\n  nested.b\n"
    );
    let root = &tree.span;
    assert_eq!(root.parent_id(), None);
    for span in tree.iter() {
        assert_eq!(span.trace_id(), root.trace_id());
        assert_eq!(span.status(), &Status::Unset);
        assert_eq!(span.kind(), SpanKind::Internal);
        assert!(span.end_unix_nanos() >= span.start_unix_nanos());
    }
    let a = &tree.children[0];
    assert_eq!(a.span.parent_id(), Some(root.span_id()));
    assert_eq!(a.children[0].span.parent_id(), Some(a.span.span_id()));
    assert!(a.span.start_unix_nanos() >= root.start_unix_nanos());
    assert!(a.span.end_unix_nanos() <= root.end_unix_nanos());
}

#[traced]
fn default_named() {}

#[test]
fn the_default_name_is_the_module_path_and_function() {
    collector();
    default_named();
    let spans = collector().named("sync_spans::default_named");
    assert_eq!(spans.len(), 1);
}

#[derive(Debug)]
struct Order {
    #[allow(dead_code)] // read through Debug
    id: u32,
}

#[traced(name = "args.listed", args(id, label, ratio, flag, order))]
fn args_listed(id: u64, label: &str, ratio: f64, flag: bool, order: &Order, secret: &str) {
    let _ = secret;
}

#[traced(name = "args.all", args(all), skip(password))]
fn args_all(user: String, password: String, bytes: Vec<u8>) {
    let _ = (user, password, bytes);
}

#[test]
fn args_are_recorded_typed_and_only_when_asked() {
    collector();
    args_listed(7, "tea", 0.5, true, &Order { id: 3 }, "hunter2");
    args_all("ann".into(), "hunter2".into(), vec![1, 2]);
    let listed = &collector().named("args.listed")[0];
    assert_eq!(listed.attribute("id"), Some(Value::I64(7)));
    assert_eq!(listed.attribute("label"), Some(Value::from("tea")));
    assert_eq!(listed.attribute("ratio"), Some(Value::F64(0.5)));
    assert_eq!(listed.attribute("flag"), Some(Value::Bool(true)));
    assert_eq!(
        listed.attribute("order"),
        Some(Value::from("Order { id: 3 }"))
    );
    assert_eq!(listed.attribute("secret"), None);
    let all = &collector().named("args.all")[0];
    assert_eq!(all.attribute("user"), Some(Value::from("ann")));
    assert_eq!(all.attribute("bytes"), Some(Value::Bytes(vec![1, 2])));
    assert_eq!(all.attribute("password"), None);
}

struct User {
    name: String,
    id: u32,
}

#[traced(name = "fields", fields(user.id = user.id, %user.name, ?flags, "http.route" = "/users/{id}", count = 2 + 1))]
fn fields(user: &User, flags: &[bool]) {
    let _ = (user, flags);
}

#[test]
fn fields_record_values_display_and_debug() {
    collector();
    fields(
        &User {
            name: "bo".into(),
            id: 9,
        },
        &[true],
    );
    let span = &collector().named("fields")[0];
    assert_eq!(span.attribute("user.id"), Some(Value::I64(9)));
    assert_eq!(span.attribute("user.name"), Some(Value::from("bo")));
    assert_eq!(span.attribute("flags"), Some(Value::from("[true]")));
    assert_eq!(
        span.attribute("http.route"),
        Some(Value::from("/users/{id}"))
    );
    assert_eq!(span.attribute("count"), Some(Value::I64(3)));
}

#[derive(Debug)]
struct ParseError(String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot parse {:?}", self.0)
    }
}

#[traced(name = "err.parse", err)]
fn parse(text: &str) -> Result<u32, ParseError> {
    let n = text.parse::<u32>().map_err(|_| ParseError(text.into()))?;
    if n == 0 {
        return Ok(100);
    }
    Ok(n)
}

#[traced(name = "err.outer", err, ret)]
fn outer_parse(text: &str) -> Result<u32, ParseError> {
    let value = parse(text)?;
    Ok(value * 2)
}

#[test]
fn err_marks_the_span_with_the_errors_display() {
    collector();
    assert!(outer_parse("x1").is_err());
    let tree = collector()
        .named("err.outer")
        .into_iter()
        .find(|s| matches!(s.status(), Status::Error(_)))
        .unwrap();
    assert_eq!(
        tree.status(),
        &Status::Error("cannot parse \"x1\"".into()),
        "the outer span fails with the error passed up by `?`"
    );
    assert_eq!(
        tree.attribute("error.type"),
        Some(Value::from(std::any::type_name::<ParseError>()))
    );
    let inner: Vec<_> = collector().trace(tree.trace_id());
    let inner = inner.iter().find(|s| s.name() == "err.parse").unwrap();
    assert_eq!(inner.status(), &Status::Error("cannot parse \"x1\"".into()));
}

#[test]
fn ret_records_the_return_value_and_ok_leaves_status_unset() {
    collector();
    assert_eq!(outer_parse("21").unwrap(), 42);
    assert_eq!(
        outer_parse("0").unwrap(),
        200,
        "early return still recorded"
    );
    let spans = collector().named("err.outer");
    let ok: Vec<_> = spans
        .iter()
        .filter(|s| s.status() == &Status::Unset)
        .map(|s| s.attribute("return"))
        .collect();
    assert!(ok.contains(&Some(Value::from("Ok(42)"))), "{ok:?}");
    assert!(ok.contains(&Some(Value::from("Ok(200)"))), "{ok:?}");
}

#[traced(name = "ret.typed", ret)]
fn typed_return(x: i64) -> i64 {
    if x < 0 {
        return 0;
    }
    x + 1
}

#[test]
fn ret_records_numbers_typed() {
    collector();
    typed_return(41);
    typed_return(-5);
    let values: Vec<_> = collector()
        .named("ret.typed")
        .iter()
        .map(|s| s.attribute("return"))
        .collect();
    assert!(values.contains(&Some(Value::I64(42))));
    assert!(values.contains(&Some(Value::I64(0))));
}

struct Counter {
    n: u32,
}

impl Counter {
    #[traced(name = "method.by_ref", fields(n = self.n))]
    fn get(&self) -> u32 {
        self.n
    }

    #[traced(name = "method.by_mut", args(by))]
    fn bump(&mut self, by: u32) {
        self.n += by;
    }

    #[traced(name = "method.by_value", ret)]
    fn into_inner(self) -> u32 {
        self.n
    }
}

#[test]
fn methods_taking_self_in_every_way_are_traced() {
    collector();
    let mut c = Counter { n: 1 };
    c.bump(2);
    assert_eq!(c.get(), 3);
    assert_eq!(c.into_inner(), 3);
    assert_eq!(
        collector().named("method.by_ref")[0].attribute("n"),
        Some(Value::I64(3))
    );
    assert_eq!(
        collector().named("method.by_mut")[0].attribute("by"),
        Some(Value::I64(2))
    );
    assert_eq!(
        collector().named("method.by_value")[0].attribute("return"),
        Some(Value::I64(3))
    );
}

#[traced(name = "generic.sum", args(all))]
fn generic_sum<T, I>(items: I, label: T) -> u64
where
    I: IntoIterator<Item = u64> + std::fmt::Debug,
    T: std::fmt::Debug,
{
    let _ = label;
    items.into_iter().sum()
}

#[traced(name = "impl.evens")]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[test]
fn generic_and_impl_trait_functions_are_traced() {
    collector();
    assert_eq!(generic_sum(vec![1, 2, 3], "label"), 6);
    assert_eq!(evens(5).count(), 3);
    let sum = &collector().named("generic.sum")[0];
    assert_eq!(sum.attribute("label"), Some(Value::from("\"label\"")));
    assert_eq!(sum.attribute("items"), Some(Value::from("[1, 2, 3]")));
    assert_eq!(collector().named("impl.evens").len(), 1);
}

#[traced(name = "panic.outer")]
fn panic_outer() {
    panic_inner();
}

#[traced(name = "panic.inner")]
fn panic_inner() {
    panic!("disk on fire");
}

#[test]
fn a_panic_ends_its_spans_as_errors_and_keeps_unwinding() {
    collector();
    let caught = std::panic::catch_unwind(panic_outer).unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"disk on fire"));
    let tree = collector().tree_of("panic.outer").unwrap();
    assert_eq!(tree.render(), "panic.outer\n  panic.inner\n");
    for span in tree.iter() {
        assert_eq!(
            span.status(),
            &Status::Error("panicked: disk on fire".into())
        );
    }
}

#[traced(name = "kind.server", kind = server)]
fn served() {}

#[traced(name = "root.outer")]
fn root_outer() {
    forced_root();
}

#[traced(name = "root.forced", root)]
fn forced_root() {}

#[test]
fn kind_and_root_options_apply() {
    collector();
    served();
    assert_eq!(collector().named("kind.server")[0].kind(), SpanKind::Server);
    root_outer();
    let outer = collector().tree_of("root.outer").unwrap();
    assert_eq!(
        outer.render(),
        "root.outer\n",
        "the root option starts a new trace"
    );
    let forced = collector().tree_of("root.forced").unwrap();
    assert_ne!(forced.span.trace_id(), outer.span.trace_id());
    assert_eq!(forced.span.links()[0].span_id, outer.span.span_id());
}

#[traced(name = "events.checkout")]
fn checkout_with_events() {
    dapple::with_current_span(|span| {
        span.set_attribute("cart.items", 3);
        span.add_event("validated", [dapple::KeyValue::new("ok", true)]);
    });
    dapple::events::record(dapple::events::Log::new("cart loaded"));
    dapple::events::record(dapple::events::SqlQuery::new(
        "sqlite",
        "SELECT price FROM items WHERE id = ?1",
    ));
}

#[test]
fn the_current_span_takes_attributes_and_typed_events() {
    collector();
    checkout_with_events();
    let span = &collector().named("events.checkout")[0];
    assert_eq!(span.attribute("cart.items"), Some(Value::I64(3)));
    let names: Vec<_> = span.events().iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(names, ["validated", "log", "db.query"]);
    assert_eq!(
        span.events()[1].attribute("log.message"),
        Some(Value::from("cart loaded"))
    );
    let sql = &span.events()[2];
    assert_eq!(sql.attribute("db.system"), Some(Value::from("sqlite")));
    assert_eq!(
        sql.attribute("db.query.text"),
        Some(Value::from("SELECT price FROM items WHERE id = ?1"))
    );
}
