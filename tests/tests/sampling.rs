//! Head sampling: the root decides, children follow, and an unsampled call
//! records and formats nothing. The rate is global, so these run in order.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use dapple::traced;
use dapple_tests::collector;

/// Serialises the tests of this file: they change the global rate.
static RATE: Mutex<()> = Mutex::new(());

static FORMATTED: AtomicUsize = AtomicUsize::new(0);

/// Counts how often it is formatted.
struct Noisy;

impl fmt::Debug for Noisy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        FORMATTED.fetch_add(1, Ordering::SeqCst);
        f.write_str("Noisy")
    }
}

#[traced(name = "sampling.root", args(noisy), fields(noisy.debug = ?noisy))]
fn sampled_root(noisy: &Noisy) {
    sampled_child(noisy);
}

#[traced(name = "sampling.child", args(noisy))]
fn sampled_child(noisy: &Noisy) {
    sampled_grandchild();
    let _ = noisy;
}

#[traced(name = "sampling.grandchild")]
fn sampled_grandchild() {}

#[test]
fn rate_zero_records_nothing_and_formats_no_argument() {
    let _rate = RATE.lock().unwrap();
    collector();
    let count = |name| collector().named(name).len();
    let spans_before = [
        count("sampling.root"),
        count("sampling.child"),
        count("sampling.grandchild"),
    ];
    dapple::set_sample_rate(0.0);
    let before = FORMATTED.load(Ordering::SeqCst);
    for _ in 0..100 {
        sampled_root(&Noisy);
    }
    let formatted = FORMATTED.load(Ordering::SeqCst) - before;
    dapple::set_sample_rate(1.0);
    assert_eq!(formatted, 0, "an unsampled call formats no argument");
    let spans_after = [
        count("sampling.root"),
        count("sampling.child"),
        count("sampling.grandchild"),
    ];
    assert_eq!(spans_after, spans_before, "nothing recorded at rate 0");

    sampled_root(&Noisy);
    assert_eq!(
        FORMATTED.load(Ordering::SeqCst) - before,
        3,
        "a sampled call formats each recorded argument once"
    );
}

#[test]
fn children_follow_the_roots_decision_at_a_partial_rate() {
    let _rate = RATE.lock().unwrap();
    collector();
    collector().clear();
    dapple::set_sample_rate(0.5);
    for _ in 0..400 {
        sampled_root(&Noisy);
    }
    dapple::set_sample_rate(1.0);
    let roots = collector().named("sampling.root");
    assert!(
        (120..=280).contains(&roots.len()),
        "about half of 400 roots sampled, got {}",
        roots.len()
    );
    // Every sampled root has its whole tree; no child was recorded without
    // its root.
    for root in &roots {
        let trace = collector().trace(root.trace_id());
        assert_eq!(trace.len(), 3, "{trace:?}");
    }
    assert_eq!(collector().named("sampling.child").len(), roots.len());
    assert_eq!(collector().named("sampling.grandchild").len(), roots.len());
}

#[traced(name = "sampling.never", sample = 0.0)]
fn never_sampled() {
    sampled_grandchild_of_never();
}

#[traced(name = "sampling.under_never")]
fn sampled_grandchild_of_never() {}

#[traced(name = "sampling.always", sample = 1.0)]
fn always_sampled() {
    never_sampled();
}

#[test]
fn a_functions_own_rate_decides_the_traces_it_starts() {
    let _rate = RATE.lock().unwrap();
    collector();
    dapple::set_sample_rate(0.0);
    for _ in 0..10 {
        always_sampled();
    }
    dapple::set_sample_rate(1.0);
    for _ in 0..10 {
        never_sampled();
    }
    // `sample = 1.0` overrides the global 0.0 for roots it starts, and its
    // child with `sample = 0.0` follows the parent, not its own rate.
    assert_eq!(collector().named("sampling.always").len(), 10);
    let nested_never = collector()
        .named("sampling.never")
        .into_iter()
        .filter(|s| s.parent_id().is_some())
        .count();
    assert_eq!(nested_never, 10);
    // As a root, `sample = 0.0` records nothing, nor its children.
    let root_never = collector()
        .named("sampling.never")
        .into_iter()
        .filter(|s| s.parent_id().is_none())
        .count();
    assert_eq!(root_never, 0);
    assert_eq!(collector().named("sampling.under_never").len(), 10);
}

#[traced(name = "sampling.async_root")]
async fn async_root() {
    tokio::spawn(async_child()).await.unwrap();
}

#[traced(name = "sampling.async_child")]
async fn async_child() {
    let context = dapple::current_context().expect("the unsampled decision travels");
    assert!(!context.is_sampled());
}

#[test]
fn an_unsampled_decision_travels_into_spawned_tasks() {
    let _rate = RATE.lock().unwrap();
    collector();
    dapple::set_sample_rate(0.0);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
        .block_on(async_root());
    dapple::set_sample_rate(1.0);
    assert!(collector().named("sampling.async_root").is_empty());
    assert!(collector().named("sampling.async_child").is_empty());
}
