//! The spawn forms #[traced] carries beyond path calls: spawn methods
//! (`JoinSet`, `Handle`, `Runtime`, `LocalSet`, `thread::scope`) and spawns
//! inside macro arguments (`vec!`, `tokio::join!`, `assert!`, `format!`,
//! `tokio::select!`). Each spawned span must be a child of the traced
//! function's span: same trace, parent = that span.
//!
//! `tokio::task::Builder::spawn` is rewritten the same way, but tokio only
//! has that builder under `--cfg tokio_unstable`, so it is not run here.

use dapple::traced;
use dapple_tests::collector;
use tokio::task::{JoinSet, LocalSet};

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[traced(name = "spawned.task", args(form))]
async fn task(form: &'static str) -> &'static str {
    tokio::task::yield_now().await;
    form
}

#[traced(name = "spawned.work", args(form))]
fn work(form: &'static str) -> &'static str {
    form
}

/// Asserts the trace under `root` has one child per form, in order, each in
/// the root's trace with the root as its parent.
fn assert_spawned_children(root: &str, forms: &[&str]) {
    let tree = collector().tree_of(root).unwrap();
    let seen: Vec<String> = tree
        .children
        .iter()
        .map(|c| c.span.attribute("form").unwrap().to_string())
        .collect();
    assert_eq!(seen, forms, "{}", tree.render());
    for child in &tree.children {
        assert_eq!(child.span.trace_id(), tree.span.trace_id());
        assert_eq!(child.span.parent_id(), Some(tree.span.span_id()));
        assert!(!child.orphan);
    }
}

#[traced(name = "joinset.spawn")]
async fn joinset_spawn() {
    let mut set = JoinSet::new();
    set.spawn(task("JoinSet::spawn"));
    set.join_next().await.unwrap().unwrap();
    set.spawn(async { task("JoinSet::spawn(async)").await });
    set.join_next().await.unwrap().unwrap();
}

#[test]
fn joinset_spawn_tasks_are_children() {
    collector();
    multi_thread().block_on(joinset_spawn());
    assert_spawned_children(
        "joinset.spawn",
        &["JoinSet::spawn", "JoinSet::spawn(async)"],
    );
}

#[traced(name = "joinset.spawn_blocking")]
async fn joinset_spawn_blocking() {
    let mut set = JoinSet::new();
    set.spawn_blocking(|| work("JoinSet::spawn_blocking"));
    set.join_next().await.unwrap().unwrap();
}

#[test]
fn joinset_spawn_blocking_closures_are_children() {
    collector();
    multi_thread().block_on(joinset_spawn_blocking());
    assert_spawned_children("joinset.spawn_blocking", &["JoinSet::spawn_blocking"]);
}

#[traced(name = "handle.spawn")]
async fn handle_spawn() {
    let handle = tokio::runtime::Handle::current();
    handle.spawn(task("Handle::spawn")).await.unwrap();
    handle
        .spawn_blocking(|| work("Handle::spawn_blocking"))
        .await
        .unwrap();
}

#[test]
fn handle_spawn_and_spawn_blocking_are_children() {
    collector();
    multi_thread().block_on(handle_spawn());
    assert_spawned_children("handle.spawn", &["Handle::spawn", "Handle::spawn_blocking"]);
}

#[traced(name = "runtime.spawn")]
async fn runtime_spawn(other: &tokio::runtime::Runtime) {
    other.spawn(task("Runtime::spawn")).await.unwrap();
}

#[test]
fn a_task_spawned_on_a_second_runtime_is_a_child() {
    collector();
    let other = multi_thread();
    multi_thread().block_on(runtime_spawn(&other));
    assert_spawned_children("runtime.spawn", &["Runtime::spawn"]);
    other.shutdown_background();
}

#[traced(name = "localset.spawn_local")]
async fn localset_spawn_local(local: &LocalSet) {
    // `!Send` is fine: the task stays on this thread.
    let form = std::rc::Rc::new("LocalSet::spawn_local");
    local
        .spawn_local(async move { task(*form).await })
        .await
        .unwrap();
}

#[test]
fn localset_spawn_local_tasks_are_children() {
    collector();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = LocalSet::new();
    local.block_on(&runtime, localset_spawn_local(&local));
    assert_spawned_children("localset.spawn_local", &["LocalSet::spawn_local"]);
}

#[traced(name = "thread.scope")]
fn scoped_threads() {
    let forms = ["scope.spawn(a)", "scope.spawn(b)"];
    std::thread::scope(|s| {
        // Joined in order, so the children are in order too.
        s.spawn(|| work(forms[0])).join().unwrap();
        s.spawn(|| work(forms[1])).join().unwrap();
    });
}

#[test]
fn scoped_threads_are_children() {
    collector();
    scoped_threads();
    assert_spawned_children("thread.scope", &["scope.spawn(a)", "scope.spawn(b)"]);
}

#[traced(name = "macro.vec")]
async fn spawns_in_vec() {
    let handles = vec![tokio::spawn(task("vec![0]")), tokio::spawn(task("vec![1]"))];
    for handle in handles {
        handle.await.unwrap();
    }
}

#[test]
fn spawns_inside_vec_are_children() {
    collector();
    multi_thread().block_on(spawns_in_vec());
    let tree = collector().tree_of("macro.vec").unwrap();
    assert_eq!(tree.children.len(), 2);
    let mut forms: Vec<String> = tree
        .children
        .iter()
        .map(|c| c.span.attribute("form").unwrap().to_string())
        .collect();
    forms.sort();
    assert_eq!(forms, ["vec![0]", "vec![1]"]);
    for child in &tree.children {
        assert_eq!(child.span.trace_id(), tree.span.trace_id());
        assert_eq!(child.span.parent_id(), Some(tree.span.span_id()));
    }
}

#[traced(name = "macro.join")]
async fn spawns_in_join() {
    let (a, b) = tokio::join!(
        tokio::spawn(task("join!(tokio::spawn)")),
        tokio::task::spawn_blocking(|| work("join!(spawn_blocking)"))
    );
    a.unwrap();
    b.unwrap();
}

#[test]
fn spawns_inside_tokio_join_are_children() {
    collector();
    multi_thread().block_on(spawns_in_join());
    let tree = collector().tree_of("macro.join").unwrap();
    assert_eq!(tree.children.len(), 2, "{}", tree.render());
    for child in &tree.children {
        assert_eq!(child.span.trace_id(), tree.span.trace_id());
        assert_eq!(child.span.parent_id(), Some(tree.span.span_id()));
    }
}

#[traced(name = "macro.assert_format")]
async fn spawns_in_assert_and_format() {
    assert!(std::thread::spawn(|| work("assert!")).join().is_ok());
    assert_eq!(
        tokio::spawn(task("assert_eq!")).await.unwrap(),
        "assert_eq!"
    );
    let text = format!(
        "ran {}",
        std::thread::spawn(|| work("format!")).join().unwrap()
    );
    assert_eq!(text, "ran format!");
}

#[test]
fn spawns_inside_assert_and_format_arguments_are_children() {
    collector();
    multi_thread().block_on(spawns_in_assert_and_format());
    assert_spawned_children("macro.assert_format", &["assert!", "assert_eq!", "format!"]);
}

#[traced(name = "macro.select")]
async fn spawns_in_select() {
    let ready = true;
    tokio::select! {
        done = tokio::spawn(task("select! future")), if ready => {
            done.unwrap();
            // The handler is traced code too.
            tokio::spawn(task("select! handler")).await.unwrap();
        }
        _ = std::future::pending::<()>() => unreachable!(),
    }
}

#[test]
fn spawns_in_select_branches_are_children() {
    collector();
    multi_thread().block_on(spawns_in_select());
    assert_spawned_children("macro.select", &["select! future", "select! handler"]);
}
