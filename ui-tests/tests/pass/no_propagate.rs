// Pins: `no_propagate` leaves spawn calls in the body as written.
#[dapple::traced(name = "detached", no_propagate)]
fn detached() -> Option<dapple::SpanContext> {
    std::thread::spawn(dapple::current_context).join().unwrap()
}

fn main() {
    let _spans = dapple::MemorySink::install();
    assert_eq!(detached(), None);
}
