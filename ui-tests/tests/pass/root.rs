// Pins: `root` starts a new trace even inside another span.
#[dapple::traced(name = "outer")]
fn outer() {
    inner();
}

#[dapple::traced(name = "inner", root)]
fn inner() {}

fn main() {
    let spans = dapple::MemorySink::install();
    outer();
    let outer = spans.named("outer").remove(0);
    let inner = spans.named("inner").remove(0);
    assert!(inner.parent_id().is_none());
    assert_ne!(inner.trace_id(), outer.trace_id());
}
