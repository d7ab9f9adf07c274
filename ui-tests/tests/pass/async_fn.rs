// Pins: an `async fn` (with `err`), run on a hand-built current-thread runtime.
#[dapple::traced(name = "fetch", err)]
async fn fetch(id: u32) -> Result<u32, String> {
    tokio::task::yield_now().await;
    if id == 0 {
        Err("no id".into())
    } else {
        Ok(id * 2)
    }
}

fn main() {
    let spans = dapple::MemorySink::install();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(fetch(21)), Ok(42));
    assert_eq!(runtime.block_on(fetch(0)), Err("no id".to_owned()));
    assert_eq!(spans.named("fetch").len(), 2);
}
