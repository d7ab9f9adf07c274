//! Hostile peers against a real collector process, one attack at a time:
//! each test builds the attack, checks what a user would (the connection
//! was closed, nothing was stored, memory stayed bounded, the collector
//! still serves others), and prints the figure a note quotes, as
//! `attack: <name>: <figure>`. Short timeouts come from the collector's
//! flags; the tests' own deadlines only decide whether something happened
//! at all.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dapple_proto::{self as proto, Frame, frame};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1 as otlp;
use prost::Message;
use serde_json::Value;

mod support;

use support::CollectorProcess;

/// How long something that should happen may take before the test calls
/// it not happening: a limit for "at all", never a measure of speed.
const AT_ALL: Duration = Duration::from_secs(30);

const MIB: f64 = 1024.0 * 1024.0;

// ---------------------------------------------------------------------
// 1. Slowloris: peers that start and never finish, or never start.
// ---------------------------------------------------------------------

#[test]
fn slow_and_idle_peers_are_disconnected_while_healthz_still_answers() {
    let collector = CollectorProcess::start(&[
        "--read-timeout",
        "1s",
        "--native-idle-timeout",
        "2s",
        "--http-idle-timeout",
        "2s",
    ]);
    let hello = wire(&[hello("slowloris", "")]);
    let http_host = format!("Host: {}\r\n", collector.http);
    let (ready, readied) = mpsc::channel();

    let half_frame = stall(collector.native, hello[..hello.len() / 2].to_vec(), &ready);
    let idle_native = stall(collector.native, hello.clone(), &ready);
    let unfinished_headers = stall(
        collector.http,
        format!("GET / HTTP/1.1\r\n{http_host}").into_bytes(),
        &ready,
    );
    let idle_keep_alive = stall(
        collector.http,
        format!("GET /healthz HTTP/1.1\r\n{http_host}\r\n").into_bytes(),
        &ready,
    );
    for _ in 0..4 {
        readied.recv().expect("every slow peer has sent its bytes");
    }
    // The slow peers hold their connections; a normal client is served.
    let (status, body) = collector.get("/healthz");
    assert_eq!((status, body), (200, Value::String("ok".into())));

    let (answer, half_frame) = half_frame.join().unwrap();
    assert!(
        only_errors(&answer),
        "half a frame gets at most an error: {answer:?}"
    );
    let (answer, idle_native) = idle_native.join().unwrap();
    assert!(
        only_errors(&answer),
        "an idle client is not acked: {answer:?}"
    );
    assert!(
        idle_native > Duration::from_millis(1500),
        "a connection between frames waits for the idle timeout, not the read timeout: \
         closed after {idle_native:?}"
    );
    let (answer, unfinished_headers) = unfinished_headers.join().unwrap();
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "unfinished headers are not answered: {:?}",
        String::from_utf8_lossy(&answer)
    );
    let (answer, idle_keep_alive) = idle_keep_alive.join().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
        "the complete request was answered before the connection closed: {answer:?}"
    );
    assert_eq!(collector.get("/healthz").0, 200, "still serving");
    println!(
        "attack: slowloris: closed after half a native frame {:.1} s, after a hello \
         {:.1} s, unfinished HTTP headers {:.1} s, idle keep-alive {:.1} s \
         (--read-timeout 1s, idle timeouts 2s); /healthz answered meanwhile",
        half_frame.as_secs_f64(),
        idle_native.as_secs_f64(),
        unfinished_headers.as_secs_f64(),
        idle_keep_alive.as_secs_f64(),
    );
}

#[test]
fn peers_stalling_inside_announced_16_mib_frames_hold_only_what_they_sent() {
    const PEERS: usize = 20;
    const SENT: usize = 1 << 20;
    let collector = CollectorProcess::start(&["--read-timeout", "1s"]);
    let announced = proto::DEFAULT_MAX_FRAME_BYTES;
    let mut opening = Vec::new();
    prost::encoding::encode_varint(announced as u64, &mut opening);
    opening.extend(std::iter::repeat_n(0u8, SENT));

    let before = collector.rss_kib();
    let (ready, readied) = mpsc::channel();
    let peers: Vec<_> = (0..PEERS)
        .map(|_| stall(collector.native, opening.clone(), &ready))
        .collect();
    for _ in 0..PEERS {
        readied.recv().expect("every peer has sent its megabyte");
    }
    let peak = peak_rss_until(&collector, || peers.iter().all(JoinHandle::is_finished));
    let mut longest = Duration::ZERO;
    for peer in peers {
        let (answer, open) = peer.join().unwrap();
        assert!(only_errors(&answer), "a stalled frame is not acked");
        longest = longest.max(open);
    }
    let growth = peak.saturating_sub(before);
    let announced_total = (PEERS * announced / 1024) as u64;
    assert!(
        growth < announced_total / 4,
        "{PEERS} peers announcing {announced} bytes and sending {SENT}: the collector grew \
         by {growth} KiB (announced in all: {announced_total} KiB)"
    );
    assert_eq!(collector.get("/healthz").0, 200);
    println!(
        "attack: slowloris: {PEERS} connections announcing 16 MiB frames, 1 MiB sent each: \
         peak RSS +{:.1} MiB (of {} MiB announced), all closed within {:.1} s \
         (--read-timeout 1s)",
        growth as f64 / 1024.0,
        announced_total / 1024,
        longest.as_secs_f64()
    );
}

// ---------------------------------------------------------------------
// 2. Out of file descriptors, and the connection limit.
// ---------------------------------------------------------------------

