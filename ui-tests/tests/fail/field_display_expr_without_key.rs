// Pins: `%` on an expression that is not a name or field access needs a key.
#[dapple::traced(fields(%a + b))]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

fn main() {
    add(1, 2);
}
