// Pins: a plain sync fn with no options, named after its module path.
#[dapple::traced]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

fn main() {
    let spans = dapple::MemorySink::install();
    assert_eq!(add(2, 3), 5);
    let names: Vec<_> = spans.spans().iter().map(|s| s.name().to_owned()).collect();
    assert!(names.len() == 1 && names[0].ends_with("::add"), "{names:?}");
}
