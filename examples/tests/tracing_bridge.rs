//! The `tracing_bridge` example prints one tree of `tracing` and `#[traced]`
//! spans, with the `tracing` event on its span.

#[test]
fn the_bridge_example_prints_one_tree() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracing_bridge"))
        .env_remove("DAPPLE_ENDPOINT")
        .env_remove("DAPPLE_SAMPLE")
        .output()
        .expect("the example runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "handle_order\n  storage.fetch\n    * read from disk\n    decode\n"
    );
}
