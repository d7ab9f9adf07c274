//! The `spawn` and `sqlevent` examples run and print what they promise.

use std::process::{Command, Output};

/// Runs an example with spans kept in memory (no collector configured).
fn run(binary: &str) -> String {
    let out = Command::new(binary)
        .env_remove("DAPPLE_ENDPOINT")
        .env_remove("DAPPLE_SAMPLE")
        .output()
        .expect("the example runs");
    succeeded(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn spawn_prints_every_spawned_span_as_a_child_of_the_root() {
    let stdout = run(env!("CARGO_BIN_EXE_spawn"));
    let tree = &stdout[stdout.find("spawn.demo\n").expect("the tree")..];
    let children: Vec<&str> = tree.lines().skip(1).collect();
    assert_eq!(
        children,
        [
            "  work (tokio::spawn)",
            "  work (tokio::task::spawn)",
            "  work (tokio::task::spawn_local)",
            "  work (tokio::task::spawn_blocking)",
            "  work (std::thread::spawn)",
            "  work (std::thread::Builder::spawn)",
            "  work (dapple::spawn)",
            "  work (Handle::spawn + in_current_span)",
            "  work (thread::scope + dapple::bind)",
        ],
        "{stdout}"
    );
}

#[test]
fn sqlevent_prints_one_span_per_statement_without_parameters() {
    let stdout = run(env!("CARGO_BIN_EXE_sqlevent"));
    assert!(
        stdout.contains("selected 2 users older than 30\n"),
        "{stdout}"
    );
    let tree = &stdout[stdout.find("sqlevent.signups\n").expect("the tree")..];
    let names: Vec<&str> = tree
        .lines()
        .map(|line| line.split(" db.").next().unwrap_or(line))
        .collect();
    assert_eq!(
        names,
        [
            "sqlevent.signups",
            "  - event",
            "  CREATE TABLE users",
            "  INSERT users",
            "  INSERT users",
            "  INSERT users",
            "  SELECT users",
            "  INSERT users",
        ],
        "{stdout}"
    );
    assert!(
        tree.contains(r#"db.query.text="SELECT email FROM users WHERE age > ?1 ORDER BY age" db.response.returned_rows=2"#),
        "{stdout}"
    );
    assert!(
        tree.contains(r#"  - event db.query "SELECT max(age) FROM users""#),
        "the query run by hand is an event on the root: {stdout}"
    );
    let failed = tree.lines().last().unwrap_or_default();
    assert!(
        failed.ends_with(
            r#"error.type="ConstraintViolation" error="UNIQUE constraint failed: users.email""#
        ),
        "{stdout}"
    );
    assert!(
        !tree.contains("@example.com"),
        "a parameter was printed: {stdout}"
    );
}

#[test]
fn with_a_collector_configured_but_not_running_the_examples_still_exit_cleanly() {
    // A port that was free a moment ago: no collector listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    // Both at once: each waits for the collector before giving up.
    let children: Vec<_> = [env!("CARGO_BIN_EXE_spawn"), env!("CARGO_BIN_EXE_sqlevent")]
        .into_iter()
        .map(|binary| {
            Command::new(binary)
                .env("DAPPLE_ENDPOINT", format!("127.0.0.1:{port}"))
                .env_remove("DAPPLE_SAMPLE")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the example starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("the example ends");
        succeeded(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("sent to the collector at 127.0.0.1:{port}")),
            "{stdout}"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("could not be delivered"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_bad_variable_is_reported_not_a_panic() {
    for binary in [env!("CARGO_BIN_EXE_spawn"), env!("CARGO_BIN_EXE_sqlevent")] {
        let out = Command::new(binary)
            .env("DAPPLE_SAMPLE", "lots")
            .output()
            .expect("the example runs");
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("DAPPLE_SAMPLE"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
