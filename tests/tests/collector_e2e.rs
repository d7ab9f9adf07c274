//! A real collector process and a real instrumented program: spans leave
//! the program over the native protocol and come back from the query API.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use dapple_proto::{self as proto, Frame, frame};
mod support;

use prost::Message;
use support::{CollectorProcess, printed_trace_id, render_trace, run_traced_program};

const TREE: &str = "program.main
  program.load
    program.read_item
    program.read_item
    program.read_item
  program.compute
  program.store
";

#[test]
fn the_exact_span_tree_of_a_program_comes_back_from_the_memory_store() {
    let collector = CollectorProcess::start(&["--store", "memory"]);
    assert_exact_tree(&collector);
}

#[test]
fn the_exact_span_tree_of_a_program_comes_back_from_the_sqlite_store() {
    let dir = data_dir("tree");
    let collector = CollectorProcess::start(&["--store", "sqlite", "--data-dir", &dir]);
    assert_exact_tree(&collector);
    drop(collector);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory for a SQLite store.
fn data_dir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("dapple-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.to_string_lossy().into_owned()
}

fn assert_exact_tree(collector: &CollectorProcess) {
    let output = run_traced_program(&collector.native.to_string(), &[], 10);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("undelivered 0"));
    let trace_id = printed_trace_id(&output);

    let (status, trace) = collector.get(&format!("/api/traces/{trace_id}"));
    assert_eq!(status, 200, "{trace}");
    assert_eq!(render_trace(&trace), TREE);
    let spans = trace["spans"].as_array().unwrap();
    for span in spans {
        assert_eq!(span["service"], "traced-program");
        let start = span["start_unix_nanos"].as_u64().unwrap();
        let end = span["end_unix_nanos"].as_u64().unwrap();
        assert!(end >= start);
        if let Some(parent) = span["parent_id"].as_str() {
            let parent = spans.iter().find(|s| s["span_id"] == parent).unwrap();
            assert!(start >= parent["start_unix_nanos"].as_u64().unwrap());
            assert!(end <= parent["end_unix_nanos"].as_u64().unwrap());
        }
    }
    let by_name = |name: &str| spans.iter().find(|s| s["name"] == name).unwrap();
    assert_eq!(by_name("program.load")["attributes"]["items"], 3);
    assert_eq!(by_name("program.compute")["attributes"]["return"], 24);
    assert_eq!(by_name("program.store")["status"]["code"], "error");
    assert_eq!(
        by_name("program.store")["status"]["message"],
        "disk full after 24 bytes"
    );
}

#[test]
fn bad_trace_ids_and_unknown_traces_get_clear_json_errors() {
    let collector = CollectorProcess::start(&[]);
    let (status, body) = collector.get("/api/traces/not-hex");
    assert_eq!(status, 400);
    assert_eq!(body["parameter"], "trace_id");
    let (status, body) = collector.get("/api/traces/4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("no trace"));
    assert_eq!(collector.get("/healthz").0, 200);
}

#[test]
fn a_panicking_span_reaches_the_collector() {
    let collector = CollectorProcess::start(&[]);
    let output = run_traced_program(&collector.native.to_string(), &["panic"], 10);
    assert!(!output.status.success(), "the program panics");
    let trace_id = printed_trace_id(&output);
    let (status, trace) = collector.get(&format!("/api/traces/{trace_id}"));
    assert_eq!(status, 200);
    let spans = trace["spans"].as_array().unwrap();
    let exploded = spans
        .iter()
        .find(|s| s["name"] == "program.explode")
        .unwrap();
    assert_eq!(exploded["status"]["code"], "error");
    assert_eq!(
        exploded["status"]["message"],
        "panicked: the program gave up"
    );
    let main = spans.iter().find(|s| s["name"] == "program.main").unwrap();
    assert_eq!(
        main["status"]["code"], "error",
        "the panic unwound through main"
    );
}

#[test]
fn with_no_collector_the_program_exits_after_its_flush_timeout_and_says_what_it_lost() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let started = Instant::now();
    let output = run_traced_program(&port.to_string(), &[], 1);
    let took = started.elapsed();
    assert!(output.status.success());
    assert!(
        took < Duration::from_secs(8),
        "exited promptly, in {took:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("undelivered 7"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("7 spans could not be delivered"),
        "{stderr}"
    );
}

#[test]
fn a_collector_that_comes_up_late_still_gets_every_span() {
    let address = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let program = std::thread::spawn(move || run_traced_program(&address.to_string(), &[], 20));
    std::thread::sleep(Duration::from_secs(2));
    let collector = CollectorProcess::start(&["--native", &address.to_string()]);
    let output = program.join().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("undelivered 0"));
    let trace_id = printed_trace_id(&output);
    let (status, trace) = collector.get(&format!("/api/traces/{trace_id}"));
    assert_eq!(status, 200);
    assert_eq!(render_trace(&trace), TREE);
}

