//! The tower server layer on a request left unsampled: no route lookup, no
//! name, no allocation of its own; on a recorded one, the span named by the
//! route, with one allocation in steady state: the name.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dapple::server::TraceLayer;
use dapple::{Sink, SpanBatch};
use dapple_tests::counting::{self, Counting};
use futures::FutureExt;
use http::{Request, Response};
use tower::{Layer, Service, ServiceExt};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Keeps the names of the spans it is given, or, once `only_count` is set,
/// only counts them (without allocating).
#[derive(Default)]
struct Names {
    kept: Mutex<Vec<String>>,
    counted: AtomicUsize,
    only_count: AtomicBool,
}

impl Sink for Names {
    fn collect(&self, batch: SpanBatch) {
        if self.only_count.load(Ordering::Relaxed) {
            self.counted.fetch_add(batch.len(), Ordering::Relaxed);
            return;
        }
        let mut names = self.kept.lock().unwrap();
        names.extend(batch.spans().iter().map(|span| span.name().to_owned()));
    }
}

/// Routes the layer was asked for.
static ROUTES: AtomicUsize = AtomicUsize::new(0);

fn request() -> Request<()> {
    Request::get("/users/7?page=2")
        .header("user-agent", "test")
        .body(())
        .unwrap()
}

#[test]
fn an_unsampled_request_costs_the_layer_no_route_no_name_and_no_allocation() {
    let names = Arc::new(Names::default());
    dapple::set_sink(names.clone());
    let mut service = TraceLayer::new()
        .with_route(|_: &Request<()>| {
            ROUTES.fetch_add(1, Ordering::Relaxed);
            Some("/users/{id}")
        })
        .layer(tower::service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(()))
        }));
    let mut serve = |request| {
        let call = service
            .ready()
            .now_or_never()
            .unwrap()
            .unwrap()
            .call(request);
        call.now_or_never().unwrap().unwrap()
    };

    dapple::set_sample_rate(1.0);
    serve(request());
    dapple::flush_thread();
    assert_eq!(*names.kept.lock().unwrap(), ["GET /users/{id}"]);
    assert_eq!(ROUTES.load(Ordering::Relaxed), 1);

    dapple::set_sample_rate(0.0);
    let requests: Vec<_> = (0..100).map(|_| request()).collect();
    let mut responses = Vec::with_capacity(requests.len());
    counting::count_this_thread(true);
    for request in requests {
        responses.push(serve(request));
    }
    counting::count_this_thread(false);
    dapple::flush_thread();

    assert_eq!(responses.len(), 100);
    assert_eq!(counting::allocations(), 0, "allocations for 100 requests");
    assert_eq!(ROUTES.load(Ordering::Relaxed), 1, "no route looked up");
    assert_eq!(names.kept.lock().unwrap().len(), 1, "nothing recorded");

    // Recorded requests, once warm: the span's name is the layer's one
    // allocation (no formatting, no copy of the route or of the layer's
    // settings).
    names.only_count.store(true, Ordering::Relaxed);
    dapple::set_sample_rate(1.0);
    for _ in 0..100 {
        serve(request());
    }
    dapple::flush_thread();
    let requests: Vec<_> = (0..100).map(|_| request()).collect();
    let mut recorded = Vec::with_capacity(requests.len());
    counting::count_this_thread(true);
    for request in requests {
        recorded.push(serve(request));
    }
    dapple::flush_thread();
    counting::count_this_thread(false);
    assert_eq!(recorded.len(), 100);
    assert_eq!(
        names.counted.load(Ordering::Relaxed),
        200,
        "every request recorded"
    );
    assert_eq!(ROUTES.load(Ordering::Relaxed), 201);
    assert_eq!(
        counting::allocations(),
        100,
        "allocations for 100 recorded requests"
    );
}
