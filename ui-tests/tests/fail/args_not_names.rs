// Pins: args given something other than parameter names.
#[dapple::traced(args(1))]
fn handler(id: u32) { let _ = id; }

fn main() {}
