// Pins: raw identifiers as the fn name and as recorded arguments and fields.
#[dapple::traced(args(r#type), fields(r#loop = %r#type))]
fn r#match(r#type: &str) -> usize {
    r#type.len()
}

fn main() {
    let spans = dapple::MemorySink::install();
    assert_eq!(r#match("x"), 1);
    let span = spans.spans().remove(0);
    assert!(span.name().ends_with("::match"), "{}", span.name());
    assert_eq!(span.attribute("type").as_ref().and_then(dapple::Value::as_str), Some("x"));
    assert_eq!(span.attribute("loop").as_ref().and_then(dapple::Value::as_str), Some("x"));
    assert!(span.attribute("r#type").is_none(), "keys are written without r#");
}
