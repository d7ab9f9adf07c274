// Pins: an option that takes a value, written without one.
#[dapple::traced(name)]
fn handler() {}

fn main() {}
