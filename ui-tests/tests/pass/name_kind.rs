// Pins: `name = "..."` and `kind = server`.
#[dapple::traced(name = "handle", kind = server)]
fn handle() {}

fn main() {
    let spans = dapple::MemorySink::install();
    handle();
    let recorded = spans.named("handle");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].kind(), dapple::SpanKind::Server);
}
