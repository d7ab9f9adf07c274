// Pins a limit: a `spawn` method of one's own that takes a concrete boxed
// future gets the instrumented future instead, and fails to type-check.
// Box the future before the call, or put `no_propagate` on the function.
use std::future::Future;
use std::pin::Pin;

struct Executor;

impl Executor {
    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()> + Send>>) {
        drop(task);
    }
}

#[dapple::traced]
fn submit(executor: &Executor) {
    executor.spawn(Box::pin(async {}));
}

#[dapple::traced(no_propagate)]
fn submit_untouched(executor: &Executor) {
    executor.spawn(Box::pin(async {}));
}

fn main() {
    submit(&Executor);
    submit_untouched(&Executor);
}
