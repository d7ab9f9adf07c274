// Pins: `#[traced]` on a struct.
#[dapple::traced]
struct Handler {
    id: u32,
}

fn main() {
    let handler = Handler { id: 1 };
    let _ = handler.id;
}
