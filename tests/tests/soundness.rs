//! Guards leaked, dropped out of order or held across a cancelled `.await`,
//! and panics in spawned work: the current span stays right, nothing reads
//! freed memory (this file runs under valgrind in CI), and a panicking task's
//! spans are delivered at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use dapple::{FutureExt, Span, SpanKind, Status, current_context, traced, with_current_span};
use dapple_tests::collector;

/// Polls a future once on this thread, with a waker that does nothing.
fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_leaked_guard_of_a_dropped_span_leaves_nothing_current() {
    collector();
    let mut span = Span::root("leaked.guard");
    let trace = span.context().unwrap().trace_id();
    std::mem::forget(span.enter());
    drop(span);

    assert_eq!(current_context(), None);
    assert_eq!(with_current_span(|s| s.set_attribute("late", true)), None);
    let after = Span::new("leaked.after");
    let after_context = after.context().unwrap();
    drop(after);
    assert_ne!(after_context.trace_id(), trace, "a new root, not a child");
    let recorded = collector().named("leaked.after");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].parent_id(), None);
}

#[test]
fn what_was_set_through_a_leaked_guard_reaches_its_span() {
    collector();
    let mut span = Span::root("leaked.amended");
    std::mem::forget(span.enter());
    with_current_span(|s| s.set_attribute("set.while.leaked", 7_i64)).unwrap();
    drop(span);
    let recorded = collector().named("leaked.amended");
    assert_eq!(
        recorded[0]
            .attribute("set.while.leaked")
            .and_then(|v| v.as_i64()),
        Some(7)
    );
}

#[test]
fn guards_dropped_out_of_order_keep_the_innermost_live_span_current() {
    collector();
    let mut outer = Span::root("order.outer");
    let mut inner = Span::root("order.inner");
    let outer_context = outer.context();
    let inner_context = inner.context();

    let outer_guard = outer.enter();
    let inner_guard = inner.enter();
    drop(outer_guard);
    assert_eq!(current_context(), inner_context, "inner is still entered");
    with_current_span(|s| s.set_attribute("on.inner", true)).unwrap();
    let child = Span::new("order.child");
    drop(child);
    drop(inner_guard);
    assert_eq!(current_context(), None);
    assert_eq!(with_current_span(|_| ()), None);
    drop(inner);
    drop(outer);

    let child = &collector().named("order.child")[0];
    assert_eq!(child.parent_id(), inner_context.map(|c| c.span_id()));
    let inner = &collector().named("order.inner")[0];
    assert_eq!(inner.attribute("on.inner"), Some(dapple::Value::Bool(true)));
    assert_eq!(
        collector().named("order.outer")[0].attribute("on.inner"),
        None
    );
    assert!(outer_context.is_some());
}

#[test]
fn spans_dropped_before_their_leaked_guards_in_any_order_leave_a_clean_thread() {
    collector();
    let mut a = Span::root("leak.order.a");
    let mut b = Span::root("leak.order.b");
    std::mem::forget(a.enter());
    std::mem::forget(b.enter());
    drop(a);
    assert_eq!(current_context(), b.context());
    drop(b);
    assert_eq!(current_context(), None);
    assert_eq!(with_current_span(|s| s.is_recording()), None);
}

#[traced(name = "call.leaks")]
fn call_leaking_a_guard() -> Span {
    let mut inner = Span::new("call.leaks.inner");
    std::mem::forget(inner.enter());
    inner
}

#[test]
fn a_traced_call_whose_body_leaks_a_guard_still_leaves_its_own_span() {
    collector();
    let mut outer = Span::root("call.leaks.outer");
    let outer_id = outer.context().map(|c| c.span_id());
    let guard = outer.enter();
    let inner = call_leaking_a_guard();
    assert_eq!(
        current_context(),
        inner.context(),
        "the leaked guard keeps its span current until that span ends"
    );
    drop(inner);
    assert_eq!(current_context().map(|c| c.span_id()), outer_id);
    drop(Span::new("call.leaks.after"));
    drop(guard);
    drop(outer);
    assert_eq!(current_context(), None);

    let call = &collector().named("call.leaks")[0];
    assert_eq!(call.parent_id(), outer_id);
    let inner = &collector().named("call.leaks.inner")[0];
    assert_eq!(inner.parent_id(), Some(call.span_id()));
    let after = &collector().named("call.leaks.after")[0];
    assert_eq!(after.parent_id(), outer_id, "not a child of the ended call");
}

#[traced(name = "unsampled.call", sample = 0.0)]
fn unsampled_call() -> Option<dapple::SpanContext> {
    current_context()
}

#[test]
fn an_unsampled_traced_root_is_current_for_its_call_only() {
    collector();
    let inside = unsampled_call();
    assert_eq!(inside.map(|c| c.is_sampled()), Some(false));
    assert_eq!(current_context(), None);
    assert_eq!(with_current_span(|_| ()), None);
    assert!(collector().named("unsampled.call").is_empty());
}

#[test]
fn a_cancelled_future_holding_a_guard_across_await_leaves_nothing_behind() {
    collector();
    let parent = Span::root("cancelled.parent");
    let parent_context = parent.context();
    let mut future = Box::pin(
        async {
            let mut span = Span::new("cancelled.held");
            let _entered = span.enter();
            std::future::pending::<()>().await;
        }
        .in_span(parent),
    );
    assert!(poll_once(future.as_mut()).is_pending());
    // Between polls, neither the parent nor the held span is current here.
    assert_eq!(current_context(), None);
    let between = Span::new("cancelled.between");
    drop(between);
    drop(future);
    assert_eq!(current_context(), None);
    assert_eq!(with_current_span(|_| ()), None);

    assert_eq!(collector().named("cancelled.between")[0].parent_id(), None);
    let held = &collector().named("cancelled.held")[0];
    assert_eq!(held.parent_id(), parent_context.map(|c| c.span_id()));
}

