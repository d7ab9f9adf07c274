// Pins: a parameter listed twice in args.
#[dapple::traced(args(id, id))]
fn handler(id: u32) { let _ = id; }

fn main() {}
