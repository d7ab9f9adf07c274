// Pins: `sample = 0.5` (and the integer forms `0` and `1`).
#[dapple::traced(name = "maybe", sample = 0.5)]
fn maybe() -> u8 {
    1
}

#[dapple::traced(name = "never", sample = 0)]
fn never() {}

#[dapple::traced(name = "always", sample = 1)]
fn always() {}

fn main() {
    let spans = dapple::MemorySink::install();
    assert_eq!((0..20).map(|_| maybe()).sum::<u8>(), 20);
    never();
    always();
    assert!(spans.named("maybe").len() <= 20);
    assert!(spans.named("never").is_empty());
    assert_eq!(spans.named("always").len(), 1);
}
