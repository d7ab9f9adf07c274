// Pins: a generic fn with a where-clause.
use std::ops::Add;

#[dapple::traced(name = "sum", ret)]
fn sum<T, I>(items: I) -> T
where
    I: IntoIterator<Item = T>,
    T: Add<Output = T> + Default + std::fmt::Debug,
{
    items.into_iter().fold(T::default(), |acc, x| acc + x)
}

fn main() {
    let spans = dapple::MemorySink::install();
    assert_eq!(sum(vec![1, 2, 3]), 6);
    assert_eq!(sum([0.5, 0.25]), 0.75);
    assert_eq!(spans.named("sum").len(), 2);
}
