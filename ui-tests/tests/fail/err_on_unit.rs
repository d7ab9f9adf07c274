// Pins: `err` on a fn that returns `()`.
#[dapple::traced(err)]
fn handle() {}

fn main() {
    handle();
}
