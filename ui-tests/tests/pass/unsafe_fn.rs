// Pins: an `unsafe fn`.
/// # Safety
/// `ptr` must be valid for reads.
#[dapple::traced(name = "read", ret)]
unsafe fn read(ptr: *const u32) -> u32 {
    // SAFETY: the caller promises `ptr` is valid.
    unsafe { *ptr }
}

fn main() {
    let spans = dapple::MemorySink::install();
    let n = 7;
    // SAFETY: `&n` is valid.
    assert_eq!(unsafe { read(&n) }, 7);
    assert_eq!(spans.named("read").len(), 1);
}
