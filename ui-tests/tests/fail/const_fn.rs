// Pins: `#[traced]` on a `const fn`.
#[dapple::traced]
const fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
