// Pins: `ret` on a fn that returns `()`.
#[dapple::traced(ret)]
fn handle() {}

fn main() {
    handle();
}
