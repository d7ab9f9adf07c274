// Pins: a native `async fn` in a trait impl.
trait Store {
    async fn load(&self, key: u32) -> Option<String>;
}

struct Memory;

impl Store for Memory {
    #[dapple::traced(name = "load", args(key))]
    async fn load(&self, key: u32) -> Option<String> {
        tokio::task::yield_now().await;
        (key == 1).then(|| "one".to_owned())
    }
}

fn main() {
    let spans = dapple::MemorySink::install();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(Memory.load(1)).as_deref(), Some("one"));
    assert_eq!(spans.named("load").len(), 1);
}
