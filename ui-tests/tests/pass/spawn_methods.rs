// Pins: spawn methods (`JoinSet`, `Handle`, `Runtime`, `LocalSet`, `thread::scope`)
// carry the span when their argument is a future or a closure taking no arguments.
use tokio::task::{JoinSet, LocalSet};

#[dapple::traced(name = "child")]
fn child() {}

#[dapple::traced(name = "async_child")]
async fn async_child() {
    tokio::task::yield_now().await;
}

#[dapple::traced(name = "parent")]
async fn parent(other: &tokio::runtime::Runtime) {
    let mut set = JoinSet::new();
    set.spawn(async_child());
    set.spawn(async { child() });
    set.spawn_blocking(child);
    set.spawn_blocking(|| child());
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
    let handle = tokio::runtime::Handle::current();
    handle.spawn(async_child()).await.unwrap();
    handle.spawn_blocking(move || child()).await.unwrap();
    other.spawn(async_child()).await.unwrap();
    std::thread::scope(|s| {
        s.spawn(|| child());
        s.spawn(child);
    });
    let builder = std::thread::Builder::new();
    builder.spawn(child).unwrap().join().unwrap();
}

#[dapple::traced(name = "local_parent")]
async fn local_parent(local: &LocalSet) {
    let n = std::rc::Rc::new(1);
    local.spawn_local(async move { drop(n); child() }).await.unwrap();
}

fn main() {
    let spans = dapple::MemorySink::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let other = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    runtime.block_on(parent(&other));
    let tree = spans.tree_of("parent").expect("one parent trace");
    assert_eq!(tree.children.len(), 10, "{}", tree.render());
    for child in &tree.children {
        assert_eq!(child.span.parent_id(), Some(tree.span.span_id()));
    }
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = LocalSet::new();
    local.block_on(&current, local_parent(&local));
    assert_eq!(
        spans.tree_of("local_parent").unwrap().render(),
        "local_parent\n  child\n"
    );
    drop(other);
}
