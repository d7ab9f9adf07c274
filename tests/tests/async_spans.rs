//! Span trees of async code: across awaits and worker threads, on several
//! executors, through every spawn form that #[traced] rewrites.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use dapple::{FutureExt, SpanTree, traced};
use dapple_tests::collector;

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Asserts every span of the tree is in one trace and each child's parent id
/// is its parent's id.
fn assert_linked(tree: &SpanTree) {
    for child in &tree.children {
        assert_eq!(child.span.trace_id(), tree.span.trace_id());
        assert_eq!(child.span.parent_id(), Some(tree.span.span_id()));
        assert!(!child.orphan);
        assert_linked(child);
    }
}

/// The `form` attribute of each child, in order.
fn forms_of_children(tree: &SpanTree) -> Vec<String> {
    tree.children
        .iter()
        .map(|c| c.span.attribute("form").unwrap().to_string())
        .collect()
}

static THREADS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn note_thread() {
    let id = format!("{:?}", std::thread::current().id());
    THREADS.lock().unwrap().insert(id);
}

#[traced(name = "hop.root")]
async fn hop_root() {
    for _ in 0..20 {
        hop_leg().await;
    }
}

#[traced(name = "hop.leg")]
async fn hop_leg() {
    note_thread();
    tokio::time::sleep(Duration::from_millis(1)).await;
    note_thread();
    hop_leaf().await;
}

#[traced(name = "hop.leaf")]
async fn hop_leaf() {
    tokio::task::yield_now().await;
    note_thread();
}

#[test]
fn async_calls_keep_their_parent_while_hopping_worker_threads() {
    collector();
    let rt = multi_thread();
    rt.block_on(async {
        // Spawned so it runs on the worker threads, not the test's thread.
        tokio::spawn(hop_root()).await.unwrap();
    });
    let tree = collector().tree_of("hop.root").unwrap();
    assert_eq!(tree.children.len(), 20);
    for leg in &tree.children {
        assert_eq!(leg.span.name(), "hop.leg");
        assert_eq!(leg.children.len(), 1);
        assert_eq!(leg.children[0].span.name(), "hop.leaf");
    }
    assert_linked(&tree);
    // Valgrind runs one thread at a time, so the tasks may never hop there;
    // `.ci/run` says when it runs this file under valgrind.
    if std::env::var_os("DAPPLE_UNDER_VALGRIND").is_none() {
        assert!(
            THREADS.lock().unwrap().len() > 1,
            "the legs ran on more than one worker thread"
        );
    }
}

#[traced(name = "ct.root")]
async fn current_thread_root() {
    current_thread_child().await;
    current_thread_child().await;
}

#[traced(name = "ct.child")]
async fn current_thread_child() {
    tokio::task::yield_now().await;
}

#[test]
fn async_calls_nest_on_a_current_thread_runtime() {
    collector();
    current_thread().block_on(current_thread_root());
    let tree = collector().tree_of("ct.root").unwrap();
    assert_eq!(tree.render(), "ct.root\n  ct.child\n  ct.child\n");
    assert_linked(&tree);
}

#[traced(name = "fx.root")]
async fn futures_root() {
    let (a, b) = futures::join!(futures_child(1), futures_child(2));
    assert_eq!(a + b, 3);
}

#[traced(name = "fx.child", args(n))]
async fn futures_child(n: u32) -> u32 {
    yield_once().await;
    n
}

/// Returns pending once, waking itself, so the executor polls again.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn async_calls_nest_on_the_futures_executor() {
    collector();
    futures::executor::block_on(futures_root());
    let tree = collector().tree_of("fx.root").unwrap();
    assert_eq!(tree.render(), "fx.root\n  fx.child\n  fx.child\n");
    assert_linked(&tree);
}

#[traced(name = "spawned.leaf", args(form))]
async fn spawned_leaf(form: &'static str) {
    tokio::task::yield_now().await;
}

