//! The README's quickstart: `cargo run -p dapple-examples --bin quickstart`.
//!
//! Prints the span tree of one request, recorded in-process.

use dapple::{MemorySink, traced};

#[traced(name = "handle_request", args(user_id))]
async fn handle_request(user_id: u64) -> Result<String, String> {
    let profile = load_profile(user_id).await?;
    // The spawned task's spans are children of handle_request: no wrapping needed.
    let audit = tokio::spawn(async move { audit(user_id).await });
    audit.await.map_err(|e| e.to_string())?;
    Ok(profile)
}

#[traced(name = "load_profile", err)]
async fn load_profile(user_id: u64) -> Result<String, String> {
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    Ok(format!("user-{user_id}"))
}

#[traced(name = "audit")]
async fn audit(_user_id: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
}

#[tokio::main]
async fn main() {
    let spans = MemorySink::install();
    let profile = handle_request(42).await.expect("the request succeeds");
    println!("handled {profile}");
    let tree = spans
        .tree_of("handle_request")
        .expect("one trace was recorded");
    for span in tree.iter() {
        println!(
            "{:<16} trace={} span={} parent={:?} {}us",
            span.name(),
            span.trace_id(),
            span.span_id(),
            span.parent_id(),
            span.duration_nanos() / 1000
        );
    }
    print!("{}", tree.render());
}
