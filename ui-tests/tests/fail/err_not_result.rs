// Pins: `err` on a fn whose return type is not a `Result`.
#[dapple::traced(err)]
fn count() -> Option<u32> {
    Some(1)
}

fn main() {
    count();
}
