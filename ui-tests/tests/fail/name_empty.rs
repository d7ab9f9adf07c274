// Pins: `name` may not be empty (or blank).
#[dapple::traced(name = "  ")]
fn checkout() {}

fn main() {
    checkout();
}
