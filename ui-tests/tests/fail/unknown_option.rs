// Pins: a misspelt option is named, with the list of options.
#[dapple::traced(nmae = "checkout")]
fn checkout() {}

fn main() {
    checkout();
}
