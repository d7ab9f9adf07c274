// Pins: spawns inside macro arguments (`vec!`, `assert!`, `format!`, `println!`,
// `tokio::join!`, `tokio::select!`) carry the span; other macros stay as written.
#[dapple::traced(name = "child")]
fn child() -> u32 {
    1
}

macro_rules! twice {
    ($e:expr => $f:expr) => {
        $e + $f
    };
}

#[dapple::traced(name = "parent")]
async fn parent() {
    let handles = vec![tokio::spawn(async { child() }), tokio::spawn(async { child() })];
    for handle in handles {
        handle.await.unwrap();
    }
    let repeated = vec![std::thread::spawn(child).join().unwrap(); 2];
    assert_eq!(repeated, [1, 1]);
    assert!(std::thread::spawn(child).join().is_ok(), "{}", 1);
    assert_eq!(tokio::spawn(async { child() }).await.unwrap(), 1);
    let text = format!("{}", std::thread::spawn(child).join().unwrap());
    println!("{text} {:?}", vec![std::thread::spawn(child).join().unwrap()]);
    let (a, b) = tokio::join!(
        tokio::spawn(async { child() }),
        tokio::task::spawn_blocking(child)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 2);
    let ready = true;
    tokio::select! {
        biased;
        done = tokio::spawn(async { child() }), if ready => {
            assert_eq!(done.unwrap(), 1);
        }
        _ = std::future::pending::<()>() => unreachable!(),
    }
    assert_eq!(twice!(1 => 2), 3);
}

fn main() {
    let spans = dapple::MemorySink::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(parent());
    let tree = spans.tree_of("parent").expect("one parent trace");
    assert_eq!(tree.render(), format!("parent\n{}", "  child\n".repeat(10)));
}