#[traced(name = "spawned.sync_leaf", args(form))]
fn sync_leaf(form: &'static str) {}

#[traced(name = "spawn.forms")]
async fn every_spawn_form() {
    use std::thread;
    use tokio::task;

    tokio::spawn(spawned_leaf("tokio::spawn")).await.unwrap();
    tokio::task::spawn(spawned_leaf("tokio::task::spawn"))
        .await
        .unwrap();
    task::spawn(async { spawned_leaf("task::spawn").await })
        .await
        .unwrap();
    tokio::task::spawn_blocking(|| sync_leaf("tokio::task::spawn_blocking"))
        .await
        .unwrap();
    task::spawn_blocking(|| sync_leaf("task::spawn_blocking"))
        .await
        .unwrap();
    std::thread::spawn(|| sync_leaf("std::thread::spawn"))
        .join()
        .unwrap();
    thread::spawn(|| sync_leaf("thread::spawn")).join().unwrap();
    std::thread::Builder::new()
        .name("named".into())
        .spawn(|| sync_leaf("thread::Builder::spawn"))
        .unwrap()
        .join()
        .unwrap();
    let builder = thread::Builder::new();
    thread::Builder::spawn(builder, || sync_leaf("Builder::spawn(builder, f)"))
        .unwrap()
        .join()
        .unwrap();
    let local = task::LocalSet::new();
    local
        .run_until(async {
            tokio::task::spawn_local(spawned_leaf("tokio::task::spawn_local"))
                .await
                .unwrap();
        })
        .await;
}

#[test]
fn every_rewritten_spawn_form_makes_children_of_the_spawner() {
    collector();
    multi_thread().block_on(every_spawn_form());
    let tree = collector().tree_of("spawn.forms").unwrap();
    assert_linked(&tree);
    let forms = forms_of_children(&tree);
    assert_eq!(
        forms,
        [
            "tokio::spawn",
            "tokio::task::spawn",
            "task::spawn",
            "tokio::task::spawn_blocking",
            "task::spawn_blocking",
            "std::thread::spawn",
            "thread::spawn",
            "thread::Builder::spawn",
            "Builder::spawn(builder, f)",
            "tokio::task::spawn_local",
        ]
    );
}

#[traced(name = "no_propagate.root", no_propagate)]
async fn not_propagated() {
    tokio::spawn(spawned_leaf("unpropagated")).await.unwrap();
}

#[test]
fn no_propagate_leaves_spawns_alone() {
    collector();
    multi_thread().block_on(not_propagated());
    let tree = collector().tree_of("no_propagate.root").unwrap();
    assert_eq!(tree.render(), "no_propagate.root\n");
    let leaf = collector()
        .named("spawned.leaf")
        .into_iter()
        .find(|s| s.attribute("form").unwrap().to_string() == "unpropagated")
        .unwrap();
    assert_eq!(leaf.parent_id(), None, "the task started its own trace");
}

#[traced(name = "explicit.root")]
async fn explicit_helpers() {
    let handle = dapple::spawn(spawned_leaf("dapple::spawn"));
    handle.await.unwrap();
    let fut = spawned_leaf("in_current_span").in_current_span();
    tokio::runtime::Handle::current().spawn(fut).await.unwrap();
    dapple::spawn_blocking(|| sync_leaf("dapple::spawn_blocking"))
        .await
        .unwrap();
}

#[test]
fn explicit_helpers_carry_the_span() {
    collector();
    multi_thread().block_on(explicit_helpers());
    let tree = collector().tree_of("explicit.root").unwrap();
    assert_linked(&tree);
    let forms = forms_of_children(&tree);
    assert_eq!(
        forms,
        ["dapple::spawn", "in_current_span", "dapple::spawn_blocking"]
    );
}

/// A minimal thread pool: jobs go over a channel to long-lived workers.
struct Pool {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    fn new(size: usize) -> Pool {
        let (jobs, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let workers = (0..size)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || {
                    loop {
                        let job = rx.lock().unwrap().recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Pool { jobs, workers }
    }

    fn execute(&self, job: impl FnOnce() + Send + 'static) {
        self.jobs.send(Box::new(job)).unwrap();
    }

    fn join(self) {
        drop(self.jobs);
        for w in self.workers {
            w.join().unwrap();
        }
    }
}

#[traced(name = "pool.root")]
fn submit_to_pool(pool: &Pool, done: std::sync::mpsc::Sender<()>) {
    for _ in 0..6 {
        let done = done.clone();
        pool.execute(dapple::bind(move || {
            sync_leaf("pool");
            done.send(()).unwrap();
        }));
    }
}

#[test]
fn a_thread_pool_job_wrapped_with_bind_is_a_child() {
    collector();
    let pool = Pool::new(3);
    let (done, finished) = std::sync::mpsc::channel();
    submit_to_pool(&pool, done);
    for _ in 0..6 {
        finished.recv().unwrap();
    }
    pool.join();
    let tree = collector().tree_of("pool.root").unwrap();
    assert_eq!(tree.children.len(), 6);
    assert_linked(&tree);
}

trait Store {
    async fn load(&self, key: u32) -> Option<String>;
}

struct Native;

impl Store for Native {
    #[traced(name = "trait.native.load", args(key))]
    async fn load(&self, key: u32) -> Option<String> {
        tokio::task::yield_now().await;
        Some(key.to_string())
    }
}

#[async_trait::async_trait]
trait BoxedStore {
    async fn load(&self, key: u32) -> Result<String, String>;
}

struct Boxed;

#[async_trait::async_trait]
impl BoxedStore for Boxed {
    #[traced(name = "trait.boxed.load", args(key), err)]
    async fn load(&self, key: u32) -> Result<String, String> {
        tokio::task::yield_now().await;
        if key == 0 {
            return Err("no key zero".into());
        }
        Ok(key.to_string())
    }
}

#[traced(name = "trait.root")]
async fn trait_root() {
    Native.load(1).await;
    let _ = Boxed.load(2).await;
    let _ = Boxed.load(0).await;
}

#[test]
fn async_trait_methods_native_and_async_trait_are_children() {
    collector();
    multi_thread().block_on(trait_root());
    let tree = collector().tree_of("trait.root").unwrap();
    assert_eq!(
        tree.render(),
        "trait.root\n  trait.native.load\n  trait.boxed.load\n  trait.boxed.load\n"
    );
    assert_linked(&tree);
    let failed = &tree.children[2].span;
    assert_eq!(failed.attribute("key"), Some(dapple::Value::I64(0)));
    assert_eq!(
        failed.status(),
        &dapple::Status::Error("no key zero".into())
    );
}

#[traced(name = "async.panic")]
async fn async_panic() {
    tokio::task::yield_now().await;
    panic!("async boom");
}

#[test]
fn a_panic_in_an_async_fn_ends_its_span_as_error() {
    collector();
    let result = multi_thread().block_on(async { tokio::spawn(async_panic()).await });
    assert!(result.unwrap_err().is_panic());
    let span = &collector().named("async.panic")[0];
    assert_eq!(
        span.status(),
        &dapple::Status::Error("panicked: async boom".into())
    );
}

#[traced(name = "async.current_span")]
async fn amend_current_span_after_awaits() {
    tokio::task::yield_now().await;
    dapple::with_current_span(|span| span.set_attribute("after.await", true));
    tokio::time::sleep(Duration::from_millis(1)).await;
    dapple::events::record(dapple::events::Log::new("slept"));
}

#[test]
fn an_async_fn_amends_its_own_span_after_awaits() {
    collector();
    multi_thread().block_on(async {
        tokio::spawn(amend_current_span_after_awaits())
            .await
            .unwrap()
    });
    let span = &collector().named("async.current_span")[0];
    assert_eq!(
        span.attribute("after.await"),
        Some(dapple::Value::Bool(true))
    );
    assert_eq!(span.events()[0].name, "log");
}

/// Blocks inside its first poll for `busy`, then waits `idle` outside any
/// poll.
#[traced(name = "poll.timed")]
async fn busy_then_idle(busy: Duration, idle: Duration) {
    std::thread::sleep(busy);
    tokio::time::sleep(idle).await;
}

#[traced(name = "poll.sync")]
fn never_polled() {}

#[test]
fn an_async_span_knows_its_busy_and_idle_time_and_its_polls() {
    collector();
    let (busy, idle) = (Duration::from_millis(30), Duration::from_millis(40));
    current_thread().block_on(busy_then_idle(busy, idle));
    let span = collector().named("poll.timed").pop().unwrap();
    let times = span.poll_times().expect("an async span has poll times");
    // Both are lower bounds on any machine: the first poll blocks for
    // `busy`; the timer keeps the task out of poll for at least `idle`.
    assert!(times.busy_nanos >= busy.as_nanos() as u64, "{times:?}");
    assert!(times.idle_nanos >= idle.as_nanos() as u64, "{times:?}");
    assert_eq!(times.busy_nanos + times.idle_nanos, span.duration_nanos());
    // Pending on the timer, then ready.
    assert_eq!(times.polls, 2);

    never_polled();
    assert_eq!(collector().named("poll.sync")[0].poll_times(), None);
}

#[test]
fn a_future_in_a_span_counts_its_polls_and_one_that_never_waits_is_all_busy() {
    collector();
    let span = dapple::Span::root("poll.in_span");
    futures::executor::block_on(yield_once().in_span(span));
    let times = collector().named("poll.in_span")[0].poll_times().unwrap();
    assert_eq!(times.polls, 2);

    futures::executor::block_on(futures_child(7));
    for child in collector().named("fx.child") {
        assert_eq!(child.poll_times().unwrap().polls, 2);
    }

    futures::executor::block_on(ready_at_once());
    let once = collector().named("poll.once")[0].poll_times().unwrap();
    assert_eq!((once.polls, once.idle_nanos), (1, 0));
}

#[traced(name = "poll.once")]
async fn ready_at_once() {}
