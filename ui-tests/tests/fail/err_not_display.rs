// Pins: `err` on a `Result` whose error type does not implement `Display`.
#[derive(Debug)]
struct Oops;

#[dapple::traced(err)]
fn f() -> Result<(), Oops> {
    Err(Oops)
}

fn main() {
    let _ = f();
}
