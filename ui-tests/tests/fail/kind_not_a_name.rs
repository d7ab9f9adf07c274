// Pins: a kind that is not a name.
#[dapple::traced(kind = 1)]
fn handler() {}

fn main() {}