/// Sends raw bytes on a fresh connection and returns what the collector
/// answered before closing it (empty when it closed without a word).
fn send_raw(collector: &CollectorProcess, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(collector.native).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fn error_message(answer: &[u8]) -> String {
    let mut frames = proto::FrameReader::new(answer, 1 << 20);
    match frames.read_frame().map(|f| f.and_then(|f| f.kind)) {
        Ok(Some(frame::Kind::Error(e))) => e.message,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

#[test]
fn garbage_on_the_native_port_gets_errors_while_a_good_client_is_served() {
    let collector = CollectorProcess::start(&["--max-frame-bytes", "65536"]);
    let good = {
        let native = collector.native.to_string();
        std::thread::spawn(move || run_traced_program(&native, &[], 20))
    };

    // Random bytes: not a frame.
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let answer = send_raw(&collector, &noise);
    assert!(answer.is_empty() || !error_message(&answer).is_empty());

    // A length prefix of 4 GiB: refused before anything is read.
    let answer = send_raw(&collector, &[0x80, 0x80, 0x80, 0x80, 0x10]);
    assert!(
        error_message(&answer).contains("over the limit"),
        "{answer:?}"
    );

    // A truncated frame: the connection just ends.
    let hello = Frame {
        kind: Some(frame::Kind::Hello(proto::Hello {
            protocol_version: proto::PROTOCOL_VERSION,
            ..Default::default()
        })),
    }
    .encode_length_delimited_to_vec();
    assert!(send_raw(&collector, &hello[..hello.len() - 1]).is_empty());

    // A valid frame of an unknown protocol version.
    let future = Frame {
        kind: Some(frame::Kind::Hello(proto::Hello {
            protocol_version: 99,
            ..Default::default()
        })),
    }
    .encode_length_delimited_to_vec();
    assert!(error_message(&send_raw(&collector, &future)).contains("version 99"));

    // A batch before any hello.
    let batch = Frame {
        kind: Some(frame::Kind::Batch(proto::Batch::default())),
    }
    .encode_length_delimited_to_vec();
    assert!(error_message(&send_raw(&collector, &batch)).contains("hello"));

    // Many connections that announce big frames and never send them.
    for _ in 0..200 {
        let answer = send_raw(&collector, &[0xff, 0xff, 0x03]);
        assert!(answer.is_empty() || !error_message(&answer).is_empty());
    }
    let rss = collector.rss_kib();
    assert!(
        rss < 200 * 1024,
        "the collector's memory stays bounded: {rss} KiB"
    );

    let output = good.join().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("undelivered 0"));
    let (status, trace) = collector.get(&format!("/api/traces/{}", printed_trace_id(&output)));
    assert_eq!(status, 200);
    assert_eq!(render_trace(&trace), TREE);
    assert_eq!(collector.get("/healthz").0, 200, "still serving");
}

#[test]
fn a_collector_killed_mid_stream_and_restarted_on_its_sqlite_file_stores_every_span_once() {
    let dir = data_dir("kill");
    let native = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let args = ["--store", "sqlite", "--data-dir", &dir, "--native", &native];
    let mut first = CollectorProcess::start(&args);
    let program = {
        let native = native.clone();
        std::thread::spawn(move || run_traced_program(&native, &["many", "60"], 30))
    };
    std::thread::sleep(Duration::from_millis(600));
    first.kill();
    std::thread::sleep(Duration::from_millis(300));
    let second = CollectorProcess::start(&args);
    let output = program.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("undelivered 0"));

    let trace_ids: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("trace ").map(str::to_owned))
        .collect();
    assert_eq!(trace_ids.len(), 60);
    let mut span_ids = std::collections::HashSet::new();
    for trace_id in &trace_ids {
        let (status, trace) = second.get(&format!("/api/traces/{trace_id}"));
        assert_eq!(status, 200, "trace {trace_id}");
        assert_eq!(render_trace(&trace), TREE, "trace {trace_id}");
        for span in trace["spans"].as_array().unwrap() {
            assert!(span_ids.insert(span["span_id"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(span_ids.len(), 60 * 7, "every span stored exactly once");
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spans_dropped_past_the_memory_bound_are_counted_and_reach_the_collector() {
    let address = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let program = std::thread::spawn(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_traced_program"))
            .args(["many", "30"])
            .env("DAPPLE_ENDPOINT", address.to_string())
            .env("DAPPLE_SERVICE", "squeezed")
            .env("DAPPLE_BUFFER_BYTES", "3000")
            .env("FLUSH_SECS", "20")
            .output()
            .unwrap()
    });
    std::thread::sleep(Duration::from_secs(2));
    // The older name of `--native` still works.
    let collector = CollectorProcess::start(&["--collector", &address.to_string()]);
    let output = program.join().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("undelivered 0"));

    let (_, services) = collector.get("/api/services");
    // Counted for the client that reported them: here, by its address.
    let dropped = services["dropped_spans"]["squeezed"]["127.0.0.1"]
        .as_u64()
        .unwrap_or(0);
    assert!(dropped > 0, "{services}");
    let (_, aggregates) = collector.get("/api/aggregates?window=1h");
    let stored: u64 = aggregates["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        stored + dropped,
        30 * 7,
        "every span stored or counted as dropped"
    );
}
