// Pins: `args(a, b)` records the named arguments only.
#[dapple::traced(name = "login", args(user, attempts))]
fn login(user: &str, password: &str, attempts: u8) -> bool {
    !user.is_empty() && !password.is_empty() && attempts < 3
}

fn main() {
    let spans = dapple::MemorySink::install();
    assert!(login("ada", "secret", 1));
    let span = spans.named("login").remove(0);
    assert_eq!(span.attribute("user").as_ref().and_then(dapple::Value::as_str), Some("ada"));
    assert_eq!(span.attribute("attempts").and_then(|v| v.as_i64()), Some(1));
    assert!(span.attribute("password").is_none());
}
