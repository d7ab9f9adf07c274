// Pins: an early `return` in the body, without and with `ret`.
#[dapple::traced(name = "clamp")]
fn clamp(n: i32) -> i32 {
    if n > 10 {
        return 10;
    }
    n
}

#[dapple::traced(name = "clamp_ret", ret)]
fn clamp_ret(n: i32) -> i32 {
    if n > 10 {
        return 10;
    }
    n
}

fn main() {
    let spans = dapple::MemorySink::install();
    assert_eq!(clamp(42), 10);
    assert_eq!(clamp(3), 3);
    assert_eq!(clamp_ret(42), 10);
    assert_eq!(clamp_ret(3), 3);
    assert_eq!(spans.spans().len(), 4);
}
