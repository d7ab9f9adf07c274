// Pins: a fn returning `impl Iterator` (its return type cannot be named in a `let`).
#[dapple::traced(name = "evens", args(limit))]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

fn main() {
    let spans = dapple::MemorySink::install();
    assert_eq!(evens(7).collect::<Vec<_>>(), [0, 2, 4, 6]);
    assert_eq!(spans.named("evens").len(), 1);
}
