// Pins: fields written without its list.
#[dapple::traced(fields)]
fn handler() {}

fn main() {}
