//! Carrying the current span into new tasks and threads by hand, for the
//! places `#[traced]` does not rewrite.

use crate::context::current_context;
#[cfg(feature = "tokio")]
use crate::future::FutureExt;
use crate::future::Instrumented;

/// Wraps a closure so that it runs with the span context current now, on
/// whichever thread calls it: for thread pools and other executors.
///
/// ```
/// #[dapple::traced]
/// fn fan_out() {
///     let job = dapple::bind(|| dapple::current_context());
///     let seen = std::thread::spawn(job).join().unwrap();
///     assert_eq!(seen, dapple::current_context());
/// }
/// fan_out();
/// ```
pub fn bind<F, R>(f: F) -> impl FnOnce() -> R
where
    F: FnOnce() -> R,
{
    let context = current_context();
    move || {
        /// Leaves the context and hands on the closure's spans when the
        /// thread is idle again, also when the closure panics.
        struct Leave(Option<crate::context::ContextGuard>);
        impl Drop for Leave {
            fn drop(&mut self) {
                drop(self.0.take());
                crate::local::buffer::flush_if_idle();
            }
        }
        let _leave = Leave(context.map(|c| c.attach()));
        f()
    }
}

/// Wraps a future so that it runs with the span context current now.
/// The same as [`FutureExt::in_current_span`].
pub fn propagate<F>(future: F) -> Instrumented<F> {
    Instrumented::new(future, current_context())
}

/// `tokio::spawn` that carries the current span into the task.
#[cfg(feature = "tokio")]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_span())
}

/// `tokio::task::spawn_blocking` that carries the current span into the closure.
#[cfg(feature = "tokio")]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(bind(f))
}
