// Pins: an unknown span kind is named, with the list of kinds.
#[dapple::traced(kind = sever)]
fn handle() {}

fn main() {
    handle();
}