#[test]
fn a_collector_out_of_file_descriptors_neither_spins_nor_stays_down() {
    let collector = OwnCollector::start(Some(64), &[]);
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(collector.native).expect("the kernel queues the connection"))
        .collect();
    // The collector tells when accepting fails: the limit was reached.
    collector.wait_for_stderr("cannot accept connections", 1);
    let cpu_before = collector.cpu_seconds();
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let cpu = collector.cpu_seconds() - cpu_before;
    let wall = wall.elapsed();
    assert!(
        cpu < 1.0,
        "out of descriptors, the collector used {cpu:.2} s of CPU in {wall:?}"
    );

    drop(idle);
    let health = http(collector.http, "GET", "/healthz", &[], b"");
    assert_eq!(
        (health.status, health.body.as_slice()),
        (200, &b"ok"[..]),
        "HTTP answers once descriptors are free"
    );
    let trace = 0xe3f1_0000_0000_0000_0000_0000_0000_0001;
    let answer = exchange(
        collector.native,
        &[
            hello("after-emfile", ""),
            batch(1, vec![span(trace, 1, now_nanos(), now_nanos())]),
        ],
    );
    assert_eq!(acks(&answer), [1], "{answer:?}");
    let stored = http(
        collector.http,
        "GET",
        &format!("/api/traces/{}", trace_hex(trace)),
        &[],
        b"",
    );
    assert_eq!(stored.status, 200);
    assert_eq!(stored.json()["spans"][0]["service"], "after-emfile");
    println!(
        "attack: emfile: 100 idle connections under ulimit -n 64: {cpu:.2} CPU s over \
         {:.1} s wall, {} accept warning line(s); /healthz and native ingest served after",
        wall.as_secs_f64(),
        collector.stderr_lines("cannot accept").len()
    );
}

