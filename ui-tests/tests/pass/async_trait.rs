// Pins: `#[traced]` under `#[async_trait]`, which hands it `Box::pin(async move { .. })`.
#[async_trait::async_trait]
trait Store {
    async fn load(&self, key: u32) -> Result<String, String>;
}

struct Memory;

#[async_trait::async_trait]
impl Store for Memory {
    #[dapple::traced(name = "load", args(key), err)]
    async fn load(&self, key: u32) -> Result<String, String> {
        tokio::task::yield_now().await;
        if key == 1 {
            Ok("one".into())
        } else {
            Err(format!("no key {key}"))
        }
    }
}

fn main() {
    let spans = dapple::MemorySink::install();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(Memory.load(1)).as_deref(), Ok("one"));
    assert!(runtime.block_on(Memory.load(2)).is_err());
    assert_eq!(spans.named("load").len(), 2);
}
