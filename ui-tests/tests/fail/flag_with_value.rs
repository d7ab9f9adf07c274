// Pins: a flag option given a value.
#[dapple::traced(err = true)]
fn handler() -> Result<(), String> { Ok(()) }

fn main() {}
