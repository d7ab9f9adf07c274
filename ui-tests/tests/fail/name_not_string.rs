// Pins: `name` takes a string literal, not an identifier.
#[dapple::traced(name = checkout)]
fn checkout() {}

fn main() {
    checkout();
}
