//! `dapple-collector demo`: one command gives a newcomer traces of three
//! services in the collector within seconds, every failing request among
//! them whole (the demo samples retroactively), and stopping it stops them
//! all.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The value after `label` on one of the demo's banner lines.
fn banner_value(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} in {lines:?}"))
        .trim_end_matches('/')
        .to_owned()
}

fn get(url: &str) -> Result<(u16, serde_json::Value), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call()?;
    let body = response.body_mut().read_to_string()?;
    Ok((
        response.status().as_u16(),
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    ))
}

#[test]
fn the_demo_fills_the_collector_with_traces_of_three_services() {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(["demo", "--http", "127.0.0.1:0", "--native", "127.0.0.1:0"])
        .args(["--front", "127.0.0.1:0", "--interval", "200ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the demo starts");
    let mut stdout = BufReader::new(demo.stdout.take().expect("its stdout"));
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("Ctrl-C")) {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("the banner") == 0 {
            panic!("the demo stopped: {lines:?}");
        }
        lines.push(line);
    }
    let ui = banner_value(&lines, "web UI:");
    let front = banner_value(&lines, "front service:");

    let deadline = Instant::now() + Duration::from_secs(30);
    let traces = loop {
        let (status, body) = get(&format!("{ui}/api/traces?service=frontservice&limit=50"))
            .expect("the collector answers");
        assert_eq!(status, 200, "{body}");
        let complete: Vec<serde_json::Value> = body["traces"]
            .as_array()
            .expect("traces")
            .iter()
            .filter(|t| t["span_count"] == 14)
            .cloned()
            .collect();
        // The demo samples retroactively: every fifth request fails in B1,
        // and each of those is kept whole.
        let failed = complete.iter().filter(|t| t["error_count"] != 0).count();
        if complete.len() >= 2 && failed >= 1 {
            break complete;
        }
        assert!(Instant::now() < deadline, "no complete traces yet: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for trace in &traces {
        assert_eq!(trace["root_name"], "GET /", "{trace}");
        assert_eq!(
            trace["services"],
            serde_json::json!(["frontservice", "serviceA", "serviceB"]),
            "{trace}"
        );
    }

    // Every failing request is there whole, not only some: those that
    // started over a second ago have all their spans.
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = get(&format!(
        "{ui}/api/traces?service=frontservice&error=true&limit=100"
    ))
    .expect("the collector answers");
    let settled = dapple::now_unix_nanos() - 1_000_000_000;
    let failed: Vec<&serde_json::Value> = body["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .filter(|t| t["start_unix_nanos"].as_u64().is_some_and(|s| s < settled))
        .collect();
    assert!(!failed.is_empty(), "{body}");
    for trace in failed {
        assert_eq!(
            trace["span_count"], 14,
            "a failing request kept whole: {trace}"
        );
    }

    demo.kill().expect("the demo stops");
    demo.wait().expect("the demo is reaped");
    // Its services see their standard input close and stop too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&format!("{front}/")).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the front service outlived the demo"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