#[test]
fn with_current_span_renames_rekinds_and_marks_errors() {
    collector();
    {
        let mut span = Span::root("amend.before");
        let _entered = span.enter();
        with_current_span(|s| {
            s.set_name("amend.after");
            s.set_kind(SpanKind::Server);
            s.set_error("bad input");
            s.add_event("checked", []);
        })
        .unwrap();
        // A second call sees nothing of the first but adds to it.
        with_current_span(|s| s.set_attribute("second", 2_i64)).unwrap();
    }
    let span = &collector().named("amend.after")[0];
    assert_eq!(span.kind(), SpanKind::Server);
    assert_eq!(span.status(), &Status::Error("bad input".into()));
    assert_eq!(span.events().len(), 1);
    assert_eq!(span.attribute("second").and_then(|v| v.as_i64()), Some(2));
}

#[test]
fn swapping_out_the_lent_span_records_nothing_false() {
    collector();
    let mut span = Span::root("swap.real");
    let _entered = span.enter();
    let taken = with_current_span(|s| std::mem::replace(s, Span::none())).unwrap();
    drop(taken);
    drop(_entered);
    drop(span);
    let all = collector().spans();
    assert_eq!(all.iter().filter(|s| s.name() == "swap.real").count(), 1);
    assert!(all.iter().all(|s| !s.name().is_empty()));
}

#[test]
fn a_panic_inside_with_current_span_keeps_what_was_set() {
    collector();
    let mut span = Span::root("amend.panic");
    {
        let _entered = span.enter();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_current_span(|s| {
                s.set_attribute("before.panic", true);
                panic!("in the closure");
            })
        }));
        assert!(caught.is_err());
    }
    drop(span);
    let span = &collector().named("amend.panic")[0];
    assert_eq!(
        span.attribute("before.panic"),
        Some(dapple::Value::Bool(true))
    );
}

#[traced(name = "boom.task")]
async fn boom_task() {
    tokio::task::yield_now().await;
    panic!("task on fire");
}

#[traced(name = "boom.task.parent")]
async fn spawn_boom_task() -> bool {
    tokio::spawn(boom_task()).await.is_err()
}

#[traced(name = "boom.blocking")]
fn boom_blocking() {
    panic!("blocking on fire");
}

#[traced(name = "boom.blocking.parent")]
async fn spawn_boom_blocking() -> bool {
    tokio::task::spawn_blocking(boom_blocking).await.is_err()
}

/// The error span of a panicking task is delivered before the task's join
/// handle resolves, although the one worker then sits idle.
#[test]
fn a_panicking_task_delivers_its_error_span_from_an_idle_worker() {
    collector();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    assert!(runtime.block_on(async { tokio::spawn(spawn_boom_task()).await.unwrap() }));
    let boom = collector().named("boom.task");
    assert_eq!(boom.len(), 1, "the task's span was not delivered");
    assert!(matches!(boom[0].status(), Status::Error(m) if m.contains("task on fire")));
    let parent = &collector().named("boom.task.parent")[0];
    assert_eq!(boom[0].parent_id(), Some(parent.span_id()));
}

#[test]
fn a_panicking_blocking_closure_delivers_its_error_span() {
    collector();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    assert!(runtime.block_on(async { tokio::spawn(spawn_boom_blocking()).await.unwrap() }));
    let boom = collector().named("boom.blocking");
    assert_eq!(boom.len(), 1, "the closure's span was not delivered");
    assert!(matches!(boom[0].status(), Status::Error(m) if m.contains("blocking on fire")));
    let parent = &collector().named("boom.blocking.parent")[0];
    assert_eq!(boom[0].parent_id(), Some(parent.span_id()));
}

#[traced(name = "boom.bound")]
fn boom_bound() {
    panic!("bound on fire");
}

/// A long-lived worker thread (a pool's) runs a bound closure that panics;
/// its span is delivered while the thread lives on.
#[test]
fn a_panicking_bound_closure_on_a_long_lived_thread_delivers_its_span() {
    collector();
    let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let (done, finished) = std::sync::mpsc::channel::<bool>();
    let worker = std::thread::spawn(move || {
        for job in queue {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err();
            done.send(panicked).unwrap();
        }
    });
    let parent = {
        let mut root = Span::root("boom.bound.parent");
        let context = root.context().unwrap();
        let _entered = root.enter();
        jobs.send(Box::new(dapple::bind(boom_bound))).unwrap();
        context
    };
    assert!(finished.recv().unwrap());
    let boom = collector().named("boom.bound");
    assert_eq!(boom.len(), 1, "the closure's span was not delivered");
    assert_eq!(boom[0].parent_id(), Some(parent.span_id()));
    assert!(matches!(boom[0].status(), Status::Error(m) if m.contains("bound on fire")));
    drop(jobs);
    worker.join().unwrap();
}

#[traced(name = "boom.thread")]
fn boom_thread() {
    panic!("thread on fire");
}

#[traced(name = "boom.thread.parent")]
fn spawn_boom_thread() -> bool {
    std::thread::spawn(boom_thread).join().is_err()
}

#[test]
fn a_panicking_thread_delivers_its_error_span() {
    collector();
    assert!(spawn_boom_thread());
    let boom = collector().named("boom.thread");
    assert_eq!(boom.len(), 1);
    let parent = &collector().named("boom.thread.parent")[0];
    assert_eq!(boom[0].parent_id(), Some(parent.span_id()));
}
