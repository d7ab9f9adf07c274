// Pins: a non-`Send` future passed to a rewritten `tokio::spawn` still gets rustc's own error.
#[dapple::traced]
async fn run() {
    tokio::spawn(async move {
        let rc = std::rc::Rc::new(1);
        tokio::task::yield_now().await;
        drop(rc);
    });
}

fn main() {
    let _ = run();
}
