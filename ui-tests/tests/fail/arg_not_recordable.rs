// Pins: `args(x)` on an argument that implements neither `Debug` nor `ToValue`.
struct Secret(#[allow(dead_code)] u32);

#[dapple::traced(args(secret))]
fn open(secret: Secret) {
    drop(secret);
}

fn main() {
    open(Secret(1));
}
