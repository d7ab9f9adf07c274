// Pins: the body of a traced fn cannot name its span. It is the macro's own,
// so it cannot end, move or forget the span while the call is still in it.
#[dapple::traced]
fn work() {
    std::mem::forget(__dapple_span);
}

fn main() {
    work();
}
