// Pins: `#[traced]` on a trait method without a body.
trait T {
    #[dapple::traced]
    fn f(&self);
}

fn main() {}
