// Pins: `tokio::task::spawn_local` (in a `LocalSet`) is rewritten too; its future may be `!Send`.
use std::rc::Rc;

#[dapple::traced(name = "child")]
fn child(n: Rc<u32>) -> u32 {
    *n
}

#[dapple::traced(name = "parent")]
async fn parent() -> u32 {
    let n = Rc::new(7);
    tokio::task::spawn_local(async move { child(n) })
        .await
        .unwrap()
}

fn main() {
    let spans = dapple::MemorySink::install();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    assert_eq!(local.block_on(&runtime, parent()), 7);
    assert_eq!(
        spans.tree_of("parent").unwrap().render(),
        "parent\n  child\n"
    );
}
