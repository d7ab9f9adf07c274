// Pins: `sample` must be a probability from 0.0 to 1.0.
#[dapple::traced(sample = 1.5)]
fn handle() {}

fn main() {
    handle();
}
