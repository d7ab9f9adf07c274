// Pins: args(all) mixed with names.
#[dapple::traced(args(all, id))]
fn handler(id: u32) { let _ = id; }

fn main() {}