#[test]
fn past_its_connection_limit_a_peer_waits_until_another_leaves() {
    let collector = CollectorProcess::start(&["--max-connections", "8"]);
    let mut held = Vec::new();
    for i in 0..8u128 {
        let mut stream = connect(collector.native);
        let trace = 0xc0_0000 + i;
        send(
            &mut stream,
            &[hello("held", ""), batch(1, vec![span(trace, 1, 1, 2)])],
        );
        assert_eq!(
            next_frame(&stream),
            Some(ack(1)),
            "connection {i} is served"
        );
        held.push(stream);
    }

    let ninth_trace = 0xc0_0009;
    let mut ninth = connect(collector.native);
    send(
        &mut ninth,
        &[
            hello("ninth", ""),
            batch(1, vec![span(ninth_trace, 1, 1, 2)]),
        ],
    );
    ninth
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    match proto::FrameReader::new(&ninth, 1 << 20).read_frame() {
        Err(proto::FrameError::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the ninth connection was answered while 8 were held: {other:?}"),
    }
    let path = format!("/api/traces/{}", trace_hex(ninth_trace));
    assert_eq!(collector.get(&path).0, 404, "nothing of the ninth stored");
    assert_eq!(
        collector.get("/healthz").0,
        200,
        "the HTTP port has limits of its own"
    );

    drop(held.remove(0));
    let left = Instant::now();
    ninth.set_read_timeout(Some(AT_ALL)).unwrap();
    assert_eq!(next_frame(&ninth), Some(ack(1)), "served once one left");
    let waited = left.elapsed();
    assert_eq!(collector.get(&path).0, 200);
    println!(
        "attack: connection limit: with --max-connections 8 the 9th peer got no answer \
         while 8 were held, and its ack {:.2} s after one left",
        waited.as_secs_f64()
    );
}

// ---------------------------------------------------------------------
// 3. Amplification: small inputs that cost much to decode or keep.
// ---------------------------------------------------------------------

#[test]
fn batches_over_the_span_limit_are_refused_whole_on_native_and_otlp_http() {
    let collector =
        CollectorProcess::start(&["--max-batch-spans", "1000", "--otlp-http", "127.0.0.1:0"]);
    let over = 0xa11_0001;
    let at_limit = 0xa11_0002;
    let spans = |trace: u128, count: u64| (1..=count).map(|i| span(trace, i, 1, 2)).collect();

    let answer = exchange(
        collector.native,
        &[hello("amplifier", ""), batch(1, spans(over, 1001))],
    );
    let refusal = error_message(&answer);
    assert!(refusal.contains("at most 1000 spans"), "{refusal}");
    assert_eq!(
        collector.get(&format!("/api/traces/{}", trace_hex(over))).0,
        404,
        "nothing of a refused batch is stored"
    );
    let answer = exchange(
        collector.native,
        &[hello("amplifier", ""), batch(1, spans(at_limit, 1000))],
    );
    assert_eq!(acks(&answer), [1], "a batch at the limit is taken");
    assert_eq!(collector.trace_with(&trace_hex(at_limit), 1000).len(), 1000);

    let request = ExportTraceServiceRequest {
        resource_spans: vec![otlp::ResourceSpans {
            scope_spans: vec![otlp::ScopeSpans {
                spans: vec![otlp::Span::default(); 1001],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let body = request.encode_to_vec();
    let address = collector.otlp_http.expect("the OTLP/HTTP address");
    let answer = http(
        address,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &body,
    );
    assert_eq!(answer.status, 413, "{answer:?}");
    println!(
        "attack: amplification: batches of 1001 spans with --max-batch-spans 1000: native \
         error frame {refusal:?}, OTLP/HTTP ({} bytes of empty spans) {}",
        body.len(),
        answer.status
    );
}

#[test]
fn an_8_mib_frame_of_minimal_spans_costs_a_bounded_multiple_of_its_size() {
    // At 29 bytes a span, 8 MiB is about 290,000 spans: the default
    // --max-batch-spans (100,000) would refuse the frame before it is
    // decoded, so the limit is raised to measure the decoding itself.
    let collector = CollectorProcess::start(&["--max-batch-spans", "400000"]);
    let target = 8 << 20;
    let mut spans = Vec::new();
    let mut batch_bytes = 0;
    while batch_bytes < target {
        let i = spans.len() as u64;
        let minimal = proto::Span {
            trace_id: (0xb16_0000_0000 + u128::from(i / 100))
                .to_be_bytes()
                .to_vec(),
            span_id: i + 1,
            ..Default::default()
        };
        batch_bytes += 2 + minimal.encoded_len();
        spans.push(minimal);
    }
    let count = spans.len();
    let frames = wire(&[hello("minimal", ""), batch(1, spans)]);
    let frame_bytes = frames.len();

    let before = collector.rss_kib();
    let native = collector.native;
    let sender = std::thread::spawn(move || {
        let mut stream = connect(native);
        send_bytes(&mut stream, &frames);
        next_frame(&stream)
    });
    let peak = peak_rss_until(&collector, || sender.is_finished());
    assert_eq!(sender.join().unwrap(), Some(ack(1)), "the frame is stored");
    // What stays once the frame is stored: the spans in the memory store.
    let retained = (collector.rss_kib().saturating_sub(before) * 1024) as f64;
    assert_eq!(
        collector.trace_with(&trace_hex(0xb16_0000_0000), 100).len(),
        100
    );
    let growth = (peak.saturating_sub(before) * 1024) as f64;
    let multiple = growth / frame_bytes as f64;
    assert!(
        multiple < 20.0,
        "a frame of {frame_bytes} bytes ({count} spans) grew the collector by {:.1} MiB, \
         {multiple:.1} times the frame",
        growth / MIB
    );
    println!(
        "attack: amplification: one {:.1} MiB frame of {count} minimal spans: peak RSS \
         +{:.1} MiB, {multiple:.1}x the frame; +{:.1} MiB ({:.1}x) still held after the ack \
         (the stored spans, {:.0} bytes each)",
        frame_bytes as f64 / MIB,
        growth / MIB,
        retained / MIB,
        retained / frame_bytes as f64,
        retained / count as f64
    );
}

#[test]
fn a_256_kib_service_name_is_kept_once_and_cut_to_1024_bytes() {
    let collector = CollectorProcess::start(&[]);
    let name = "s".repeat(256 << 10);
    let mut frames = vec![hello(&name, "")];
    for sequence in 1..=20u64 {
        let spans = (0..100)
            .map(|i| span(0x5e_0000 + u128::from(sequence), i + 1, 1, 2))
            .collect();
        frames.push(batch(sequence, spans));
    }
    let before = collector.rss_kib();
    let native = collector.native;
    let sender = std::thread::spawn(move || exchange(native, &frames));
    let peak = peak_rss_until(&collector, || sender.is_finished());
    let answer = sender.join().unwrap();
    assert_eq!(acks(&answer), (1..=20).collect::<Vec<_>>());
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 48 * 1024,
        "2,000 spans of a 256 KiB service grew the collector by {growth} KiB"
    );

    let (_, services) = collector.get("/api/services");
    let services: Vec<&str> = services["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(services, [&name[..1024]], "the name is cut to 1024 bytes");
    let (_, ingest) = collector.get("/api/ingest");
    let truncated = ingest["truncated_values"].as_u64().unwrap_or(0);
    assert!(truncated > 0, "{ingest}");
    println!(
        "attack: amplification: a 256 KiB service name then 2,000 spans: peak RSS \
         +{:.1} MiB; stored name 1024 bytes; truncated_values {truncated}",
        growth as f64 / 1024.0
    );
}

// ---------------------------------------------------------------------
// 4. Spans dated past what a signed 64-bit nanosecond count holds.
// ---------------------------------------------------------------------

#[test]
fn spans_dated_past_2262_are_clamped_and_counted() {
    let collector = CollectorProcess::start(&[]);
    let trace = 0xf0_7e00;
    let answer = exchange(
        collector.native,
        &[
            hello("time-traveller", ""),
            batch(
                1,
                vec![
                    span(trace, 1, 1 << 63, (1 << 63) + 5),
                    span(trace, 2, u64::MAX, u64::MAX),
                ],
            ),
        ],
    );
    assert_eq!(acks(&answer), [1]);
    let spans = collector.trace_with(&trace_hex(trace), 2);
    for span in &spans {
        assert_eq!(span["start_unix_nanos"], i64::MAX, "{span}");
        assert_eq!(span["end_unix_nanos"], i64::MAX, "{span}");
    }
    let (_, ingest) = collector.get("/api/ingest");
    let clamped = ingest["clamped_times"].as_u64().unwrap_or(0);
    assert!(clamped > 0, "{ingest}");
    println!(
        "attack: future-dated spans: starts of 2^63 and u64::MAX ns stored as i64::MAX; \
         clamped_times {clamped}"
    );
}

#[test]
fn future_dated_spans_do_not_outlive_newer_traces_in_a_full_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let collector = CollectorProcess::start(&[
        "--store",
        "sqlite",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--max-spans",
        "100",
    ]);
    let future: Vec<u128> = (0..50).map(|i| 0xf07_0000 + i).collect();
    let normal: Vec<u128> = (0..200).map(|i| 0x40_0000 + i).collect();
    let future_spans = future
        .iter()
        .map(|&t| span(t, 1, u64::MAX - 10, u64::MAX))
        .collect();
    let mut frames = vec![hello("pruned", ""), batch(1, future_spans)];
    for (sequence, chunk) in (2..).zip(normal.chunks(10)) {
        let now = now_nanos();
        frames.push(batch(
            sequence,
            chunk.iter().map(|&t| span(t, 1, now, now + 1000)).collect(),
        ));
    }
    let answer = exchange(collector.native, &frames);
    assert_eq!(acks(&answer), (1..=21).collect::<Vec<_>>());

    let kept = |traces: &[u128]| -> Vec<u128> {
        traces
            .iter()
            .copied()
            .filter(|&t| collector.get(&format!("/api/traces/{}", trace_hex(t))).0 == 200)
            .collect()
    };
    let future_kept = kept(&future);
    let normal_kept = kept(&normal);
    println!(
        "attack: future-dated spans: 50 dated u64::MAX then 200 normal into SQLite \
         --max-spans 100: {} future-dated and {} normal kept",
        future_kept.len(),
        normal_kept.len()
    );
    assert!(
        normal_kept.contains(normal.last().unwrap()),
        "the newest trace is kept"
    );
    // Arrival order: every future-dated span came before every normal one.
    assert!(
        future_kept.is_empty() || normal_kept.len() == normal.len(),
        "future-dated traces {} survive while {} newer normal traces were evicted",
        future_kept.len(),
        normal.len() - normal_kept.len()
    );
}

// ---------------------------------------------------------------------
// 5. Cross-origin writes from a web page, and DNS rebinding.
// ---------------------------------------------------------------------

#[test]
fn a_no_cors_post_with_text_plain_is_refused_and_stores_nothing() {
    let collector = CollectorProcess::start(&["--otlp-http", "127.0.0.1:0"]);
    let otlp_address = collector.otlp_http.expect("the OTLP/HTTP address");
    let trace = 0xc0_55e1;
    let body = native_batch_body("cross-origin", trace);
    let origin = ("Origin", "http://evil.example");

    let text = http(
        collector.http,
        "POST",
        "/api/v1/spans",
        &[("Content-Type", "text/plain"), origin],
        &body,
    );
    assert_eq!(text.status, 415, "{text:?}");
    assert_eq!(text.header("access-control-allow-origin"), None);
    let path = format!("/api/traces/{}", trace_hex(trace));
    assert_eq!(collector.get(&path).0, 404, "nothing stored");

    let otlp_trace = 0xc0_55e2;
    let json = otlp_json_body(otlp_trace);
    let otlp_text = http(
        otlp_address,
        "POST",
        "/v1/traces",
        &[("Content-Type", "text/plain"), origin],
        json.as_bytes(),
    );
    assert_eq!(otlp_text.status, 415, "{otlp_text:?}");
    let otlp_path = format!("/api/traces/{}", trace_hex(otlp_trace));
    assert_eq!(collector.get(&otlp_path).0, 404, "nothing stored");

    // A preflight is granted nothing.
    let preflight = http(
        collector.http,
        "OPTIONS",
        "/api/v1/spans",
        &[
            origin,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    );
    assert_eq!(preflight.header("access-control-allow-origin"), None);

    // The same bodies with their own media types are taken: the refusals
    // were for the media type alone.
    let protobuf = http(
        collector.http,
        "POST",
        "/api/v1/spans",
        &[("Content-Type", "application/x-protobuf")],
        &body,
    );
    assert_eq!(protobuf.status, 200, "{protobuf:?}");
    assert_eq!(collector.get(&path).0, 200);
    let otlp_json = http(
        otlp_address,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/json")],
        json.as_bytes(),
    );
    assert_eq!(otlp_json.status, 200, "{otlp_json:?}");
    assert_eq!(collector.get(&otlp_path).0, 200);
    println!(
        "attack: cross-origin write: text/plain POST /api/v1/spans {}, POST /v1/traces {}; \
         preflight {} without Access-Control-Allow-Origin; nothing stored",
        text.status, otlp_text.status, preflight.status
    );
}

#[test]
fn a_rebound_dns_name_is_refused_and_ui_pages_forbid_foreign_content() {
    let collector = CollectorProcess::start(&["--otlp-http", "127.0.0.1:0"]);
    let port = collector.http.port();
    let rebound = http_as(
        collector.http,
        "evil.example",
        "GET",
        "/api/traces",
        &[],
        b"",
    );
    assert_eq!(rebound.status, 403, "{rebound:?}");
    let rebound_ingest = http_as(
        collector.otlp_http.expect("the OTLP/HTTP address"),
        "evil.example",
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/json")],
        otlp_json_body(0xd5_0001).as_bytes(),
    );
    assert_eq!(rebound_ingest.status, 403, "{rebound_ingest:?}");
    let local = http_as(
        collector.http,
        &format!("localhost:{port}"),
        "GET",
        "/api/traces",
        &[("Origin", "http://evil.example")],
        b"",
    );
    assert_eq!(local.status, 200, "{local:?}");
    assert_eq!(
        local.header("access-control-allow-origin"),
        None,
        "no other origin may read the API"
    );

    for page in [
        "/",
        "/search",
        "/trace/4bf92f3577b34da6a3ce929d0e0e4736",
        "/ui/app.js",
    ] {
        let answer = http(collector.http, "GET", page, &[], b"");
        assert_eq!(answer.status, 200, "{page}");
        let policy = answer
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{page} has no Content-Security-Policy"));
        assert!(policy.contains("default-src 'self'"), "{page}: {policy}");
        assert_eq!(
            answer.header("x-content-type-options"),
            Some("nosniff"),
            "{page}"
        );
    }
    println!(
        "attack: dns rebinding: Host evil.example {} (query API) and {} (OTLP/HTTP); \
         Host localhost:{port} {}; UI pages under default-src 'self', nosniff",
        rebound.status, rebound_ingest.status, local.status
    );
}

// ---------------------------------------------------------------------
// 6. Wrong tokens, and what refusals cost in log lines.
// ---------------------------------------------------------------------

#[test]
fn without_the_right_token_nothing_is_stored_or_read_and_refusals_are_logged_sparingly() {
    const INGEST: &str = "ingest-s3cret";
    const READ: &str = "read-s3cret";
    let dir = tempfile::tempdir().unwrap();
    let ingest_file = dir.path().join("ingest-tokens");
    let read_file = dir.path().join("read-tokens");
    std::fs::write(&ingest_file, format!("# writers\nagent {INGEST}\n")).unwrap();
    std::fs::write(&read_file, format!("ui {READ}\n")).unwrap();
    let collector = OwnCollector::start(
        None,
        &[
            "--ingest-token-file",
            ingest_file.to_str().unwrap(),
            "--read-token-file",
            read_file.to_str().unwrap(),
            "--otlp-grpc",
            "127.0.0.1:0",
        ],
    );
    let read_bearer = format!("Bearer {READ}");
    let ingest_bearer = format!("Bearer {INGEST}");
    let reader = [("Authorization", read_bearer.as_str())];
    let stored = |trace: u128| {
        let path = format!("/api/traces/{}", trace_hex(trace));
        http(collector.http, "GET", &path, &reader, b"").status == 200
    };

    // Native ingest.
    let refused_trace = 0x70c_0001;
    for token in ["", "not-the-token"] {
        let answer = exchange(collector.native, &[hello("intruder", token)]);
        assert!(
            error_message(&answer).contains("token"),
            "token {token:?}: {answer:?}"
        );
        let answer = exchange(
            collector.native,
            &[
                hello("intruder", token),
                batch(1, vec![span(refused_trace, 1, 1, 2)]),
            ],
        );
        assert!(acks(&answer).is_empty(), "token {token:?}: {answer:?}");
    }
    assert!(!stored(refused_trace), "nothing of a refused client stored");
    let native_trace = 0x70c_0002;
    let answer = exchange(
        collector.native,
        &[
            hello("agent", INGEST),
            batch(1, vec![span(native_trace, 1, 1, 2)]),
        ],
    );
    assert_eq!(acks(&answer), [1], "{answer:?}");
    assert!(stored(native_trace));

    // HTTP ingest and the query API.
    let http_trace = 0x70c_0003;
    let body = native_batch_body("agent", http_trace);
    let protobuf = ("Content-Type", "application/x-protobuf");
    let wrong = ("Authorization", "Bearer not-the-token");
    for headers in [vec![protobuf], vec![protobuf, wrong]] {
        let answer = http(collector.http, "POST", "/api/v1/spans", &headers, &body);
        assert_eq!(answer.status, 401, "{headers:?}: {answer:?}");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
    }
    assert!(!stored(http_trace));
    let answer = http(
        collector.http,
        "POST",
        "/api/v1/spans",
        &[protobuf, ("Authorization", &ingest_bearer)],
        &body,
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(stored(http_trace));
    let ingest_token_for_reading = ("Authorization", ingest_bearer.as_str());
    for headers in [vec![], vec![wrong], vec![ingest_token_for_reading]] {
        let answer = http(collector.http, "GET", "/api/traces", &headers, b"");
        assert_eq!(answer.status, 401, "{headers:?}: {answer:?}");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
    }
    let answer = http(collector.http, "GET", "/api/traces", &reader, b"");
    assert_eq!(answer.status, 200);
    assert!(!answer.json()["traces"].as_array().unwrap().is_empty());

    // OTLP/gRPC.
    let grpc_trace = 0x70c_0004;
    let grpc = collector.otlp_grpc.expect("the OTLP/gRPC address");
    let codes = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
                .await
                .expect("a gRPC connection");
            let mut codes = Vec::new();
            for token in [None, Some("Bearer not-the-token"), Some(&ingest_bearer[..])] {
                let mut request = tonic::Request::new(otlp_request(grpc_trace));
                if let Some(token) = token {
                    request
                        .metadata_mut()
                        .insert("authorization", token.parse().unwrap());
                }
                codes.push(match client.export(request).await {
                    Ok(_) => tonic::Code::Ok,
                    Err(status) => status.code(),
                });
            }
            codes
        });
    assert_eq!(
        codes,
        [
            tonic::Code::Unauthenticated,
            tonic::Code::Unauthenticated,
            tonic::Code::Ok
        ]
    );
    assert!(stored(grpc_trace));

    // 200 refused connections in a burst cost a line or two; the line after
    // a quiet second counts the ones left out. One refusal first, after a
    // quiet second, so that the earlier ones are counted in its line.
    const REFUSAL: &str = "ingest token in the hello";
    std::thread::sleep(Duration::from_millis(1100));
    let earlier = collector.stderr_lines(REFUSAL).len();
    exchange(collector.native, &[hello("intruder", "")]);
    collector.wait_for_stderr(REFUSAL, earlier + 1);
    std::thread::sleep(Duration::from_millis(1100));
    let before = earlier + 1;
    let burst = Instant::now();
    for _ in 0..200 {
        let answer = exchange(collector.native, &[hello("intruder", "not-the-token")]);
        assert!(error_message(&answer).contains("token"));
    }
    let burst = burst.elapsed();
    std::thread::sleep(Duration::from_millis(1100));
    let burst_lines = collector.stderr_lines(REFUSAL).len() - before;
    assert!(
        burst_lines <= 2 + burst.as_secs() as usize,
        "{burst_lines} refusal lines for 200 refused connections in {burst:?}"
    );
    exchange(collector.native, &[hello("intruder", "")]);
    let lines = collector.wait_for_stderr(REFUSAL, before + burst_lines + 1);
    let accounted: u64 = lines[before..].iter().map(|l| 1 + left_out(l)).sum();
    assert_eq!(
        accounted,
        201,
        "every refusal is in a line or counted in one: {:?}",
        &lines[before..]
    );
    println!(
        "attack: wrong token: native, HTTP ingest, query API and gRPC refused (401 with \
         WWW-Authenticate: Bearer, UNAUTHENTICATED); 200 refused connections in {:.2} s \
         logged {burst_lines} line(s); the next line said \"and {} more like it\"",
        burst.as_secs_f64(),
        left_out(lines.last().unwrap())
    );
}

/// The N of a throttled log line's "(and N more like it)", 0 without one.
fn left_out(line: &str) -> u64 {
    line.rsplit_once("(and ")
        .and_then(|(_, rest)| rest.strip_suffix(" more like it)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------
// 7. TLS.
// ---------------------------------------------------------------------

#[test]
fn with_tls_only_clients_that_trust_the_certificate_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let collector = CollectorProcess::start(&[
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
        "--otlp-http",
        "127.0.0.1:0",
    ]);
    let trusting = pki.client(&[]);
    let https = |path: &str| {
        let mut stream = tls_connect(collector.http, pki.client(&[b"http/1.1"]))
            .expect("a TLS handshake with the HTTP port");
        exchange_http(
            &mut stream,
            &request("GET", path, &collector.http.to_string(), &[], b""),
        )
    };

    // Plaintext on the TLS ports: no ack, no HTTP answer, nothing stored.
    let plain_trace = 0x715_0001;
    let mut plain = connect(collector.native);
    send(
        &mut plain,
        &[
            hello("plaintext", ""),
            batch(1, vec![span(plain_trace, 1, 1, 2)]),
        ],
    );
    let (answer, _) = until_closed(&mut plain, Instant::now());
    assert!(
        !answer_frames(&answer)
            .iter()
            .any(|f| matches!(f.kind, Some(frame::Kind::Ack(_)))),
        "a plaintext client is not acked: {answer:?}"
    );
    for address in [collector.http, collector.otlp_http.unwrap()] {
        let mut plain = connect(address);
        send_bytes(
            &mut plain,
            format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let (answer, _) = until_closed(&mut plain, Instant::now());
        assert!(
            !answer.starts_with(b"HTTP/"),
            "plaintext HTTP to {address} got an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert_eq!(
        https(&format!("/api/traces/{}", trace_hex(plain_trace))).status,
        404
    );

    // A client that trusts another CA does not get through the handshake.
    let stranger = TestPki::new(&dir.path().join("stranger"));
    let refused = tls_connect(collector.native, stranger.client(&[]));
    assert!(
        refused.is_err(),
        "a client of another CA completed the handshake"
    );

    // A client trusting the CA is served on every port.
    let tls_trace = 0x715_0002;
    let mut native = tls_connect(collector.native, trusting).expect("a TLS handshake");
    send(
        &mut native,
        &[
            hello("over-tls", ""),
            batch(1, vec![span(tls_trace, 1, 1, 2)]),
        ],
    );
    let acked = proto::FrameReader::new(&mut native, 1 << 20)
        .read_frame()
        .expect("an answer over TLS");
    assert_eq!(acked, Some(ack(1)));
    let health = https("/healthz");
    assert_eq!((health.status, &health.body[..]), (200, &b"ok"[..]));
    let trace = https(&format!("/api/traces/{}", trace_hex(tls_trace)));
    assert_eq!(trace.status, 200, "{trace:?}");
    assert_eq!(trace.json()["spans"][0]["service"], "over-tls");
    let mut otlp_tls = tls_connect(collector.otlp_http.unwrap(), pki.client(&[b"http/1.1"]))
        .expect("a TLS handshake with the OTLP/HTTP port");
    let otlp_trace = 0x715_0003;
    let exported = exchange_http(
        &mut otlp_tls,
        &request(
            "POST",
            "/v1/traces",
            &collector.otlp_http.unwrap().to_string(),
            &[("Content-Type", "application/json")],
            otlp_json_body(otlp_trace).as_bytes(),
        ),
    );
    assert_eq!(exported.status, 200, "{exported:?}");
    assert_eq!(
        https(&format!("/api/traces/{}", trace_hex(otlp_trace))).status,
        200
    );
    println!(
        "attack: tls: plaintext native hello unacked ({} bytes back), plaintext HTTP got no \
         HTTP answer, another CA's client refused; the CA's client acked and served on \
         native, HTTPS and OTLP/HTTPS",
        answer.len()
    );
}

// ---------------------------------------------------------------------
// The native protocol, spoken by hand.
// ---------------------------------------------------------------------

fn hello(service: &str, token: &str) -> Frame {
    Frame {
        kind: Some(frame::Kind::Hello(proto::Hello {
            protocol_version: proto::PROTOCOL_VERSION,
            resource: Some(proto::Resource {
                service_name: service.to_owned(),
                ..Default::default()
            }),
            token: token.to_owned(),
        })),
    }
}

fn batch(sequence: u64, spans: Vec<proto::Span>) -> Frame {
    Frame {
        kind: Some(frame::Kind::Batch(proto::Batch {
            sequence,
            spans,
            ..Default::default()
        })),
    }
}

fn ack(sequence: u64) -> Frame {
    Frame {
        kind: Some(frame::Kind::Ack(proto::Ack { sequence })),
    }
}

fn span(trace: u128, span_id: u64, start: u64, end: u64) -> proto::Span {
    proto::Span {
        trace_id: trace.to_be_bytes().to_vec(),
        span_id,
        name: "hostile.op".into(),
        start_unix_nanos: start,
        end_unix_nanos: end,
        ..Default::default()
    }
}

fn trace_hex(trace: u128) -> String {
    format!("{trace:032x}")
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Frames as they go on the wire.
fn wire(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        proto::encode_frame(frame, &mut out);
    }
    out
}

/// A `dapple.v1.Batch` of one span of `trace`, for `POST /api/v1/spans`.
fn native_batch_body(service: &str, trace: u128) -> Vec<u8> {
    proto::Batch {
        sequence: 1,
        spans: vec![span(trace, 1, 1, 2)],
        resource: Some(proto::Resource {
            service_name: service.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// An OTLP export request of one span of `trace`.
fn otlp_request(trace: u128) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![otlp::ResourceSpans {
            scope_spans: vec![otlp::ScopeSpans {
                spans: vec![otlp::Span {
                    trace_id: trace.to_be_bytes().to_vec(),
                    span_id: 1u64.to_be_bytes().to_vec(),
                    name: "hostile.otlp".into(),
                    start_time_unix_nano: 1,
                    end_time_unix_nano: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The same request in OTLP's JSON mapping.
fn otlp_json_body(trace: u128) -> String {
    serde_json::json!({
        "resourceSpans": [{
            "resource": {},
            "scopeSpans": [{
                "spans": [{
                    "traceId": trace_hex(trace),
                    "spanId": "0000000000000001",
                    "name": "hostile.otlp",
                    "startTimeUnixNano": "1",
                    "endTimeUnixNano": "2"
                }]
            }]
        }]
    })
    .to_string()
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("the collector accepts connections");
    stream.set_read_timeout(Some(AT_ALL)).unwrap();
    stream
}

fn send(stream: &mut impl Write, frames: &[Frame]) {
    send_bytes(stream, &wire(frames));
}

fn send_bytes(stream: &mut impl Write, bytes: &[u8]) {
    stream.write_all(bytes).expect("the bytes are sent");
    stream.flush().expect("the bytes are sent");
}

/// The next frame on `stream`; `None` when the collector closed it.
fn next_frame(stream: &TcpStream) -> Option<Frame> {
    match proto::FrameReader::new(stream, proto::DEFAULT_MAX_FRAME_BYTES).read_frame() {
        Ok(frame) => frame,
        Err(proto::FrameError::Io(e)) if is_timeout(&e) => {
            panic!("the collector neither answered nor closed in {AT_ALL:?}")
        }
        Err(_) => None,
    }
}

/// Sends `frames` on a fresh native connection, ends the sending side, and
/// returns every frame the collector sent before closing.
fn exchange(address: SocketAddr, frames: &[Frame]) -> Vec<Frame> {
    let mut stream = connect(address);
    // A refused client's later frames may not be read at all.
    let _ = stream.write_all(&wire(frames));
    let _ = stream.shutdown(Shutdown::Write);
    let (answer, _) = until_closed(&mut stream, Instant::now());
    answer_frames(&answer)
}

/// The whole frames in `answer`.
fn answer_frames(answer: &[u8]) -> Vec<Frame> {
    let mut reader = proto::FrameReader::new(answer, proto::DEFAULT_MAX_FRAME_BYTES);
    std::iter::from_fn(|| reader.read_frame().ok().flatten()).collect()
}

fn acks(frames: &[Frame]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| match &f.kind {
            Some(frame::Kind::Ack(ack)) => Some(ack.sequence),
            _ => None,
        })
        .collect()
}

fn error_message(frames: &[Frame]) -> String {
    match frames.last().and_then(|f| f.kind.as_ref()) {
        Some(frame::Kind::Error(e)) => e.message.clone(),
        _ => panic!("expected an error frame last, got {frames:?}"),
    }
}

/// Whether `answer` holds nothing but error frames (or nothing).
fn only_errors(answer: &[u8]) -> bool {
    let frames = answer_frames(answer);
    let framed: usize = frames.iter().map(proto::encoded_frame_len).sum();
    framed == answer.len()
        && frames
            .iter()
            .all(|f| matches!(f.kind, Some(frame::Kind::Error(_))))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads until the collector closes the connection: what it sent, and how
/// long after `since` it closed. Fails if it is still open after
/// [`AT_ALL`] (the stream's read timeout).
fn until_closed(stream: &mut impl Read, since: Instant) -> (Vec<u8>, Duration) {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 64 << 10];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => panic!(
                "the connection is still open after {:?}; got {} bytes",
                since.elapsed(),
                answer.len()
            ),
            // Reset, or TLS without close_notify: closed all the same.
            Err(_) => break,
        }
    }
    (answer, since.elapsed())
}

/// A peer that connects, sends `bytes`, says so on `ready`, then sends
/// nothing more: what it got and how long the connection stayed open after
/// its bytes went out.
fn stall(
    address: SocketAddr,
    bytes: Vec<u8>,
    ready: &mpsc::Sender<()>,
) -> JoinHandle<(Vec<u8>, Duration)> {
    let ready = ready.clone();
    std::thread::spawn(move || {
        let mut stream = connect(address);
        send_bytes(&mut stream, &bytes);
        let sent = Instant::now();
        let _ = ready.send(());
        until_closed(&mut stream, sent)
    })
}

/// The collector's largest resident size, in KiB, sampled until `done`.
fn peak_rss_until(collector: &CollectorProcess, done: impl Fn() -> bool) -> u64 {
    let deadline = Instant::now() + AT_ALL * 2;
    let mut peak = collector.rss_kib();
    while !done() {
        assert!(Instant::now() < deadline, "the peers never finished");
        peak = peak.max(collector.rss_kib());
        std::thread::sleep(Duration::from_millis(5));
    }
    peak.max(collector.rss_kib())
}

// ---------------------------------------------------------------------
// HTTP/1.1 by hand: any Host, any header, over TCP or TLS.
// ---------------------------------------------------------------------

/// An HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    /// A header's value, by case-insensitive name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A request that closes its connection after the answer.
fn request(method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `method path` to `address`, naming it as the Host.
fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    http_as(address, &address.to_string(), method, path, headers, body)
}

/// `method path` to `address` with `Host: host`.
fn http_as(
    address: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = connect(address);
    exchange_http(&mut stream, &request(method, path, host, headers, body))
}

fn exchange_http(stream: &mut (impl Read + Write), request: &[u8]) -> Answer {
    send_bytes(stream, request);
    let (bytes, _) = until_closed(stream, Instant::now());
    parse_answer(&bytes).unwrap_or_else(|| {
        panic!(
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )
    })
}

fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    };
    if answer
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        answer.body = dechunk(&answer.body)?;
    }
    Some(answer)
}

fn dechunk(mut chunked: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = chunked.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&chunked[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        chunked = &chunked[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(chunked.get(..size)?);
        chunked = chunked.get(size + 2..)?;
    }
}

/// The runtime's own exporter, as an application configures it: a traced
/// program with `DAPPLE_CA_FILE` and `DAPPLE_TOKEN` reaches a collector
/// with TLS and an ingest token; with a wrong token nothing is stored and
/// the program says why.
#[test]
fn a_traced_program_reports_over_tls_with_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let tokens = dir.path().join("ingest.tokens");
    std::fs::write(&tokens, "shop s3cret-token\n").unwrap();
    let collector = CollectorProcess::start(&[
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
        "--ingest-token-file",
        tokens.to_str().unwrap(),
    ]);
    let run = |token: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_traced_program"))
            .env("DAPPLE_ENDPOINT", collector.native.to_string())
            .env("DAPPLE_SERVICE", "over-tls")
            .env("DAPPLE_CA_FILE", &pki.ca_file)
            .env("DAPPLE_TOKEN", token)
            .env("FLUSH_SECS", "3")
            .output()
            .expect("the traced program runs")
    };
    let refused = run("wrong-token");
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(said.contains("token"), "the program says why: {said}");
    let accepted = run("s3cret-token");
    assert!(accepted.status.success());
    let trace = support::printed_trace_id(&accepted);
    let spans = https_trace(&collector, &pki, &trace);
    assert!(!spans.is_empty(), "the trace arrived over TLS");
    assert!(spans.iter().all(|s| s["service"] == "over-tls"));
    let refused_trace = support::printed_trace_id(&refused);
    assert!(
        https_trace(&collector, &pki, &refused_trace).is_empty(),
        "nothing from the wrong token"
    );
    println!(
        "attack: wrong token (runtime): refused with {:?}; the right token's trace has {} spans over TLS",
        said.lines()
            .find(|l| l.contains("token"))
            .unwrap_or_default(),
        spans.len()
    );
}

/// The spans of a trace, read over HTTPS (empty when the trace is unknown).
fn https_trace(collector: &CollectorProcess, pki: &TestPki, trace: &str) -> Vec<Value> {
    let mut stream = tls_connect(collector.http, pki.client(&[b"http/1.1"])).unwrap();
    let answer = exchange_http(
        &mut stream,
        &request(
            "GET",
            &format!("/api/traces/{trace}"),
            &collector.http.to_string(),
            &[],
            b"",
        ),
    );
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v["spans"].as_array().cloned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------
// TLS: a CA and a certificate for 127.0.0.1, made at test time.
// ---------------------------------------------------------------------

/// A CA, and a server certificate it signed for 127.0.0.1 and localhost,
/// as PEM files for the collector.
#[derive(Debug)]
struct TestPki {
    ca: rustls::pki_types::CertificateDer<'static>,
    /// The CA's certificate as a PEM file, for `DAPPLE_CA_FILE`.
    ca_file: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl TestPki {
    fn new(dir: &Path) -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        std::fs::create_dir_all(dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Dapple hostile-test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let server = server_params.signed_by(&server_key, &issuer).unwrap();
        let cert = dir.join("server.pem");
        let key = dir.join("server-key.pem");
        std::fs::write(&cert, server.pem()).unwrap();
        std::fs::write(&key, server_key.serialize_pem()).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        TestPki {
            ca: ca.der().clone(),
            ca_file,
            cert,
            key,
        }
    }

    /// A client configuration that trusts this CA alone.
    fn client(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to `address` as 127.0.0.1, through its handshake.
fn tls_connect(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream> {
    let mut tcp = connect(address);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)?;
    }
    Ok(rustls::StreamOwned::new(tls, tcp))
}

// ---------------------------------------------------------------------
// A collector this file starts itself: under a lower descriptor limit, or
// with its stderr kept.
// ---------------------------------------------------------------------

/// A collector process with its stderr kept, killed when dropped.
#[derive(Debug)]
struct OwnCollector {
    child: Child,
    native: SocketAddr,
    http: SocketAddr,
    otlp_grpc: Option<SocketAddr>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl OwnCollector {
    /// `collector serve` on free loopback ports with `extra` arguments,
    /// under `ulimit -n fd_limit` when given.
    fn start(fd_limit: Option<u32>, extra: &[&str]) -> OwnCollector {
        let binary = env!("CARGO_BIN_EXE_collector");
        let mut command = match fd_limit {
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!(r#"ulimit -n {limit} && exec "$0" "$@""#))
                    .arg(binary);
                sh
            }
            None => Command::new(binary),
        };
        command
            .args(["serve", "--http", "127.0.0.1:0", "--native", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the collector starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let pipe = child.stderr.take().expect("its stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut line = String::new();
        let read = BufReader::new(child.stdout.take().expect("its stdout")).read_line(&mut line);
        let address = |key: &str| -> Option<SocketAddr> {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(key))
                .and_then(|a| a.parse().ok())
        };
        let (Ok(_), Some(native), Some(http)) = (read, address("native="), address("http=")) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the collector printed {line:?}; stderr: {:?}",
                stderr.lock().unwrap()
            );
        };
        OwnCollector {
            otlp_grpc: address("otlp_grpc="),
            child,
            native,
            http,
            stderr,
        }
    }

    /// Its stderr lines containing `text`, so far.
    fn stderr_lines(&self, text: &str) -> Vec<String> {
        let lines = self.stderr.lock().unwrap();
        lines.iter().filter(|l| l.contains(text)).cloned().collect()
    }

    /// Its stderr lines containing `text`, once there are at least `count`.
    fn wait_for_stderr(&self, text: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + AT_ALL;
        loop {
            let lines = self.stderr_lines(text);
            if lines.len() >= count {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} on the collector's stderr: {:?}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// User and system CPU time used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("the collector's /proc stat");
        // Fields after the command name, which is in parentheses: the
        // state first, utime and stime 12th and 13th.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("a command name") + 1..]
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf reads a system constant; it has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
        ticks as f64 / per_second as f64
    }
}

impl Drop for OwnCollector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
