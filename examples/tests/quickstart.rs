//! The README's quickstart runs and prints the span tree it promises.

#[test]
fn quickstart_prints_its_span_tree() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .output()
        .expect("the quickstart runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.ends_with("handle_request\n  load_profile\n  audit\n"),
        "{stdout}"
    );
}
