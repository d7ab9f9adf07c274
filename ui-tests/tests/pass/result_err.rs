// Pins: a fn returning `Result` that uses `?`, with `err`.
use std::num::ParseIntError;

#[dapple::traced(name = "parse", err)]
fn parse(text: &str) -> Result<i64, ParseIntError> {
    let n: i64 = text.trim().parse()?;
    Ok(n * 10)
}

fn main() {
    let spans = dapple::MemorySink::install();
    assert_eq!(parse(" 4 "), Ok(40));
    assert!(parse("four").is_err());
    assert_eq!(spans.named("parse").len(), 2);
}
