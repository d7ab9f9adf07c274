// Pins: an option given twice points at the second one.
#[dapple::traced(name = "a", err, name = "b")]
fn checkout() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = checkout();
}
