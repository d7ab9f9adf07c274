// Pins: the same attribute key from args and from fields.
#[dapple::traced(args(id), fields(id = 7))]
fn handler(id: u32) {
    let _ = id;
}

fn main() {}
