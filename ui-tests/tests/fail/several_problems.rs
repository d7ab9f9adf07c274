// Pins: every problem in one attribute is reported at once, each at its own token.
#[dapple::traced(nmae = "x", kind = sever, sample = 2.0, args(nope), err)]
fn handle() {}

fn main() {
    handle();
}
