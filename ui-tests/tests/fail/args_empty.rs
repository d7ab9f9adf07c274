// Pins: `args()` with no names.
#[dapple::traced(args())]
fn handle(id: u32) -> u32 {
    id
}

fn main() {
    handle(1);
}
