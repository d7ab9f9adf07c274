// Pins: `args(all)` records a generic argument bounded only by `T: Debug`.
use std::fmt::Debug;

#[dapple::traced(name = "show", args(all))]
fn show<T: Debug>(value: T, count: u32) -> usize {
    format!("{value:?}").len() * count as usize
}

#[derive(Debug)]
struct Opaque;

fn main() {
    let spans = dapple::MemorySink::install();
    assert_eq!(show(Opaque, 2), 12);
    assert_eq!(show("hi", 1), 4);
    let recorded = spans.named("show");
    assert_eq!(recorded.len(), 2);
}
