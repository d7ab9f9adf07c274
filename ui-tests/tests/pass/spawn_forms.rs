// Pins: every spawn form the macro rewrites carries the span into the new task or thread.
use std::thread;
use tokio::task;

#[dapple::traced(name = "child")]
fn child() {}

#[dapple::traced(name = "async_child")]
async fn async_child() {
    task::yield_now().await;
    child();
}

#[dapple::traced(name = "parent")]
async fn parent() {
    tokio::spawn(async { child() }).await.unwrap();
    tokio::task::spawn(async { child() }).await.unwrap();
    task::spawn(async { child() }).await.unwrap();
    tokio::spawn(async_child()).await.unwrap();
    tokio::task::spawn_blocking(child).await.unwrap();
    task::spawn_blocking(child).await.unwrap();
    std::thread::spawn(child).join().unwrap();
    thread::spawn(child).join().unwrap();
    std::thread::Builder::new()
        .name("worker".into())
        .spawn(child)
        .unwrap()
        .join()
        .unwrap();
}

fn main() {
    let spans = dapple::MemorySink::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(parent());
    let tree = spans.tree_of("parent").expect("one parent trace");
    let children = "  child\n".repeat(3) + "  async_child\n    child\n" + &"  child\n".repeat(5);
    assert_eq!(tree.render(), format!("parent\n{children}"));
}
