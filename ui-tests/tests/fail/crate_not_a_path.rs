// Pins: `crate` takes a path, not a string.
#[dapple::traced(crate = "dapple")]
fn handler() {}

fn main() {}
