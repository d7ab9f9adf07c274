// Pins: `fields(key = expr, %display, ?debug, dotted.key = expr, name)`.
#[derive(Debug)]
struct Request {
    id: u32,
}

#[dapple::traced(
    name = "serve",
    fields(attempt = 1 + 1, %route, ?request, http.method = "GET", retries)
)]
fn serve(route: &str, request: Request, retries: u8) -> u32 {
    request.id + route.len() as u32 + u32::from(retries)
}

fn main() {
    let spans = dapple::MemorySink::install();
    assert_eq!(serve("/a", Request { id: 1 }, 0), 3);
    let span = spans.named("serve").remove(0);
    assert_eq!(span.attribute("attempt").and_then(|v| v.as_i64()), Some(2));
    assert_eq!(span.attribute("route").as_ref().and_then(dapple::Value::as_str), Some("/a"));
    assert_eq!(
        span.attribute("request").as_ref().and_then(dapple::Value::as_str),
        Some("Request { id: 1 }")
    );
    assert_eq!(
        span.attribute("http.method").as_ref().and_then(dapple::Value::as_str),
        Some("GET")
    );
    assert_eq!(span.attribute("retries").and_then(|v| v.as_i64()), Some(0));
}
