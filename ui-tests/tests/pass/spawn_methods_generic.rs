// Pins: a spawn method's argument of a generic type is chosen by its bounds:
// `F: Future` is instrumented, `F: FnOnce() -> R` is bound, anything else passes.
use std::future::Future;

#[dapple::traced(name = "child")]
fn child() -> u32 {
    1
}

#[dapple::traced(name = "with_future")]
async fn with_future<F>(future: F) -> u32
where
    F: Future<Output = u32> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    set.spawn(future);
    set.join_next().await.unwrap().unwrap()
}

#[dapple::traced(name = "with_closure")]
fn with_closure<F: FnOnce() -> u32 + Send>(job: F) -> u32 {
    std::thread::scope(|s| s.spawn(job).join().unwrap())
}

struct Pool;

impl Pool {
    fn spawn<T: Clone>(&self, value: T) -> T {
        value
    }
}

#[dapple::traced(name = "with_value")]
fn with_value<T: Clone>(value: T) -> T {
    Pool.spawn(value)
}

fn main() {
    let spans = dapple::MemorySink::install();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(with_future(async { child() })), 1);
    assert_eq!(with_closure(child), 1);
    assert_eq!(with_value("x"), "x");
    assert_eq!(spans.tree_of("with_future").unwrap().render(), "with_future\n  child\n");
    assert_eq!(spans.tree_of("with_closure").unwrap().render(), "with_closure\n  child\n");
}
